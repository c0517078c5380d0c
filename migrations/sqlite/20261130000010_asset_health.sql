-- Protect → Assets' health columns (issue 19), kept on the asset so the list sorts and filters
-- 100,000 assets without reading every asset's recovery points or jobs.

-- The recovery points the appliance last reported: how many, the newest and its size.
ALTER TABLE assets ADD COLUMN points INTEGER NOT NULL DEFAULT 0;
ALTER TABLE assets ADD COLUMN last_point_at INTEGER;
ALTER TABLE assets ADD COLUMN last_point_bytes INTEGER;
-- Until when the asset has recent failures: the end of the seventh day (in its appliance's
-- zone) from the day its newest failed or missed backup started, the last day the Recent
-- backups strip shows it. Rows written before this migration use UTC days.
ALTER TABLE assets ADD COLUMN failures_shown_until INTEGER;

UPDATE assets SET
  points = (SELECT COUNT(*) FROM recovery_points r WHERE r.asset_id = assets.id),
  last_point_at = (SELECT MAX(r.taken_at) FROM recovery_points r WHERE r.asset_id = assets.id),
  last_point_bytes = (SELECT r.size_bytes FROM recovery_points r WHERE r.asset_id = assets.id
                      ORDER BY r.taken_at DESC, r.id DESC LIMIT 1),
  failures_shown_until = (SELECT (MAX(j.started_at) / 86400000 + 7) * 86400000 FROM jobs j
                          WHERE j.appliance_id = assets.appliance_id AND j.asset_external_id = assets.external_id
                            AND j.kind = 'backup' AND j.state IN ('error', 'missed'));

-- The names the list sorts by, copied from the appliance and its organization (kept in step
-- when either is renamed), so that every order of the list walks an index of this table.
ALTER TABLE assets ADD COLUMN appliance_name TEXT NOT NULL DEFAULT '';
ALTER TABLE assets ADD COLUMN organization_name TEXT NOT NULL DEFAULT '';
UPDATE assets SET
  appliance_name = (SELECT a.name FROM appliances a WHERE a.id = assets.appliance_id),
  organization_name = (SELECT o.name FROM appliances a JOIN organizations o ON o.id = a.organization_id
                       WHERE a.id = assets.appliance_id);
-- What "name contains" searches, lower-cased in one column: name, path and appliance name.
ALTER TABLE assets ADD COLUMN search_text TEXT NOT NULL DEFAULT '';
UPDATE assets SET search_text = LOWER(name || ' ' || path || ' ' || appliance_name);

-- One index per order (a missing value sorts as the smallest, first when ascending).
CREATE INDEX assets_by_organization ON assets(organization_name, appliance_name, name, id);
CREATE INDEX assets_by_appliance ON assets(appliance_name, name, id);
CREATE INDEX assets_by_name ON assets(name, id);
CREATE INDEX assets_by_path ON assets(path, name, id);
CREATE INDEX assets_by_last_backup ON assets(last_result_started, name, id);
CREATE INDEX assets_by_failures ON assets(failures_shown_until, name, id);
CREATE INDEX assets_by_points ON assets(points, name, id);
CREATE INDEX assets_by_last_point ON assets(last_point_at, name, id);
CREATE INDEX assets_by_size ON assets(last_point_bytes, name, id);
