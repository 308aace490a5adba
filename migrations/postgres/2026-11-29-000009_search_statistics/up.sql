-- A search finds its newest matches by the path the planner picks from how
-- many stories it expects each word to match: for a common word, a walk of
-- the primary key from the newest story; for a rare one, the GIN index (the
-- walk would cross most of the site, and a range of the primary key joined
-- to the GIN bitmap reads most of the key). The planner knows a word's
-- frequency only if ANALYZE kept it among search_vector's most common
-- lexemes: ten per unit of the column's statistics target, so 1,000 by
-- default, and every other word is guessed at 0.5 % of the site, common
-- enough for the wrong path on a big one. 1,000 keeps up to 10,000 lexemes
-- from a sample of 300,000 stories: a word is then either known or rarer
-- than the least frequent kept, and guessed rarer still (the seed's whole
-- vocabulary, 5,212 lexemes, is known; its rarest words are in 0.2 %).
ALTER TABLE stories ALTER COLUMN search_vector SET STATISTICS 1000;
-- Once now (20-50 s at a million stories); autovacuum keeps them after.
ANALYZE stories (search_vector);
