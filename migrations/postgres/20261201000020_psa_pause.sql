-- A PSA that refuses the stored credentials (401/403) pauses its queue until a Superuser saves
-- working ones (spec portal-c §1.10): its writes wait instead of using up their day of retries.
ALTER TABLE psa_integrations ADD COLUMN paused_since BIGINT;
-- When a write started failing; its day of retries counts from here (a pause resets it).
ALTER TABLE psa_ticket_ops ADD COLUMN retrying_since BIGINT;
