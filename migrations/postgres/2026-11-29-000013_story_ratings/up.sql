-- Each story's rating counters and rank move out of `stories` into a narrow
-- row of their own (docs/API-DESIGN.md, "Votes at scale"). A vote batch
-- rewrites its stories' counters and rank; on `stories` that rewrote the
-- whole wide row: on PostgreSQL never a HOT update (the rank was indexed),
-- so an entry in each of its eight indexes, the GIN over search_vector
-- among them; on SQLite the whole record, body and overflow pages included,
-- into the WAL. Here a vote writes a few dozen bytes and at most two index
-- entries. Kept in lockstep with the other backend's migration.
--
-- published_at is the story's publication time while it is published
-- (scheduled included), NULL otherwise, kept in step by the code that
-- changes a story's status (as story_tags.published_at is): it is the
-- public rule of the sort=-rating walk, and what a vote checks, without
-- reading the story's row.
--
-- What a big site pays once: every story's row is copied here and the rank
-- index built anew (seconds per million stories); on SQLite dropping the
-- columns also rewrites every row of `stories` (minutes for a million
-- stories with their bodies, and twice its size free on disk meanwhile);
-- on PostgreSQL dropping them is instant and their space is reused as rows
-- are next written.
CREATE TABLE story_ratings (
    story_id BIGINT PRIMARY KEY REFERENCES stories (id) ON DELETE CASCADE,
    rating_count BIGINT NOT NULL DEFAULT 0,
    rating_sum BIGINT NOT NULL DEFAULT 0,
    rating_1 BIGINT NOT NULL DEFAULT 0,
    rating_2 BIGINT NOT NULL DEFAULT 0,
    rating_3 BIGINT NOT NULL DEFAULT 0,
    rating_4 BIGINT NOT NULL DEFAULT 0,
    rating_5 BIGINT NOT NULL DEFAULT 0,
    rating_rank DOUBLE PRECISION NOT NULL DEFAULT 0,
    published_at TIMESTAMP
);
INSERT INTO story_ratings
    (story_id, rating_count, rating_sum, rating_1, rating_2, rating_3, rating_4, rating_5, rating_rank, published_at)
SELECT id, rating_count, rating_sum, rating_1, rating_2, rating_3, rating_4, rating_5, rating_rank,
       CASE WHEN status = 'published' THEN published_at END
FROM stories;
-- sort=-rating walks this: published (and scheduled) stories only, so the
-- walk never passes drafts or archived stories, and re-ranking theirs
-- writes no entry.
CREATE INDEX story_ratings_by_rank ON story_ratings (rating_rank DESC, story_id DESC) WHERE published_at IS NOT NULL;

DROP INDEX stories_by_rating;
ALTER TABLE stories DROP COLUMN rating_count, DROP COLUMN rating_sum, DROP COLUMN rating_1, DROP COLUMN rating_2,
    DROP COLUMN rating_3, DROP COLUMN rating_4, DROP COLUMN rating_5, DROP COLUMN rating_rank;
