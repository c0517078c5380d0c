//! The portal's VSA 9 integration (spec portal-c §1.1): a Superuser stores the VSA server, the
//! REST API user and its personal access token (signed in with first, sealed with the instance
//! key, never shown again) and chooses which conditional alarms VSA receives; each Superuser
//! keeps their own VSA e-mail actions (only they see and change them; should they lose their
//! reach, their actions mail only about the organizations they still see).

use domain::access::Viewer;
use domain::audit::{self, Entry};
use domain::{ClientInfo, DomainError, DomainResult, Portal};
use model::vsa::{AlarmCategory, VsaEmailAction, VsaForm, VsaSettings};
use model::{Action, AppError};
use sqlx::AnyConnection;

use super::{VsaClient, VsaError};

/// The most e-mail actions one user keeps.
pub const MAX_EMAIL_ACTIONS: i64 = 20;

fn refused(error: VsaError) -> DomainError {
    let field = match error {
        VsaError::BadCredentials => "token",
        VsaError::Unreachable(_) | VsaError::NotFound(_) => "server_url",
        _ => "vsa",
    };
    AppError::invalid(field, error.to_string()).into()
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    server_url: String,
    username: String,
    token: String,
    forward_backups: i64,
    forward_copies: i64,
    updated_at: i64,
    updated_by: String,
    paused_since: Option<i64>,
    failing_since: Option<i64>,
    last_error: Option<String>,
}

const COLUMNS: &str = "id, server_url, username, token, forward_backups, forward_copies, updated_at, updated_by, \
     paused_since, failing_since, last_error";

async fn stored(conn: &mut AnyConnection, instance_id: i64) -> DomainResult<Option<Row>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM vsa_integrations WHERE instance_id = $1"
    )))
    .bind(instance_id)
    .fetch_optional(conn)
    .await?)
}

/// The instance's integration, if it has one (Superusers; never the token).
pub async fn settings(conn: &mut AnyConnection, viewer: &Viewer) -> DomainResult<Option<VsaSettings>> {
    viewer.require(Action::ManageIntegrations)?;
    let Some(row) = stored(&mut *conn, viewer.instance_id).await? else {
        return Ok(None);
    };
    let pending: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM vsa_alarm_writes WHERE integration_id = $1 AND state = 'pending'",
    )
    .bind(row.id)
    .fetch_one(conn)
    .await?;
    Ok(Some(VsaSettings {
        server_url: row.server_url,
        username: row.username,
        forward_backups: row.forward_backups != 0,
        forward_copies: row.forward_copies != 0,
        updated_at: row.updated_at,
        updated_by: row.updated_by,
        paused: row.paused_since.is_some(),
        failing_since: row.failing_since,
        last_error: row.last_error,
        pending,
    }))
}

/// The client of a stored integration, for the worker.
pub async fn client_by_id(portal: &Portal, integration_id: i64) -> DomainResult<VsaClient> {
    let row: Row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM vsa_integrations WHERE id = $1"
    )))
    .bind(integration_id)
    .fetch_optional(&portal.db.pool)
    .await?
    .ok_or_else(|| DomainError::internal(format!("VSA integration {integration_id} is gone")))?;
    let token = portal.vault.open(&row.token)?;
    VsaClient::new(&row.server_url, &row.username, &token).map_err(refused)
}

/// The VSA server's own address: https (plain http only on this machine), never a `-cdn`
/// address (VSA's API is not served there).
fn checked_server_url(text: &str) -> Result<String, AppError> {
    let invalid = |message: &str| AppError::invalid("server_url", message);
    let url = text.trim().trim_end_matches('/');
    let url = url.strip_suffix("/api/v1.0").unwrap_or(url);
    let url = model::webhooks::check_webhook_url(url)
        .map_err(|_| invalid("Enter the VSA server's address, e.g. https://vsa.example.com."))?;
    let host = url
        .split("://")
        .nth(1)
        .unwrap_or("")
        .split(['/', ':'])
        .next()
        .unwrap_or("");
    if host.to_ascii_lowercase().contains("-cdn") {
        return Err(invalid(
            "Use the VSA server's direct address, not its -cdn address.",
        ));
    }
    Ok(url)
}

/// Signs in to VSA with what was entered and stores it (an empty token keeps the stored one);
/// a paused queue resumes.
pub async fn integrate(
    portal: &Portal,
    viewer: &Viewer,
    form: &VsaForm,
    client: &ClientInfo,
) -> DomainResult<VsaSettings> {
    viewer.require(Action::ManageIntegrations)?;
    let server_url = checked_server_url(&form.server_url)?;
    let username = form.username.trim();
    if username.is_empty() || username.len() > 200 {
        return Err(AppError::invalid("username", "Enter the VSA user the portal signs in as.").into());
    }
    let mut conn = portal.db.pool.acquire().await?;
    let before = stored(&mut conn, viewer.instance_id).await?;
    drop(conn);
    let token = match (form.token.trim(), &before) {
        ("", Some(row)) => portal.vault.open(&row.token)?,
        ("", None) => {
            return Err(AppError::invalid(
                "token",
                "Enter the user's personal access token (VSA: System → User Security → Users → Access Tokens).",
            )
            .into());
        }
        (token, _) => token.to_owned(),
    };
    VsaClient::new(&server_url, username, &token)
        .map_err(refused)?
        .test()
        .await
        .map_err(refused)?;
    let now = portal.now();
    let mut tx = portal.db.begin().await?;
    sqlx::query(
        "INSERT INTO vsa_integrations (instance_id, server_url, username, token, forward_backups, forward_copies,
                                       updated_at, updated_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (instance_id) DO UPDATE SET server_url = excluded.server_url, username = excluded.username,
            token = excluded.token, forward_backups = excluded.forward_backups,
            forward_copies = excluded.forward_copies, updated_at = excluded.updated_at,
            updated_by = excluded.updated_by, paused_since = NULL",
    )
    .bind(viewer.instance_id)
    .bind(&server_url)
    .bind(username)
    .bind(portal.vault.seal(&token))
    .bind(i64::from(form.forward_backups))
    .bind(i64::from(form.forward_copies))
    .bind(now)
    .bind(&viewer.email)
    .execute(&mut *tx)
    .await?;
    let action = if before.is_some() {
        "vsa.update"
    } else {
        "vsa.integrate"
    };
    audit::record(&mut tx, Entry::by(viewer, client, action, &server_url), now).await?;
    tx.commit().await?;
    let mut conn = portal.db.pool.acquire().await?;
    settings(&mut conn, viewer)
        .await?
        .ok_or_else(|| DomainError::internal("the integration just stored is missing"))
}

/// Removes the integration, its queued alarms and every user's e-mail actions.
pub async fn remove(portal: &Portal, viewer: &Viewer, client: &ClientInfo) -> DomainResult<()> {
    viewer.require(Action::ManageIntegrations)?;
    let mut tx = portal.db.begin().await?;
    let integration: Option<i64> =
        sqlx::query_scalar("SELECT id FROM vsa_integrations WHERE instance_id = $1")
            .bind(viewer.instance_id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(integration) = integration else {
        return Err(AppError::conflict("VSA is not integrated.").into());
    };
    for statement in [
        "DELETE FROM vsa_alarm_writes WHERE integration_id = $1",
        "DELETE FROM vsa_integrations WHERE id = $1",
    ] {
        sqlx::query(statement).bind(integration).execute(&mut *tx).await?;
    }
    sqlx::query("DELETE FROM vsa_email_actions WHERE instance_id = $1")
        .bind(viewer.instance_id)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        Entry::by(viewer, client, "vsa.remove", "Kaseya VSA"),
        portal.now(),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct ActionRow {
    id: i64,
    category: String,
    recipients: String,
}

/// The viewer's own e-mail actions (nobody else's), by category then age.
pub async fn email_actions(conn: &mut AnyConnection, viewer: &Viewer) -> DomainResult<Vec<VsaEmailAction>> {
    viewer.require(Action::ManageIntegrations)?;
    let rows: Vec<ActionRow> = sqlx::query_as(
        "SELECT id, category, recipients FROM vsa_email_actions WHERE instance_id = $1 AND user_id = $2
         ORDER BY category, id",
    )
    .bind(viewer.instance_id)
    .bind(viewer.user_id)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            Some(VsaEmailAction {
                id: row.id,
                category: AlarmCategory::parse(&row.category)?,
                recipients: row.recipients.split(',').map(str::to_owned).collect(),
            })
        })
        .collect())
}

/// Creates one of the viewer's e-mail actions, or changes one of theirs (`id`).
pub async fn save_email_action(
    portal: &Portal,
    viewer: &Viewer,
    (id, category): (Option<i64>, AlarmCategory),
    recipients: &str,
    client: &ClientInfo,
) -> DomainResult<VsaEmailAction> {
    viewer.require(Action::ManageIntegrations)?;
    let recipients = domain::vsa::parse_recipients(recipients)?;
    let joined = recipients.join(",");
    let now = portal.now();
    let mut tx = portal.db.begin().await?;
    if stored(&mut tx, viewer.instance_id).await?.is_none() {
        return Err(AppError::conflict("VSA is not integrated with this instance.").into());
    }
    let id = match id {
        Some(id) => {
            let changed = sqlx::query(
                "UPDATE vsa_email_actions SET category = $1, recipients = $2, updated_at = $3
                 WHERE id = $4 AND user_id = $5 AND instance_id = $6",
            )
            .bind(category.as_str())
            .bind(&joined)
            .bind(now)
            .bind(id)
            .bind(viewer.user_id)
            .bind(viewer.instance_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if changed == 0 {
                return Err(AppError::not_found("VSA e-mail action").into());
            }
            id
        }
        None => {
            let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM vsa_email_actions WHERE user_id = $1")
                .bind(viewer.user_id)
                .fetch_one(&mut *tx)
                .await?;
            if count >= MAX_EMAIL_ACTIONS {
                return Err(AppError::conflict(format!(
                    "You have {MAX_EMAIL_ACTIONS} VSA e-mail actions, the most one user keeps."
                ))
                .into());
            }
            sqlx::query_scalar(
                "INSERT INTO vsa_email_actions (instance_id, user_id, category, recipients, updated_at)
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(viewer.instance_id)
            .bind(viewer.user_id)
            .bind(category.as_str())
            .bind(&joined)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?
        }
    };
    let target = format!("{}: {joined}", category.label());
    audit::record(
        &mut tx,
        Entry::by(viewer, client, "vsa.email_action.save", &target),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(VsaEmailAction {
        id,
        category,
        recipients,
    })
}

/// Deletes one of the viewer's e-mail actions.
pub async fn delete_email_action(
    portal: &Portal,
    viewer: &Viewer,
    id: i64,
    client: &ClientInfo,
) -> DomainResult<()> {
    viewer.require(Action::ManageIntegrations)?;
    let mut tx = portal.db.begin().await?;
    let deleted =
        sqlx::query("DELETE FROM vsa_email_actions WHERE id = $1 AND user_id = $2 AND instance_id = $3")
            .bind(id)
            .bind(viewer.user_id)
            .bind(viewer.instance_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    if deleted == 0 {
        return Err(AppError::not_found("VSA e-mail action").into());
    }
    audit::record(
        &mut tx,
        Entry::by(viewer, client, "vsa.email_action.delete", &id.to_string()),
        portal.now(),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_address_is_the_direct_one() {
        assert_eq!(
            checked_server_url(" https://vsa.example.com/api/v1.0/ ").unwrap(),
            "https://vsa.example.com"
        );
        assert!(checked_server_url("https://msp-cdn.kaseya.net").is_err());
        assert!(checked_server_url("http://vsa.example.com").is_err());
        assert!(checked_server_url("vsa.example.com").is_err());
        assert_eq!(
            checked_server_url("http://127.0.0.1:9000").unwrap(),
            "http://127.0.0.1:9000"
        );
    }
}
