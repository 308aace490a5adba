DROP TABLE story_tags;
DROP TABLE tags;
DROP TABLE stories;
DROP TABLE server_keys;
DROP TABLE editors;
