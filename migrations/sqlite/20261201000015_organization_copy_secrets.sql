-- The secret each organization's copy repositories' passwords are derived from (with the
-- appliance's id), sealed with the instance key. It outlives the organization's copy target, so
-- a target removed and set again, or an appliance that leaves the organization's target and
-- comes back, opens the repositories it created before.
CREATE TABLE organization_copy_secrets (
    organization_id INTEGER PRIMARY KEY REFERENCES organizations(id) ON DELETE CASCADE,
    secret TEXT NOT NULL
);
