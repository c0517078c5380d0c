-- Appliances: registration IDs, the appliances themselves and what they report (assets,
-- recovery points, jobs and job logs), online/offline events and the command queue.

CREATE TABLE appliance_registrations (
    id_hash TEXT PRIMARY KEY,
    instance_id INTEGER NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    organization_id INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER,
    appliance_id INTEGER
);

CREATE TABLE appliances (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id INTEGER NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    organization_id INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    model TEXT NOT NULL,
    version TEXT NOT NULL,
    credential_hash TEXT NOT NULL UNIQUE,
    registered_at INTEGER NOT NULL,
    last_seen_at INTEGER,
    online INTEGER NOT NULL DEFAULT 0,
    storage_total INTEGER NOT NULL DEFAULT 0,
    storage_free INTEGER NOT NULL DEFAULT 0,
    storage_used INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX appliances_organization ON appliances(organization_id);

CREATE TABLE appliance_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    appliance_id INTEGER NOT NULL REFERENCES appliances(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX appliance_events_appliance ON appliance_events(appliance_id, at);

CREATE TABLE assets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    appliance_id INTEGER NOT NULL REFERENCES appliances(id) ON DELETE CASCADE,
    external_id TEXT NOT NULL,
    name TEXT NOT NULL,
    path TEXT NOT NULL,
    UNIQUE (appliance_id, external_id)
);

CREATE TABLE recovery_points (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    asset_id INTEGER NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
    external_id TEXT NOT NULL,
    taken_at INTEGER NOT NULL,
    size_bytes INTEGER NOT NULL,
    files INTEGER NOT NULL,
    UNIQUE (asset_id, external_id)
);

CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    appliance_id INTEGER NOT NULL REFERENCES appliances(id) ON DELETE CASCADE,
    organization_id INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    asset_external_id TEXT NOT NULL,
    external_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    ended_at INTEGER,
    percent REAL NOT NULL DEFAULT 0,
    bytes_done INTEGER NOT NULL DEFAULT 0,
    bytes_total INTEGER NOT NULL DEFAULT 0,
    files_done INTEGER NOT NULL DEFAULT 0,
    files_total INTEGER NOT NULL DEFAULT 0,
    bytes_per_sec INTEGER NOT NULL DEFAULT 0,
    eta_secs INTEGER,
    message TEXT NOT NULL DEFAULT '',
    error TEXT,
    updated_at INTEGER NOT NULL,
    UNIQUE (appliance_id, external_id)
);
CREATE INDEX jobs_organization_started ON jobs(organization_id, started_at);

CREATE TABLE job_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    line TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX job_log_job ON job_log(job_id, id);

CREATE TABLE appliance_commands (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    appliance_id INTEGER NOT NULL REFERENCES appliances(id) ON DELETE CASCADE,
    command TEXT NOT NULL,
    status TEXT NOT NULL,
    message TEXT,
    requested_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    finished_at INTEGER
);
CREATE INDEX appliance_commands_pending ON appliance_commands(appliance_id, status);
