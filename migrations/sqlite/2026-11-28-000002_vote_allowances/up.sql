-- What one client address may do with votes, shared by every process on the
-- database: votes per minute (vote_allowances) and new voters added to one
-- story per day (vote_sources). Addresses are kept only as keyed hashes
-- (IPv6 by /64), like voter ids.

CREATE TABLE vote_allowances (
    client_key TEXT PRIMARY KEY NOT NULL,
    window_start TIMESTAMP NOT NULL,
    votes INTEGER NOT NULL
);
CREATE INDEX vote_allowances_by_window ON vote_allowances (window_start);

CREATE TABLE vote_sources (
    story_id BIGINT NOT NULL REFERENCES stories (id) ON DELETE CASCADE,
    client_key TEXT NOT NULL,
    day_start TIMESTAMP NOT NULL,
    new_voters INTEGER NOT NULL,
    PRIMARY KEY (story_id, client_key, day_start)
);
CREATE INDEX vote_sources_by_day ON vote_sources (day_start);
