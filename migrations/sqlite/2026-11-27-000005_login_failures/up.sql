-- Failed logins per email and per client address, shared by every process
-- on the database, so a throttle cannot be dodged by landing on another one.

CREATE TABLE login_failures (
    throttle_key TEXT PRIMARY KEY NOT NULL,
    failures INTEGER NOT NULL,
    window_start TIMESTAMP NOT NULL
);
CREATE INDEX login_failures_by_window ON login_failures (window_start);
