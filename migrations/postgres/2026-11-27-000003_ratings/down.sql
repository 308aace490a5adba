DROP TABLE rating_totals;
ALTER TABLE stories DROP COLUMN rating_5;
ALTER TABLE stories DROP COLUMN rating_4;
ALTER TABLE stories DROP COLUMN rating_3;
ALTER TABLE stories DROP COLUMN rating_2;
ALTER TABLE stories DROP COLUMN rating_1;
ALTER TABLE stories DROP COLUMN rating_sum;
ALTER TABLE stories DROP COLUMN rating_count;
DROP TABLE ratings;
