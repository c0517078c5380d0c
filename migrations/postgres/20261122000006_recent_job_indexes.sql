-- Jobs → Recent over a million jobs: one index per sort order, so the first page is read in
-- order instead of sorting the whole 90-day window (see bench/src/bin/recent_jobs.rs).
CREATE INDEX jobs_started_id ON jobs(started_at, id);
CREATE INDEX jobs_state_id ON jobs(state, id);
CREATE INDEX jobs_kind_id ON jobs(kind, id);
CREATE INDEX jobs_duration_id ON jobs((COALESCE(ended_at, started_at) - started_at), id);
CREATE INDEX appliances_name ON appliances(name);
