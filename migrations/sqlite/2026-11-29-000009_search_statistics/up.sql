-- Nothing to do on SQLite (kept in step with migrations/postgres, where this
-- raises the statistics of search_vector): FTS5 finds a word's newest
-- matches by walking its doclist from the newest rowid, whatever the word's
-- frequency, and keeps no statistics for a planner to choose by.
SELECT 1;
