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

#[tracing::instrument(skip_all)]
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
#[tracing::instrument(skip_all, fields(instance_id = instance_id))]
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

#[derive(sqlx::FromRow)]
struct RecordRow {
    id: i64,
    created_at: i64,
    actor: String,
    action: String,
    target: String,
    before_value: Option<String>,
    after_value: Option<String>,
    client_ip: Option<String>,
}

/// The instance's records matching the filter, newest first, at most `limit`.
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id))]
pub async fn search(
    conn: &mut AnyConnection,
    viewer: &crate::access::Viewer,
    query: &model::tenancy::AuditQuery,
    limit: i64,
) -> DomainResult<Vec<model::tenancy::AuditRecord>> {
    viewer.require(model::Action::ReadAuditLog)?;
    let escape = |s: &str| {
        s.trim()
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    };
    let rows: Vec<RecordRow> = sqlx::query_as(
        "SELECT id, created_at, actor, action, target, before_value, after_value, client_ip FROM audit_log
         WHERE instance_id = $1 AND LOWER(actor) LIKE $2 ESCAPE '\\' AND LOWER(action) LIKE $3 ESCAPE '\\'
           AND created_at >= $4 AND created_at < $5
         ORDER BY id DESC LIMIT $6",
    )
    .bind(viewer.instance_id)
    .bind(format!("%{}%", escape(&query.actor)))
    .bind(format!("{}%", escape(&query.action)))
    .bind(query.from.unwrap_or(i64::MIN))
    .bind(query.until.unwrap_or(i64::MAX))
    .bind(limit)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| model::tenancy::AuditRecord {
            id: r.id,
            at: r.created_at,
            actor: r.actor,
            action: r.action,
            target: r.target,
            before: r.before_value,
            after: r.after_value,
            client_ip: r.client_ip,
        })
        .collect())
}

/// A cell a spreadsheet shows as text: one that would start a formula (`= + - @`, or a tab or
/// carriage return before one) gets a leading `'`. Text typed at a failed login becomes the
/// actor, so the audit log holds whatever strangers type.
fn inert_cell(text: &str) -> std::borrow::Cow<'_, str> {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}").into()
    } else {
        text.into()
    }
}

/// The records as CSV with a header row; times in ISO 8601 UTC.
pub fn to_csv(records: &[model::tenancy::AuditRecord]) -> DomainResult<String> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| crate::DomainError::internal(format!("writing CSV: {e}"));
    writer
        .write_record([
            "time_utc",
            "actor",
            "action",
            "target",
            "before",
            "after",
            "client_ip",
        ])
        .map_err(fail)?;
    for r in records {
        let time = chrono::DateTime::from_timestamp_millis(r.at)
            .map(|t| t.to_rfc3339())
            .unwrap_or_default();
        let fields = [
            time.as_str(),
            &r.actor,
            &r.action,
            &r.target,
            r.before.as_deref().unwrap_or(""),
            r.after.as_deref().unwrap_or(""),
            r.client_ip.as_deref().unwrap_or(""),
        ];
        writer
            .write_record(fields.map(|cell| inert_cell(cell).into_owned()))
            .map_err(fail)?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| crate::DomainError::internal(format!("writing CSV: {e}")))?;
    String::from_utf8(bytes).map_err(|e| crate::DomainError::internal(format!("CSV is not UTF-8: {e}")))
}
