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
    let Some((target, updated_at, updated_by)) = stored(conn, appliance.id).await? else {
        return Ok(None);
    };
    Ok(Some(CopyTargetView::of(target, updated_at, updated_by)))
}

/// The stored target, its secrets still sealed.
async fn stored(
    conn: &mut AnyConnection,
    appliance_id: i64,
) -> DomainResult<Option<(CopyTarget, i64, String)>> {
    let row: Option<(String, i64, String)> =
        sqlx::query_as("SELECT target, updated_at, updated_by FROM copy_targets WHERE appliance_id = $1")
            .bind(appliance_id)
            .fetch_optional(conn)
            .await?;
    row.map(|(json, at, by)| {
        serde_json::from_str(&json)
            .map(|target| (target, at, by))
            .map_err(|e| DomainError::internal(format!("a stored copy target: {e}")))
    })
    .transpose()
}

/// Sets the appliance's copy target and sends it to the appliance. An empty secret access key
/// keeps the stored one; the target repository keeps the password it was created with.
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id, appliance_id = appliance_id))]
pub async fn set_copy_target(
    portal: &Portal,
    viewer: &Viewer,
    appliance_id: i64,
    request: CopyTargetRequest,
    client: &ClientInfo,
) -> DomainResult<CommandView> {
    viewer.require(Action::ManageAppliances)?;
    check_bandwidth(request.bandwidth_kib).map_err(|m| AppError::invalid("bandwidth_kib", m))?;
    if let Some(schedule) = &request.schedule {
        parse_schedule(schedule).map_err(|e| AppError::invalid("copy_schedule", e.to_string()))?;
    }
    let mut tx = portal.db.begin().await?;
    let appliance = views::get(&mut tx, viewer, appliance_id).await?;
    let before = stored(&mut tx, appliance.id).await?.map(|(target, ..)| target);
    let vault = &portal.vault;
    let location = keep_stored_secret(request.location, before.as_ref(), vault)?;
    location
        .validate()
        .map_err(|message| AppError::invalid("location", message))?;
    let repository_password = match before {
        Some(before) => vault.open(&before.repository_password)?,
        None => random_token(),
    };
    let target = CopyTarget {
        location,
        repository_password,
        bandwidth_kib: request.bandwidth_kib,
        retention: request.retention,
        schedule: request.schedule,
    };
    let sealed = target.map_secrets(|secret| Ok::<_, DomainError>(vault.seal(&secret)))?;
    let json = serde_json::to_string(&sealed).map_err(|e| DomainError::internal(e.to_string()))?;
    sqlx::query(
        "INSERT INTO copy_targets (appliance_id, target, updated_at, updated_by) VALUES ($1, $2, $3, $4)
         ON CONFLICT (appliance_id) DO UPDATE SET target = excluded.target, updated_at = excluded.updated_at,
                                                  updated_by = excluded.updated_by",
    )
    .bind(appliance.id)
    .bind(&json)
    .bind(portal.now())
    .bind(&viewer.email)
    .execute(&mut *tx)
    .await?;
    let command = Command::SetCopyTarget { target: Some(sealed) };
    let view = commands::queue(&mut tx, portal, viewer, appliance.id, &command, client).await?;
    tx.commit().await?;
    commands::published(portal, viewer, view).await
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

/// Stops the appliance's copies: the target is forgotten here and on the appliance (the copies
/// already made stay where they are), and no asset waits for a copy any more.
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
    let removed = sqlx::query("DELETE FROM copy_targets WHERE appliance_id = $1")
        .bind(appliance.id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if removed == 0 {
        return Err(AppError::conflict(format!("{} has no copy target.", appliance.name)).into());
    }
    let waiting: Vec<i64> = sqlx::query_scalar(
        "UPDATE assets SET copy_pending_since = NULL
         WHERE appliance_id = $1 AND copy_pending_since IS NOT NULL RETURNING id",
    )
    .bind(appliance.id)
    .fetch_all(&mut *tx)
    .await?;
    for asset in &waiting {
        engine::touch(&mut tx, engine::Object::Asset(*asset), portal.now()).await?;
    }
    let command = Command::SetCopyTarget { target: None };
    let view = commands::queue(&mut tx, portal, viewer, appliance.id, &command, client).await?;
    tx.commit().await?;
    if !waiting.is_empty() {
        portal.evaluate_now.notify_one();
    }
    commands::published(portal, viewer, view).await
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
