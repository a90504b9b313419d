-- Providers declared in the YAML file are owned by it (identity: the name within the
-- file); the UI shows them read-only and a reload updates or removes them.
ALTER TABLE providers ADD COLUMN managed_by TEXT NOT NULL DEFAULT 'ui';
CREATE UNIQUE INDEX providers_file_name ON providers (name) WHERE managed_by = 'file';
