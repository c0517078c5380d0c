//! Jobs → Recent: finished jobs of the last 90 days a viewer may see, filtered, sorted and paged,
//! with a query shaped so each engine's planner can use its indexes at a million rows.

use model::appliance::views::JobView;
use model::jobs::{JobSort, RECENT_COUNT_CAP, RECENT_JOB_DAYS, RecentJobFilter};
use model::tenancy::Page;
use sqlx::{AnyConnection, AssertSqlSafe};

use super::jobs::{JOBS, JobRow};
use crate::DomainResult;
use crate::access::Viewer;
use crate::db::conditions::{Bind, Conditions};
use crate::db::{contains_pattern, id_list};

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
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id))]
pub async fn page(
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
    let per_page = per_page.clamp(1, 250);
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
