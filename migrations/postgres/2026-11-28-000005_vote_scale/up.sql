-- Votes at scale (docs/API-DESIGN.md, "Votes at scale").
--
-- rating_totals becomes 16 shard rows, summed on read: concurrent vote
-- batches (several processes on one PostgreSQL) add to different rows
-- instead of queueing on one. The old row is shard 1.
ALTER TABLE rating_totals DROP CONSTRAINT rating_totals_id_check;
ALTER TABLE rating_totals ADD CONSTRAINT rating_totals_id_check CHECK (id BETWEEN 1 AND 16);
INSERT INTO rating_totals (id, vote_count, vote_sum) SELECT id, 0, 0 FROM generate_series(2, 16) AS id;

-- The prior that stored ranks are computed under: a snapshot of the
-- configured or site-wide mean, re-taken when it drifts (ratings::Upkeep);
-- ranked says whether a pass over the stories has finished under it.
CREATE TABLE rating_prior (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    weight DOUBLE PRECISION NOT NULL,
    mean DOUBLE PRECISION NOT NULL,
    ranked BOOLEAN NOT NULL
);
INSERT INTO rating_prior (id, weight, mean, ranked)
SELECT 1, 10, COALESCE((SELECT CAST(vote_sum AS DOUBLE PRECISION) / vote_count FROM rating_totals WHERE id = 1 AND vote_count > 0), 3), TRUE;

-- A story's Bayesian score minus the prior mean, under the snapshot: what
-- sort=-rating walks, down an index. 0 without votes, whatever the prior,
-- so a new story needs no computation.
ALTER TABLE stories ADD COLUMN rating_rank DOUBLE PRECISION NOT NULL DEFAULT 0;
UPDATE stories SET rating_rank =
    (CAST(rating_sum AS DOUBLE PRECISION) - CAST(rating_count AS DOUBLE PRECISION) * (SELECT mean FROM rating_prior))
    / (CAST(rating_count AS DOUBLE PRECISION) + (SELECT weight FROM rating_prior))
WHERE rating_count > 0;
CREATE INDEX stories_by_rating ON stories (status, rating_rank DESC, id DESC);
