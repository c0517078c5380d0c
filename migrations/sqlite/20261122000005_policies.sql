-- Backup policies and schedules (issue 5).
-- The zone an appliance runs its policies in (it says so when it connects).
ALTER TABLE appliances ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'UTC';
-- The policy the appliance reports for the asset (JSON of model::policy::Policy), NULL for none.
ALTER TABLE assets ADD COLUMN policy TEXT;
-- The last policy change asked of the appliance for this asset (set, remove, enable, disable):
-- pending while that command is pending or sent, failed if it ended in error.
ALTER TABLE assets ADD COLUMN policy_command_id INTEGER REFERENCES appliance_commands(id) ON DELETE SET NULL;
-- Full or incremental, the bytes a backup added, and the policy run a job was.
ALTER TABLE jobs ADD COLUMN mode TEXT;
ALTER TABLE jobs ADD COLUMN size_bytes INTEGER;
ALTER TABLE jobs ADD COLUMN scheduled_for INTEGER;
-- Last run per asset (Jobs → Scheduled).
CREATE INDEX jobs_asset_started ON jobs(appliance_id, asset_external_id, started_at);
