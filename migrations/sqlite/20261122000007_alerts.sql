-- The Alert Center, its settings, conditional alarms and the evaluation schedule (issue 6).

-- One row per raised alert. `dedupe_key` names the condition and its object
-- ("backup_failed:asset:12"); at most one alert per key is active, which makes raising a
-- compare-and-swap even with several evaluators.
CREATE TABLE alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id INTEGER NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    organization_id INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    appliance_id INTEGER REFERENCES appliances(id) ON DELETE CASCADE,
    asset_id INTEGER REFERENCES assets(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    dedupe_key TEXT NOT NULL,
    message TEXT NOT NULL,
    subject TEXT NOT NULL,
    state TEXT NOT NULL,
    raised_at INTEGER NOT NULL,
    resolved_at INTEGER,
    dismissed_at INTEGER,
    dismissed_by TEXT
);
CREATE UNIQUE INDEX alerts_one_active ON alerts(dedupe_key) WHERE state = 'active';
CREATE INDEX alerts_organization_state ON alerts(organization_id, state, kind);
CREATE INDEX alerts_active ON alerts(state, organization_id);
-- The bell's count for those who see the whole instance.
CREATE INDEX alerts_instance_active ON alerts(instance_id) WHERE state = 'active';

-- Settings → Alerts: a category without a row is on.
CREATE TABLE alert_categories (
    instance_id INTEGER NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    category TEXT NOT NULL,
    enabled INTEGER NOT NULL,
    PRIMARY KEY (instance_id, category)
);

CREATE TABLE alert_recipients (
    instance_id INTEGER NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    added_by TEXT NOT NULL,
    added_at INTEGER NOT NULL,
    PRIMARY KEY (instance_id, email)
);

-- Conditional-alarm thresholds: the global one has no title; custom ones are titled.
CREATE TABLE alarm_thresholds (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id INTEGER NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    title TEXT,
    backups_enabled INTEGER NOT NULL,
    backups_minutes INTEGER NOT NULL,
    copies_enabled INTEGER NOT NULL,
    copies_minutes INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX alarm_thresholds_global ON alarm_thresholds(instance_id) WHERE title IS NULL;
CREATE UNIQUE INDEX alarm_thresholds_title ON alarm_thresholds(instance_id, title);

-- Each organization holds at most one custom threshold.
CREATE TABLE alarm_threshold_organizations (
    organization_id INTEGER PRIMARY KEY REFERENCES organizations(id) ON DELETE CASCADE,
    threshold_id INTEGER NOT NULL REFERENCES alarm_thresholds(id) ON DELETE CASCADE
);

-- When each object's conditions must next be evaluated: the next moment one could flip, or
-- now when something about it changed. No row: nothing can flip until an event says so.
CREATE TABLE alert_checks (
    object_kind TEXT NOT NULL,
    object_id INTEGER NOT NULL,
    due_at INTEGER NOT NULL,
    PRIMARY KEY (object_kind, object_id)
);
CREATE INDEX alert_checks_due ON alert_checks(due_at);

-- When the asset's current policy was first reported (counts a never-backed-up asset's wait).
ALTER TABLE assets ADD COLUMN policy_since INTEGER;
-- Whether the appliance last reported critically low space (flips raise a check).
ALTER TABLE appliances ADD COLUMN low_space INTEGER NOT NULL DEFAULT 0;

-- Alert mail: which alert a mail is about, and the raise mail a resolve mail answers.
ALTER TABLE outbox ADD COLUMN alert_id INTEGER;
ALTER TABLE outbox ADD COLUMN reply_to INTEGER;
CREATE INDEX outbox_alert ON outbox(alert_id);

-- The Dashboard's Completed jobs chart: finished jobs per UTC day (`day`, ms at 00:00), per
-- organization and per instance, so a render reads 13 rows rather than every job of 13 days.
-- A job is added once, when it first reports a final state (`jobs.counted`).
CREATE TABLE job_days (
    organization_id INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    day INTEGER NOT NULL,
    good INTEGER NOT NULL,
    missed INTEGER NOT NULL,
    PRIMARY KEY (organization_id, day)
);
CREATE TABLE instance_job_days (
    instance_id INTEGER NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    day INTEGER NOT NULL,
    good INTEGER NOT NULL,
    missed INTEGER NOT NULL,
    PRIMARY KEY (instance_id, day)
);
ALTER TABLE jobs ADD COLUMN counted INTEGER NOT NULL DEFAULT 0;
CREATE INDEX jobs_uncounted ON jobs(appliance_id) WHERE counted = 0;
INSERT INTO job_days (organization_id, day, good, missed)
SELECT organization_id, (COALESCE(ended_at, updated_at) / 86400000) * 86400000,
       SUM(CASE WHEN state IN ('success', 'warning') THEN 1 ELSE 0 END),
       SUM(CASE WHEN state IN ('error', 'missed') THEN 1 ELSE 0 END)
FROM jobs WHERE state IN ('success', 'warning', 'error', 'missed', 'cancelled')
GROUP BY organization_id, (COALESCE(ended_at, updated_at) / 86400000) * 86400000;
INSERT INTO instance_job_days (instance_id, day, good, missed)
SELECT o.instance_id, d.day, SUM(d.good), SUM(d.missed)
FROM job_days d JOIN organizations o ON o.id = d.organization_id
GROUP BY o.instance_id, d.day;
-- Each asset's newest backup result and the scheduled start of its newest good backup, as the
-- alert evaluator reads them (kept up to date as jobs finish).
ALTER TABLE assets ADD COLUMN last_good_start INTEGER;
ALTER TABLE assets ADD COLUMN last_result TEXT;
ALTER TABLE assets ADD COLUMN last_result_started INTEGER;
CREATE INDEX jobs_backfill ON jobs(appliance_id, asset_external_id, kind, started_at);
UPDATE assets SET
  last_good_start = (SELECT MAX(COALESCE(j.scheduled_for, j.started_at)) FROM jobs j
                     WHERE j.appliance_id = assets.appliance_id AND j.asset_external_id = assets.external_id
                       AND j.kind = 'backup' AND j.state IN ('success', 'warning')),
  last_result_started = (SELECT MAX(j.started_at) FROM jobs j
                         WHERE j.appliance_id = assets.appliance_id AND j.asset_external_id = assets.external_id
                           AND j.kind = 'backup' AND j.state IN ('success', 'warning', 'error')),
  last_result = (SELECT j.state FROM jobs j
                 WHERE j.appliance_id = assets.appliance_id AND j.asset_external_id = assets.external_id
                   AND j.kind = 'backup' AND j.state IN ('success', 'warning', 'error')
                 ORDER BY j.started_at DESC, j.id DESC LIMIT 1);
DROP INDEX jobs_backfill;
UPDATE jobs SET counted = 1 WHERE state IN ('success', 'warning', 'error', 'missed', 'cancelled');
