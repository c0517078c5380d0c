//! The stored providers, their exceptions and links, and the sign-ins under way.

use domain::DomainResult;
use model::sso::{SecondFactorSource, SsoKind, SsoMode};
use model::{AppError, Role};
use sqlx::AnyConnection;

/// A provider row as stored; the client secret still sealed.
#[derive(Debug, Clone)]
pub struct StoredProvider {
    pub id: i64,
    pub instance_id: i64,
    pub kind: SsoKind,
    pub issuer: String,
    pub client_id: String,
    pub sealed_secret: Option<String>,
    pub mode: SsoMode,
    pub auto_create: bool,
    pub default_role: Role,
    pub default_all_scopes: bool,
    pub default_scope_id: Option<i64>,
    pub second_factor: SecondFactorSource,
    pub updated_by: String,
    pub updated_at: i64,
}

#[derive(sqlx::FromRow)]
struct ProviderRow {
    id: i64,
    instance_id: i64,
    kind: String,
    issuer: String,
    client_id: String,
    client_secret: Option<String>,
    mode: String,
    auto_create: i64,
    default_role: String,
    default_all_scopes: i64,
    default_scope_id: Option<i64>,
    second_factor: String,
    updated_by: String,
    updated_at: i64,
}

impl ProviderRow {
    fn into_provider(self) -> Option<StoredProvider> {
        Some(StoredProvider {
            id: self.id,
            instance_id: self.instance_id,
            kind: SsoKind::parse(&self.kind)?,
            issuer: self.issuer,
            client_id: self.client_id,
            sealed_secret: self.client_secret,
            // An unreadable mode fails closed to Disabled; an unknown role to the least privilege.
            mode: SsoMode::parse(&self.mode).unwrap_or(SsoMode::Disabled),
            auto_create: self.auto_create != 0,
            default_role: Role::parse(&self.default_role).unwrap_or(Role::Monitor),
            default_all_scopes: self.default_all_scopes != 0,
            default_scope_id: self.default_scope_id,
            second_factor: SecondFactorSource::parse(&self.second_factor)
                .unwrap_or(SecondFactorSource::Portal),
            updated_by: self.updated_by,
            updated_at: self.updated_at,
        })
    }
}

const COLUMNS: &str = "id, instance_id, kind, issuer, client_id, client_secret, mode, auto_create, default_role, \
                       default_all_scopes, default_scope_id, second_factor, updated_by, updated_at";

pub async fn provider(
    conn: &mut AnyConnection,
    instance_id: i64,
    kind: SsoKind,
) -> DomainResult<Option<StoredProvider>> {
    let row: Option<ProviderRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM sso_providers WHERE instance_id = $1 AND kind = $2"
    )))
    .bind(instance_id)
    .bind(kind.as_str())
    .fetch_optional(conn)
    .await?;
    Ok(row.and_then(ProviderRow::into_provider))
}

pub async fn provider_by_id(conn: &mut AnyConnection, id: i64) -> DomainResult<Option<StoredProvider>> {
    let row: Option<ProviderRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM sso_providers WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    Ok(row.and_then(ProviderRow::into_provider))
}

/// The instance's providers, KaseyaOne first.
pub async fn providers(conn: &mut AnyConnection, instance_id: i64) -> DomainResult<Vec<StoredProvider>> {
    let rows: Vec<ProviderRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM sso_providers WHERE instance_id = $1 ORDER BY kind"
    )))
    .bind(instance_id)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().filter_map(ProviderRow::into_provider).collect())
}

/// A provider's settings as a Superuser saves them.
pub struct ProviderWrite<'a> {
    pub instance_id: i64,
    pub kind: SsoKind,
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub sealed_secret: Option<&'a str>,
    pub mode: SsoMode,
    pub auto_create: bool,
    pub default_role: Role,
    pub default_all_scopes: bool,
    pub default_scope_id: Option<i64>,
    pub second_factor: SecondFactorSource,
    pub updated_by: &'a str,
}

pub async fn upsert_provider(
    conn: &mut AnyConnection,
    write: &ProviderWrite<'_>,
    now: i64,
) -> DomainResult<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO sso_providers (instance_id, kind, issuer, client_id, client_secret, mode, auto_create, default_role,
                                    default_all_scopes, default_scope_id, second_factor, updated_by, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
         ON CONFLICT (instance_id, kind) DO UPDATE SET issuer = excluded.issuer, client_id = excluded.client_id,
             client_secret = excluded.client_secret, mode = excluded.mode, auto_create = excluded.auto_create,
             default_role = excluded.default_role, default_all_scopes = excluded.default_all_scopes,
             default_scope_id = excluded.default_scope_id,
             second_factor = excluded.second_factor, updated_by = excluded.updated_by, updated_at = excluded.updated_at
         RETURNING id",
    )
    .bind(write.instance_id)
    .bind(write.kind.as_str())
    .bind(write.issuer)
    .bind(write.client_id)
    .bind(write.sealed_secret)
    .bind(write.mode.as_str())
    .bind(i64::from(write.auto_create))
    .bind(write.default_role.as_str())
    .bind(i64::from(write.default_all_scopes))
    .bind(write.default_scope_id)
    .bind(write.second_factor.as_str())
    .bind(write.updated_by)
    .bind(now)
    .fetch_one(conn)
    .await?)
}

pub async fn delete_provider(conn: &mut AnyConnection, id: i64) -> DomainResult<()> {
    sqlx::query("DELETE FROM sso_providers WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn exceptions(conn: &mut AnyConnection, provider_id: i64) -> DomainResult<Vec<(i64, String)>> {
    Ok(sqlx::query_as(
        "SELECT u.id, u.email FROM sso_exceptions e JOIN users u ON u.id = e.user_id
         WHERE e.provider_id = $1 ORDER BY u.email",
    )
    .bind(provider_id)
    .fetch_all(conn)
    .await?)
}

pub async fn replace_exceptions(
    conn: &mut AnyConnection,
    provider_id: i64,
    user_ids: &[i64],
) -> DomainResult<()> {
    sqlx::query("DELETE FROM sso_exceptions WHERE provider_id = $1")
        .bind(provider_id)
        .execute(&mut *conn)
        .await?;
    for user_id in user_ids {
        sqlx::query("INSERT INTO sso_exceptions (provider_id, user_id) VALUES ($1, $2)")
            .bind(provider_id)
            .bind(user_id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

pub async fn is_exception(conn: &mut AnyConnection, provider_id: i64, user_id: i64) -> DomainResult<bool> {
    let found: Option<i64> =
        sqlx::query_scalar("SELECT user_id FROM sso_exceptions WHERE provider_id = $1 AND user_id = $2")
            .bind(provider_id)
            .bind(user_id)
            .fetch_optional(conn)
            .await?;
    Ok(found.is_some())
}

/// A portal user's link to a provider's subject.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Link {
    pub id: i64,
    pub user_id: i64,
    pub provider_username: String,
}

pub async fn link_by_subject(
    conn: &mut AnyConnection,
    provider_id: i64,
    subject: &str,
) -> DomainResult<Option<Link>> {
    Ok(sqlx::query_as(
        "SELECT id, user_id, provider_username FROM sso_links WHERE provider_id = $1 AND subject = $2",
    )
    .bind(provider_id)
    .bind(subject)
    .fetch_optional(conn)
    .await?)
}

pub async fn link_of_user(
    conn: &mut AnyConnection,
    provider_id: i64,
    user_id: i64,
) -> DomainResult<Option<Link>> {
    Ok(sqlx::query_as(
        "SELECT id, user_id, provider_username FROM sso_links WHERE provider_id = $1 AND user_id = $2",
    )
    .bind(provider_id)
    .bind(user_id)
    .fetch_optional(conn)
    .await?)
}

/// Every link of a user, with its provider's kind.
pub async fn links_of_user(conn: &mut AnyConnection, user_id: i64) -> DomainResult<Vec<(Link, String)>> {
    let rows: Vec<(i64, i64, String, String)> = sqlx::query_as(
        "SELECT l.id, l.user_id, l.provider_username, p.kind
         FROM sso_links l JOIN sso_providers p ON p.id = l.provider_id WHERE l.user_id = $1 ORDER BY p.kind",
    )
    .bind(user_id)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, user_id, provider_username, kind)| {
            (
                Link {
                    id,
                    user_id,
                    provider_username,
                },
                kind,
            )
        })
        .collect())
}

pub async fn insert_link(
    conn: &mut AnyConnection,
    (provider_id, user_id): (i64, i64),
    (subject, username): (&str, &str),
    now: i64,
) -> DomainResult<()> {
    sqlx::query(
        "INSERT INTO sso_links (provider_id, user_id, subject, provider_username, created_at, last_login_at)
         VALUES ($1, $2, $3, $4, $5, $5)",
    )
    .bind(provider_id)
    .bind(user_id)
    .bind(subject)
    .bind(username)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn touch_link(
    conn: &mut AnyConnection,
    link_id: i64,
    username: &str,
    now: i64,
) -> DomainResult<()> {
    sqlx::query("UPDATE sso_links SET provider_username = $1, last_login_at = $2 WHERE id = $3")
        .bind(username)
        .bind(now)
        .bind(link_id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn delete_link(conn: &mut AnyConnection, link_id: i64) -> DomainResult<()> {
    sqlx::query("DELETE FROM sso_links WHERE id = $1")
        .bind(link_id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn count_links(conn: &mut AnyConnection, provider_id: i64) -> DomainResult<i64> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM sso_links WHERE provider_id = $1")
            .bind(provider_id)
            .fetch_one(conn)
            .await?,
    )
}

/// A sign-in under way, as the callback finds it by its state.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PendingSignIn {
    pub provider_id: i64,
    pub browser_hash: String,
    pub nonce: String,
    pub pkce_verifier: String,
    pub expires_at: i64,
}

pub async fn insert_request(
    conn: &mut AnyConnection,
    state_hash: &str,
    request: &PendingSignIn,
) -> DomainResult<()> {
    sqlx::query(
        "INSERT INTO sso_requests (state_hash, provider_id, browser_hash, nonce, pkce_verifier, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(state_hash)
    .bind(request.provider_id)
    .bind(&request.browser_hash)
    .bind(&request.nonce)
    .bind(&request.pkce_verifier)
    .bind(request.expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Takes a pending sign-in out (each state is good for one callback) and drops expired ones.
pub async fn take_request(
    conn: &mut AnyConnection,
    state_hash: &str,
    now: i64,
) -> DomainResult<Option<PendingSignIn>> {
    let found: Option<PendingSignIn> = sqlx::query_as(
        "DELETE FROM sso_requests WHERE state_hash = $1
         RETURNING provider_id, browser_hash, nonce, pkce_verifier, expires_at",
    )
    .bind(state_hash)
    .fetch_optional(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM sso_requests WHERE expires_at < $1")
        .bind(now)
        .execute(conn)
        .await?;
    Ok(found.filter(|r| r.expires_at >= now))
}

pub fn unknown_kind() -> AppError {
    AppError::invalid("kind", "Unknown single sign-on provider.")
}
