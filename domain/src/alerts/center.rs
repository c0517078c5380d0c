//! The Alert Center: active alerts the viewer may see, grouped by kind and organization, and
//! their dismissal. A dismissed alert whose condition still holds is raised again at the next
//! evaluation of its object, [`REEVALUATE_DISMISSED_MS`] later.

use std::collections::HashMap;

use model::alerts::{AlertFilter, AlertGroup, AlertKind, AlertView, REEVALUATE_DISMISSED_MS};
use model::tenancy::Page;
use model::{Action, AppError};
use sqlx::{AnyConnection, AssertSqlSafe};

use super::engine::{self, Object};
use crate::access::{Viewer, sees_whole_instance, visible_organization_ids};
use crate::audit::{self, Entry};
use crate::db::id_list;
use crate::{ClientInfo, DomainResult, Portal};

/// The most members one group lists.
pub const GROUP_LIST_LIMIT: i64 = 200;

/// `WHERE` for the viewer's active alerts (joined with their organization `o`), narrowed by
/// the filter.
fn visible_active(viewer: &Viewer, filter: &AlertFilter) -> String {
    format!(
        "a.state = 'active' AND a.organization_id IN ({})",
        visible_organization_ids(viewer, filter.organization_id, filter.scope_id)
    )
}

/// Unresolved alerts the viewer may see.
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id))]
pub async fn count(conn: &mut AnyConnection, viewer: &Viewer, filter: &AlertFilter) -> DomainResult<i64> {
    let sql = if sees_whole_instance(viewer, filter.organization_id, filter.scope_id) {
        format!(
            "SELECT COUNT(*) FROM alerts a WHERE a.state = 'active' AND a.instance_id = {}",
            viewer.instance_id
        )
    } else {
        format!(
            "SELECT COUNT(*) FROM alerts a WHERE {}",
            visible_active(viewer, filter)
        )
    };
    Ok(sqlx::query_scalar(AssertSqlSafe(sql)).fetch_one(conn).await?)
}

#[derive(sqlx::FromRow)]
struct GroupRow {
    kind: String,
    organization_id: i64,
    organization_name: String,
    members: i64,
    latest_at: i64,
    first_id: i64,
}

/// The viewer's alert groups, newest first.
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id))]
pub async fn groups(
    conn: &mut AnyConnection,
    viewer: &Viewer,
    filter: &AlertFilter,
    offline_after_ms: i64,
) -> DomainResult<Vec<AlertGroup>> {
    let sql = format!(
        "SELECT a.kind, a.organization_id, o.name AS organization_name, COUNT(*) AS members,
                MAX(a.raised_at) AS latest_at, MIN(a.id) AS first_id
         FROM alerts a JOIN organizations o ON o.id = a.organization_id
         WHERE {} GROUP BY a.kind, a.organization_id, o.name ORDER BY MAX(a.raised_at) DESC, a.kind LIMIT 500",
        visible_active(viewer, filter)
    );
    let rows: Vec<GroupRow> = sqlx::query_as(AssertSqlSafe(sql)).fetch_all(&mut *conn).await?;
    let singles: Vec<i64> = rows
        .iter()
        .filter(|r| r.members == 1)
        .map(|r| r.first_id)
        .collect();
    let mut singles: HashMap<i64, AlertView> = by_ids(conn, &singles)
        .await?
        .into_iter()
        .map(|a| (a.id, a))
        .collect();
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let kind = AlertKind::parse(&r.kind)?;
            Some(AlertGroup {
                kind,
                title: kind.group_title(offline_after_ms),
                organization_id: r.organization_id,
                organization_name: r.organization_name,
                count: r.members,
                latest_at: r.latest_at,
                single: (r.members == 1).then(|| singles.remove(&r.first_id)).flatten(),
            })
        })
        .collect())
}

const ALERT_COLUMNS: &str =
    "a.id, a.kind, a.message, a.raised_at, a.organization_id, o.name AS organization_name,
    a.appliance_id, ap.name AS appliance_name, a.asset_id, s.name AS asset_name
    FROM alerts a JOIN organizations o ON o.id = a.organization_id
    LEFT JOIN appliances ap ON ap.id = a.appliance_id LEFT JOIN assets s ON s.id = a.asset_id";

#[derive(sqlx::FromRow)]
struct AlertRow {
    id: i64,
    kind: String,
    message: String,
    raised_at: i64,
    organization_id: i64,
    organization_name: String,
    appliance_id: Option<i64>,
    appliance_name: Option<String>,
    asset_id: Option<i64>,
    asset_name: Option<String>,
}

impl AlertRow {
    fn into_view(self) -> Option<AlertView> {
        let kind = AlertKind::parse(&self.kind)?;
        Some(AlertView {
            id: self.id,
            kind,
            severity: kind.severity(),
            message: self.message,
            raised_at: self.raised_at,
            organization_id: self.organization_id,
            organization_name: self.organization_name,
            appliance_id: self.appliance_id,
            appliance_name: self.appliance_name,
            asset_id: self.asset_id,
            asset_name: self.asset_name,
        })
    }
}

async fn by_ids(conn: &mut AnyConnection, ids: &[i64]) -> DomainResult<Vec<AlertView>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = id_list(ids);
    let rows: Vec<AlertRow> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {ALERT_COLUMNS} WHERE a.id IN ({list})"
    )))
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().filter_map(AlertRow::into_view).collect())
}

/// The members of one group, newest first, at most [`GROUP_LIST_LIMIT`].
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id, organization_id = organization_id))]
pub async fn members(
    conn: &mut AnyConnection,
    viewer: &Viewer,
    kind: AlertKind,
    organization_id: i64,
) -> DomainResult<Vec<AlertView>> {
    let filter = AlertFilter {
        organization_id: Some(organization_id),
        scope_id: None,
    };
    let sql = format!(
        "SELECT {ALERT_COLUMNS} WHERE {} AND a.kind = $1 ORDER BY a.raised_at DESC, a.id DESC LIMIT $2",
        visible_active(viewer, &filter)
    );
    let rows: Vec<AlertRow> = sqlx::query_as(AssertSqlSafe(sql))
        .bind(kind.as_str())
        .bind(GROUP_LIST_LIMIT)
        .fetch_all(conn)
        .await?;
    Ok(rows.into_iter().filter_map(AlertRow::into_view).collect())
}

/// The most alerts the appliance page lists.
pub const APPLIANCE_LIST_LIMIT: i64 = 500;

/// The active alerts of an appliance and of its assets, newest first (the appliance page's
/// Appliance alerts, spec portal-a §2.28); "not found" for an appliance the viewer may not see.
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id, appliance_id = appliance_id))]
pub async fn of_appliance(
    conn: &mut AnyConnection,
    viewer: &Viewer,
    appliance_id: i64,
) -> DomainResult<Vec<AlertView>> {
    crate::appliances::views::get(&mut *conn, viewer, appliance_id).await?;
    let sql = format!(
        "SELECT {ALERT_COLUMNS} WHERE {} AND a.appliance_id = $1 ORDER BY a.raised_at DESC, a.id DESC LIMIT $2",
        visible_active(viewer, &AlertFilter::default())
    );
    let rows: Vec<AlertRow> = sqlx::query_as(AssertSqlSafe(sql))
        .bind(appliance_id)
        .bind(APPLIANCE_LIST_LIMIT)
        .fetch_all(conn)
        .await?;
    Ok(rows.into_iter().filter_map(AlertRow::into_view).collect())
}

/// One page of the active alerts the viewer may see, newest first (the public API's list).
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id))]
pub async fn page(
    conn: &mut AnyConnection,
    viewer: &Viewer,
    filter: &AlertFilter,
    (page, per_page): (u32, u32),
) -> DomainResult<Page<AlertView>> {
    let (page, per_page) = (page.max(1), per_page.max(1));
    let total = count(&mut *conn, viewer, filter).await?;
    let sql = format!(
        "SELECT {ALERT_COLUMNS} WHERE {} ORDER BY a.raised_at DESC, a.id DESC LIMIT $1 OFFSET $2",
        visible_active(viewer, filter)
    );
    let rows: Vec<AlertRow> = sqlx::query_as(AssertSqlSafe(sql))
        .bind(i64::from(per_page))
        .bind(i64::from(per_page) * i64::from(page - 1))
        .fetch_all(conn)
        .await?;
    Ok(Page {
        items: rows.into_iter().filter_map(AlertRow::into_view).collect(),
        total,
        page,
        per_page,
    })
}

/// What a dismissal covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dismissal {
    One(i64),
    Group {
        kind: AlertKind,
        organization_id: i64,
    },
    /// Everything the viewer may see.
    All,
    /// Everything of an organization and/or scope (Superuser).
    Matching(AlertFilter),
}

impl Dismissal {
    fn action(&self) -> Action {
        match self {
            Dismissal::One(_) => Action::DismissAlert,
            Dismissal::Group { .. } | Dismissal::All => Action::DismissAlertGroups,
            Dismissal::Matching(_) => Action::BulkDismissAlerts,
        }
    }
}

/// Dismisses the alerts; returns how many. Each one's object is evaluated again later, so a
/// condition that still holds raises a new alert.
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id))]
pub async fn dismiss(
    portal: &Portal,
    viewer: &Viewer,
    dismissal: &Dismissal,
    client: &ClientInfo,
) -> DomainResult<u64> {
    viewer.require(dismissal.action())?;
    let (filter, extra) = match dismissal {
        Dismissal::One(id) => (AlertFilter::default(), format!(" AND a.id = {id}")),
        Dismissal::Group {
            kind,
            organization_id,
        } => (
            AlertFilter {
                organization_id: Some(*organization_id),
                scope_id: None,
            },
            format!(" AND a.kind = '{}'", kind.as_str()),
        ),
        Dismissal::All => (AlertFilter::default(), String::new()),
        Dismissal::Matching(filter) => {
            if filter.organization_id.is_none() && filter.scope_id.is_none() {
                return Err(
                    AppError::invalid("filter", "Choose an organization or a scope to dismiss.").into(),
                );
            }
            (filter.clone(), String::new())
        }
    };
    let now = portal.now();
    let mut tx = portal.db.begin().await?;
    let sql = format!(
        "SELECT a.id, a.organization_id, a.appliance_id, a.asset_id
         FROM alerts a JOIN organizations o ON o.id = a.organization_id WHERE {}{extra}",
        visible_active(viewer, &filter)
    );
    let found: Vec<(i64, i64, Option<i64>, Option<i64>)> =
        sqlx::query_as(AssertSqlSafe(sql)).fetch_all(&mut *tx).await?;
    if found.is_empty() {
        if let Dismissal::One(_) = dismissal {
            return Err(AppError::not_found("alert").into());
        }
        return Ok(0);
    }
    let mut dismissed = 0;
    let mut organizations = Vec::new();
    for (id, organization_id, appliance_id, asset_id) in &found {
        let changed = sqlx::query(
            "UPDATE alerts SET state = 'dismissed', dismissed_at = $1, dismissed_by = $2 WHERE id = $3 AND state = 'active'",
        )
        .bind(now)
        .bind(&viewer.email)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 0 {
            continue;
        }
        dismissed += 1;
        if !organizations.contains(organization_id) {
            organizations.push(*organization_id);
        }
        let object = match (asset_id, appliance_id) {
            (Some(asset), _) => Object::Asset(*asset),
            (None, Some(appliance)) => Object::Appliance(*appliance),
            (None, None) => continue,
        };
        engine::touch(&mut tx, object, now + REEVALUATE_DISMISSED_MS).await?;
    }
    let (action, target, after) = match dismissal {
        Dismissal::One(id) => ("alert.dismissed", format!("alert {id}"), "dismissed".to_owned()),
        _ => (
            "alerts.dismiss",
            format!("{dismissed} alerts"),
            format!("{dismissal:?}"),
        ),
    };
    if dismissed > 0 || !matches!(dismissal, Dismissal::One(_)) {
        let entry = Entry::by(viewer, client, action, &target).after(after);
        audit::record(&mut tx, entry, now).await?;
    }
    tx.commit().await?;
    let instance_id = viewer.instance_id;
    portal
        .publish_alerts_changed(organizations.into_iter().map(|o| (instance_id, o)))
        .await;
    Ok(dismissed)
}

/// Resolved and dismissed alerts are kept this long, then purged.
pub const SETTLED_KEPT_MS: i64 = 90 * 24 * 60 * 60 * 1000;

/// Deletes alerts resolved or dismissed more than [`SETTLED_KEPT_MS`] ago; returns how many.
#[tracing::instrument(skip_all)]
pub async fn purge_settled(conn: &mut AnyConnection, now: i64) -> DomainResult<u64> {
    Ok(
        sqlx::query(
            "DELETE FROM alerts WHERE state <> 'active' AND COALESCE(resolved_at, dismissed_at) < $1",
        )
        .bind(now - SETTLED_KEPT_MS)
        .execute(conn)
        .await?
        .rows_affected(),
    )
}
