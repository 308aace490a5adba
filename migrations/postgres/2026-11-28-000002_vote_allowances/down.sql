DROP TABLE vote_sources;
DROP TABLE vote_allowances;
