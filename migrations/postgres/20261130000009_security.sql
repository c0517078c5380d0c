-- Security review fixes.
-- The directories an appliance restores into, as it reported them (a JSON array of paths).
ALTER TABLE appliances ADD COLUMN restore_roots TEXT NOT NULL DEFAULT '[]';
