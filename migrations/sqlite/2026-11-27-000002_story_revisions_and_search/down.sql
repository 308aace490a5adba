DROP TRIGGER stories_fts_update;
DROP TRIGGER stories_fts_delete;
DROP TRIGGER stories_fts_insert;
DROP TABLE stories_fts;
DROP INDEX stories_by_author;
DROP INDEX stories_by_locale;
DROP INDEX stories_by_title;
DROP TABLE story_revisions;
