-- Readers' ratings. Each story keeps its own counters (count, sum and the
-- histogram), and rating_totals the site-wide ones (the Bayesian prior's
-- mean), all updated in the same transaction as every vote, so reading an
-- aggregate never scans votes.

CREATE TABLE ratings (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    story_id BIGINT NOT NULL REFERENCES stories (id) ON DELETE CASCADE,
    voter_hash TEXT NOT NULL,
    score INTEGER NOT NULL CHECK (score BETWEEN 1 AND 5),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX ratings_voter_key ON ratings (story_id, voter_hash);
CREATE INDEX ratings_by_story ON ratings (story_id, id);

ALTER TABLE stories ADD COLUMN rating_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE stories ADD COLUMN rating_sum BIGINT NOT NULL DEFAULT 0;
ALTER TABLE stories ADD COLUMN rating_1 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE stories ADD COLUMN rating_2 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE stories ADD COLUMN rating_3 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE stories ADD COLUMN rating_4 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE stories ADD COLUMN rating_5 BIGINT NOT NULL DEFAULT 0;

CREATE TABLE rating_totals (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    vote_count BIGINT NOT NULL,
    vote_sum BIGINT NOT NULL
);
INSERT INTO rating_totals (id, vote_count, vote_sum) VALUES (1, 0, 0);
