//! Public API credentials (spec portal-c §2.1): Superusers create, disable, enable and delete
//! them; Admins read the list. A credential has no rights of its own: each request acts as its
//! creator, with the creator's role and scopes as they are at that moment, so a creator who is
//! demoted, loses a scope or is disabled takes the credential down with them.

use model::api_access::{ApiCredential, NewApiCredential, check_credential_name};
use model::{Action, AppError, Role};
use rand::Rng;
use sqlx::AnyConnection;

use crate::access::Viewer;
use crate::audit::{self, Entry};
use crate::secrets::{system_random, token_hash};
use crate::{ClientInfo, DomainResult, Portal};

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    name: String,
    client_id: String,
    creator: String,
    created_at: i64,
    last_used_at: Option<i64>,
    enabled: i64,
}

impl From<Row> for ApiCredential {
    fn from(row: Row) -> Self {
        ApiCredential {
            id: row.id,
            name: row.name,
            client_id: row.client_id,
            creator: row.creator,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            enabled: row.enabled != 0,
        }
    }
}

const SELECT: &str =
    "SELECT c.id, c.name, c.client_id, u.email AS creator, c.created_at, c.last_used_at, c.enabled
                      FROM api_credentials c JOIN users u ON u.id = c.created_by";

/// The instance's credentials, newest first (Admins and Superusers).
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id))]
pub async fn list(conn: &mut AnyConnection, viewer: &Viewer) -> DomainResult<Vec<ApiCredential>> {
    viewer.require(Action::ViewApiAccess)?;
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE c.instance_id = $1 ORDER BY c.created_at DESC, c.id DESC"
    )))
    .bind(viewer.instance_id)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(ApiCredential::from).collect())
}

async fn get(conn: &mut AnyConnection, viewer: &Viewer, id: i64) -> DomainResult<ApiCredential> {
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE c.instance_id = $1 AND c.id = $2"
    )))
    .bind(viewer.instance_id)
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.map(ApiCredential::from)
        .ok_or_else(|| AppError::not_found("API credential").into())
}

/// A new credential acting as the viewer; its secret is returned this once.
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id))]
pub async fn create(
    portal: &Portal,
    viewer: &Viewer,
    name: &str,
    client: &ClientInfo,
) -> DomainResult<NewApiCredential> {
    viewer.require(Action::ManageApiAccess)?;
    let name = check_credential_name(name)?;
    let mut tx = portal.db.begin().await?;
    let taken: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM api_credentials WHERE instance_id = $1 AND LOWER(name) = LOWER($2)",
    )
    .bind(viewer.instance_id)
    .bind(&name)
    .fetch_optional(&mut *tx)
    .await?;
    if taken.is_some() {
        return Err(AppError::invalid("name", format!("A credential named {name} already exists.")).into());
    }
    let (client_id, client_secret) = (new_client_id(), new_client_secret());
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO api_credentials (instance_id, name, client_id, secret_hash, created_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(viewer.instance_id)
    .bind(&name)
    .bind(&client_id)
    .bind(token_hash(&client_secret))
    .bind(viewer.user_id)
    .bind(portal.now())
    .fetch_one(&mut *tx)
    .await?;
    let entry = Entry::by(viewer, client, "api_credential.create", &name).after(client_id);
    audit::record(&mut tx, entry, portal.now()).await?;
    let credential = get(&mut tx, viewer, id).await?;
    tx.commit().await?;
    Ok(NewApiCredential {
        credential,
        client_secret,
    })
}

/// Disables or enables a credential; a disabled one's tokens are refused at their next use.
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id, id = id))]
pub async fn set_enabled(
    portal: &Portal,
    viewer: &Viewer,
    id: i64,
    enabled: bool,
    client: &ClientInfo,
) -> DomainResult<ApiCredential> {
    viewer.require(Action::ManageApiAccess)?;
    let mut tx = portal.db.begin().await?;
    let credential = get(&mut tx, viewer, id).await?;
    sqlx::query("UPDATE api_credentials SET enabled = $1 WHERE id = $2")
        .bind(i64::from(enabled))
        .bind(credential.id)
        .execute(&mut *tx)
        .await?;
    let action = if enabled {
        "api_credential.enable"
    } else {
        "api_credential.disable"
    };
    audit::record(
        &mut tx,
        Entry::by(viewer, client, action, &credential.name),
        portal.now(),
    )
    .await?;
    let credential = get(&mut tx, viewer, id).await?;
    tx.commit().await?;
    Ok(credential)
}

/// Deletes a credential; its tokens are refused at their next use.
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id, id = id))]
pub async fn delete(portal: &Portal, viewer: &Viewer, id: i64, client: &ClientInfo) -> DomainResult<()> {
    viewer.require(Action::ManageApiAccess)?;
    let mut tx = portal.db.begin().await?;
    let credential = get(&mut tx, viewer, id).await?;
    sqlx::query("DELETE FROM api_credentials WHERE id = $1")
        .bind(credential.id)
        .execute(&mut *tx)
        .await?;
    let entry =
        Entry::by(viewer, client, "api_credential.delete", &credential.name).before(credential.client_id);
    audit::record(&mut tx, entry, portal.now()).await?;
    tx.commit().await?;
    Ok(())
}

/// A client that proved its secret: what a token issued to it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiClient {
    pub client_id: String,
    pub instance_id: i64,
    /// The instance's homerealm (the token's `tenant`).
    pub homerealm: String,
}

#[derive(sqlx::FromRow)]
struct ClientRow {
    secret_hash: String,
    instance_id: i64,
    homerealm: String,
}

/// The client if the id and secret match an enabled credential whose creator is active;
/// `None` for every other case alike, so a caller learns nothing about which part was wrong.
#[tracing::instrument(skip_all)]
pub async fn authenticate(
    conn: &mut AnyConnection,
    client_id: &str,
    secret: &str,
) -> DomainResult<Option<ApiClient>> {
    let row: Option<ClientRow> = sqlx::query_as(
        "SELECT c.secret_hash, c.instance_id, i.homerealm
         FROM api_credentials c JOIN users u ON u.id = c.created_by JOIN instances i ON i.id = c.instance_id
         WHERE c.client_id = $1 AND c.enabled = 1 AND u.status = 'active'",
    )
    .bind(client_id)
    .fetch_optional(conn)
    .await?;
    let presented = token_hash(secret);
    Ok(row
        .filter(|row| same_bytes(row.secret_hash.as_bytes(), presented.as_bytes()))
        .map(|row| ApiClient {
            client_id: client_id.to_owned(),
            instance_id: row.instance_id,
            homerealm: row.homerealm,
        }))
}

#[derive(sqlx::FromRow)]
struct ActingRow {
    credential_id: i64,
    instance_id: i64,
    last_used_at: Option<i64>,
    user_id: i64,
    email: String,
    role: String,
    global_scope: i64,
}

/// How stale `last_used_at` may get before a request writes it again.
const LAST_USED_RESOLUTION_MS: i64 = 60_000;

/// Whom a request with a valid token of `client_id` acts as: the credential's creator, with
/// their role and scopes of this moment. `None` once the credential is disabled or deleted,
/// or its creator is no longer active.
#[tracing::instrument(skip_all)]
pub async fn acting_viewer(
    portal: &Portal,
    client_id: &str,
    homerealm: &str,
) -> DomainResult<Option<Viewer>> {
    let mut conn = portal.db.pool.acquire().await?;
    let row: Option<ActingRow> = sqlx::query_as(
        "SELECT c.id AS credential_id, c.instance_id, c.last_used_at, u.id AS user_id, u.email, u.role, u.global_scope
         FROM api_credentials c JOIN users u ON u.id = c.created_by JOIN instances i ON i.id = c.instance_id
         WHERE c.client_id = $1 AND i.homerealm = $2 AND c.enabled = 1 AND u.status = 'active'",
    )
    .bind(client_id)
    .bind(homerealm)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let Some(role) = Role::parse(&row.role) else {
        return Ok(None);
    };
    let now = portal.now();
    if row
        .last_used_at
        .is_none_or(|at| now - at >= LAST_USED_RESOLUTION_MS)
    {
        sqlx::query("UPDATE api_credentials SET last_used_at = $1 WHERE id = $2")
            .bind(now)
            .bind(row.credential_id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(Some(Viewer {
        instance_id: row.instance_id,
        user_id: row.user_id,
        email: row.email,
        role,
        global_scope: row.global_scope != 0,
    }))
}

/// 128 random bits as 32 lowercase hexadecimal characters.
fn new_client_id() -> String {
    let mut bytes = [0u8; 16];
    system_random().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// 384 random bits, URL-safe base64 (64 characters).
fn new_client_secret() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 48];
    system_random().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Compares in time independent of where the inputs differ.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_are_32_hex_and_secrets_64_url_safe() {
        let id = new_client_id();
        assert_eq!(id.len(), 32);
        assert!(
            id.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        let secret = new_client_secret();
        assert_eq!(secret.len(), 64);
        assert_ne!(secret, new_client_secret());
        assert!(same_bytes(b"abc", b"abc") && !same_bytes(b"abc", b"abd") && !same_bytes(b"ab", b"abc"));
    }
}
