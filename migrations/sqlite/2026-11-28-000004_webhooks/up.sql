-- Webhooks: endpoints admins register, and a durable outbox. An event is
-- written in the same transaction as the change it reports, with one
-- delivery per endpoint subscribed to it; the dispatcher of any process
-- claims due deliveries (a lease in locked_until), sends them, and records
-- the outcome or the time of the next try.

CREATE TABLE webhook_endpoints (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    url TEXT NOT NULL,
    -- A JSON array of event types, e.g. ["story.published"].
    events TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    -- whsec_ and base64 of 32 random bytes: the HMAC key of signatures.
    secret TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

-- No foreign key to stories: a story.deleted event outlives its story.
CREATE TABLE webhook_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    story_id BIGINT,
    type TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id BIGINT NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
    endpoint_id BIGINT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    -- The event's story, copied here so that order per story per endpoint
    -- is one index away.
    story_id BIGINT,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    last_attempt_at TIMESTAMP,
    last_status_code INTEGER,
    last_error TEXT,
    last_duration_ms BIGINT,
    locked_until TIMESTAMP,
    claimed_by TEXT,
    delivered_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_in_order ON webhook_deliveries (endpoint_id, story_id, status, id);
CREATE INDEX webhook_deliveries_of_event ON webhook_deliveries (event_id);

-- Every request made for a delivery, for the deliveries list.
CREATE TABLE webhook_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id BIGINT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempted_at TIMESTAMP NOT NULL,
    status_code INTEGER,
    duration_ms BIGINT NOT NULL,
    error TEXT
);
CREATE INDEX webhook_attempts_of_delivery ON webhook_attempts (delivery_id, id);

-- Scheduled stories turn public by themselves, with no write to report it:
-- the dispatcher looks for them, and records each (story, publication time)
-- here in the transaction that records its story.published, so that one
-- event is recorded however many processes look. Publishing at once marks
-- its story here too.
CREATE TABLE webhook_publications (
    story_id BIGINT NOT NULL REFERENCES stories (id) ON DELETE CASCADE,
    published_at TIMESTAMP NOT NULL,
    PRIMARY KEY (story_id, published_at)
);
