-- Story revisions, list indexes, and full-text search kept current by the
-- database itself (here FTS5 and triggers; tsvector on PostgreSQL).

CREATE TABLE story_revisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
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

CREATE VIRTUAL TABLE stories_fts USING fts5(
    title, excerpt, body,
    content = 'stories', content_rowid = 'id',
    tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER stories_fts_insert AFTER INSERT ON stories BEGIN
    INSERT INTO stories_fts (rowid, title, excerpt, body) VALUES (new.id, new.title, new.excerpt, new.body);
END;
CREATE TRIGGER stories_fts_delete AFTER DELETE ON stories BEGIN
    INSERT INTO stories_fts (stories_fts, rowid, title, excerpt, body) VALUES ('delete', old.id, old.title, old.excerpt, old.body);
END;
CREATE TRIGGER stories_fts_update AFTER UPDATE OF title, excerpt, body ON stories BEGIN
    INSERT INTO stories_fts (stories_fts, rowid, title, excerpt, body) VALUES ('delete', old.id, old.title, old.excerpt, old.body);
    INSERT INTO stories_fts (rowid, title, excerpt, body) VALUES (new.id, new.title, new.excerpt, new.body);
END;
-- FTS5's `rank` column: title weighs 10, excerpt 4, body 1.
INSERT INTO stories_fts (stories_fts, rank) VALUES ('rank', 'bm25(10.0, 4.0, 1.0)');
INSERT INTO stories_fts (stories_fts) VALUES ('rebuild');
