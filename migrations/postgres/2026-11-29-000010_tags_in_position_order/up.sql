-- Every list reads each story's tags with its row, in the editor's order
-- (`TagSlugs` in src/stories/queries.rs). On SQLite this index spares each
-- row a sort; here `string_agg(… ORDER BY position)` sorts a story's few
-- tags itself, and the index serves the lookup as an index-only scan. Both
-- backends keep the same indexes (tests/api/schema.rs).
CREATE INDEX story_tags_in_position_order ON story_tags (story_id, position, tag_id);
