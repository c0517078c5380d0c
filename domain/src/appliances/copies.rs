//! Offsite backup copies: each appliance's copy target. The target is stored with its secrets
//! sealed by the instance key and reaches the appliance as a command, opened only when the
//! gateway hands it over the appliance's authenticated connection; users never see a secret.

use model::appliance::copies::check_bandwidth;
use model::appliance::views::CommandView;
use model::appliance::{Command, CopyLocation, CopyTarget, CopyTargetRequest, CopyTargetView};
use model::policy::parse_schedule;
use model::{Action, AppError};
use sqlx::AnyConnection;

use super::{assets, commands, views};
use crate::access::Viewer;
use crate::alerts::engine;
use crate::secrets::random_token;
use crate::vault::Vault;
use crate::{ClientInfo, DomainError, DomainResult, Portal};

/// The appliance's copy target, if it has one (for anyone who may see the appliance).
pub async fn copy_target(
    conn: &mut AnyConnection,
    viewer: &Viewer,
    appliance_id: i64,
) -> DomainResult<Option<CopyTargetView>> {
    let appliance = views::get(&mut *conn, viewer, appliance_id).await?;
    let Some(stored) = stored(conn, appliance.id).await? else {
        return Ok(None);
    };
    let mut view = CopyTargetView::of(stored.target, stored.updated_at, stored.updated_by);
    view.from_organization = stored.from_organization;
    Ok(Some(view))
}

/// An appliance's target as stored, its secrets still sealed.
pub(super) struct Stored {
    pub target: CopyTarget,
    pub updated_at: i64,
    pub updated_by: String,
    /// It follows the organization's target.
    pub from_organization: bool,
}

pub(super) async fn stored(conn: &mut AnyConnection, appliance_id: i64) -> DomainResult<Option<Stored>> {
    let row: Option<(String, i64, String, i64)> = sqlx::query_as(
        "SELECT target, updated_at, updated_by, from_organization FROM copy_targets WHERE appliance_id = $1",
    )
    .bind(appliance_id)
    .fetch_optional(conn)
    .await?;
    row.map(|(json, updated_at, updated_by, from_organization)| {
        Ok(Stored {
            target: parse_target(&json)?,
            updated_at,
            updated_by,
            from_organization: from_organization != 0,
        })
    })
    .transpose()
}

pub(super) fn parse_target(json: &str) -> DomainResult<CopyTarget> {
    serde_json::from_str(json).map_err(|e| DomainError::internal(format!("a stored copy target: {e}")))
}

/// Sets the appliance's own copy target and sends it to the appliance. An empty secret access
/// key keeps the stored one; the target repository keeps the password it was created with.
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id, appliance_id = appliance_id))]
pub async fn set_copy_target(
    portal: &Portal,
    viewer: &Viewer,
    appliance_id: i64,
    request: CopyTargetRequest,
    client: &ClientInfo,
) -> DomainResult<CommandView> {
    viewer.require(Action::ManageAppliances)?;
    let mut tx = portal.db.begin().await?;
    let appliance = views::get(&mut tx, viewer, appliance_id).await?;
    let before = stored(&mut tx, appliance.id).await?.map(|s| s.target);
    let vault = &portal.vault;
    let target = CopyTarget {
        location: checked_location(&request, before.as_ref(), vault)?,
        repository_password: password_of(before.as_ref(), vault)?,
        bandwidth_kib: request.bandwidth_kib,
        retention: request.retention,
        schedule: request.schedule,
    };
    let view = store_and_queue(&mut tx, portal, viewer, (appliance.id, false), target, client).await?;
    tx.commit().await?;
    commands::published(portal, viewer, view).await
}

/// The request's location, checked with its bandwidth and schedule; the stored S3 secret key
/// is kept when the form left it empty.
pub(super) fn checked_location(
    request: &CopyTargetRequest,
    before: Option<&CopyTarget>,
    vault: &Vault,
) -> DomainResult<CopyLocation> {
    check_bandwidth(request.bandwidth_kib).map_err(|m| AppError::invalid("bandwidth_kib", m))?;
    if let Some(schedule) = &request.schedule {
        parse_schedule(schedule).map_err(|e| AppError::invalid("copy_schedule", e.to_string()))?;
    }
    let location = keep_stored_secret(request.location.clone(), before, vault)?;
    location
        .validate()
        .map_err(|message| AppError::invalid("location", message))?;
    Ok(location)
}

/// The target repository's password: the one it was created with, or a new random one.
fn password_of(before: Option<&CopyTarget>, vault: &Vault) -> DomainResult<String> {
    match before {
        Some(before) => Ok(vault.open(&before.repository_password)?),
        None => Ok(random_token()),
    }
}

/// Stores the appliance's target with its secrets sealed and queues it for the appliance;
/// publish the returned command after commit.
pub(super) async fn store_and_queue(
    tx: &mut AnyConnection,
    portal: &Portal,
    viewer: &Viewer,
    (appliance_id, from_organization): (i64, bool),
    target: CopyTarget,
    client: &ClientInfo,
) -> DomainResult<CommandView> {
    let sealed = store(
        tx,
        portal,
        &viewer.email,
        (appliance_id, from_organization),
        target,
    )
    .await?;
    let command = Command::SetCopyTarget { target: Some(sealed) };
    commands::queue(tx, portal, viewer, appliance_id, &command, client).await
}

/// Stores the appliance's target, its secrets sealed; returns the sealed target.
pub(super) async fn store(
    tx: &mut AnyConnection,
    portal: &Portal,
    by: &str,
    (appliance_id, from_organization): (i64, bool),
    target: CopyTarget,
) -> DomainResult<CopyTarget> {
    let vault = &portal.vault;
    let sealed = target.map_secrets(|secret| Ok::<_, DomainError>(vault.seal(&secret)))?;
    let json = serde_json::to_string(&sealed).map_err(|e| DomainError::internal(e.to_string()))?;
    sqlx::query(
        "INSERT INTO copy_targets (appliance_id, target, updated_at, updated_by, from_organization)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (appliance_id) DO UPDATE SET target = excluded.target, updated_at = excluded.updated_at,
             updated_by = excluded.updated_by, from_organization = excluded.from_organization",
    )
    .bind(appliance_id)
    .bind(&json)
    .bind(portal.now())
    .bind(by)
    .bind(i64::from(from_organization))
    .execute(&mut *tx)
    .await?;
    Ok(sealed)
}

/// The requested location, with the stored S3 secret key when the form left it empty.
fn keep_stored_secret(
    requested: CopyLocation,
    before: Option<&CopyTarget>,
    vault: &Vault,
) -> DomainResult<CopyLocation> {
    let stored = before.and_then(|b| b.location.secret_key());
    match (stored, requested.secret_key()) {
        (Some(stored), Some("")) => {
            let opened = vault.open(stored)?;
            requested.map_secret(|_| Ok::<_, DomainError>(opened))
        }
        _ => Ok(requested),
    }
}

/// Stops the appliance's own copies: the target is forgotten here and on the appliance (the
/// copies already made stay where they are). When its organization has a target, the
/// appliance follows that one instead. A target that is the organization's is changed there.
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id, appliance_id = appliance_id))]
pub async fn remove_copy_target(
    portal: &Portal,
    viewer: &Viewer,
    appliance_id: i64,
    client: &ClientInfo,
) -> DomainResult<CommandView> {
    viewer.require(Action::ManageAppliances)?;
    let mut tx = portal.db.begin().await?;
    let appliance = views::get(&mut tx, viewer, appliance_id).await?;
    match stored(&mut tx, appliance.id).await? {
        None => return Err(AppError::conflict(format!("{} has no copy target.", appliance.name)).into()),
        Some(s) if s.from_organization => {
            return Err(AppError::conflict(format!(
                "{} copies to its organization's target; change or stop it on the organization's page.",
                appliance.name
            ))
            .into());
        }
        Some(_) => {}
    }
    let view = match super::org_copies::template(&mut tx, appliance.organization_id).await? {
        Some(template) => {
            let organization = (&template, appliance.organization_id);
            let target =
                super::org_copies::for_appliance(&mut tx, portal, organization, appliance.id).await?;
            store_and_queue(&mut tx, portal, viewer, (appliance.id, true), target, client).await?
        }
        None => forget(&mut tx, portal, viewer, appliance.id, client).await?,
    };
    tx.commit().await?;
    portal.evaluate_now.notify_one();
    commands::published(portal, viewer, view).await
}

/// Forgets the appliance's target and tells the appliance; no asset waits for a copy any more.
pub(super) async fn forget(
    tx: &mut AnyConnection,
    portal: &Portal,
    viewer: &Viewer,
    appliance_id: i64,
    client: &ClientInfo,
) -> DomainResult<CommandView> {
    sqlx::query("DELETE FROM copy_targets WHERE appliance_id = $1")
        .bind(appliance_id)
        .execute(&mut *tx)
        .await?;
    let waiting: Vec<i64> = sqlx::query_scalar(
        "UPDATE assets SET copy_pending_since = NULL
         WHERE appliance_id = $1 AND copy_pending_since IS NOT NULL RETURNING id",
    )
    .bind(appliance_id)
    .fetch_all(&mut *tx)
    .await?;
    for asset in &waiting {
        engine::touch(&mut *tx, engine::Object::Asset(*asset), portal.now()).await?;
    }
    let command = Command::SetCopyTarget { target: None };
    commands::queue(tx, portal, viewer, appliance_id, &command, client).await
}

/// Copies the asset's recovery points that the target lacks, now.
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id, asset_id = asset_id))]
pub async fn copy_now(
    portal: &Portal,
    viewer: &Viewer,
    asset_id: i64,
    client: &ClientInfo,
) -> DomainResult<CommandView> {
    viewer.require(Action::StartBackup)?;
    let mut conn = portal.db.pool.acquire().await?;
    let asset = assets::get(&mut conn, viewer, asset_id).await?;
    if stored(&mut conn, asset.appliance_id).await?.is_none() {
        return Err(AppError::conflict(format!(
            "{} has no copy target; set one on its appliance's page first.",
            asset.appliance_name
        ))
        .into());
    }
    drop(conn);
    let command = Command::CopyNow {
        asset_id: asset.external_id,
    };
    commands::enqueue(portal, viewer, asset.appliance_id, &command, client).await
}

/// The command as the appliance must receive it: a copy target's secrets opened.
pub(crate) fn opened_for_delivery(command: Command, vault: &Vault) -> DomainResult<Command> {
    match command {
        Command::SetCopyTarget { target: Some(target) } => Ok(Command::SetCopyTarget {
            target: Some(target.map_secrets(|sealed| vault.open(&sealed))?),
        }),
        other => Ok(other),
    }
}
