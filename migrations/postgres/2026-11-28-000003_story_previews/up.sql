-- Draft previews: a preview token names the story's preview generation when
-- it was made; revoking the story's previews moves the generation on, so
-- every token made before stops working at once.
ALTER TABLE stories ADD COLUMN preview_generation BIGINT NOT NULL DEFAULT 0;
