-- Every list reads each story's tags with its row, in the editor's order
-- (`TagSlugs` in src/stories/queries.rs). The primary key (story_id, tag_id)
-- finds them but not in that order: without this index each row of a list
-- sorted its tags in a temporary B-tree.
CREATE INDEX story_tags_in_position_order ON story_tags (story_id, position, tag_id);
