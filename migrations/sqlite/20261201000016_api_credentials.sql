-- Public API credentials (issue 16, spec portal-c §2.1): OAuth 2.0 clients of the client
-- credentials grant. A credential acts with its creator's current role and scopes at each
-- request; deleting the creator deletes the credential. The secret is kept only as its SHA-256
-- (it is 384 random bits, so a hash cannot be reversed by guessing).
CREATE TABLE api_credentials (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id INTEGER NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    client_id TEXT NOT NULL UNIQUE,
    secret_hash TEXT NOT NULL,
    created_by INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER,
    enabled INTEGER NOT NULL DEFAULT 1,
    UNIQUE (instance_id, name)
);
CREATE INDEX api_credentials_created_by ON api_credentials(created_by);
