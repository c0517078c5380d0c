-- Jobs → Recent over a million jobs: one index per sort order, so the first page is read in
-- order instead of sorting the whole 90-day window (see bench/src/bin/recent_jobs.rs). The
-- appliance's and asset's names are copied onto the job for sorting by them (kept in step by
-- the gateway when an appliance or asset is renamed).
ALTER TABLE jobs ADD COLUMN appliance_name TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN asset_name TEXT NOT NULL DEFAULT '';
UPDATE jobs SET
    appliance_name = (SELECT a.name FROM appliances a WHERE a.id = jobs.appliance_id),
    asset_name = COALESCE((SELECT s.name FROM assets s WHERE s.appliance_id = jobs.appliance_id
                                                         AND s.external_id = jobs.asset_external_id),
                          jobs.asset_external_id);
CREATE INDEX jobs_started_id ON jobs(started_at, id);
CREATE INDEX jobs_state_id ON jobs(state, id);
CREATE INDEX jobs_state_started ON jobs(state, started_at);
CREATE INDEX jobs_kind_id ON jobs(kind, id);
CREATE INDEX jobs_duration_id ON jobs((COALESCE(ended_at, started_at) - started_at), id);
CREATE INDEX jobs_appliance_name_id ON jobs(appliance_name, id);
CREATE INDEX jobs_asset_name_id ON jobs(asset_name, id);
-- A scoped user's jobs are read from this index alone (PostgreSQL; see views::recent_source).
CREATE INDEX jobs_organization_visible ON jobs(organization_id, started_at)
    INCLUDE (id, appliance_id, asset_external_id, state, kind, ended_at, appliance_name, asset_name);
