//! What users ask of appliances. Each request is checked here (role, visibility, the object's
//! state), queued as a [`Command`], audited and published; the appliance answers it later with
//! done or error, which the portal shows where the user asked.

use model::appliance::Command;
use model::appliance::views::{AssetView, CommandStatus, CommandView};
use model::jobs::BulkOutcome;
use model::live::LiveEvent;
use model::{Action, AppError};
use sqlx::{AnyConnection, AssertSqlSafe};

use super::policies::check_selection;
use super::{assets, jobs, views};
use crate::access::Viewer;
use crate::secrets::random_token;
use crate::{ClientInfo, DomainError, DomainResult, Portal, audit};

/// The word typed to confirm a deletion (spec portal-a §2.3x: "Type DELETE").
pub const CONFIRM_WORD: &str = "DELETE";

/// The permission a command needs (spec roles: Manage backs up, restores and cancels; Admin
/// and Superuser change what is protected).
pub fn permission_for(command: &Command) -> Action {
    match command {
        Command::AddAsset { .. }
        | Command::RemoveAsset { .. }
        | Command::Unregister
        | Command::SetCopyTarget { .. } => Action::ManageAppliances,
        Command::BackupNow { .. }
        | Command::Restore { .. }
        | Command::CopyNow { .. }
        | Command::VerifyNow { .. } => Action::StartBackup,
        Command::CancelJob { .. } => Action::CancelJob,
        Command::SetPolicy { .. } | Command::RemovePolicy { .. } => Action::ConfigurePolicies,
    }
}

/// Queues a command for an appliance the viewer may see.
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id, appliance_id = appliance_id))]
pub async fn enqueue(
    portal: &Portal,
    viewer: &Viewer,
    appliance_id: i64,
    command: &Command,
    client: &ClientInfo,
) -> DomainResult<CommandView> {
    viewer.require(permission_for(command))?;
    let mut tx = portal.db.begin().await?;
    let view = queue(&mut tx, portal, viewer, appliance_id, command, client).await?;
    tx.commit().await?;
    published(portal, viewer, view).await
}

/// Inserts and audits a command inside the caller's transaction, who has checked the viewer's
/// role; publish the returned view with [`published`] after commit.
pub(crate) async fn queue(
    tx: &mut AnyConnection,
    portal: &Portal,
    viewer: &Viewer,
    appliance_id: i64,
    command: &Command,
    client: &ClientInfo,
) -> DomainResult<CommandView> {
    let appliance = views::get(&mut *tx, viewer, appliance_id).await?;
    let (id, description) = insert(tx, portal, appliance.id, command, &viewer.email).await?;
    let target = format!("appliance {}", appliance.name);
    audit::record(
        &mut *tx,
        audit::Entry::by(viewer, client, "appliance.command", &target).after(description),
        portal.now(),
    )
    .await?;
    view(&mut *tx, id)
        .await?
        .ok_or_else(|| DomainError::internal("a queued command vanished"))
}

/// Queues a command no user asked for directly (an appliance registering into an organization
/// whose settings it takes), recorded as `requested_by`; it waits for the appliance to connect.
pub(crate) async fn queue_unattended(
    tx: &mut AnyConnection,
    portal: &Portal,
    appliance_id: i64,
    command: &Command,
    requested_by: &str,
) -> DomainResult<()> {
    insert(tx, portal, appliance_id, command, requested_by).await?;
    Ok(())
}

/// Inserts a pending command; returns its id and description.
async fn insert(
    tx: &mut AnyConnection,
    portal: &Portal,
    appliance_id: i64,
    command: &Command,
    requested_by: &str,
) -> DomainResult<(i64, String)> {
    let json = serde_json::to_string(command).map_err(|e| DomainError::internal(e.to_string()))?;
    let description = describe(&mut *tx, appliance_id, command).await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO appliance_commands (appliance_id, command, description, status, requested_by, created_at)
         VALUES ($1, $2, $3, 'pending', $4, $5) RETURNING id",
    )
    .bind(appliance_id)
    .bind(&json)
    .bind(&description)
    .bind(requested_by)
    .bind(portal.now())
    .fetch_one(&mut *tx)
    .await?;
    Ok((id, description))
}

/// Tells the viewer's browsers about a committed command.
pub(crate) async fn published(
    portal: &Portal,
    viewer: &Viewer,
    view: CommandView,
) -> DomainResult<CommandView> {
    portal
        .publish(
            viewer.instance_id,
            view.organization_id,
            LiveEvent::Command {
                command: view.clone(),
            },
        )
        .await;
    Ok(view)
}

/// The command in words, naming the asset or job it acts on (the command itself carries the
/// appliance's ids).
async fn describe(conn: &mut AnyConnection, appliance_id: i64, command: &Command) -> DomainResult<String> {
    let text = match command {
        Command::AddAsset { path } => format!("Add asset {path}"),
        Command::RemoveAsset { asset_id } => {
            format!("Remove asset {}", asset_name(conn, appliance_id, asset_id).await?)
        }
        Command::BackupNow { asset_id } => {
            format!("Back up {} now", asset_name(conn, appliance_id, asset_id).await?)
        }
        Command::VerifyNow { asset_id } => {
            format!(
                "Test a restore of {} now",
                asset_name(conn, appliance_id, asset_id).await?
            )
        }
        Command::CopyNow { asset_id } => {
            format!(
                "Copy {} to the copy target now",
                asset_name(conn, appliance_id, asset_id).await?
            )
        }
        Command::Restore {
            asset_id,
            recovery_point_id,
            paths,
            target_dir,
            overwrite,
        } => {
            let what = match paths.len() {
                0 => String::new(),
                1 => format!(" ({})", paths[0]),
                n => format!(" ({n} paths)"),
            };
            format!(
                "Restore {}{what} from recovery point {} to {target_dir}{}",
                asset_name(conn, appliance_id, asset_id).await?,
                recovery_point_id.chars().take(8).collect::<String>(),
                if *overwrite { ", overwriting" } else { "" }
            )
        }
        Command::CancelJob { job_id } => {
            let job = jobs::by_external_id(conn, appliance_id, job_id).await?;
            match job {
                Some(job) => format!(
                    "Cancel the {} of {}",
                    job.kind.label().to_lowercase(),
                    job.asset_name
                ),
                None => command.describe(),
            }
        }
        Command::SetPolicy { asset_id, policy } => {
            let asset = asset_name(conn, appliance_id, asset_id).await?;
            let current: Option<String> =
                sqlx::query_scalar("SELECT policy FROM assets WHERE appliance_id = $1 AND external_id = $2")
                    .bind(appliance_id)
                    .bind(asset_id)
                    .fetch_optional(&mut *conn)
                    .await?
                    .flatten();
            let current = assets::parse_policy(current.as_deref());
            match current {
                Some(current) if current.enabled != policy.enabled && current.schedule == policy.schedule => {
                    let verb = if policy.enabled { "Enable" } else { "Disable" };
                    format!("{verb} the schedule of {asset}")
                }
                Some(current) if current.schedule == policy.schedule => {
                    format!("Keep {} of {asset}", policy.retention.describe())
                }
                _ => format!(
                    "Set {} on {asset}, keeping {}",
                    policy.schedule.describe(),
                    policy.retention.describe()
                ),
            }
        }
        Command::RemovePolicy { asset_id } => {
            format!(
                "Remove the policy of {}",
                asset_name(conn, appliance_id, asset_id).await?
            )
        }
        Command::Unregister | Command::SetCopyTarget { .. } => command.describe(),
    };
    Ok(text)
}

async fn asset_name(conn: &mut AnyConnection, appliance_id: i64, external_id: &str) -> DomainResult<String> {
    let name: Option<String> =
        sqlx::query_scalar("SELECT name FROM assets WHERE appliance_id = $1 AND external_id = $2")
            .bind(appliance_id)
            .bind(external_id)
            .fetch_optional(conn)
            .await?;
    Ok(name.unwrap_or_else(|| external_id.to_owned()))
}

async fn running_job_on(portal: &Portal, appliance_id: i64, asset_external_id: &str) -> DomainResult<bool> {
    let running: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM jobs WHERE appliance_id = $1 AND asset_external_id = $2 AND state IN ('queued', 'running')",
    )
    .bind(appliance_id)
    .bind(asset_external_id)
    .fetch_one(&portal.db.pool)
    .await?;
    Ok(running > 0)
}

#[tracing::instrument(skip_all, fields(user_id = viewer.user_id, asset_id = asset_id))]
pub async fn backup_now(
    portal: &Portal,
    viewer: &Viewer,
    asset_id: i64,
    client: &ClientInfo,
) -> DomainResult<CommandView> {
    viewer.require(Action::StartBackup)?;
    let asset = assets::get(&mut *portal.db.pool.acquire().await?, viewer, asset_id).await?;
    if running_job_on(portal, asset.appliance_id, &asset.external_id).await? {
        return Err(AppError::conflict(format!("A job is already running on {}.", asset.name)).into());
    }
    let command = Command::BackupNow {
        asset_id: asset.external_id,
    };
    enqueue(portal, viewer, asset.appliance_id, &command, client).await
}

/// Tests a restore of the asset's newest recovery point now.
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id, asset_id = asset_id))]
pub async fn verify_now(
    portal: &Portal,
    viewer: &Viewer,
    asset_id: i64,
    client: &ClientInfo,
) -> DomainResult<CommandView> {
    viewer.require(Action::StartBackup)?;
    let asset = assets::get(&mut *portal.db.pool.acquire().await?, viewer, asset_id).await?;
    if asset.recovery_points == 0 {
        return Err(AppError::conflict(format!("{} has no recovery point to test yet.", asset.name)).into());
    }
    if running_job_on(portal, asset.appliance_id, &asset.external_id).await? {
        return Err(AppError::conflict(format!("A job is already running on {}.", asset.name)).into());
    }
    let command = Command::VerifyNow {
        asset_id: asset.external_id,
    };
    enqueue(portal, viewer, asset.appliance_id, &command, client).await
}

/// A restore request as the form sends it.
#[derive(Debug, Clone, Default)]
pub struct RestoreRequest {
    pub asset_id: i64,
    pub recovery_point_id: String,
    /// Paths inside the recovery point, one per line; empty restores all of it.
    pub paths: String,
    pub target_dir: String,
    pub overwrite: bool,
}

#[tracing::instrument(skip_all, fields(user_id = viewer.user_id))]
pub async fn restore(
    portal: &Portal,
    viewer: &Viewer,
    request: &RestoreRequest,
    client: &ClientInfo,
) -> DomainResult<CommandView> {
    viewer.require(Action::StartBackup)?;
    let target_dir = request.target_dir.trim();
    if !target_dir.starts_with('/') {
        return Err(AppError::invalid(
            "target_dir",
            "Give the restore target as an absolute directory on the appliance, such as /srv/restore.",
        )
        .into());
    }
    let points =
        assets::recovery_points(&mut *portal.db.pool.acquire().await?, viewer, request.asset_id).await?;
    if !points.iter().any(|p| p.id == request.recovery_point_id) {
        return Err(
            AppError::invalid("recovery_point_id", "Choose one of this asset's recovery points.").into(),
        );
    }
    let asset = assets::get(&mut *portal.db.pool.acquire().await?, viewer, request.asset_id).await?;
    model::appliance::check_restore_target(target_dir, &asset.restore_roots, &asset.path)
        .map_err(|message| AppError::invalid("target_dir", message))?;
    let paths = request
        .paths
        .lines()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect();
    let command = Command::Restore {
        asset_id: asset.external_id,
        recovery_point_id: request.recovery_point_id.clone(),
        paths,
        target_dir: target_dir.to_owned(),
        overwrite: request.overwrite,
    };
    enqueue(portal, viewer, asset.appliance_id, &command, client).await
}

#[tracing::instrument(skip_all, fields(user_id = viewer.user_id, job_id = job_id))]
pub async fn cancel_job(
    portal: &Portal,
    viewer: &Viewer,
    job_id: i64,
    client: &ClientInfo,
) -> DomainResult<CommandView> {
    viewer.require(Action::CancelJob)?;
    let job = jobs::get(&mut *portal.db.pool.acquire().await?, viewer, job_id).await?;
    if job.state.is_finished() {
        return Err(AppError::conflict(format!(
            "This job has already ended ({}).",
            job.state.label().to_lowercase()
        ))
        .into());
    }
    let command = Command::CancelJob {
        job_id: job.external_id,
    };
    enqueue(portal, viewer, job.appliance_id, &command, client).await
}

#[tracing::instrument(skip_all, fields(user_id = viewer.user_id, appliance_id = appliance_id))]
pub async fn add_asset(
    portal: &Portal,
    viewer: &Viewer,
    appliance_id: i64,
    path: &str,
    client: &ClientInfo,
) -> DomainResult<CommandView> {
    let path = path.trim();
    if !path.starts_with('/') || path.chars().count() > 1000 {
        return Err(AppError::invalid(
            "path",
            "Give the directory to protect as an absolute path on the appliance, such as /srv/data.",
        )
        .into());
    }
    let command = Command::AddAsset {
        path: path.to_owned(),
    };
    enqueue(portal, viewer, appliance_id, &command, client).await
}

fn confirmed(confirmation: &str) -> Result<(), AppError> {
    if confirmation.trim() == CONFIRM_WORD {
        Ok(())
    } else {
        Err(AppError::invalid("confirmation", "Type DELETE to confirm."))
    }
}

/// Why `asset` may not be removed now, naming it (spec portal-a §2.34: no portal backup
/// policy, nothing running), or `None`.
async fn removal_refused(portal: &Portal, asset: &AssetView) -> DomainResult<Option<String>> {
    if asset.policy.is_some() || asset.policy_pending() {
        return Ok(Some(format!(
            "{} has a backup policy; remove the policy first (Protect → Assets → Remove backup policy).",
            asset.name
        )));
    }
    if running_job_on(portal, asset.appliance_id, &asset.external_id).await? {
        return Ok(Some(format!(
            "A job is running on {}; cancel it or wait for it to finish.",
            asset.name
        )));
    }
    Ok(None)
}

#[tracing::instrument(skip_all, fields(user_id = viewer.user_id, asset_id = asset_id))]
pub async fn remove_asset(
    portal: &Portal,
    viewer: &Viewer,
    asset_id: i64,
    confirmation: &str,
    client: &ClientInfo,
) -> DomainResult<CommandView> {
    viewer.require(Action::ManageAppliances)?;
    confirmed(confirmation)?;
    let asset = assets::get(&mut *portal.db.pool.acquire().await?, viewer, asset_id).await?;
    if let Some(reason) = removal_refused(portal, &asset).await? {
        return Err(AppError::conflict(reason).into());
    }
    let command = Command::RemoveAsset {
        asset_id: asset.external_id,
    };
    enqueue(portal, viewer, asset.appliance_id, &command, client).await
}

/// Removes several assets, on one appliance or many (spec portal-a §2.44): one command per
/// asset to its appliance. Assets the viewer cannot see, with a policy or with a job running
/// are refused by name; the others are queued.
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id))]
pub async fn remove_assets(
    portal: &Portal,
    viewer: &Viewer,
    asset_ids: &[i64],
    confirmation: &str,
    client: &ClientInfo,
) -> DomainResult<BulkOutcome> {
    viewer.require(Action::ManageAppliances)?;
    check_selection(asset_ids)?;
    confirmed(confirmation)?;
    let mut outcome = BulkOutcome::default();
    for &asset_id in asset_ids {
        let found = assets::get(&mut *portal.db.pool.acquire().await?, viewer, asset_id).await;
        let asset = match found {
            Ok(asset) => asset,
            Err(DomainError::Rejected(_)) => {
                outcome.refused.push(format!("Asset {asset_id} was not found."));
                continue;
            }
            Err(internal) => return Err(internal),
        };
        if let Some(reason) = removal_refused(portal, &asset).await? {
            outcome.refused.push(reason);
            continue;
        }
        let command = Command::RemoveAsset {
            asset_id: asset.external_id,
        };
        enqueue(portal, viewer, asset.appliance_id, &command, client).await?;
        outcome.queued += 1;
    }
    Ok(outcome)
}

/// Deletes an appliance: its credential stops working at once, it is told to unregister if it
/// is connected, and it leaves every list. Its job history stays for the record.
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id, appliance_id = appliance_id))]
pub async fn delete_appliance(
    portal: &Portal,
    viewer: &Viewer,
    appliance_id: i64,
    confirmation: &str,
    client: &ClientInfo,
) -> DomainResult<()> {
    viewer.require(Action::ManageAppliances)?;
    confirmed(confirmation)?;
    enqueue(portal, viewer, appliance_id, &Command::Unregister, client).await?;
    let mut tx = portal.db.begin().await?;
    let appliance = views::get(&mut tx, viewer, appliance_id).await?;
    sqlx::query("UPDATE appliances SET deleted_at = $1, online = 0, credential_hash = $2 WHERE id = $3")
        .bind(portal.now())
        .bind(format!("revoked:{}", random_token()))
        .bind(appliance.id)
        .execute(&mut *tx)
        .await?;
    super::gateway::record_event(&mut tx, appliance.id, "deleted", portal.now()).await?;
    // Its alerts leave the Alert Center with it (no "cleared" mail: nothing cleared).
    sqlx::query(
        "UPDATE alerts SET state = 'resolved', resolved_at = $1 WHERE appliance_id = $2 AND state = 'active'",
    )
    .bind(portal.now())
    .bind(appliance.id)
    .execute(&mut *tx)
    .await?;
    let target = format!("appliance {}", appliance.name);
    audit::record(
        &mut tx,
        audit::Entry::by(viewer, client, "appliance.deleted", &target),
        portal.now(),
    )
    .await?;
    tx.commit().await?;
    portal
        .publish(
            viewer.instance_id,
            appliance.organization_id,
            LiveEvent::ApplianceRemoved {
                appliance_id: appliance.id,
            },
        )
        .await;
    portal
        .publish(
            viewer.instance_id,
            appliance.organization_id,
            LiveEvent::Alerts {
                organization_id: appliance.organization_id,
            },
        )
        .await;
    Ok(())
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
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id, appliance_id = appliance_id))]
pub async fn latest(
    conn: &mut AnyConnection,
    viewer: &Viewer,
    appliance_id: i64,
    limit: u32,
) -> DomainResult<Vec<CommandView>> {
    let appliance = views::get(conn, viewer, appliance_id).await?;
    let sql = format!("{COMMANDS} WHERE c.appliance_id = $1 ORDER BY c.id DESC LIMIT $2");
    let rows: Vec<CommandRow> = sqlx::query_as(AssertSqlSafe(sql))
        .bind(appliance.id)
        .bind(i64::from(limit.clamp(1, 200)))
        .fetch_all(conn)
        .await?;
    Ok(rows.into_iter().map(CommandView::from).collect())
}

/// A command regardless of viewer, for live events.
#[tracing::instrument(skip_all, fields(id = id))]
pub async fn view(conn: &mut AnyConnection, id: i64) -> DomainResult<Option<CommandView>> {
    let sql = format!("{COMMANDS} WHERE c.id = $1");
    let row: Option<CommandRow> = sqlx::query_as(AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(CommandView::from))
}
