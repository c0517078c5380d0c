//! Scopes: named groups of organizations that decide who sees what. Only Superusers manage them.

use model::tenancy::Scope;
use model::{Action, AppError};
use sqlx::AnyConnection;

use crate::access::{BindViewer, Viewer};
use crate::{ClientInfo, DomainResult, Portal, audit};

/// A trimmed name of 1–`max` characters and its case-insensitive key.
pub fn validate_name(field: &str, what: &str, name: &str, max: usize) -> Result<(String, String), AppError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > max {
        return Err(AppError::invalid(
            field,
            format!("{what} name must be 1–{max} characters."),
        ));
    }
    Ok((name.to_owned(), name.to_lowercase()))
}

#[derive(sqlx::FromRow)]
struct ScopeRow {
    id: i64,
    name: String,
    organizations: i64,
    users: i64,
}

/// The scopes the viewer holds (every scope of the instance for Superusers and Global Scope).
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id))]
pub async fn list(conn: &mut AnyConnection, viewer: &Viewer) -> DomainResult<Vec<Scope>> {
    let rows: Vec<ScopeRow> = sqlx::query_as(
        "SELECT s.id, s.name,
                (SELECT COUNT(*) FROM organizations o WHERE o.scope_id = s.id) AS organizations,
                (SELECT COUNT(*) FROM user_scopes us WHERE us.scope_id = s.id) AS users
         FROM scopes s
         WHERE s.instance_id = $1 AND ($2 = 1 OR s.id IN (SELECT scope_id FROM user_scopes WHERE user_id = $3))
         ORDER BY s.name_key",
    )
    .bind_viewer(viewer)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Scope {
            id: r.id,
            name: r.name,
            organizations: r.organizations,
            users: r.users,
        })
        .collect())
}

/// The scope if the viewer holds it; otherwise it does not exist for them.
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id, id = id))]
pub async fn get(conn: &mut AnyConnection, viewer: &Viewer, id: i64) -> DomainResult<Scope> {
    list(conn, viewer)
        .await?
        .into_iter()
        .find(|s| s.id == id)
        .ok_or_else(|| AppError::not_found("Scope").into())
}

async fn ensure_unique(
    conn: &mut AnyConnection,
    instance_id: i64,
    key: &str,
    except: Option<i64>,
) -> DomainResult<()> {
    let clash: Option<i64> =
        sqlx::query_scalar("SELECT id FROM scopes WHERE instance_id = $1 AND name_key = $2 AND id <> $3")
            .bind(instance_id)
            .bind(key)
            .bind(except.unwrap_or(0))
            .fetch_optional(conn)
            .await?;
    match clash {
        Some(_) => Err(AppError::invalid("name", "A scope with this name already exists.").into()),
        None => Ok(()),
    }
}

#[tracing::instrument(skip_all, fields(user_id = viewer.user_id))]
pub async fn create(
    portal: &Portal,
    viewer: &Viewer,
    name: &str,
    client: &ClientInfo,
) -> DomainResult<Scope> {
    viewer.require(Action::ManageScopes)?;
    let (name, key) = validate_name("name", "Scope", name, 100)?;
    let mut tx = portal.db.begin().await?;
    ensure_unique(&mut tx, viewer.instance_id, &key, None).await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO scopes (instance_id, name, name_key, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(viewer.instance_id)
    .bind(&name)
    .bind(&key)
    .bind(portal.now())
    .fetch_one(&mut *tx)
    .await?;
    let target = format!("scope {name}");
    let record = audit::Entry::by(viewer, client, "scope.created", &target).after(&name);
    audit::record(&mut tx, record, portal.now()).await?;
    tx.commit().await?;
    Ok(Scope {
        id,
        name,
        organizations: 0,
        users: 0,
    })
}

#[tracing::instrument(skip_all, fields(user_id = viewer.user_id, id = id))]
pub async fn rename(
    portal: &Portal,
    viewer: &Viewer,
    id: i64,
    name: &str,
    client: &ClientInfo,
) -> DomainResult<()> {
    viewer.require(Action::ManageScopes)?;
    let (name, key) = validate_name("name", "Scope", name, 100)?;
    let mut tx = portal.db.begin().await?;
    let before = get(&mut tx, viewer, id).await?;
    ensure_unique(&mut tx, viewer.instance_id, &key, Some(id)).await?;
    sqlx::query("UPDATE scopes SET name = $1, name_key = $2 WHERE id = $3")
        .bind(&name)
        .bind(&key)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let target = format!("scope {}", before.name);
    let record = audit::Entry::by(viewer, client, "scope.renamed", &target)
        .before(&before.name)
        .after(&name);
    audit::record(&mut tx, record, portal.now()).await?;
    tx.commit().await?;
    Ok(())
}

fn plural(n: i64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Deletes an unused scope; refuses while users or organizations still refer to it.
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id, id = id))]
pub async fn delete(portal: &Portal, viewer: &Viewer, id: i64, client: &ClientInfo) -> DomainResult<()> {
    viewer.require(Action::ManageScopes)?;
    let mut tx = portal.db.begin().await?;
    let scope = get(&mut tx, viewer, id).await?;
    if scope.users > 0 || scope.organizations > 0 {
        return Err(AppError::conflict(format!(
            "The scope \"{}\" still has {} and {}. Move its organizations to another scope (Organizations → Edit) and remove it from its users (Settings → Users → Edit) first.",
            scope.name,
            plural(scope.users, "user", "users"),
            plural(scope.organizations, "organization", "organizations"),
        ))
        .into());
    }
    sqlx::query("DELETE FROM scopes WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let target = format!("scope {}", scope.name);
    let record = audit::Entry::by(viewer, client, "scope.deleted", &target).before(&scope.name);
    audit::record(&mut tx, record, portal.now()).await?;
    tx.commit().await?;
    Ok(())
}
