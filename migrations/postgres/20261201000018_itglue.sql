-- IT Glue (issue 16, spec portal-c §1.9): one integration per instance (its API key sealed with
-- the instance key), and which IT Glue organization each portal organization is linked to.
CREATE TABLE itglue_integrations (
    instance_id BIGINT PRIMARY KEY REFERENCES instances(id) ON DELETE CASCADE,
    base_url TEXT NOT NULL,
    api_key TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL,
    last_sync_at BIGINT,
    -- "N configurations written" or why the pass stopped.
    last_sync_result TEXT,
    last_sync_ok BIGINT NOT NULL DEFAULT 1
);

CREATE TABLE itglue_links (
    organization_id BIGINT PRIMARY KEY REFERENCES organizations(id) ON DELETE CASCADE,
    instance_id BIGINT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    itglue_id BIGINT NOT NULL,
    itglue_name TEXT NOT NULL,
    linked_at BIGINT NOT NULL,
    linked_by TEXT NOT NULL,
    UNIQUE (instance_id, itglue_id)
);
