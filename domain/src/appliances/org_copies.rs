//! An organization's copy target: the target of each of its appliances that has none of its
//! own, and of those registered later. Each appliance copies into a repository of its own under
//! the organization's location (`…/appliance-<id>`), so no two appliances share a repository, a
//! lock or a retention pass. Each repository's password is derived from the appliance's id and
//! a random secret the organization keeps (sealed) even while it has no target, so an appliance
//! that leaves the organization's target and comes back opens the repository it created.

use model::appliance::{Command, CopyTarget, CopyTargetRequest, CopyTargetView};
use model::{Action, AppError};
use sqlx::AnyConnection;

use super::commands;
use super::copies::{checked_location, forget, parse_target, store, store_and_queue, stored};
use crate::access::Viewer;
use crate::audit::{self, Entry};
use crate::secrets::{random_token, token_hash};
use crate::{ClientInfo, DomainError, DomainResult, Portal, organizations};

/// The organization's copy target, if it has one (for anyone who may see the organization).
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id, organization_id = organization_id))]
pub async fn organization_copy_target(
    conn: &mut AnyConnection,
    viewer: &Viewer,
    organization_id: i64,
) -> DomainResult<Option<CopyTargetView>> {
    let organization = organizations::get(&mut *conn, viewer, organization_id).await?;
    let row: Option<(String, i64, String)> = sqlx::query_as(
        "SELECT target, updated_at, updated_by FROM organization_copy_targets WHERE organization_id = $1",
    )
    .bind(organization.id)
    .fetch_optional(conn)
    .await?;
    row.map(|(json, at, by)| Ok(CopyTargetView::of(parse_target(&json)?, at, by)))
        .transpose()
}

/// The organization's target as stored (its S3 secret sealed), if any.
pub(super) async fn template(
    conn: &mut AnyConnection,
    organization_id: i64,
) -> DomainResult<Option<CopyTarget>> {
    let json: Option<String> =
        sqlx::query_scalar("SELECT target FROM organization_copy_targets WHERE organization_id = $1")
            .bind(organization_id)
            .fetch_optional(conn)
            .await?;
    json.map(|json| parse_target(&json)).transpose()
}

/// The organization's (sealed) target as one appliance uses it, opened: a repository of the
/// appliance's own under the organization's location, with its derived password.
pub(super) async fn for_appliance(
    tx: &mut AnyConnection,
    portal: &Portal,
    (template, organization_id): (&CopyTarget, i64),
    appliance_id: i64,
) -> DomainResult<CopyTarget> {
    let location = template
        .location
        .clone()
        .joined(&format!("appliance-{appliance_id}"))
        .map_secret(|sealed| portal.vault.open(&sealed))?;
    let secret = password_secret(tx, portal, organization_id).await?;
    Ok(CopyTarget {
        location,
        repository_password: token_hash(&format!(
            "backplane organization copy\0{secret}\0appliance-{appliance_id}"
        )),
        ..template.clone()
    })
}

/// The organization's secret its appliances' repository passwords are derived from, opened;
/// made on first use and kept for as long as the organization exists.
async fn password_secret(
    tx: &mut AnyConnection,
    portal: &Portal,
    organization_id: i64,
) -> DomainResult<String> {
    sqlx::query("INSERT INTO organization_copy_secrets (organization_id, secret) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(organization_id)
        .bind(portal.vault.seal(&random_token()))
        .execute(&mut *tx)
        .await?;
    let sealed: String =
        sqlx::query_scalar("SELECT secret FROM organization_copy_secrets WHERE organization_id = $1")
            .bind(organization_id)
            .fetch_one(tx)
            .await?;
    portal.vault.open(&sealed)
}

/// The organization's appliances that follow its target: those with none of their own.
async fn followers(conn: &mut AnyConnection, organization_id: i64) -> DomainResult<Vec<i64>> {
    Ok(sqlx::query_scalar(
        "SELECT a.id FROM appliances a LEFT JOIN copy_targets t ON t.appliance_id = a.id
         WHERE a.organization_id = $1 AND a.deleted_at IS NULL AND (t.appliance_id IS NULL OR t.from_organization = 1)
         ORDER BY a.id",
    )
    .bind(organization_id)
    .fetch_all(conn)
    .await?)
}

/// Sets the organization's copy target and sends it to each of its appliances without a
/// target of their own; returns how many were sent it. An empty secret access key keeps the
/// stored one; each appliance's repository keeps its password.
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id, organization_id = organization_id))]
pub async fn set_organization_copy_target(
    portal: &Portal,
    viewer: &Viewer,
    organization_id: i64,
    request: CopyTargetRequest,
    client: &ClientInfo,
) -> DomainResult<u32> {
    viewer.require(Action::ManageAppliances)?;
    let mut tx = portal.db.begin().await?;
    let organization = organizations::get(&mut tx, viewer, organization_id).await?;
    let before = template(&mut tx, organization.id).await?;
    let vault = &portal.vault;
    let opened = CopyTarget {
        location: checked_location(&request, before.as_ref(), vault)?,
        repository_password: String::new(),
        bandwidth_kib: request.bandwidth_kib,
        retention: request.retention,
        schedule: request.schedule,
    };
    let sealed = opened.map_secrets(|secret| match secret.is_empty() {
        true => Ok::<_, DomainError>(secret),
        false => Ok(vault.seal(&secret)),
    })?;
    let json = serde_json::to_string(&sealed).map_err(|e| DomainError::internal(e.to_string()))?;
    sqlx::query(
        "INSERT INTO organization_copy_targets (organization_id, target, updated_at, updated_by) VALUES ($1, $2, $3, $4)
         ON CONFLICT (organization_id) DO UPDATE SET target = excluded.target, updated_at = excluded.updated_at,
                                                     updated_by = excluded.updated_by",
    )
    .bind(organization.id)
    .bind(&json)
    .bind(portal.now())
    .bind(&viewer.email)
    .execute(&mut *tx)
    .await?;
    let described = sealed.describe();
    let entry = Entry::by(viewer, client, "organization.copy_target", &organization.name).after(described);
    audit::record(&mut tx, entry, portal.now()).await?;
    let mut sent = Vec::new();
    for appliance_id in followers(&mut tx, organization.id).await? {
        let mut target = for_appliance(&mut tx, portal, (&sealed, organization.id), appliance_id).await?;
        if let Some(before) = stored(&mut tx, appliance_id).await? {
            target.repository_password = vault.open(&before.target.repository_password)?;
        }
        sent.push(store_and_queue(&mut tx, portal, viewer, (appliance_id, true), target, client).await?);
    }
    tx.commit().await?;
    let count = u32::try_from(sent.len()).unwrap_or(u32::MAX);
    for view in sent {
        commands::published(portal, viewer, view).await?;
    }
    Ok(count)
}

/// Removes the organization's copy target: the appliances that followed it stop copying (the
/// copies made stay); appliances with targets of their own keep them. Returns how many stopped.
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id, organization_id = organization_id))]
pub async fn remove_organization_copy_target(
    portal: &Portal,
    viewer: &Viewer,
    organization_id: i64,
    client: &ClientInfo,
) -> DomainResult<u32> {
    viewer.require(Action::ManageAppliances)?;
    let mut tx = portal.db.begin().await?;
    let organization = organizations::get(&mut tx, viewer, organization_id).await?;
    let removed = sqlx::query("DELETE FROM organization_copy_targets WHERE organization_id = $1")
        .bind(organization.id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if removed == 0 {
        return Err(AppError::conflict(format!("{} has no copy target.", organization.name)).into());
    }
    let entry = Entry::by(viewer, client, "organization.copy_target", &organization.name).after("removed");
    audit::record(&mut tx, entry, portal.now()).await?;
    let following: Vec<i64> = sqlx::query_scalar(
        "SELECT t.appliance_id FROM copy_targets t JOIN appliances a ON a.id = t.appliance_id
         WHERE a.organization_id = $1 AND t.from_organization = 1 ORDER BY t.appliance_id",
    )
    .bind(organization.id)
    .fetch_all(&mut *tx)
    .await?;
    let mut stopped = Vec::new();
    for appliance_id in following {
        stopped.push(forget(&mut tx, portal, viewer, appliance_id, client).await?);
    }
    tx.commit().await?;
    portal.evaluate_now.notify_one();
    let count = u32::try_from(stopped.len()).unwrap_or(u32::MAX);
    for view in stopped {
        commands::published(portal, viewer, view).await?;
    }
    Ok(count)
}

/// Gives a newly registered appliance its organization's target, if it has one; the command
/// waits for the appliance's first connection.
pub(super) async fn inherit(
    tx: &mut AnyConnection,
    portal: &Portal,
    (organization_id, appliance_id): (i64, i64),
    registered_by: &str,
) -> DomainResult<()> {
    let Some(template) = template(&mut *tx, organization_id).await? else {
        return Ok(());
    };
    let target = for_appliance(&mut *tx, portal, (&template, organization_id), appliance_id).await?;
    let sealed = store(&mut *tx, portal, registered_by, (appliance_id, true), target).await?;
    let command = Command::SetCopyTarget { target: Some(sealed) };
    commands::queue_unattended(tx, portal, appliance_id, &command, registered_by).await
}
