//! The audit log: who did what to what, before/after, when and from where. Append-only: the
//! product offers no way to change or delete a record.

use sqlx::AnyConnection;

use crate::DomainResult;

pub struct Entry<'a> {
    pub instance_id: Option<i64>,
    pub actor_user_id: Option<i64>,
    /// The actor as a person reads it: an e-mail, "setup", "cli", or the e-mail typed at login.
    pub actor: &'a str,
    /// Dotted verb, e.g. `login.failure`, `user.password_reset`.
    pub action: &'a str,
    pub target: &'a str,
    pub before: Option<String>,
    pub after: Option<String>,
    pub client_ip: Option<&'a str>,
}

pub async fn record(conn: &mut AnyConnection, entry: Entry<'_>, now_ms: i64) -> DomainResult<()> {
    sqlx::query(
        "INSERT INTO audit_log (instance_id, actor_user_id, actor, action, target, before_value, after_value, client_ip, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(entry.instance_id)
    .bind(entry.actor_user_id)
    .bind(entry.actor)
    .bind(entry.action)
    .bind(entry.target)
    .bind(entry.before)
    .bind(entry.after)
    .bind(entry.client_ip)
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(())
}

/// The actions recorded for an instance, newest first (used by tests until the Audit log page).
pub async fn actions(conn: &mut AnyConnection, instance_id: i64) -> DomainResult<Vec<String>> {
    Ok(
        sqlx::query_scalar("SELECT action FROM audit_log WHERE instance_id = $1 ORDER BY id DESC")
            .bind(instance_id)
            .fetch_all(conn)
            .await?,
    )
}

impl<'a> Entry<'a> {
    /// A change made by a signed-in user.
    pub fn by(
        viewer: &'a crate::access::Viewer,
        client: &'a crate::ClientInfo,
        action: &'a str,
        target: &'a str,
    ) -> Self {
        Entry {
            instance_id: Some(viewer.instance_id),
            actor_user_id: Some(viewer.user_id),
            actor: &viewer.email,
            action,
            target,
            before: None,
            after: None,
            client_ip: client.ip.as_deref(),
        }
    }

    pub fn before(self, value: impl Into<String>) -> Self {
        Entry {
            before: Some(value.into()),
            ..self
        }
    }

    pub fn after(self, value: impl Into<String>) -> Self {
        Entry {
            after: Some(value.into()),
            ..self
        }
    }
}
