-- Nothing to change on PostgreSQL. SQLite's migration of this name adds an
-- index so that each list row reads its tags in the editor's order without a
-- sort; here `string_agg(… ORDER BY position)` sorts a story's few tags in
-- the aggregate itself (PostgreSQL 15 would not use such an index for it),
-- and the primary key already finds them.
SELECT 1;
