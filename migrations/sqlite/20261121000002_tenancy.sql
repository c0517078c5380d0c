-- Tenancy: scopes group organizations; users hold scopes (or Global Scope, users.global_scope).
-- name_key is the lower-cased name, so names are unique per instance regardless of case.

CREATE TABLE scopes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id INTEGER NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (instance_id, name_key)
);

CREATE TABLE organizations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id INTEGER NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    scope_id INTEGER REFERENCES scopes(id),
    created_at INTEGER NOT NULL,
    UNIQUE (instance_id, name_key)
);
CREATE INDEX organizations_scope ON organizations(scope_id);

CREATE TABLE user_scopes (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    scope_id INTEGER NOT NULL REFERENCES scopes(id),
    PRIMARY KEY (user_id, scope_id)
);
CREATE INDEX user_scopes_scope ON user_scopes(scope_id);

