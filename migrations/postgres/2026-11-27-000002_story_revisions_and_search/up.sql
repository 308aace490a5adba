-- Story revisions, list indexes, and full-text search kept current by the
-- database itself (here a generated tsvector; FTS5 and triggers on SQLite).

CREATE TABLE story_revisions (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    story_id BIGINT NOT NULL REFERENCES stories (id) ON DELETE CASCADE,
    version BIGINT NOT NULL,
    change TEXT NOT NULL,
    content TEXT NOT NULL,
    status TEXT NOT NULL,
    published_at TIMESTAMP,
    editor_id BIGINT REFERENCES editors (id) ON DELETE SET NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX story_revisions_version_key ON story_revisions (story_id, version);

CREATE INDEX stories_by_title ON stories (status, title, id);
CREATE INDEX stories_by_locale ON stories (locale, status, published_at, id);
CREATE INDEX stories_by_author ON stories (author_name, status, published_at, id);

ALTER TABLE stories ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('english', title), 'A')
    || setweight(to_tsvector('english', excerpt), 'B')
    || setweight(to_tsvector('english', body), 'C')
) STORED;
CREATE INDEX stories_search ON stories USING GIN (search_vector);
