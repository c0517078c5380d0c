-- Single sign-on (issue 17): per instance, at most one OpenID Connect provider of each kind
-- (KaseyaOne, any other issuer), the links from a provider's subjects to portal users, the
-- users allowed to sign in locally while sign-on is required, and the sign-ins under way.
CREATE TABLE sso_providers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id INTEGER NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    -- 'kaseyaone' or 'oidc'
    kind TEXT NOT NULL,
    issuer TEXT NOT NULL,
    client_id TEXT NOT NULL,
    -- Sealed with the instance key; NULL for a public client (PKCE only).
    client_secret TEXT,
    -- 'disabled', 'optional' or 'required'
    mode TEXT NOT NULL,
    auto_create INTEGER NOT NULL DEFAULT 0,
    default_role TEXT NOT NULL DEFAULT 'monitor',
    -- Auto-created users see every organization, or the users of this scope (NULL after the
    -- scope was deleted: then they get none until a Superuser chooses again).
    default_all_scopes INTEGER NOT NULL DEFAULT 0,
    default_scope_id INTEGER REFERENCES scopes(id) ON DELETE SET NULL,
    -- 'amr' (the provider's login counts when it asserts MFA), 'provider' (always), 'portal' (never)
    second_factor TEXT NOT NULL DEFAULT 'amr',
    updated_by TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (instance_id, kind)
);
CREATE TABLE sso_exceptions (
    provider_id INTEGER NOT NULL REFERENCES sso_providers(id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (provider_id, user_id)
);
CREATE TABLE sso_links (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    provider_id INTEGER NOT NULL REFERENCES sso_providers(id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- The provider's immutable subject (`sub`).
    subject TEXT NOT NULL,
    -- The provider's username (e-mail) at the last sign-in; differing from the portal's: mismatched.
    provider_username TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_login_at INTEGER,
    UNIQUE (provider_id, subject),
    UNIQUE (provider_id, user_id)
);
CREATE TABLE sso_requests (
    state_hash TEXT PRIMARY KEY,
    provider_id INTEGER NOT NULL REFERENCES sso_providers(id) ON DELETE CASCADE,
    -- Hash of the cookie that ties the sign-in to the browser that started it.
    browser_hash TEXT NOT NULL,
    nonce TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
-- How a session signed in: the provider and its ID token (the hint for single logout).
ALTER TABLE sessions ADD COLUMN sso_provider_id INTEGER;
ALTER TABLE sessions ADD COLUMN sso_id_token TEXT;
