ALTER TABLE stories DROP COLUMN preview_generation;
