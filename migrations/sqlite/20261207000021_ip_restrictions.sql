-- IP restrictions per instance (issue 17): the rules a Superuser keeps (Settings → Security),
-- and, on the instance, the addresses they allow while restrictions are on (NULL: off), which
-- every session lookup reads without another query.
CREATE TABLE ip_rules (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id INTEGER NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    description TEXT NOT NULL,
    -- Single addresses, CIDR ranges and from-to ranges, comma-separated, as normalized.
    entries TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX ip_rules_instance ON ip_rules(instance_id);
ALTER TABLE instances ADD COLUMN ip_restricted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE instances ADD COLUMN ip_allow_list TEXT;
