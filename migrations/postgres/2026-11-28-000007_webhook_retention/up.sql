-- Pruning walks old events oldest first (webhooks::queries::prune).
CREATE INDEX webhook_events_by_age ON webhook_events (created_at);
