DROP TABLE suggestion_queue;
DROP TABLE story_suggestions;
