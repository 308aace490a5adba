DROP INDEX stories_by_rating;
ALTER TABLE stories DROP COLUMN rating_rank;
DROP TABLE rating_prior;
CREATE TABLE rating_totals_single (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    vote_count BIGINT NOT NULL,
    vote_sum BIGINT NOT NULL
);
INSERT INTO rating_totals_single (id, vote_count, vote_sum)
SELECT 1, COALESCE(SUM(vote_count), 0), COALESCE(SUM(vote_sum), 0) FROM rating_totals;
DROP TABLE rating_totals;
ALTER TABLE rating_totals_single RENAME TO rating_totals;
