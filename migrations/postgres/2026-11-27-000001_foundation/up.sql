-- Editors, the server's own keys, and stories with their tags.
-- Kept in lockstep with migrations/sqlite: same names, dialect only differs.

CREATE TABLE editors (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email TEXT NOT NULL,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'editor')),
    password_hash TEXT NOT NULL,
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    token_version BIGINT NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
-- Emails are stored lower-cased, so this index makes them unique regardless of case.
CREATE UNIQUE INDEX editors_email_key ON editors (email);

CREATE TABLE server_keys (
    kid TEXT PRIMARY KEY,
    purpose TEXT NOT NULL,
    secret TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX server_keys_by_purpose ON server_keys (purpose, created_at);

CREATE TABLE stories (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    slug TEXT NOT NULL,
    title TEXT NOT NULL,
    subtitle TEXT,
    excerpt TEXT NOT NULL,
    excerpt_is_custom BOOLEAN NOT NULL,
    body TEXT NOT NULL,
    body_html TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('draft', 'published', 'archived')),
    locale TEXT NOT NULL,
    author_name TEXT NOT NULL,
    cover_image_url TEXT,
    cover_image_alt TEXT,
    seo_meta_title TEXT,
    seo_meta_description TEXT,
    seo_canonical_url TEXT,
    word_count INTEGER NOT NULL,
    reading_time_minutes INTEGER NOT NULL,
    published_at TIMESTAMP,
    version BIGINT NOT NULL,
    created_by BIGINT REFERENCES editors (id) ON DELETE SET NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX stories_slug_key ON stories (slug);
CREATE INDEX stories_by_publication ON stories (status, published_at, id);

CREATE TABLE tags (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    slug TEXT NOT NULL
);
CREATE UNIQUE INDEX tags_slug_key ON tags (slug);

CREATE TABLE story_tags (
    story_id BIGINT NOT NULL REFERENCES stories (id) ON DELETE CASCADE,
    tag_id BIGINT NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    PRIMARY KEY (story_id, tag_id)
);
CREATE INDEX story_tags_by_tag ON story_tags (tag_id, story_id);
