-- Kaseya VSA 9 (issue 17, spec portal-c §1.1): one integration per instance (the VSA server,
-- the REST API user and its personal access token, sealed with the instance key; which
-- conditional alarms are forwarded), the durable queue of alarm writes (raise, close) written in
-- the transaction of the alert that caused them and sent by a background worker with retries,
-- and each user's VSA e-mail actions per alarm category.
CREATE TABLE vsa_integrations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id INTEGER NOT NULL UNIQUE REFERENCES instances(id) ON DELETE CASCADE,
    server_url TEXT NOT NULL,
    username TEXT NOT NULL,
    -- Sealed: the personal access token the REST API user signs in with.
    token TEXT NOT NULL,
    forward_backups INTEGER NOT NULL DEFAULT 1,
    forward_copies INTEGER NOT NULL DEFAULT 1,
    updated_at INTEGER NOT NULL,
    updated_by TEXT NOT NULL,
    -- VSA refused the token: the queue waits until a Superuser saves a working one.
    paused_since INTEGER,
    failing_since INTEGER,
    last_error TEXT
);

CREATE TABLE vsa_alarm_writes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    integration_id INTEGER NOT NULL REFERENCES vsa_integrations(id) ON DELETE CASCADE,
    alert_id INTEGER NOT NULL,
    -- raise | close
    op TEXT NOT NULL,
    -- What to send, fixed when the alert happened (JSON).
    payload TEXT NOT NULL,
    -- pending | done | failed
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    locked_until INTEGER,
    retrying_since INTEGER,
    last_error TEXT,
    -- VSA's alarm id, once raised.
    vsa_alarm_id TEXT,
    created_at INTEGER NOT NULL,
    done_at INTEGER
);
CREATE INDEX vsa_alarm_writes_due ON vsa_alarm_writes(state, next_attempt_at);
CREATE INDEX vsa_alarm_writes_alert ON vsa_alarm_writes(integration_id, alert_id);

CREATE TABLE vsa_email_actions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id INTEGER NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- backups | copies
    category TEXT NOT NULL,
    -- Addresses separated by commas.
    recipients TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX vsa_email_actions_user ON vsa_email_actions(user_id);
