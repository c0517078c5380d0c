-- The alert evaluator reads each due object's active alerts by the object, in the query that
-- takes the due batch (issue 6, full-pass speed).
CREATE INDEX alerts_active_asset ON alerts(asset_id) WHERE state = 'active';
CREATE INDEX alerts_active_appliance ON alerts(appliance_id) WHERE state = 'active' AND asset_id IS NULL;
