DROP INDEX stories_by_title;
CREATE INDEX stories_by_title ON stories (status, title, id);
ALTER TABLE tags DROP COLUMN published_count;
DROP INDEX story_tags_in_publication_order;
CREATE INDEX story_tags_by_tag ON story_tags (tag_id, story_id);
ALTER TABLE story_tags DROP COLUMN published_at;
