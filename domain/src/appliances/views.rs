//! What the portal shows of appliances: lists and details for a viewer (default deny through
//! [`visible_org`]), and unscoped reads of single rows for publishing live events.

use model::AppError;
use model::appliance::{
    ApplianceFilter, ApplianceSort, ApplianceSummary, AssetView, CommandStatus, CommandView, JobKind,
    JobLogLine, JobMode, JobProgress, JobState, JobView, LOW_SPACE_PERCENT, PolicyChange, RecoveryPointView,
    Storage,
};
use model::jobs::{JobSort, RECENT_COUNT_CAP, RECENT_JOB_DAYS, RecentJobFilter};
use model::policy::Policy;
use model::tenancy::Page;
use sqlx::{AnyConnection, AssertSqlSafe};

use crate::DomainResult;
use crate::access::{Viewer, visible_org};
use crate::db::{contains_pattern, id_list};

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// The row `sql` selects for `id` if the viewer may see it, else "`what` was not found". The
/// SQL binds the instance, the all-scopes flag and the user as `$1`–`$3` ([`visible_org`]) and
/// the id as `$4`.
async fn visible_row<R>(
    conn: &mut AnyConnection,
    viewer: &Viewer,
    sql: String,
    id: i64,
    what: &str,
) -> DomainResult<R>
where
    R: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
{
    let row: Option<R> = sqlx::query_as(AssertSqlSafe(sql))
        .bind(viewer.instance_id)
        .bind(viewer.all_flag())
        .bind(viewer.user_id)
        .bind(id)
        .fetch_optional(conn)
        .await?;
    row.ok_or_else(|| AppError::not_found(what).into())
}

#[derive(sqlx::FromRow)]
struct ApplianceRow {
    id: i64,
    name: String,
    organization_id: i64,
    organization_name: String,
    online: i64,
    last_seen_at: Option<i64>,
    model: String,
    version: String,
    storage_total: i64,
    storage_free: i64,
    storage_used: i64,
    assets: i64,
    /// All matching rows, where a query counts them alongside the page.
    #[sqlx(default)]
    total_rows: Option<i64>,
}

impl From<ApplianceRow> for ApplianceSummary {
    fn from(r: ApplianceRow) -> Self {
        ApplianceSummary {
            id: r.id,
            name: r.name,
            organization_id: r.organization_id,
            organization_name: r.organization_name,
            online: r.online != 0,
            last_seen_at: r.last_seen_at,
            model: r.model,
            version: r.version,
            storage: Storage {
                total_bytes: to_u64(r.storage_total),
                free_bytes: to_u64(r.storage_free),
                used_bytes: to_u64(r.storage_used),
            },
            assets: r.assets,
        }
    }
}

/// Appliances (`a`) of live organizations (`o`); `$1` is the instance.
const APPLIANCES: &str =
    "SELECT a.id, a.name, a.organization_id, o.name AS organization_name, a.online, a.last_seen_at,
        a.model, a.version, a.storage_total, a.storage_free, a.storage_used,
        (SELECT COUNT(*) FROM assets s WHERE s.appliance_id = a.id) AS assets
    FROM appliances a JOIN organizations o ON o.id = a.organization_id
    WHERE a.deleted_at IS NULL";

fn visible_appliances() -> String {
    format!("{APPLIANCES} AND o.instance_id = $1 AND {}", visible_org(2, 3))
}

/// The order of a list of appliance rows, by their column names.
fn order_by(sort: ApplianceSort) -> &'static str {
    match sort {
        ApplianceSort::Name => "ORDER BY name, id",
        ApplianceSort::LastSeen => "ORDER BY last_seen_at DESC, id",
        ApplianceSort::FreeSpace => {
            "ORDER BY CASE WHEN storage_total = 0 THEN 1 ELSE 0 END, \
             CAST(storage_free AS DOUBLE PRECISION) / CASE WHEN storage_total = 0 THEN 1 ELSE storage_total END, id"
        }
        ApplianceSort::Organization => "ORDER BY organization_name, name, id",
        ApplianceSort::Model => "ORDER BY model, name, id",
        ApplianceSort::Version => "ORDER BY version, name, id",
    }
}

/// The appliances the viewer may see, filtered and sorted: all of them.
pub async fn list(
    conn: &mut AnyConnection,
    viewer: &Viewer,
    filter: &ApplianceFilter,
) -> DomainResult<Vec<ApplianceSummary>> {
    list_page(conn, viewer, filter, 1, u32::MAX)
        .await
        .map(|page| page.items)
}

/// One page of [`list`], with the number of all that match.
pub async fn list_page(
    conn: &mut AnyConnection,
    viewer: &Viewer,
    filter: &ApplianceFilter,
    page: u32,
    per_page: u32,
) -> DomainResult<Page<ApplianceSummary>> {
    let page = page.max(1);
    let per_page = per_page.max(1);
    let name = contains_pattern(filter.name_contains.as_deref());
    let online = filter.online.map(i64::from);
    let sql = format!(
        "{} AND ($4 IS NULL OR o.scope_id = $4) AND ($5 IS NULL OR a.organization_id = $5)
           AND ($6 IS NULL OR a.online = $6) AND ($7 IS NULL OR LOWER(a.name) LIKE $7 ESCAPE '\\')
           AND ($8 = 0 OR (a.storage_total > 0 AND CAST(a.storage_free AS DOUBLE PRECISION) * 100 <= CAST(a.storage_total AS DOUBLE PRECISION) * $9))",
        visible_appliances(),
    );
    let paged = format!(
        "SELECT x.*, COUNT(*) OVER () AS total_rows FROM ({sql}) x {} LIMIT $10 OFFSET $11",
        order_by(filter.sort)
    );
    let rows: Vec<ApplianceRow> = sqlx::query_as(AssertSqlSafe(paged))
        .bind(viewer.instance_id)
        .bind(viewer.all_flag())
        .bind(viewer.user_id)
        .bind(filter.scope_id)
        .bind(filter.organization_id)
        .bind(online)
        .bind(name)
        .bind(i64::from(filter.low_space))
        .bind(LOW_SPACE_PERCENT)
        .bind(i64::from(per_page))
        .bind(i64::from(per_page).saturating_mul(i64::from(page - 1)))
        .fetch_all(conn)
        .await?;
    let total = rows.first().and_then(|r| r.total_rows).unwrap_or_default();
    Ok(Page {
        items: rows.into_iter().map(ApplianceSummary::from).collect(),
        total,
        page,
        per_page,
    })
}

/// The appliance if the viewer may see it; otherwise "not found".
pub async fn get(conn: &mut AnyConnection, viewer: &Viewer, id: i64) -> DomainResult<ApplianceSummary> {
    let sql = format!("{} AND a.id = $4", visible_appliances());
    visible_row::<ApplianceRow>(conn, viewer, sql, id, "Appliance")
        .await
        .map(ApplianceSummary::from)
}

/// The appliance regardless of viewer, for live events; `None` once deleted.
pub async fn summary(conn: &mut AnyConnection, id: i64) -> DomainResult<Option<ApplianceSummary>> {
    let sql = format!("{APPLIANCES} AND a.id = $1");
    let row: Option<ApplianceRow> = sqlx::query_as(AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(ApplianceSummary::from))
}

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
    recovery_points: i64,
    last_recovery_point_at: Option<i64>,
    time_zone: String,
    policy: Option<String>,
    policy_command_id: Option<i64>,
    policy_command: Option<String>,
    policy_command_status: Option<String>,
    policy_command_message: Option<String>,
    restore_roots: String,
}

/// The policy change an asset row points at, unless it was carried out.
pub(crate) fn policy_change(
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

impl From<AssetRow> for AssetView {
    fn from(r: AssetRow) -> Self {
        AssetView {
            id: r.id,
            external_id: r.external_id,
            name: r.name,
            path: r.path,
            appliance_id: r.appliance_id,
            appliance_name: r.appliance_name,
            organization_id: r.organization_id,
            organization_name: r.organization_name,
            recovery_points: r.recovery_points,
            last_recovery_point_at: r.last_recovery_point_at,
            time_zone: r.time_zone,
            policy: parse_policy(r.policy.as_deref()),
            restore_roots: serde_json::from_str(&r.restore_roots).unwrap_or_default(),
            policy_change: policy_change(
                r.policy_command_id,
                r.policy_command,
                r.policy_command_status,
                r.policy_command_message,
            ),
        }
    }
}

const ASSETS: &str = "FROM assets s JOIN appliances a ON a.id = s.appliance_id JOIN organizations o ON o.id = a.organization_id
    LEFT JOIN appliance_commands c ON c.id = s.policy_command_id
    WHERE a.deleted_at IS NULL AND o.instance_id = $1";
const ASSET_COLUMNS: &str =
    "SELECT s.id, s.external_id, s.name, s.path, a.id AS appliance_id, a.name AS appliance_name,
        o.id AS organization_id, o.name AS organization_name, a.time_zone, s.policy,
        s.policy_command_id, c.description AS policy_command, c.status AS policy_command_status,
        c.message AS policy_command_message, a.restore_roots,
        (SELECT COUNT(*) FROM recovery_points r WHERE r.asset_id = s.id) AS recovery_points,
        (SELECT MAX(r.taken_at) FROM recovery_points r WHERE r.asset_id = s.id) AS last_recovery_point_at";

/// Filters of the asset lists (Protect → Assets and an appliance's detail).
#[derive(Debug, Clone, Default)]
pub struct AssetQuery {
    pub appliance_id: Option<i64>,
    pub organization_id: Option<i64>,
    pub name_contains: Option<String>,
    pub page: u32,
    pub per_page: u32,
}

pub async fn assets(
    conn: &mut AnyConnection,
    viewer: &Viewer,
    query: &AssetQuery,
) -> DomainResult<Page<AssetView>> {
    let per_page = query.per_page.clamp(1, 200);
    let page = query.page.max(1);
    let name = contains_pattern(query.name_contains.as_deref());
    let conditions = format!(
        "{ASSETS} AND {} AND ($4 IS NULL OR a.id = $4) AND ($5 IS NULL OR o.id = $5)
           AND ($6 IS NULL OR LOWER(s.name) LIKE $6 ESCAPE '\\' OR LOWER(s.path) LIKE $6 ESCAPE '\\'
                OR LOWER(a.name) LIKE $6 ESCAPE '\\')",
        visible_org(2, 3)
    );
    let total: i64 = sqlx::query_scalar(AssertSqlSafe(format!("SELECT COUNT(*) {conditions}")))
        .bind(viewer.instance_id)
        .bind(viewer.all_flag())
        .bind(viewer.user_id)
        .bind(query.appliance_id)
        .bind(query.organization_id)
        .bind(name.clone())
        .fetch_one(&mut *conn)
        .await?;
    let sql =
        format!("{ASSET_COLUMNS} {conditions} ORDER BY o.name, a.name, s.name, s.id LIMIT $7 OFFSET $8");
    let rows: Vec<AssetRow> = sqlx::query_as(AssertSqlSafe(sql))
        .bind(viewer.instance_id)
        .bind(viewer.all_flag())
        .bind(viewer.user_id)
        .bind(query.appliance_id)
        .bind(query.organization_id)
        .bind(name)
        .bind(i64::from(per_page))
        .bind(i64::from(per_page) * i64::from(page - 1))
        .fetch_all(conn)
        .await?;
    Ok(Page {
        items: rows.into_iter().map(AssetView::from).collect(),
        total,
        page,
        per_page,
    })
}

/// The asset if the viewer may see it; otherwise "not found".
pub async fn asset(conn: &mut AnyConnection, viewer: &Viewer, id: i64) -> DomainResult<AssetView> {
    let sql = format!("{ASSET_COLUMNS} {ASSETS} AND {} AND s.id = $4", visible_org(2, 3));
    visible_row::<AssetRow>(conn, viewer, sql, id, "Asset")
        .await
        .map(AssetView::from)
}

/// The asset's recovery points, newest first.
pub async fn recovery_points(
    conn: &mut AnyConnection,
    viewer: &Viewer,
    asset_id: i64,
) -> DomainResult<Vec<RecoveryPointView>> {
    let asset = asset(conn, viewer, asset_id).await?;
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

#[derive(sqlx::FromRow)]
struct JobRow {
    id: i64,
    appliance_id: i64,
    appliance_name: String,
    organization_id: i64,
    organization_name: String,
    scope_id: Option<i64>,
    asset_id: Option<i64>,
    asset_name: Option<String>,
    asset_external_id: String,
    external_id: String,
    kind: String,
    state: String,
    started_at: i64,
    ended_at: Option<i64>,
    percent: f64,
    bytes_done: i64,
    bytes_total: i64,
    files_done: i64,
    files_total: i64,
    bytes_per_sec: i64,
    eta_secs: Option<i64>,
    message: String,
    error: Option<String>,
    mode: Option<String>,
    size_bytes: Option<i64>,
    scheduled_for: Option<i64>,
    /// All matching rows, where a query counts them alongside the page.
    #[sqlx(default)]
    total_rows: Option<i64>,
}

impl From<JobRow> for JobView {
    fn from(r: JobRow) -> Self {
        JobView {
            id: r.id,
            appliance_id: r.appliance_id,
            appliance_name: r.appliance_name,
            organization_id: r.organization_id,
            organization_name: r.organization_name,
            scope_id: r.scope_id,
            asset_id: r.asset_id,
            asset_name: r.asset_name.unwrap_or(r.asset_external_id),
            external_id: r.external_id,
            kind: JobKind::parse(&r.kind).unwrap_or(JobKind::Backup),
            state: JobState::parse(&r.state).unwrap_or(JobState::Error),
            started_at: r.started_at,
            ended_at: r.ended_at,
            progress: JobProgress {
                percent: r.percent,
                bytes_done: to_u64(r.bytes_done),
                bytes_total: to_u64(r.bytes_total),
                files_done: to_u64(r.files_done),
                files_total: to_u64(r.files_total),
                bytes_per_sec: to_u64(r.bytes_per_sec),
                eta_secs: r.eta_secs.map(to_u64),
                message: r.message,
            },
            error: r.error,
            mode: r.mode.as_deref().and_then(JobMode::parse),
            size_bytes: r.size_bytes.map(to_u64),
            scheduled_for: r.scheduled_for,
        }
    }
}

const JOBS: &str = "SELECT j.id, j.appliance_id, a.name AS appliance_name, j.organization_id, o.name AS organization_name,
        o.scope_id, s.id AS asset_id, s.name AS asset_name, j.asset_external_id, j.external_id, j.kind, j.state, j.started_at,
        j.ended_at, j.percent, j.bytes_done, j.bytes_total, j.files_done, j.files_total, j.bytes_per_sec,
        j.eta_secs, j.message, j.error, j.mode, j.size_bytes, j.scheduled_for
    FROM jobs j JOIN appliances a ON a.id = j.appliance_id JOIN organizations o ON o.id = j.organization_id
    LEFT JOIN assets s ON s.appliance_id = j.appliance_id AND s.external_id = j.asset_external_id";

/// Jobs still running, and those that ended after `ended_after`.
#[derive(Debug, Clone, Copy)]
pub struct JobQuery {
    pub appliance_id: Option<i64>,
    /// Only running jobs and jobs that ended after this time.
    pub active_or_ended_after: Option<i64>,
    pub limit: u32,
}

/// The viewer's jobs, newest first.
pub async fn jobs(conn: &mut AnyConnection, viewer: &Viewer, query: JobQuery) -> DomainResult<Vec<JobView>> {
    let sql = format!(
        "{JOBS} WHERE o.instance_id = $1 AND {} AND a.deleted_at IS NULL AND ($4 IS NULL OR j.appliance_id = $4)
           AND ($5 IS NULL OR j.state IN ('queued', 'running') OR j.ended_at > $5)
         ORDER BY j.started_at DESC, j.id DESC LIMIT $6",
        visible_org(2, 3)
    );
    let rows: Vec<JobRow> = sqlx::query_as(AssertSqlSafe(sql))
        .bind(viewer.instance_id)
        .bind(viewer.all_flag())
        .bind(viewer.user_id)
        .bind(query.appliance_id)
        .bind(query.active_or_ended_after)
        .bind(i64::from(query.limit.clamp(1, 500)))
        .fetch_all(conn)
        .await?;
    Ok(rows.into_iter().map(JobView::from).collect())
}

/// The `limit` most recently started queued or running jobs the viewer may see, of one
/// organization or scope if given (the Dashboard's Active jobs tile).
pub async fn latest_active_jobs(
    conn: &mut AnyConnection,
    viewer: &Viewer,
    organization_id: Option<i64>,
    scope_id: Option<i64>,
    limit: i64,
) -> DomainResult<Vec<JobView>> {
    let mut sql = format!(
        "{JOBS} WHERE o.instance_id = $1 AND {} AND a.deleted_at IS NULL AND j.state IN ('queued', 'running')",
        visible_org(2, 3)
    );
    if let Some(organization) = organization_id {
        sql.push_str(&format!(" AND j.organization_id = {organization}"));
    }
    if let Some(scope) = scope_id {
        sql.push_str(&format!(" AND o.scope_id = {scope}"));
    }
    sql.push_str(" ORDER BY j.started_at DESC, j.id DESC LIMIT $4");
    let rows: Vec<JobRow> = sqlx::query_as(AssertSqlSafe(sql))
        .bind(viewer.instance_id)
        .bind(viewer.all_flag())
        .bind(viewer.user_id)
        .bind(limit)
        .fetch_all(conn)
        .await?;
    Ok(rows.into_iter().map(JobView::from).collect())
}

fn job_order(sort: JobSort, descending: bool) -> String {
    // Each order has an index ending in the id (migration 20261122000006).
    let column = match sort {
        JobSort::Started => "j.started_at",
        JobSort::Appliance => "j.appliance_name",
        JobSort::Asset => "j.asset_name",
        JobSort::Status => "j.state",
        JobSort::Type => "j.kind",
        JobSort::Duration => "(COALESCE(j.ended_at, j.started_at) - j.started_at)",
    };
    let direction = if descending { "DESC" } else { "ASC" };
    format!("ORDER BY {column} {direction}, j.id {direction}")
}

/// A value bound to a placeholder of a query built at run time.
enum Bind {
    Int(i64),
    Text(String),
}

/// A WHERE clause holding only the conditions in use, each able to use its index (a generic
/// `($n IS NULL OR column = $n)` form keeps the planners from using any).
#[derive(Default)]
struct Conditions {
    parts: Vec<String>,
    binds: Vec<Bind>,
}

impl Conditions {
    /// Adds `condition`, whose `?` becomes the next placeholder, bound to `value`.
    fn with(&mut self, condition: &str, value: Bind) {
        self.binds.push(value);
        let placeholder = format!("${}", self.binds.len());
        self.parts.push(condition.replace('?', &placeholder));
    }

    fn fixed(&mut self, condition: &str) {
        self.parts.push(condition.to_owned());
    }

    fn sql(&self) -> String {
        format!("WHERE {}", self.parts.join(" AND "))
    }

    fn next_placeholder(&self, offset: usize) -> String {
        format!("${}", self.binds.len() + offset)
    }

    fn bind_all<'q, O>(
        &self,
        mut query: sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments>,
    ) -> sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments>
    where
        O: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
    {
        for bind in &self.binds {
            query = match bind {
                Bind::Int(v) => query.bind(*v),
                Bind::Text(v) => query.bind(v.clone()),
            };
        }
        query
    }
}

/// Up to this many organizations a scoped viewer's are listed in the query itself, which lets
/// PostgreSQL read their jobs through the organization index.
const LISTED_ORGANIZATIONS: usize = 1000;

/// The organizations a scoped viewer may see; `None` for a viewer who sees every scope.
async fn visible_organizations(conn: &mut AnyConnection, viewer: &Viewer) -> DomainResult<Option<Vec<i64>>> {
    if viewer.sees_all_scopes() {
        return Ok(None);
    }
    let ids = sqlx::query_scalar(
        "SELECT o.id FROM organizations o JOIN user_scopes us ON us.scope_id = o.scope_id
         WHERE us.user_id = $1 AND o.instance_id = $2",
    )
    .bind(viewer.user_id)
    .bind(viewer.instance_id)
    .fetch_all(conn)
    .await?;
    Ok(Some(ids))
}

/// Where Jobs → Recent reads jobs from on PostgreSQL. A viewer who sees few organizations reads
/// just their jobs first (through the organization index) and sorts those; anyone else walks the
/// index of the sort order, where visible jobs are common enough to fill a page quickly. (Left
/// to itself, PostgreSQL sometimes walks a sort index for a 1 % viewer: seconds, not ms.)
fn recent_source(visible: Option<&[i64]>, organizations_in_instance: i64, from: i64) -> Option<String> {
    let ids = visible?;
    let narrow = ids.len() <= LISTED_ORGANIZATIONS && (ids.len() as i64) * 10 < organizations_in_instance;
    narrow.then(|| {
        format!(
            "WITH vj AS MATERIALIZED (SELECT id, organization_id, appliance_id, asset_external_id, state, kind,
                                             started_at, ended_at, appliance_name, asset_name
                                      FROM jobs WHERE organization_id IN ({}) AND started_at >= {from}) ",
            id_list(ids)
        )
    })
}

/// Jobs → Recent's conditions for this viewer (`visible`: its organizations, if scoped) and
/// filter.
fn recent_conditions(
    viewer: &Viewer,
    visible: Option<&[i64]>,
    filter: &RecentJobFilter,
    from: i64,
) -> Conditions {
    let mut c = Conditions::default();
    c.with("o.instance_id = ?", Bind::Int(viewer.instance_id));
    match visible {
        None => {}
        Some(ids) if ids.len() <= LISTED_ORGANIZATIONS => {
            c.fixed(&format!("j.organization_id IN ({})", id_list(ids)));
        }
        Some(_) => c.with(
            "j.organization_id IN (SELECT vo.id FROM organizations vo JOIN user_scopes vu ON vu.scope_id = vo.scope_id
                                   WHERE vu.user_id = ?)",
            Bind::Int(viewer.user_id),
        ),
    }
    c.fixed("j.state NOT IN ('queued', 'running')");
    c.with("j.started_at >= ?", Bind::Int(from));
    if let Some(before) = filter.started_before {
        c.with("j.started_at < ?", Bind::Int(before));
    }
    if let Some(scope) = filter.scope_id {
        c.with(
            "j.organization_id IN (SELECT so.id FROM organizations so WHERE so.scope_id = ?)",
            Bind::Int(scope),
        );
    }
    if let Some(organization) = filter.organization_id {
        c.with("j.organization_id = ?", Bind::Int(organization));
    }
    if let Some(pattern) = contains_pattern(filter.appliance.as_deref()) {
        c.with(
            "j.appliance_id IN (SELECT fa.id FROM appliances fa WHERE LOWER(fa.name) LIKE ? ESCAPE '\\')",
            Bind::Text(pattern),
        );
    }
    if let Some(pattern) = contains_pattern(filter.asset.as_deref()) {
        c.with(
            "(j.appliance_id, j.asset_external_id) IN (SELECT fs.appliance_id, fs.external_id FROM assets fs WHERE LOWER(fs.name) LIKE ? ESCAPE '\\')",
            Bind::Text(pattern),
        );
    }
    if let Some(state) = filter.state {
        c.with("j.state = ?", Bind::Text(state.as_str().into()));
    }
    if let Some(kind) = filter.kind {
        c.with("j.kind = ?", Bind::Text(kind.as_str().into()));
    }
    c
}

/// Jobs → Recent: finished jobs of the last 90 days the viewer may see, filtered, sorted and
/// paged. The total is counted up to [`RECENT_COUNT_CAP`] + 1.
pub async fn recent_jobs(
    conn: &mut AnyConnection,
    viewer: &Viewer,
    filter: &RecentJobFilter,
    order: (JobSort, bool),
    page: u32,
    per_page: u32,
    now: i64,
) -> DomainResult<Page<JobView>> {
    let window_start = now - RECENT_JOB_DAYS * 24 * 60 * 60 * 1000;
    let from = filter.started_from.map_or(window_start, |f| f.max(window_start));
    let per_page = per_page.clamp(1, 200);
    let page = page.max(1);
    let visible = visible_organizations(&mut *conn, viewer).await?;
    if visible.as_ref().is_some_and(Vec::is_empty) {
        return Ok(Page {
            items: Vec::new(),
            total: 0,
            page,
            per_page,
        });
    }
    let conditions = recent_conditions(viewer, visible.as_deref(), filter, from);
    let where_clause = conditions.sql();
    let organizations: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM organizations WHERE instance_id = $1")
        .bind(viewer.instance_id)
        .fetch_one(&mut *conn)
        .await?;
    // SQLite's planner reads a few organizations' jobs well on its own; PostgreSQL's is led.
    let source = if conn.backend_name() == "PostgreSQL" {
        recent_source(visible.as_deref(), organizations, from)
    } else {
        None
    };
    let order_by = job_order(order.0, order.1);
    let limit = conditions.next_placeholder(1);
    let offset = conditions.next_placeholder(2);
    let page_of = |sql: String| {
        conditions
            .bind_all(sqlx::query_as::<_, JobRow>(AssertSqlSafe(sql)))
            .bind(i64::from(per_page))
            .bind(i64::from(per_page) * i64::from(page - 1))
    };
    let (rows, total) = match source {
        // The viewer's few jobs are read once and counted in the same pass.
        Some(with) => {
            // Sorted and cut from the index's columns alone; only the page's rows are read whole.
            let select = JOBS.replacen(
                "FROM jobs j",
                ", p.total_rows FROM page p JOIN jobs j ON j.id = p.id",
                1,
            );
            let sql = format!(
                "{with}, page AS (SELECT j.id, COUNT(*) OVER () AS total_rows FROM vj j
                                  JOIN organizations o ON o.id = j.organization_id {where_clause} {order_by}
                                  LIMIT {limit} OFFSET {offset})
                 {select} {order_by}"
            );
            let rows = page_of(sql).fetch_all(&mut *conn).await?;
            let total = match rows.first() {
                Some(row) => row.total_rows.unwrap_or_default(),
                None => capped_count(conn, &conditions, &where_clause, Some(&with)).await?,
            };
            (rows, total)
        }
        None => {
            let total = capped_count(&mut *conn, &conditions, &where_clause, None).await?;
            let sql = format!("{JOBS} {where_clause} {order_by} LIMIT {limit} OFFSET {offset}");
            (page_of(sql).fetch_all(conn).await?, total)
        }
    };
    Ok(Page {
        items: rows.into_iter().map(JobView::from).collect(),
        total,
        page,
        per_page,
    })
}

/// Matching jobs, counted up to [`RECENT_COUNT_CAP`] + 1: an exact count of a million rows
/// costs more than the page.
async fn capped_count(
    conn: &mut AnyConnection,
    conditions: &Conditions,
    where_clause: &str,
    with: Option<&str>,
) -> DomainResult<i64> {
    let (with, jobs) = match with {
        Some(with) => (with, "vj"),
        None => ("", "jobs"),
    };
    let sql = format!(
        "{with}SELECT COUNT(*) FROM (SELECT 1 FROM {jobs} j JOIN appliances a ON a.id = j.appliance_id
           JOIN organizations o ON o.id = j.organization_id {where_clause} LIMIT {}) capped",
        conditions.next_placeholder(1)
    );
    let (total,): (i64,) = conditions
        .bind_all(sqlx::query_as(AssertSqlSafe(sql)))
        .bind(RECENT_COUNT_CAP + 1)
        .fetch_one(conn)
        .await?;
    Ok(total)
}

/// Deletes finished jobs (and their logs) that started more than 90 days ago; returns how many.
pub async fn purge_old_jobs(conn: &mut AnyConnection, now: i64) -> DomainResult<u64> {
    let cutoff = now - RECENT_JOB_DAYS * 24 * 60 * 60 * 1000;
    sqlx::query("DELETE FROM job_log WHERE job_id IN (SELECT id FROM jobs WHERE started_at < $1 AND state NOT IN ('queued', 'running'))")
        .bind(cutoff)
        .execute(&mut *conn)
        .await?;
    let purged = sqlx::query("DELETE FROM jobs WHERE started_at < $1 AND state NOT IN ('queued', 'running')")
        .bind(cutoff)
        .execute(conn)
        .await?
        .rows_affected();
    Ok(purged)
}

/// The job if the viewer may see it; otherwise "not found".
pub async fn job(conn: &mut AnyConnection, viewer: &Viewer, id: i64) -> DomainResult<JobView> {
    let sql = format!(
        "{JOBS} WHERE o.instance_id = $1 AND {} AND j.id = $4",
        visible_org(2, 3)
    );
    visible_row::<JobRow>(conn, viewer, sql, id, "Job")
        .await
        .map(JobView::from)
}

/// A job by the appliance's id for it, regardless of viewer, for live events.
pub async fn job_by_external_id(
    conn: &mut AnyConnection,
    appliance_id: i64,
    external_id: &str,
) -> DomainResult<Option<JobView>> {
    let sql = format!("{JOBS} WHERE j.appliance_id = $1 AND j.external_id = $2");
    let row: Option<JobRow> = sqlx::query_as(AssertSqlSafe(sql))
        .bind(appliance_id)
        .bind(external_id)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(JobView::from))
}

/// The job's log, oldest line first.
pub async fn job_log(
    conn: &mut AnyConnection,
    viewer: &Viewer,
    job_id: i64,
) -> DomainResult<Vec<JobLogLine>> {
    let job = job(conn, viewer, job_id).await?;
    let rows: Vec<(i64, String)> =
        sqlx::query_as("SELECT at, line FROM job_log WHERE job_id = $1 ORDER BY id LIMIT 5000")
            .bind(job.id)
            .fetch_all(conn)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(at, line)| JobLogLine { at, line })
        .collect())
}

#[derive(sqlx::FromRow)]
struct CommandRow {
    id: i64,
    appliance_id: i64,
    organization_id: i64,
    command: String,
    description: Option<String>,
    status: String,
    message: Option<String>,
    requested_by: String,
    created_at: i64,
    finished_at: Option<i64>,
}

impl From<CommandRow> for CommandView {
    fn from(r: CommandRow) -> Self {
        let description = r.description.unwrap_or_else(|| {
            serde_json::from_str::<model::appliance::Command>(&r.command)
                .map(|c| c.describe())
                .unwrap_or_else(|_| "Unreadable command".into())
        });
        CommandView {
            id: r.id,
            appliance_id: r.appliance_id,
            organization_id: r.organization_id,
            description,
            status: CommandStatus::parse(&r.status),
            message: r.message,
            requested_by: r.requested_by,
            created_at: r.created_at,
            finished_at: r.finished_at,
        }
    }
}

const COMMANDS: &str =
    "SELECT c.id, c.appliance_id, a.organization_id, c.command, c.description, c.status, c.message, c.requested_by,
        c.created_at, c.finished_at
    FROM appliance_commands c JOIN appliances a ON a.id = c.appliance_id";

/// The appliance's latest commands, newest first.
pub async fn commands(
    conn: &mut AnyConnection,
    viewer: &Viewer,
    appliance_id: i64,
    limit: u32,
) -> DomainResult<Vec<CommandView>> {
    let appliance = get(conn, viewer, appliance_id).await?;
    let sql = format!("{COMMANDS} WHERE c.appliance_id = $1 ORDER BY c.id DESC LIMIT $2");
    let rows: Vec<CommandRow> = sqlx::query_as(AssertSqlSafe(sql))
        .bind(appliance.id)
        .bind(i64::from(limit.clamp(1, 200)))
        .fetch_all(conn)
        .await?;
    Ok(rows.into_iter().map(CommandView::from).collect())
}

/// A command regardless of viewer, for live events.
pub async fn command(conn: &mut AnyConnection, id: i64) -> DomainResult<Option<CommandView>> {
    let sql = format!("{COMMANDS} WHERE c.id = $1");
    let row: Option<CommandRow> = sqlx::query_as(AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(CommandView::from))
}
