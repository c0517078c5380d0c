-- Copy targets per organization (issue 19): the organization's target applies to each of its
-- appliances that has none of its own, in a directory (or S3 prefix) of that appliance's own,
-- and to appliances registered later.

-- The organization's target (JSON of model::appliance::CopyTarget with an empty repository
-- password: each appliance's repository gets its own), its S3 secret key sealed.
CREATE TABLE organization_copy_targets (
    organization_id INTEGER PRIMARY KEY REFERENCES organizations(id) ON DELETE CASCADE,
    target TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    updated_by TEXT NOT NULL
);

-- 1 when the appliance's target came from its organization's (and follows its changes).
ALTER TABLE copy_targets ADD COLUMN from_organization INTEGER NOT NULL DEFAULT 0;
