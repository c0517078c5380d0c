-- IT Glue (issue 16, spec portal-c §1.9): one integration per instance (its API key sealed with
-- the instance key), and which IT Glue organization each portal organization is linked to.
CREATE TABLE itglue_integrations (
    instance_id INTEGER PRIMARY KEY REFERENCES instances(id) ON DELETE CASCADE,
    base_url TEXT NOT NULL,
    api_key TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    updated_by TEXT NOT NULL,
    last_sync_at INTEGER,
    -- "N configurations written" or why the pass stopped.
    last_sync_result TEXT,
    last_sync_ok INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE itglue_links (
    organization_id INTEGER PRIMARY KEY REFERENCES organizations(id) ON DELETE CASCADE,
    instance_id INTEGER NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    itglue_id INTEGER NOT NULL,
    itglue_name TEXT NOT NULL,
    linked_at INTEGER NOT NULL,
    linked_by TEXT NOT NULL,
    UNIQUE (instance_id, itglue_id)
);
