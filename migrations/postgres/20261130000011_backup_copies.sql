-- Offsite backup copies (issue 19): each appliance's copy target, and per asset when its
-- newest copy landed and since when a good backup has waited for one.

-- The target as the appliance receives it (JSON of model::appliance::CopyTarget), with its
-- secrets (S3 secret key, the target repository's password) sealed by the instance key.
CREATE TABLE copy_targets (
    appliance_id BIGINT PRIMARY KEY REFERENCES appliances(id) ON DELETE CASCADE,
    target TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL
);

-- The end of the asset's newest good copy ("Last backup copy").
ALTER TABLE assets ADD COLUMN last_copy_at BIGINT;
-- The end of the oldest good backup not yet copied while the appliance has a copy target;
-- the Replication offsite alarm counts its threshold from here.
ALTER TABLE assets ADD COLUMN copy_pending_since BIGINT;
CREATE INDEX assets_by_last_copy ON assets(last_copy_at NULLS FIRST, name, id);
