-- Nothing to do on SQLite (kept in step with migrations/postgres, where this
-- keeps search_vector in the story's row): the full-text index is FTS5's own
-- table, which a search reads without the stories' rows.
SELECT 1;
