DROP INDEX stories_search;
ALTER TABLE stories DROP COLUMN search_vector;
DROP INDEX stories_by_author;
DROP INDEX stories_by_locale;
DROP INDEX stories_by_title;
DROP TABLE story_revisions;
