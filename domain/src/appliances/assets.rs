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
use crate::access::{Viewer, sees_whole_instance, visible_org, visible_organization_ids};
use crate::db::conditions::{Bind, Conditions};
use crate::db::{contains_pattern, id_list};
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
    last_copy_at: Option<i64>,
    last_verified_at: Option<i64>,
    last_verify_result: Option<String>,
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
            last_copy_at: self.last_copy_at,
            last_verified: match (
                self.last_verify_result.as_deref().and_then(JobState::parse),
                self.last_verified_at,
            ) {
                (Some(state), Some(at)) => Some(LastBackup {
                    state,
                    started_at: at,
                }),
                _ => None,
            },
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
        s.last_point_bytes, s.last_result, s.last_result_started, s.failures_shown_until, s.last_copy_at,
        s.last_verified_at, s.last_verify_result";

/// Filters and order of the asset lists (Protect → Assets and an appliance's detail).
#[derive(Debug, Clone, Default)]
pub struct AssetQuery {
    pub scope_id: Option<i64>,
    pub appliance_id: Option<i64>,
    pub organization_id: Option<i64>,
    pub name_contains: Option<String>,
    /// "Contains" on the appliance's name, ignoring case.
    pub appliance_contains: Option<String>,
    /// Only assets whose strip shows a failed or missed backup.
    pub recent_failures: bool,
    pub sort: AssetSort,
    pub descending: bool,
    pub page: u32,
    pub per_page: u32,
}

/// How a query reads the visible assets: through their appliances (counting), or along the
/// index of its order or filter (a page). SQLite drives a query from an `IN` list it can look
/// up by index; a unary plus keeps it from doing so (PostgreSQL reads both alike).
#[derive(Clone, Copy)]
enum Drive {
    ByAppliance,
    ByOrder,
}

/// The list's conditions on the assets (`s`): those the viewer may see, filtered.
fn list_conditions(visible_appliances: &str, drive: Drive, query: &AssetQuery, now: i64) -> Conditions {
    let mut c = Conditions::default();
    let column = match drive {
        Drive::ByAppliance if !query.recent_failures => "s.appliance_id",
        _ => "+s.appliance_id",
    };
    c.fixed(&format!("{column} IN ({visible_appliances})"));
    if let Some(appliance) = query.appliance_id {
        c.with("s.appliance_id = ?", Bind::Int(appliance));
    }
    if let Some(pattern) = contains_pattern(query.name_contains.as_deref()) {
        c.with("s.search_text LIKE ? ESCAPE '\\'", Bind::Text(pattern));
    }
    if let Some(pattern) = contains_pattern(query.appliance_contains.as_deref()) {
        c.with("LOWER(s.appliance_name) LIKE ? ESCAPE '\\'", Bind::Text(pattern));
    }
    if query.recent_failures {
        c.with("s.failures_shown_until > ?", Bind::Int(now));
    }
    c
}

/// ORDER BY for a column, on the asset's own columns so that each order can walk its index;
/// ties go by name and id, so pages never overlap. A missing value (never backed up) sorts as
/// the smallest.
fn list_order(sort: AssetSort, descending: bool) -> String {
    let dir = if descending { "DESC" } else { "ASC" };
    let nulls = if descending { "NULLS LAST" } else { "NULLS FIRST" };
    let key = match sort {
        AssetSort::Organization => format!("s.organization_name {dir}, s.appliance_name {dir}, "),
        AssetSort::Name => String::new(),
        AssetSort::Path => format!("s.path {dir}, "),
        AssetSort::Appliance => format!("s.appliance_name {dir}, "),
        AssetSort::LastBackup => format!("s.last_result_started {dir} {nulls}, "),
        AssetSort::RecentBackups => format!("s.failures_shown_until {dir} {nulls}, "),
        AssetSort::RecoveryPoints => format!("s.points {dir}, "),
        AssetSort::LastRecoveryPoint => format!("s.last_point_at {dir} {nulls}, "),
        AssetSort::LastSize => format!("s.last_point_bytes {dir} {nulls}, "),
        AssetSort::LastCopy => format!("s.last_copy_at {dir} {nulls}, "),
        AssetSort::LastVerified => format!("s.last_verified_at {dir} {nulls}, "),
    };
    format!("ORDER BY {key}s.name {dir}, s.id {dir}")
}

/// The ids of the appliances whose assets the viewer may see with this filter.
fn visible_appliances(viewer: &Viewer, query: &AssetQuery) -> String {
    if sees_whole_instance(viewer, query.organization_id, query.scope_id) {
        return format!(
            "SELECT a.id FROM appliances a WHERE a.instance_id = {} AND a.deleted_at IS NULL",
            viewer.instance_id
        );
    }
    format!(
        "SELECT a.id FROM appliances a WHERE a.deleted_at IS NULL AND a.organization_id IN ({})",
        visible_organization_ids(viewer, query.organization_id, query.scope_id)
    )
}

/// Where the list reads assets from, as `s`: a viewer who sees few of the instance's
/// organizations reads just their assets first (`WITH s AS MATERIALIZED`, returned with the
/// `FROM`) and sorts those; anyone else reads the table, walking the index of the order, where
/// visible assets are common enough to fill a page at once.
async fn list_source(
    conn: &mut AnyConnection,
    viewer: &Viewer,
    query: &AssetQuery,
) -> DomainResult<(String, &'static str)> {
    let table = (String::new(), "FROM assets s");
    if sees_whole_instance(viewer, query.organization_id, query.scope_id) {
        return Ok(table);
    }
    let organizations = visible_organization_ids(viewer, query.organization_id, query.scope_id);
    let (visible, all): (i64, i64) = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT (SELECT COUNT(*) FROM ({organizations}) v), (SELECT COUNT(*) FROM organizations WHERE instance_id = $1)"
    )))
    .bind(viewer.instance_id)
    .fetch_one(conn)
    .await?;
    Ok(if visible * 10 < all {
        let with = format!(
            "WITH s AS MATERIALIZED (SELECT * FROM assets WHERE appliance_id IN ({}))",
            visible_appliances(viewer, query)
        );
        (with, "FROM s")
    } else {
        table
    })
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
    let per_page = query.per_page.clamp(1, 250);
    let page = query.page.max(1);
    let visible = visible_appliances(viewer, query);
    let (with, from) = list_source(&mut *conn, viewer, query).await?;
    let counting = list_conditions(&visible, Drive::ByAppliance, query, now);
    let (total,): (i64,) = counting
        .bind_all(sqlx::query_as(AssertSqlSafe(format!(
            "{with} SELECT COUNT(*) {from} {}",
            counting.sql()
        ))))
        .fetch_one(&mut *conn)
        .await?;
    let order = list_order(query.sort, query.descending);
    let conditions = list_conditions(&visible, Drive::ByOrder, query, now);
    let page_ids: Vec<(i64,)> = conditions
        .bind_all(sqlx::query_as(AssertSqlSafe(format!(
            "{with} SELECT s.id {from} {} {order} LIMIT {} OFFSET {}",
            conditions.sql(),
            conditions.next_placeholder(1),
            conditions.next_placeholder(2),
        ))))
        .bind(i64::from(per_page))
        .bind(i64::from(per_page) * i64::from(page - 1))
        .fetch_all(&mut *conn)
        .await?;
    let ids: Vec<i64> = page_ids.into_iter().map(|(id,)| id).collect();
    let mut items = page_rows(&mut *conn, &ids, &order, now).await?;
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

/// The page's assets, whole, in the list's order.
async fn page_rows(
    conn: &mut AnyConnection,
    ids: &[i64],
    order: &str,
    now: i64,
) -> DomainResult<Vec<AssetView>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<AssetRow> = sqlx::query_as(AssertSqlSafe(format!(
        "{ASSET_COLUMNS} {ASSETS} WHERE s.id IN ({}) {order}",
        id_list(ids)
    )))
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|row| row.into_view(now)).collect())
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
