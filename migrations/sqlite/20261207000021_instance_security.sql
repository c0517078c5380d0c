-- Per-instance security settings (issue 17, Settings → Security), read by every session lookup
-- without another query: IP restrictions (the rules a Superuser keeps, and on the instance the
-- addresses they allow while restrictions are on; NULL: off) and the origins allowed to embed
-- the instance's portal in a frame (space-separated; NULL: none beyond the server's own list).
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
ALTER TABLE instances ADD COLUMN frame_ancestors TEXT;
