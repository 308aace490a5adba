ALTER TABLE stories ADD COLUMN rating_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE stories ADD COLUMN rating_sum BIGINT NOT NULL DEFAULT 0;
ALTER TABLE stories ADD COLUMN rating_1 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE stories ADD COLUMN rating_2 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE stories ADD COLUMN rating_3 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE stories ADD COLUMN rating_4 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE stories ADD COLUMN rating_5 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE stories ADD COLUMN rating_rank DOUBLE PRECISION NOT NULL DEFAULT 0;
UPDATE stories SET (rating_count, rating_sum, rating_1, rating_2, rating_3, rating_4, rating_5, rating_rank) = (
    SELECT rating_count, rating_sum, rating_1, rating_2, rating_3, rating_4, rating_5, rating_rank
    FROM story_ratings WHERE story_ratings.story_id = stories.id)
WHERE id IN (SELECT story_id FROM story_ratings);
CREATE INDEX stories_by_rating ON stories (status, rating_rank DESC, id DESC);
DROP TABLE story_ratings;
