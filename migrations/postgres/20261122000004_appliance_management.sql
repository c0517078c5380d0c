-- Deleting appliances, describing commands, and indexes for the appliance page.
-- A deleted appliance keeps its job history but disappears from every list; its credential is
-- replaced so it can never connect again.
ALTER TABLE appliances ADD COLUMN deleted_at BIGINT;
CREATE INDEX jobs_appliance_started ON jobs(appliance_id, started_at);
CREATE INDEX appliance_commands_appliance ON appliance_commands(appliance_id, id);
-- What the command does in words, with names (the command itself names objects by their ids).
ALTER TABLE appliance_commands ADD COLUMN description TEXT;
