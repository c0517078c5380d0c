-- Webhooks (issue 16): endpoints that receive signed deliveries of events, and the deliveries,
-- written in the transaction of the change that caused them and sent by a background worker
-- with retries (the same message id on every attempt).
CREATE TABLE webhook_endpoints (
    id BIGSERIAL PRIMARY KEY,
    instance_id BIGINT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    -- Sealed with the instance key: the worker signs with it.
    secret TEXT NOT NULL,
    -- Comma-separated event names (model::webhooks::WebhookEvent::as_str).
    events TEXT NOT NULL,
    organization_id BIGINT REFERENCES organizations(id) ON DELETE CASCADE,
    enabled BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL
);
CREATE INDEX webhook_endpoints_instance ON webhook_endpoints(instance_id);

CREATE TABLE webhook_deliveries (
    id BIGSERIAL PRIMARY KEY,
    endpoint_id BIGINT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    event TEXT NOT NULL,
    -- What happened, once: a second report of the same event makes no second delivery.
    event_key TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    locked_until BIGINT,
    created_at BIGINT NOT NULL,
    last_attempt_at BIGINT,
    last_result TEXT,
    UNIQUE (endpoint_id, event_key)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(state, next_attempt_at);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries(endpoint_id, id);
