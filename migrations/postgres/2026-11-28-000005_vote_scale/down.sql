DROP INDEX stories_by_rating;
ALTER TABLE stories DROP COLUMN rating_rank;
DROP TABLE rating_prior;
UPDATE rating_totals SET vote_count = (SELECT SUM(vote_count) FROM rating_totals), vote_sum = (SELECT SUM(vote_sum) FROM rating_totals) WHERE id = 1;
DELETE FROM rating_totals WHERE id <> 1;
ALTER TABLE rating_totals DROP CONSTRAINT rating_totals_id_check;
ALTER TABLE rating_totals ADD CONSTRAINT rating_totals_id_check CHECK (id = 1);
