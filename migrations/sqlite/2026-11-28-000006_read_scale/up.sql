-- Public reads that stay index walks at a million stories (issue 12).
-- Kept in lockstep with migrations/postgres.
--
-- story_tags carries its story's publication time while the story is
-- published (scheduled included; NULL for drafts and archived stories), so
-- a tag's public list is a walk of (tag_id, published_at, story_id) with the
-- public rule on the index itself: `published_at <= now`. A scheduled story
-- turns public by itself, with no write, as it does in `stories`.
ALTER TABLE story_tags ADD COLUMN published_at TIMESTAMP;
UPDATE story_tags SET published_at = (
    SELECT stories.published_at FROM stories WHERE stories.id = story_tags.story_id AND stories.status = 'published'
);
DROP INDEX story_tags_by_tag;
CREATE INDEX story_tags_in_publication_order ON story_tags (tag_id, published_at, story_id);

-- How many published (or scheduled) stories carry each tag, kept in the
-- transaction of every story write; `GET /v1/tags` subtracts the scheduled
-- ones still to come (a range of the index above) instead of counting.
ALTER TABLE tags ADD COLUMN published_count BIGINT NOT NULL DEFAULT 0;
UPDATE tags SET published_count = (
    SELECT COUNT(*) FROM story_tags WHERE story_tags.tag_id = tags.id AND story_tags.published_at IS NOT NULL
);

-- `sort=title` walks this index and checks the public rule on its entries.
DROP INDEX stories_by_title;
CREATE INDEX stories_by_title ON stories (status, title, id, published_at);

-- Statistics for the planner, for sites already large.
ANALYZE;
