-- The (email, client address) pairs that logged in successfully lately
-- (src/auth/throttle.rs): an attempt from one is not held to the per-email
-- ceiling, so guessing spread over many addresses cannot lock an editor
-- out of the places it logs in from. Kept in lockstep with the other
-- backend's migration.
CREATE TABLE login_known_clients (
    -- The pair's key, as in login_attempts.
    throttle_key TEXT PRIMARY KEY NOT NULL,
    last_success_at TIMESTAMP NOT NULL
);
CREATE INDEX login_known_clients_by_success ON login_known_clients (last_success_at);
