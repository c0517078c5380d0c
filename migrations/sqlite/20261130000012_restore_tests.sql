-- Verified restores (issue 19): the end and the result of each asset's newest restore test.
ALTER TABLE assets ADD COLUMN last_verified_at INTEGER;
ALTER TABLE assets ADD COLUMN last_verify_result TEXT;
CREATE INDEX assets_by_last_verified ON assets(last_verified_at, name, id);
