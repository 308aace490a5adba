-- A story's "read next" list: links to other stories or to external pages,
-- in the editor's order. Deleting either story removes the link.

CREATE TABLE related_links (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    story_id BIGINT NOT NULL REFERENCES stories (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    target_story_id BIGINT REFERENCES stories (id) ON DELETE CASCADE,
    url TEXT,
    title TEXT,
    created_at TIMESTAMP NOT NULL,
    CHECK ((target_story_id IS NULL) = (url IS NOT NULL)),
    CHECK ((url IS NULL) = (title IS NULL))
);
CREATE INDEX related_links_in_order ON related_links (story_id, position);
CREATE UNIQUE INDEX related_links_story_target_key ON related_links (story_id, target_story_id) WHERE target_story_id IS NOT NULL;
CREATE UNIQUE INDEX related_links_story_url_key ON related_links (story_id, url) WHERE url IS NOT NULL;
CREATE INDEX related_links_by_target ON related_links (target_story_id);
