-- PSA integrations (issue 15, spec portal-c §1.4–1.7, §1.10): one integration per instance and
-- kind (Autotask first; credentials sealed with the instance key, ticket defaults as JSON), the
-- PSA company each organization is mapped to, the tickets opened for alerts, and the durable
-- queue of ticket writes (create, note, close), written in the transaction of the alert that
-- caused them and sent in order, per ticket, by a background worker with retries.
CREATE TABLE psa_integrations (
    id BIGSERIAL PRIMARY KEY,
    instance_id BIGINT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    -- Sealed JSON: what the PSA's authentication needs.
    credentials TEXT NOT NULL,
    -- The user-facing part of the credentials (e.g. the API user name), in the clear.
    account TEXT NOT NULL,
    lookup_url TEXT NOT NULL,
    api_url TEXT NOT NULL,
    -- model::psa::TicketDefaults as JSON.
    defaults TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL,
    failing_since BIGINT,
    last_error TEXT,
    UNIQUE (instance_id, kind)
);

CREATE TABLE psa_mappings (
    integration_id BIGINT NOT NULL REFERENCES psa_integrations(id) ON DELETE CASCADE,
    organization_id BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    company_id BIGINT NOT NULL,
    company_name TEXT NOT NULL,
    mapped_at BIGINT NOT NULL,
    mapped_by TEXT NOT NULL,
    PRIMARY KEY (integration_id, organization_id),
    UNIQUE (integration_id, company_id)
);

CREATE TABLE psa_tickets (
    id BIGSERIAL PRIMARY KEY,
    integration_id BIGINT NOT NULL REFERENCES psa_integrations(id) ON DELETE CASCADE,
    -- The ticket's title: the same condition keeps the same key.
    ticket_key TEXT NOT NULL,
    -- open | closed | failed (never created)
    state TEXT NOT NULL,
    external_id BIGINT,
    ticket_number TEXT,
    opened_at BIGINT NOT NULL,
    closed_at BIGINT
);
CREATE UNIQUE INDEX psa_tickets_one_open ON psa_tickets(integration_id, ticket_key) WHERE state = 'open';

CREATE TABLE psa_ticket_ops (
    id BIGSERIAL PRIMARY KEY,
    ticket_id BIGINT NOT NULL REFERENCES psa_tickets(id) ON DELETE CASCADE,
    -- create | note | close
    op TEXT NOT NULL,
    alert_id BIGINT NOT NULL,
    -- What to send, fixed when the alert happened (JSON).
    payload TEXT NOT NULL,
    -- pending | done | failed
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    locked_until BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    done_at BIGINT
);
CREATE INDEX psa_ticket_ops_due ON psa_ticket_ops(state, next_attempt_at);
CREATE INDEX psa_ticket_ops_ticket ON psa_ticket_ops(ticket_id, id);
CREATE INDEX psa_ticket_ops_alert ON psa_ticket_ops(alert_id);

-- An organization's own ticket settings ("Overwrite Settings"), replacing the integration's
-- defaults for its alerts; its company applies only while it is not mapped.
CREATE TABLE psa_overrides (
    integration_id BIGINT NOT NULL REFERENCES psa_integrations(id) ON DELETE CASCADE,
    organization_id BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    -- model::psa::TicketDefaults as JSON.
    settings TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL,
    PRIMARY KEY (integration_id, organization_id)
);
