-- Suggestions ("read next" by similarity) are computed in the background
-- and stored, so that reading them walks this primary key (issue 12;
-- related::suggester). The best STORED candidates of each story, best
-- first: more than a reader may ask for, so that targets linked already or
-- no longer public, left out when read, still leave enough.
CREATE TABLE story_suggestions (
    story_id BIGINT NOT NULL REFERENCES stories (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    -- No foreign key: reading joins the target and keeps it only if it is
    -- public now, so a deleted one drops out at once; story ids are never
    -- reused. (A key would need an index of every row's target.)
    target_id BIGINT NOT NULL,
    PRIMARY KEY (story_id, position)
);

-- What is left to compute: a row per story, written in the transaction of
-- the change that calls for it ('changed': published, or its title,
-- excerpt or tags edited; then 'neighbour': the stories it suggests, so
-- that they can suggest it back) and, once computed, kept as the story's
-- next 'refresh'. Any process's task leases due rows (claimed_by,
-- locked_until); a lease of a process that died runs out and is taken over.
CREATE TABLE suggestion_queue (
    story_id BIGINT PRIMARY KEY REFERENCES stories (id) ON DELETE CASCADE,
    reason TEXT NOT NULL CHECK (reason IN ('changed', 'neighbour', 'refresh')),
    due_at TIMESTAMP NOT NULL,
    claimed_by TEXT,
    locked_until TIMESTAMP
);
CREATE INDEX suggestion_queue_due ON suggestion_queue (reason, due_at);

-- Stories published before this migration are computed a few at a time.
INSERT INTO suggestion_queue (story_id, reason, due_at)
SELECT id, 'refresh', (now() AT TIME ZONE 'UTC') FROM stories WHERE status = 'published';
