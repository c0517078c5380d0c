//! Server-side sessions. The browser holds a random token; the database holds its hash, the
//! stage of the login it belongs to and its timeouts. Deleting the row ends the session.

use model::Role;
use sqlx::AnyConnection;

use crate::clock::MINUTE_MS;
use crate::secrets::{random_token, token_hash};
use crate::{ClientInfo, DomainResult, SessionPolicy};

/// A login that has passed the password but not yet the second factor lives this long.
pub const PENDING_LIFETIME_MS: i64 = 10 * MINUTE_MS;
/// `last_seen_at` is written at most this often per session.
const TOUCH_EVERY_MS: i64 = MINUTE_MS;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Password accepted; waiting for a TOTP or recovery code.
    SecondFactor,
    /// Password accepted; the user has no authenticator yet and must enrol one.
    Enrol,
    /// Fully signed in.
    Full,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::SecondFactor => "second_factor",
            Stage::Enrol => "enrol",
            Stage::Full => "full",
        }
    }

    fn parse(s: &str) -> Option<Stage> {
        [Stage::SecondFactor, Stage::Enrol, Stage::Full]
            .into_iter()
            .find(|st| st.as_str() == s)
    }
}

/// A live session with the user and instance it belongs to.
#[derive(Debug, Clone)]
pub struct Session {
    pub id_hash: String,
    pub stage: Stage,
    pub user_id: i64,
    pub email: String,
    pub role: Role,
    pub dark_theme: bool,
    pub global_scope: bool,
    pub instance_id: i64,
    pub homerealm: String,
    pub instance_name: String,
    /// The addresses the instance may be used from, while its IP restrictions are on.
    pub ip_allow_list: Option<String>,
    /// The origins allowed to show the instance's portal in a frame, space-separated.
    pub frame_ancestors: Option<String>,
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    id_hash: String,
    stage: String,
    created_at: i64,
    last_seen_at: i64,
    expires_at: i64,
    user_id: i64,
    email: String,
    role: String,
    status: String,
    dark_theme: i64,
    global_scope: i64,
    instance_id: i64,
    homerealm: String,
    display_name: String,
    ip_allow_list: Option<String>,
    frame_ancestors: Option<String>,
}

/// Whether a session is still alive at `now_ms` under `policy`.
pub fn is_alive(
    created_at: i64,
    last_seen_at: i64,
    expires_at: i64,
    now_ms: i64,
    policy: &SessionPolicy,
) -> bool {
    now_ms < expires_at
        && now_ms < created_at + policy.absolute_timeout_ms
        && now_ms < last_seen_at + policy.idle_timeout_ms
}

/// Starts a session and returns the token for the cookie.
#[tracing::instrument(skip_all, fields(user_id = user_id))]
pub async fn create(
    conn: &mut AnyConnection,
    user_id: i64,
    stage: Stage,
    client: &ClientInfo,
    now_ms: i64,
    policy: &SessionPolicy,
) -> DomainResult<String> {
    let token = random_token();
    let lifetime = if stage == Stage::Full {
        policy.absolute_timeout_ms
    } else {
        PENDING_LIFETIME_MS
    };
    sqlx::query(
        "INSERT INTO sessions (id_hash, user_id, stage, created_at, last_seen_at, expires_at, client_ip, user_agent)
         VALUES ($1, $2, $3, $4, $4, $5, $6, $7)",
    )
    .bind(token_hash(&token))
    .bind(user_id)
    .bind(stage.as_str())
    .bind(now_ms)
    .bind(now_ms + lifetime)
    .bind(client.ip.clone())
    .bind(client.user_agent.as_ref().map(|ua| ua.chars().take(300).collect::<String>()))
    .execute(conn)
    .await?;
    Ok(token)
}

/// Looks a token up; returns the session if it is alive and its user active, and keeps the
/// idle timer running. Dead sessions are deleted on sight.
#[tracing::instrument(skip_all)]
pub async fn resolve(
    conn: &mut AnyConnection,
    token: &str,
    now_ms: i64,
    policy: &SessionPolicy,
) -> DomainResult<Option<Session>> {
    lookup(conn, token, now_ms, policy, true).await
}

/// Like [`resolve`], but without counting as activity: an open live-update socket alone must
/// not keep an idle session alive.
#[tracing::instrument(skip_all)]
pub async fn check(
    conn: &mut AnyConnection,
    token: &str,
    now_ms: i64,
    policy: &SessionPolicy,
) -> DomainResult<Option<Session>> {
    lookup(conn, token, now_ms, policy, false).await
}

async fn lookup(
    conn: &mut AnyConnection,
    token: &str,
    now_ms: i64,
    policy: &SessionPolicy,
    touch: bool,
) -> DomainResult<Option<Session>> {
    let row: Option<SessionRow> = sqlx::query_as(
        "SELECT s.id_hash, s.stage, s.created_at, s.last_seen_at, s.expires_at, u.id AS user_id, u.email, u.role,
                u.status, u.dark_theme, u.global_scope, i.id AS instance_id, i.homerealm, i.display_name,
                i.ip_allow_list, i.frame_ancestors
         FROM sessions s JOIN users u ON u.id = s.user_id JOIN instances i ON i.id = u.instance_id
         WHERE s.id_hash = $1",
    )
    .bind(token_hash(token))
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let stage = Stage::parse(&row.stage);
    let alive = is_alive(row.created_at, row.last_seen_at, row.expires_at, now_ms, policy);
    let (Some(stage), true, "active") = (stage, alive, row.status.as_str()) else {
        delete(conn, &row.id_hash).await?;
        return Ok(None);
    };
    if touch && now_ms - row.last_seen_at >= TOUCH_EVERY_MS {
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2")
            .bind(now_ms)
            .bind(&row.id_hash)
            .execute(&mut *conn)
            .await?;
        crate::users::touch_last_seen(conn, row.user_id, now_ms).await?;
    }
    Ok(Some(Session {
        id_hash: row.id_hash,
        stage,
        user_id: row.user_id,
        email: row.email,
        role: Role::parse(&row.role).unwrap_or(Role::Monitor),
        dark_theme: row.dark_theme != 0,
        global_scope: row.global_scope != 0,
        instance_id: row.instance_id,
        homerealm: row.homerealm,
        instance_name: row.display_name,
        ip_allow_list: row.ip_allow_list,
        frame_ancestors: row.frame_ancestors,
    }))
}

#[tracing::instrument(skip_all)]
pub async fn delete(conn: &mut AnyConnection, id_hash: &str) -> DomainResult<()> {
    sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
        .bind(id_hash)
        .execute(conn)
        .await?;
    Ok(())
}

/// How a session signed in through a single sign-on provider: the provider and the raw ID
/// token, the hint its single logout needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoOrigin {
    pub provider_id: i64,
    pub id_token: String,
}

/// Records that the session of `token` signed in through a provider.
pub async fn set_sso_origin(conn: &mut AnyConnection, token: &str, origin: &SsoOrigin) -> DomainResult<()> {
    sqlx::query("UPDATE sessions SET sso_provider_id = $1, sso_id_token = $2 WHERE id_hash = $3")
        .bind(origin.provider_id)
        .bind(&origin.id_token)
        .bind(token_hash(token))
        .execute(conn)
        .await?;
    Ok(())
}

/// The provider a session signed in through, if any.
pub async fn sso_origin(conn: &mut AnyConnection, id_hash: &str) -> DomainResult<Option<SsoOrigin>> {
    let row: Option<(Option<i64>, Option<String>)> =
        sqlx::query_as("SELECT sso_provider_id, sso_id_token FROM sessions WHERE id_hash = $1")
            .bind(id_hash)
            .fetch_optional(conn)
            .await?;
    Ok(match row {
        Some((Some(provider_id), Some(id_token))) => Some(SsoOrigin {
            provider_id,
            id_token,
        }),
        _ => None,
    })
}

/// Ends every session of a user (password changed, disabled, 2FA reset).
#[tracing::instrument(skip_all, fields(user_id = user_id))]
pub async fn delete_all_for_user(conn: &mut AnyConnection, user_id: i64) -> DomainResult<()> {
    sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_die_when_idle_too_long_or_too_old() {
        let p = SessionPolicy {
            idle_timeout_ms: 100,
            absolute_timeout_ms: 1_000,
        };
        assert!(is_alive(0, 0, 1_000, 99, &p));
        assert!(!is_alive(0, 0, 1_000, 100, &p), "idle");
        assert!(is_alive(0, 950, 1_000, 999, &p));
        assert!(!is_alive(0, 990, 5_000, 1_000, &p), "absolute");
        assert!(!is_alive(0, 0, 50, 60, &p), "row expiry");
    }
}
