-- When a worker claimed the row: a claim older than a few minutes (its sender died
-- without recording an outcome) is released while the process runs.
ALTER TABLE outbox ADD COLUMN claimed_at TEXT;
-- History pages join deliveries by alert, and deleting an alert cascades to them.
CREATE INDEX outbox_by_alert ON outbox (alert_id);
