//! The assets appliances protect, as a viewer may see them, with their recovery points and the
//! policy change each is waiting for.

use model::appliance::JobState;
use model::appliance::views::{
    AssetDetail, AssetView, CommandStatus, LastBackup, PolicyChange, RecoveryPointView,
};
use model::jobs::RECENTLY_ENDED_MS;
use model::lists::AssetSort;
use model::policy::Policy;
use model::tenancy::Page;
use sqlx::{AnyConnection, AssertSqlSafe};

use super::health::{StripAsset, recent_backups};
use super::jobs::{self, JobQuery};
use super::views::{to_u64, visible_row};
use crate::access::{Viewer, visible_org, visible_organization_ids};
use crate::db::conditions::{Bind, Conditions};
use crate::db::contains_pattern;
use crate::{Clock, DomainResult, SystemClock};

#[derive(sqlx::FromRow)]
struct AssetRow {
    id: i64,
    external_id: String,
    name: String,
    path: String,
    appliance_id: i64,
    appliance_name: String,
    organization_id: i64,
    organization_name: String,
    points: i64,
    last_point_at: Option<i64>,
    last_point_bytes: Option<i64>,
    last_result: Option<String>,
    last_result_started: Option<i64>,
    failures_shown_until: Option<i64>,
    time_zone: String,
    policy: Option<String>,
    #[sqlx(flatten)]
    policy_command: PolicyCommandColumns,
    restore_roots: String,
}

/// The columns of the policy command an asset row points at (`policy_command_id` of the asset,
/// the rest from `appliance_commands` as `policy_command`, `_status` and `_message`).
#[derive(sqlx::FromRow)]
pub(crate) struct PolicyCommandColumns {
    policy_command_id: Option<i64>,
    policy_command: Option<String>,
    policy_command_status: Option<String>,
    policy_command_message: Option<String>,
}

impl PolicyCommandColumns {
    /// The policy change the row points at, unless it was carried out.
    pub(crate) fn pending_change(self) -> Option<PolicyChange> {
        policy_change(
            self.policy_command_id,
            self.policy_command,
            self.policy_command_status,
            self.policy_command_message,
        )
    }
}

fn policy_change(
    command_id: Option<i64>,
    description: Option<String>,
    status: Option<String>,
    message: Option<String>,
) -> Option<PolicyChange> {
    let status = CommandStatus::parse(&status?);
    (status != CommandStatus::Done).then(|| PolicyChange {
        command_id: command_id.unwrap_or_default(),
        description: description.unwrap_or_default(),
        status,
        message,
    })
}

/// A stored policy; an unreadable one (never written by this portal) counts as none.
pub(crate) fn parse_policy(json: Option<&str>) -> Option<Policy> {
    json.and_then(|j| serde_json::from_str(j).ok())
}

impl AssetRow {
    /// The view at `now` (which decides whether failures are recent), without its strip.
    fn into_view(self, now: i64) -> AssetView {
        let last_backup = match (
            self.last_result.as_deref().and_then(JobState::parse),
            self.last_result_started,
        ) {
            (Some(state), Some(started_at)) => Some(LastBackup { state, started_at }),
            _ => None,
        };
        AssetView {
            id: self.id,
            external_id: self.external_id,
            name: self.name,
            path: self.path,
            appliance_id: self.appliance_id,
            appliance_name: self.appliance_name,
            organization_id: self.organization_id,
            organization_name: self.organization_name,
            recovery_points: self.points,
            last_recovery_point_at: self.last_point_at,
            time_zone: self.time_zone,
            policy: parse_policy(self.policy.as_deref()),
            restore_roots: serde_json::from_str(&self.restore_roots).unwrap_or_default(),
            policy_change: self.policy_command.pending_change(),
            last_backup,
            last_point_bytes: self.last_point_bytes.map(to_u64),
            recent_failures: self.failures_shown_until.is_some_and(|until| until > now),
            recent_backups: Vec::new(),
        }
    }
}

const ASSETS: &str = "FROM assets s JOIN appliances a ON a.id = s.appliance_id JOIN organizations o ON o.id = a.organization_id
    LEFT JOIN appliance_commands c ON c.id = s.policy_command_id";
const ASSET_COLUMNS: &str =
    "SELECT s.id, s.external_id, s.name, s.path, a.id AS appliance_id, a.name AS appliance_name,
        o.id AS organization_id, o.name AS organization_name, a.time_zone, s.policy,
        s.policy_command_id, c.description AS policy_command, c.status AS policy_command_status,
        c.message AS policy_command_message, a.restore_roots, s.points, s.last_point_at,
        s.last_point_bytes, s.last_result, s.last_result_started, s.failures_shown_until";

/// Filters and order of the asset lists (Protect → Assets and an appliance's detail).
#[derive(Debug, Clone, Default)]
pub struct AssetQuery {
    pub scope_id: Option<i64>,
    pub appliance_id: Option<i64>,
    pub organization_id: Option<i64>,
    pub name_contains: Option<String>,
    /// Only assets whose strip shows a failed or missed backup.
    pub recent_failures: bool,
    pub sort: AssetSort,
    pub descending: bool,
    pub page: u32,
    pub per_page: u32,
}

/// The list's conditions for this viewer and filter.
fn list_conditions(viewer: &Viewer, query: &AssetQuery, now: i64) -> Conditions {
    let mut c = Conditions::default();
    c.fixed("a.deleted_at IS NULL");
    c.fixed(&format!(
        "a.organization_id IN ({})",
        visible_organization_ids(viewer, query.organization_id, query.scope_id)
    ));
    if let Some(appliance) = query.appliance_id {
        c.with("s.appliance_id = ?", Bind::Int(appliance));
    }
    if let Some(pattern) = contains_pattern(query.name_contains.as_deref()) {
        c.with(
            "(LOWER(s.name) LIKE ? ESCAPE '\\' OR LOWER(s.path) LIKE ? ESCAPE '\\' OR LOWER(a.name) LIKE ? ESCAPE '\\')",
            Bind::Text(pattern),
        );
    }
    if query.recent_failures {
        c.with("s.failures_shown_until > ?", Bind::Int(now));
    }
    c
}

/// ORDER BY for a column; ties go by name and id, so pages never overlap. Assets never backed
/// up (no value) count as the oldest and smallest.
fn list_order(sort: AssetSort, descending: bool, now: i64) -> String {
    let dir = if descending { "DESC" } else { "ASC" };
    let with_missing_first = |column: &str| format!("({column} IS NOT NULL) {dir}, {column} {dir}");
    let key = match sort {
        AssetSort::Organization => format!("o.name {dir}, a.name {dir}"),
        AssetSort::Name => String::new(),
        AssetSort::Path => format!("s.path {dir}"),
        AssetSort::Appliance => format!("a.name {dir}"),
        AssetSort::LastBackup => with_missing_first("s.last_result_started"),
        AssetSort::RecentBackups => format!("(COALESCE(s.failures_shown_until, 0) > {now}) {dir}"),
        AssetSort::RecoveryPoints => format!("s.points {dir}"),
        AssetSort::LastRecoveryPoint => with_missing_first("s.last_point_at"),
        AssetSort::LastSize => with_missing_first("s.last_point_bytes"),
    };
    let ties = format!("s.name {dir}, s.id {dir}");
    if key.is_empty() {
        format!("ORDER BY {ties}")
    } else {
        format!("ORDER BY {key}, {ties}")
    }
}

/// One page of the assets the viewer may see, filtered and sorted, each with its Recent
/// backups strip as of `now`.
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id))]
pub async fn list(
    conn: &mut AnyConnection,
    viewer: &Viewer,
    query: &AssetQuery,
    now: i64,
) -> DomainResult<Page<AssetView>> {
    let per_page = query.per_page.clamp(1, 200);
    let page = query.page.max(1);
    let conditions = list_conditions(viewer, query, now);
    let where_clause = conditions.sql();
    let (total,): (i64,) = conditions
        .bind_all(sqlx::query_as(AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM assets s JOIN appliances a ON a.id = s.appliance_id {where_clause}"
        ))))
        .fetch_one(&mut *conn)
        .await?;
    let sql = format!(
        "{ASSET_COLUMNS} {ASSETS} {where_clause} {} LIMIT {} OFFSET {}",
        list_order(query.sort, query.descending, now),
        conditions.next_placeholder(1),
        conditions.next_placeholder(2),
    );
    let rows: Vec<AssetRow> = conditions
        .bind_all(sqlx::query_as(AssertSqlSafe(sql)))
        .bind(i64::from(per_page))
        .bind(i64::from(per_page) * i64::from(page - 1))
        .fetch_all(&mut *conn)
        .await?;
    let mut items: Vec<AssetView> = rows.into_iter().map(|row| row.into_view(now)).collect();
    let wanted: Vec<StripAsset> = items
        .iter()
        .map(|a| StripAsset {
            id: a.id,
            time_zone: &a.time_zone,
        })
        .collect();
    let mut strips = recent_backups(conn, &wanted, now).await?;
    for asset in &mut items {
        asset.recent_backups = strips.remove(&asset.id).unwrap_or_default();
    }
    Ok(Page {
        items,
        total,
        page,
        per_page,
    })
}

/// The asset if the viewer may see it; otherwise "not found". Its strip is left empty.
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id, id = id))]
pub async fn get(conn: &mut AnyConnection, viewer: &Viewer, id: i64) -> DomainResult<AssetView> {
    get_at(conn, viewer, id, SystemClock.now_ms()).await
}

async fn get_at(conn: &mut AnyConnection, viewer: &Viewer, id: i64, now: i64) -> DomainResult<AssetView> {
    let sql = format!(
        "{ASSET_COLUMNS} {ASSETS} WHERE a.deleted_at IS NULL AND o.instance_id = $1 AND {} AND s.id = $4",
        visible_org(2, 3)
    );
    visible_row::<AssetRow>(conn, viewer, sql, id, "Asset")
        .await
        .map(|row| row.into_view(now))
}

/// The asset's drawer as of `now`: the asset with its strip, its jobs running or ended in the
/// last few minutes, and its recovery points; "not found" outside the viewer's scopes.
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id, id = id))]
pub async fn detail(
    conn: &mut AnyConnection,
    viewer: &Viewer,
    id: i64,
    now: i64,
) -> DomainResult<AssetDetail> {
    let mut asset = get_at(&mut *conn, viewer, id, now).await?;
    let wanted = [StripAsset {
        id,
        time_zone: &asset.time_zone,
    }];
    asset.recent_backups = recent_backups(&mut *conn, &wanted, now)
        .await?
        .remove(&id)
        .unwrap_or_default();
    let query = JobQuery {
        appliance_id: Some(asset.appliance_id),
        asset_id: Some(id),
        active_or_ended_after: Some(now - RECENTLY_ENDED_MS),
        limit: 20,
    };
    let jobs = jobs::list(&mut *conn, viewer, query).await?;
    let recovery_points = recovery_points(conn, viewer, id).await?;
    Ok(AssetDetail {
        asset,
        jobs,
        recovery_points,
    })
}

/// The asset's recovery points, newest first.
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id, asset_id = asset_id))]
pub async fn recovery_points(
    conn: &mut AnyConnection,
    viewer: &Viewer,
    asset_id: i64,
) -> DomainResult<Vec<RecoveryPointView>> {
    let asset = get(conn, viewer, asset_id).await?;
    let rows: Vec<(String, i64, i64, i64)> = sqlx::query_as(
        "SELECT external_id, taken_at, size_bytes, files FROM recovery_points WHERE asset_id = $1 ORDER BY taken_at DESC, id DESC",
    )
    .bind(asset.id)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, taken_at, size, files)| RecoveryPointView {
            id,
            taken_at,
            size_bytes: to_u64(size),
            files: to_u64(files),
        })
        .collect())
}
