//! Organizations: the MSP's customers. Each belongs to one scope or is Unassigned; a viewer
//! sees only those their scopes allow, and any other does not exist for them.

use model::tenancy::{OrgQuery, OrgSort, Organization, Page, ScopeFilter};
use model::{Action, AppError};
use sqlx::{AnyConnection, AssertSqlSafe};

use crate::access::{BindViewer, Viewer, visible_org};
use crate::db::contains_pattern;
use crate::scopes::validate_name;
use crate::{ClientInfo, DomainResult, Portal, audit, scopes};

/// Appliances of the organization (deleted ones no longer count).
const APPLIANCES: &str =
    "(SELECT COUNT(*) FROM appliances a WHERE a.organization_id = o.id AND a.deleted_at IS NULL)";
/// Unresolved alerts of the organization (index alerts_organization_state).
const ALERTS: &str =
    "(SELECT COUNT(*) FROM alerts al WHERE al.organization_id = o.id AND al.state = 'active')";
/// Free space summed over the organization's appliances divided by their total (spec portal-b
/// §4: "98.41%"); 100 with no appliance reporting storage.
const FREE_SPACE_PCT: &str =
    "COALESCE((SELECT 100.0 * SUM(a.storage_free) / SUM(a.storage_total) FROM appliances a
        WHERE a.organization_id = o.id AND a.deleted_at IS NULL AND a.storage_total > 0), 100.0)";

/// Typing this confirms a deletion.
pub const DELETE_CONFIRMATION: &str = "DELETE";

#[derive(sqlx::FromRow)]
struct OrgRow {
    id: i64,
    name: String,
    scope_id: Option<i64>,
    scope_name: Option<String>,
    appliances: i64,
    alerts: i64,
    free_space_pct: f64,
}

impl From<OrgRow> for Organization {
    fn from(r: OrgRow) -> Self {
        Organization {
            id: r.id,
            name: r.name,
            scope_id: r.scope_id,
            scope_name: r.scope_name,
            appliances: r.appliances,
            alerts: r.alerts,
            free_space_pct: r.free_space_pct,
        }
    }
}

fn select() -> String {
    format!(
        "SELECT o.id, o.name, o.scope_id, s.name AS scope_name, {APPLIANCES} AS appliances, {ALERTS} AS alerts,
                CAST({FREE_SPACE_PCT} AS DOUBLE PRECISION) AS free_space_pct
         FROM organizations o LEFT JOIN scopes s ON s.id = o.scope_id"
    )
}

fn order_by(sort: OrgSort, descending: bool) -> String {
    let column = match sort {
        OrgSort::Name => "o.name_key",
        // Unassigned sorts first ascending, last descending.
        OrgSort::Scope => "COALESCE(s.name_key, '')",
        OrgSort::Appliances => "appliances",
        OrgSort::Alerts => "alerts",
        OrgSort::FreeSpace => "free_space_pct",
    };
    let direction = if descending { "DESC" } else { "ASC" };
    format!("ORDER BY {column} {direction}, o.name_key {direction}, o.id")
}

/// One page of the organizations the viewer may see, filtered and sorted.
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id))]
pub async fn list(
    conn: &mut AnyConnection,
    viewer: &Viewer,
    query: &OrgQuery,
) -> DomainResult<Page<Organization>> {
    let per_page = query.per_page.clamp(1, 500);
    let page = query.page.max(1);
    let (scope_mode, scope_id) = match query.scope {
        None => (0, 0),
        Some(ScopeFilter::Scope(id)) => (1, id),
        Some(ScopeFilter::Unassigned) => (2, 0),
    };
    let filter = format!(
        "WHERE o.instance_id = $1 AND {visible}
           AND ($4 = 0 OR ($4 = 1 AND o.scope_id = $5) OR ($4 = 2 AND o.scope_id IS NULL))
           AND o.name_key LIKE $6 ESCAPE '\\'
           AND ($7 = 0 OR {ALERTS} > 0)",
        visible = visible_org(2, 3),
    );
    let count_sql = format!("SELECT COUNT(*) FROM organizations o {filter}");
    let total: i64 = sqlx::query_scalar(AssertSqlSafe(count_sql))
        .bind_viewer(viewer)
        .bind(scope_mode)
        .bind(scope_id)
        .bind(contains_pattern(Some(&query.name)).unwrap_or_else(|| "%".into()))
        .bind(i64::from(query.only_with_alerts))
        .fetch_one(&mut *conn)
        .await?;
    let list_sql = format!(
        "{} {filter} {} LIMIT $8 OFFSET $9",
        select(),
        order_by(query.sort, query.descending)
    );
    let rows: Vec<OrgRow> = sqlx::query_as(AssertSqlSafe(list_sql))
        .bind_viewer(viewer)
        .bind(scope_mode)
        .bind(scope_id)
        .bind(contains_pattern(Some(&query.name)).unwrap_or_else(|| "%".into()))
        .bind(i64::from(query.only_with_alerts))
        .bind(i64::from(per_page))
        .bind(i64::from(page - 1) * i64::from(per_page))
        .fetch_all(conn)
        .await?;
    Ok(Page {
        items: rows.into_iter().map(Organization::from).collect(),
        total,
        page,
        per_page,
    })
}

/// The organization if the viewer may see it; otherwise "not found".
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id, id = id))]
pub async fn get(conn: &mut AnyConnection, viewer: &Viewer, id: i64) -> DomainResult<Organization> {
    let sql = format!(
        "{} WHERE o.id = $1 AND o.instance_id = $4 AND {}",
        select(),
        visible_org(2, 3)
    );
    let row: Option<OrgRow> = sqlx::query_as(AssertSqlSafe(sql))
        .bind(id)
        .bind(viewer.all_flag())
        .bind(viewer.user_id)
        .bind(viewer.instance_id)
        .fetch_optional(conn)
        .await?;
    row.map(Organization::from)
        .ok_or_else(|| AppError::not_found("Organization").into())
}

/// A scope the viewer may put organizations in; `None` (Unassigned) only for those who see
/// Unassigned organizations, so nobody can create something they could not see.
async fn check_scope(
    conn: &mut AnyConnection,
    viewer: &Viewer,
    scope_id: Option<i64>,
) -> DomainResult<Option<String>> {
    match scope_id {
        Some(id) => match scopes::get(conn, viewer, id).await {
            Ok(scope) => Ok(Some(scope.name)),
            Err(_) => Err(AppError::invalid("scope", "Choose one of your scopes.").into()),
        },
        None if viewer.sees_all_scopes() => Ok(None),
        None => Err(AppError::invalid("scope", "Choose a scope.").into()),
    }
}

async fn ensure_unique(
    conn: &mut AnyConnection,
    instance_id: i64,
    key: &str,
    except: i64,
) -> DomainResult<()> {
    let clash: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM organizations WHERE instance_id = $1 AND name_key = $2 AND id <> $3",
    )
    .bind(instance_id)
    .bind(key)
    .bind(except)
    .fetch_optional(conn)
    .await?;
    match clash {
        Some(_) => Err(AppError::invalid("name", "An organization with this name already exists.").into()),
        None => Ok(()),
    }
}

fn describe(name: &str, scope: &Option<String>) -> String {
    format!("name={name}; scope={}", scope.as_deref().unwrap_or("Unassigned"))
}

#[tracing::instrument(skip_all, fields(user_id = viewer.user_id, scope_id = ?scope_id))]
pub async fn create(
    portal: &Portal,
    viewer: &Viewer,
    name: &str,
    scope_id: Option<i64>,
    client: &ClientInfo,
) -> DomainResult<i64> {
    viewer.require(Action::ManageOrganizations)?;
    let (name, key) = validate_name("name", "Organization", name, 200)?;
    let mut tx = portal.db.begin().await?;
    let scope_name = check_scope(&mut tx, viewer, scope_id).await?;
    ensure_unique(&mut tx, viewer.instance_id, &key, 0).await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO organizations (instance_id, name, name_key, scope_id, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(viewer.instance_id)
    .bind(&name)
    .bind(&key)
    .bind(scope_id)
    .bind(portal.now())
    .fetch_one(&mut *tx)
    .await?;
    let target = format!("organization {name}");
    let record =
        audit::Entry::by(viewer, client, "organization.created", &target).after(describe(&name, &scope_name));
    audit::record(&mut tx, record, portal.now()).await?;
    tx.commit().await?;
    Ok(id)
}

#[tracing::instrument(skip_all, fields(user_id = viewer.user_id, id = id, scope_id = ?scope_id))]
pub async fn update(
    portal: &Portal,
    viewer: &Viewer,
    id: i64,
    name: &str,
    scope_id: Option<i64>,
    client: &ClientInfo,
) -> DomainResult<()> {
    viewer.require(Action::ManageOrganizations)?;
    let (name, key) = validate_name("name", "Organization", name, 200)?;
    let mut tx = portal.db.begin().await?;
    let before = get(&mut tx, viewer, id).await?;
    let scope_name = check_scope(&mut tx, viewer, scope_id).await?;
    ensure_unique(&mut tx, viewer.instance_id, &key, id).await?;
    sqlx::query("UPDATE organizations SET name = $1, name_key = $2, scope_id = $3 WHERE id = $4")
        .bind(&name)
        .bind(&key)
        .bind(scope_id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    // Assets carry their organization's name for sorting.
    sqlx::query(
        "UPDATE assets SET organization_name = $1
         WHERE appliance_id IN (SELECT id FROM appliances WHERE organization_id = $2) AND organization_name <> $1",
    )
    .bind(&name)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    let target = format!("organization {}", before.name);
    let record = audit::Entry::by(viewer, client, "organization.updated", &target)
        .before(describe(&before.name, &before.scope_name))
        .after(describe(&name, &scope_name));
    audit::record(&mut tx, record, portal.now()).await?;
    tx.commit().await?;
    Ok(())
}

/// Deletes an organization and everything it owns, once the user typed `DELETE`.
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id, id = id))]
pub async fn delete(
    portal: &Portal,
    viewer: &Viewer,
    id: i64,
    confirmation: &str,
    client: &ClientInfo,
) -> DomainResult<()> {
    viewer.require(Action::ManageOrganizations)?;
    if confirmation != DELETE_CONFIRMATION {
        return Err(AppError::invalid("confirmation", "Type DELETE to confirm.").into());
    }
    let mut tx = portal.db.begin().await?;
    let before = get(&mut tx, viewer, id).await?;
    sqlx::query("DELETE FROM organizations WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let target = format!("organization {}", before.name);
    let record = audit::Entry::by(viewer, client, "organization.deleted", &target)
        .before(describe(&before.name, &before.scope_name));
    audit::record(&mut tx, record, portal.now()).await?;
    tx.commit().await?;
    Ok(())
}
