DROP INDEX webhook_events_by_age;
