//! Settings → Alerts (category toggles, e-mail recipients) and Settings → Conditional alarms
//! (global and custom thresholds). Every change is audited, and re-evaluates what it affects.

use model::alerts::{
    AlarmSettings, AlertCategory, AlertSettings, CustomThreshold, MAX_RECIPIENTS, NamedOrganization,
    ThresholdBlock, Thresholds,
};
use model::{Action, AppError};
use sqlx::{AnyConnection, AssertSqlSafe};

use super::engine;
use crate::access::Viewer;
use crate::audit::{self, Entry};
use crate::db::id_list;
use crate::users::validate_email;
use crate::{ClientInfo, DomainResult, Portal};

#[tracing::instrument(skip_all, fields(instance_id = instance_id))]
pub async fn alert_settings(conn: &mut AnyConnection, instance_id: i64) -> DomainResult<AlertSettings> {
    let disabled: Vec<String> =
        sqlx::query_scalar("SELECT category FROM alert_categories WHERE instance_id = $1 AND enabled = 0")
            .bind(instance_id)
            .fetch_all(&mut *conn)
            .await?;
    let recipients =
        sqlx::query_scalar("SELECT email FROM alert_recipients WHERE instance_id = $1 ORDER BY email")
            .bind(instance_id)
            .fetch_all(conn)
            .await?;
    Ok(AlertSettings {
        categories: AlertCategory::ALL
            .into_iter()
            .map(|c| (c, !disabled.iter().any(|d| d == c.as_str())))
            .collect(),
        recipients,
    })
}

/// Turns a category on or off. Off stops new alerts of it (open ones stay until they clear);
/// on evaluates everything again so conditions that hold are raised.
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id))]
pub async fn set_category(
    portal: &Portal,
    viewer: &Viewer,
    category: AlertCategory,
    enabled: bool,
    client: &ClientInfo,
) -> DomainResult<()> {
    viewer.require(Action::ManageAlertSettings)?;
    let now = portal.now();
    let mut tx = portal.db.begin().await?;
    sqlx::query(
        "INSERT INTO alert_categories (instance_id, category, enabled) VALUES ($1, $2, $3)
         ON CONFLICT (instance_id, category) DO UPDATE SET enabled = excluded.enabled",
    )
    .bind(viewer.instance_id)
    .bind(category.as_str())
    .bind(i64::from(enabled))
    .execute(&mut *tx)
    .await?;
    if enabled {
        engine::touch_instance(&mut tx, viewer.instance_id, now).await?;
    }
    let state = if enabled { "on" } else { "off" };
    audit::record(
        &mut tx,
        Entry::by(viewer, client, "alerts.category", category.as_str()).after(state),
        now,
    )
    .await?;
    tx.commit().await?;
    portal.evaluate_now.notify_one();
    Ok(())
}

#[tracing::instrument(skip_all, fields(user_id = viewer.user_id))]
pub async fn add_recipient(
    portal: &Portal,
    viewer: &Viewer,
    email: &str,
    client: &ClientInfo,
) -> DomainResult<()> {
    viewer.require(Action::ManageAlertSettings)?;
    let email = validate_email(email)?;
    let mut tx = portal.db.begin().await?;
    let existing: Vec<String> =
        sqlx::query_scalar("SELECT email FROM alert_recipients WHERE instance_id = $1")
            .bind(viewer.instance_id)
            .fetch_all(&mut *tx)
            .await?;
    if existing.contains(&email) {
        return Err(AppError::invalid("email", format!("{email} is already on the list.")).into());
    }
    if existing.len() >= MAX_RECIPIENTS {
        return Err(AppError::invalid(
            "email",
            format!("At most {MAX_RECIPIENTS} addresses can receive alerts."),
        )
        .into());
    }
    sqlx::query(
        "INSERT INTO alert_recipients (instance_id, email, added_by, added_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(viewer.instance_id)
    .bind(&email)
    .bind(&viewer.email)
    .bind(portal.now())
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        Entry::by(viewer, client, "alerts.recipient_added", &email),
        portal.now(),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[tracing::instrument(skip_all, fields(user_id = viewer.user_id))]
pub async fn remove_recipient(
    portal: &Portal,
    viewer: &Viewer,
    email: &str,
    client: &ClientInfo,
) -> DomainResult<()> {
    viewer.require(Action::ManageAlertSettings)?;
    let mut tx = portal.db.begin().await?;
    let removed = sqlx::query("DELETE FROM alert_recipients WHERE instance_id = $1 AND email = $2")
        .bind(viewer.instance_id)
        .bind(email.trim().to_lowercase())
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if removed == 0 {
        return Err(AppError::not_found("recipient").into());
    }
    audit::record(
        &mut tx,
        Entry::by(viewer, client, "alerts.recipient_removed", email),
        portal.now(),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct ThresholdRow {
    id: i64,
    title: Option<String>,
    backups_enabled: i64,
    backups_minutes: i64,
    copies_enabled: i64,
    copies_minutes: i64,
}

impl ThresholdRow {
    fn thresholds(&self) -> Thresholds {
        Thresholds {
            backups: ThresholdBlock::from_minutes(self.backups_enabled == 1, self.backups_minutes),
            copies: ThresholdBlock::from_minutes(self.copies_enabled == 1, self.copies_minutes),
        }
    }
}

#[tracing::instrument(skip_all, fields(user_id = viewer.user_id))]
pub async fn alarm_settings(conn: &mut AnyConnection, viewer: &Viewer) -> DomainResult<AlarmSettings> {
    viewer.require(Action::ManageAlertSettings)?;
    let rows: Vec<ThresholdRow> = sqlx::query_as(
        "SELECT id, title, backups_enabled, backups_minutes, copies_enabled, copies_minutes
         FROM alarm_thresholds WHERE instance_id = $1 ORDER BY title",
    )
    .bind(viewer.instance_id)
    .fetch_all(&mut *conn)
    .await?;
    let members: Vec<(i64, i64, String)> = sqlx::query_as(
        "SELECT tor.threshold_id, o.id, o.name FROM alarm_threshold_organizations tor
         JOIN organizations o ON o.id = tor.organization_id WHERE o.instance_id = $1 ORDER BY o.name",
    )
    .bind(viewer.instance_id)
    .fetch_all(conn)
    .await?;
    let mut settings = AlarmSettings {
        global: None,
        custom: Vec::new(),
    };
    for row in rows {
        match &row.title {
            None => settings.global = Some(row.thresholds()),
            Some(title) => settings.custom.push(CustomThreshold {
                id: row.id,
                title: title.clone(),
                thresholds: row.thresholds(),
                organizations: members
                    .iter()
                    .filter(|(t, _, _)| *t == row.id)
                    .map(|(_, id, name)| NamedOrganization {
                        id: *id,
                        name: name.clone(),
                    })
                    .collect(),
            }),
        }
    }
    Ok(settings)
}

fn minutes(block: &ThresholdBlock) -> i64 {
    block.total_hours() * 60
}

fn validate(thresholds: &Thresholds) -> Result<(), AppError> {
    thresholds.validate().map_err(|message| {
        let field = if message.starts_with("Backups") {
            "backups"
        } else {
            "copies"
        };
        AppError::invalid(field, message)
    })
}

/// Saves the global thresholds (alarms start once they exist).
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id))]
pub async fn save_global(
    portal: &Portal,
    viewer: &Viewer,
    thresholds: &Thresholds,
    client: &ClientInfo,
) -> DomainResult<()> {
    viewer.require(Action::ManageAlertSettings)?;
    validate(thresholds)?;
    let now = portal.now();
    let mut tx = portal.db.begin().await?;
    let updated = sqlx::query(
        "UPDATE alarm_thresholds SET backups_enabled = $1, backups_minutes = $2, copies_enabled = $3,
                copies_minutes = $4, updated_at = $5 WHERE instance_id = $6 AND title IS NULL",
    )
    .bind(i64::from(thresholds.backups.enabled))
    .bind(minutes(&thresholds.backups))
    .bind(i64::from(thresholds.copies.enabled))
    .bind(minutes(&thresholds.copies))
    .bind(now)
    .bind(viewer.instance_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if updated == 0 {
        insert_threshold(&mut tx, viewer.instance_id, None, thresholds, now).await?;
    }
    engine::touch_assets_of(&mut tx, viewer.instance_id, None, now).await?;
    audit::record(
        &mut tx,
        Entry::by(viewer, client, "alarms.global", "global thresholds").after(describe(thresholds)),
        now,
    )
    .await?;
    tx.commit().await?;
    portal.evaluate_now.notify_one();
    Ok(())
}

fn describe(thresholds: &Thresholds) -> String {
    let block = |b: &ThresholdBlock| format!("{}{}", b.describe(), if b.enabled { "" } else { " (off)" });
    format!(
        "backups {}, copies {}",
        block(&thresholds.backups),
        block(&thresholds.copies)
    )
}

/// A new instance's global thresholds ([`Thresholds::DEFAULT`]): backups alarm from the start,
/// rather than only once a Superuser finds the settings page.
pub(crate) async fn insert_default_global(
    conn: &mut AnyConnection,
    instance_id: i64,
    now: i64,
) -> DomainResult<()> {
    insert_threshold(conn, instance_id, None, &Thresholds::DEFAULT, now).await?;
    Ok(())
}

/// Whether the instance's global backup threshold is on (missing counts as off).
pub(crate) async fn backup_alarms_on(conn: &mut AnyConnection, instance_id: i64) -> DomainResult<bool> {
    global_block_on(conn, instance_id, "backups_enabled").await
}

/// Whether the global Replication offsite threshold is saved and on.
pub(crate) async fn copy_alarms_on(conn: &mut AnyConnection, instance_id: i64) -> DomainResult<bool> {
    global_block_on(conn, instance_id, "copies_enabled").await
}

async fn global_block_on(
    conn: &mut AnyConnection,
    instance_id: i64,
    column: &'static str,
) -> DomainResult<bool> {
    let enabled: Option<i64> = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT {column} FROM alarm_thresholds WHERE instance_id = $1 AND title IS NULL"
    )))
    .bind(instance_id)
    .fetch_optional(conn)
    .await?;
    Ok(enabled == Some(1))
}

async fn insert_threshold(
    conn: &mut AnyConnection,
    instance_id: i64,
    title: Option<&str>,
    thresholds: &Thresholds,
    now: i64,
) -> DomainResult<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO alarm_thresholds (instance_id, title, backups_enabled, backups_minutes, copies_enabled,
                                       copies_minutes, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(instance_id)
    .bind(title)
    .bind(i64::from(thresholds.backups.enabled))
    .bind(minutes(&thresholds.backups))
    .bind(i64::from(thresholds.copies.enabled))
    .bind(minutes(&thresholds.copies))
    .bind(now)
    .fetch_one(conn)
    .await?)
}

/// A custom threshold to create (no id) or replace.
#[derive(Debug, Clone)]
pub struct CustomRequest {
    pub id: Option<i64>,
    pub title: String,
    pub thresholds: Thresholds,
    pub organization_ids: Vec<i64>,
}

/// Creates or replaces a custom threshold; its organizations leave any other custom threshold
/// (an organization holds at most one). Returns its id.
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id))]
pub async fn save_custom(
    portal: &Portal,
    viewer: &Viewer,
    request: &CustomRequest,
    client: &ClientInfo,
) -> DomainResult<i64> {
    viewer.require(Action::ManageAlertSettings)?;
    let title = request.title.trim();
    if title.is_empty() || title.chars().count() > 100 {
        return Err(AppError::invalid("title", "Enter a title of 1 to 100 characters.").into());
    }
    validate(&request.thresholds)?;
    if request.organization_ids.is_empty() {
        return Err(AppError::invalid("organizations", "Add at least one organization.").into());
    }
    let now = portal.now();
    let mut tx = portal.db.begin().await?;
    let list = id_list(&request.organization_ids);
    let known: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM organizations WHERE instance_id = $1 AND id IN ({list})"
    )))
    .bind(viewer.instance_id)
    .fetch_one(&mut *tx)
    .await?;
    if known != request.organization_ids.len() as i64 {
        return Err(AppError::invalid(
            "organizations",
            "An organization was not found; reload and try again.",
        )
        .into());
    }
    let clash: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM alarm_thresholds WHERE instance_id = $1 AND title = $2 AND ($3 IS NULL OR id <> $3)",
    )
    .bind(viewer.instance_id)
    .bind(title)
    .bind(request.id)
    .fetch_optional(&mut *tx)
    .await?;
    if clash.is_some() {
        return Err(AppError::invalid("title", format!("A custom threshold named {title:?} exists.")).into());
    }
    let id = match request.id {
        Some(id) => {
            let updated = sqlx::query(
                "UPDATE alarm_thresholds SET title = $1, backups_enabled = $2, backups_minutes = $3, copies_enabled = $4,
                        copies_minutes = $5, updated_at = $6 WHERE id = $7 AND instance_id = $8 AND title IS NOT NULL",
            )
            .bind(title)
            .bind(i64::from(request.thresholds.backups.enabled))
            .bind(minutes(&request.thresholds.backups))
            .bind(i64::from(request.thresholds.copies.enabled))
            .bind(minutes(&request.thresholds.copies))
            .bind(now)
            .bind(id)
            .bind(viewer.instance_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if updated == 0 {
                return Err(AppError::not_found("custom threshold").into());
            }
            id
        }
        None => insert_threshold(&mut tx, viewer.instance_id, Some(title), &request.thresholds, now).await?,
    };
    let before = organizations_of(&mut tx, id).await?;
    sqlx::query("DELETE FROM alarm_threshold_organizations WHERE threshold_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(AssertSqlSafe(format!(
        "DELETE FROM alarm_threshold_organizations WHERE organization_id IN ({list})"
    )))
    .execute(&mut *tx)
    .await?;
    for organization in &request.organization_ids {
        sqlx::query(
            "INSERT INTO alarm_threshold_organizations (organization_id, threshold_id) VALUES ($1, $2)",
        )
        .bind(organization)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    }
    let mut affected = before;
    affected.extend(&request.organization_ids);
    engine::touch_assets_of(&mut tx, viewer.instance_id, Some(&affected), now).await?;
    audit::record(
        &mut tx,
        Entry::by(viewer, client, "alarms.custom_saved", title)
            .after(format!("{}; organizations {list}", describe(&request.thresholds))),
        now,
    )
    .await?;
    tx.commit().await?;
    portal.evaluate_now.notify_one();
    Ok(id)
}

/// Deletes a custom threshold; its organizations fall back to the global one at once.
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id, id = id))]
pub async fn delete_custom(
    portal: &Portal,
    viewer: &Viewer,
    id: i64,
    client: &ClientInfo,
) -> DomainResult<()> {
    viewer.require(Action::ManageAlertSettings)?;
    let now = portal.now();
    let mut tx = portal.db.begin().await?;
    let title: Option<String> = sqlx::query_scalar(
        "SELECT title FROM alarm_thresholds WHERE id = $1 AND instance_id = $2 AND title IS NOT NULL",
    )
    .bind(id)
    .bind(viewer.instance_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(title) = title else {
        return Err(AppError::not_found("custom threshold").into());
    };
    let organizations = organizations_of(&mut tx, id).await?;
    sqlx::query("DELETE FROM alarm_threshold_organizations WHERE threshold_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM alarm_thresholds WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    engine::touch_assets_of(&mut tx, viewer.instance_id, Some(&organizations), now).await?;
    audit::record(
        &mut tx,
        Entry::by(viewer, client, "alarms.custom_deleted", &title),
        now,
    )
    .await?;
    tx.commit().await?;
    portal.evaluate_now.notify_one();
    Ok(())
}

async fn organizations_of(conn: &mut AnyConnection, threshold_id: i64) -> DomainResult<Vec<i64>> {
    Ok(sqlx::query_scalar(
        "SELECT organization_id FROM alarm_threshold_organizations WHERE threshold_id = $1",
    )
    .bind(threshold_id)
    .fetch_all(conn)
    .await?)
}
