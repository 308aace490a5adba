-- Rows written from now on store the vector as before; the rows already
-- written keep it in the row until they are next written.
ALTER TABLE stories ALTER COLUMN search_vector SET STORAGE EXTENDED;
