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

CREATE INDEX assets_failures_shown_until ON assets(failures_shown_until);
