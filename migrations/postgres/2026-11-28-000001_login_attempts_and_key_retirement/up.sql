-- Login attempts are counted before the password is checked, per (email,
-- client address) pair with a backoff and per email with a ceiling
-- (src/auth/throttle.rs); the old per-email and per-address failure counts
-- let anyone lock an editor out, so they go. Kept in lockstep with
-- migrations/sqlite.

DROP TABLE login_failures;

CREATE TABLE login_attempts (
    throttle_key TEXT PRIMARY KEY,
    -- Attempts let through in the window that began at window_start.
    attempts INTEGER NOT NULL,
    window_start TIMESTAMP NOT NULL,
    -- Lockouts so far, each twice as long as the one before (capped).
    lockouts INTEGER NOT NULL,
    -- Set when the attempts ran out: refused until then.
    locked_until TIMESTAMP
);
CREATE INDEX login_attempts_by_window ON login_attempts (window_start);

-- When a newer key started signing: tokens this key signs later are forged.
-- NULL for the key that signs now (and for keys of other purposes).
ALTER TABLE server_keys ADD COLUMN retired_at TIMESTAMP;
-- Keys replaced before this column existed retired when their successor was made.
UPDATE server_keys SET retired_at = (
    SELECT MIN(newer.created_at) FROM server_keys newer
    WHERE newer.purpose = server_keys.purpose AND newer.created_at > server_keys.created_at
);
