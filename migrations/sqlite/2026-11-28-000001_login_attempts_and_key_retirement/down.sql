ALTER TABLE server_keys DROP COLUMN retired_at;

DROP TABLE login_attempts;

CREATE TABLE login_failures (
    throttle_key TEXT PRIMARY KEY NOT NULL,
    failures INTEGER NOT NULL,
    window_start TIMESTAMP NOT NULL
);
CREATE INDEX login_failures_by_window ON login_failures (window_start);
