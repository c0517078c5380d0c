//! What the portal shows of appliances: lists and details for a viewer (default deny through
//! [`visible_org`]), and unscoped reads of single rows for publishing live events. Assets, jobs
//! and commands have their own modules beside this one.

use model::AppError;
use model::appliance::Storage;
use model::appliance::views::{ApplianceFilter, ApplianceSort, ApplianceSummary, LOW_SPACE_PERCENT};
use model::tenancy::Page;
use sqlx::{AnyConnection, AssertSqlSafe};

use crate::DomainResult;
use crate::access::{BindViewer, Viewer, visible_org};
use crate::db::contains_pattern;

pub(crate) fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// The row `sql` selects for `id` if the viewer may see it, else "`what` was not found". The
/// SQL binds the instance, the all-scopes flag and the user as `$1`–`$3` ([`visible_org`]) and
/// the id as `$4`.
pub(crate) async fn visible_row<R>(
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
        .bind_viewer(viewer)
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
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id))]
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
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id))]
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
        .bind_viewer(viewer)
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
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id, id = id))]
pub async fn get(conn: &mut AnyConnection, viewer: &Viewer, id: i64) -> DomainResult<ApplianceSummary> {
    let sql = format!("{} AND a.id = $4", visible_appliances());
    visible_row::<ApplianceRow>(conn, viewer, sql, id, "Appliance")
        .await
        .map(ApplianceSummary::from)
}

/// The appliance regardless of viewer, for live events; `None` once deleted.
#[tracing::instrument(skip_all, fields(id = id))]
pub async fn summary(conn: &mut AnyConnection, id: i64) -> DomainResult<Option<ApplianceSummary>> {
    let sql = format!("{APPLIANCES} AND a.id = $1");
    let row: Option<ApplianceRow> = sqlx::query_as(AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(ApplianceSummary::from))
}
