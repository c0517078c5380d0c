//! What an authenticated appliance reports, stored; and the commands waiting for it.
//! Every function is keyed by the [`ApplianceIdentity`] the connection authenticated as, so one
//! appliance can never write another's rows.

use model::AppError;
use model::appliance::{AssetInfo, Command, CommandOutcome, JobInfo, JobKind, RecoveryPointInfo, Storage};
use model::live::LiveEvent;
use model::policy::is_time_zone;
use model::webhooks::WebhookEvent;
use sqlx::{AnyConnection, AssertSqlSafe};

use super::{ApplianceIdentity, events, finished};
use crate::alerts::engine::{self, Object};
use crate::{Clock, DomainResult, Portal, webhooks};

/// A job's error is kept to this many characters.
const MAX_JOB_ERROR_CHARS: usize = 2000;
/// Log lines kept per job; an appliance that sends more has the rest dropped.
const MAX_JOB_LOG_LINES: i64 = 10_000;
/// How far ahead of the portal's clock an appliance's clock may be.
const FUTURE_TOLERANCE_MS: i64 = 10 * crate::clock::MINUTE_MS;

/// Restore roots kept of what an appliance reports.
const MAX_RESTORE_ROOTS: usize = 20;

/// Counters arrive as u64; the databases store i64.
fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

#[tracing::instrument(skip_all, fields(appliance_id = appliance_id))]
pub async fn record_event(
    conn: &mut AnyConnection,
    appliance_id: i64,
    kind: &str,
    at: i64,
) -> DomainResult<()> {
    sqlx::query("INSERT INTO appliance_events (appliance_id, kind, at) VALUES ($1, $2, $3)")
        .bind(appliance_id)
        .bind(kind)
        .bind(at)
        .execute(&mut *conn)
        .await?;
    let webhook = match kind {
        "online" => WebhookEvent::ApplianceOnline,
        "offline" => WebhookEvent::ApplianceOffline,
        _ => return Ok(()),
    };
    let (instance_id, organization_id, name): (i64, i64, String) =
        sqlx::query_as("SELECT instance_id, organization_id, name FROM appliances WHERE id = $1")
            .bind(appliance_id)
            .fetch_one(&mut *conn)
            .await?;
    let event = webhooks::Event {
        instance_id,
        organization_id,
        kind: webhook,
        key: format!("appliance:{appliance_id}:{kind}:{at}"),
        data: serde_json::json!({
            "applianceId": appliance_id,
            "applianceName": name,
            "organizationId": organization_id,
        }),
    };
    webhooks::enqueue(conn, event, at).await
}

/// Refuses the frames of an appliance deleted in the portal (or with its organization): they
/// change nothing.
async fn ensure_registered(conn: &mut AnyConnection, who: &ApplianceIdentity) -> DomainResult<()> {
    let registered: Option<i64> =
        sqlx::query_scalar("SELECT id FROM appliances WHERE id = $1 AND deleted_at IS NULL")
            .bind(who.id)
            .fetch_optional(conn)
            .await?;
    match registered {
        Some(_) => Ok(()),
        None => Err(AppError::conflict(
            "This appliance was deleted in the portal; its reports are not stored.",
        )
        .into()),
    }
}

/// An asset's recovery points as the list shows them: how many, the newest, and its size.
const POINTS: &str = "(SELECT COUNT(*) FROM recovery_points r WHERE r.asset_id = assets.id)";
const LAST_POINT_AT: &str = "(SELECT MAX(r.taken_at) FROM recovery_points r WHERE r.asset_id = assets.id)";
const LAST_POINT_BYTES: &str = "(SELECT r.size_bytes FROM recovery_points r WHERE r.asset_id = assets.id
                                 ORDER BY r.taken_at DESC, r.id DESC LIMIT 1)";

/// The appliance's self-description from its first frame.
#[tracing::instrument(skip_all)]
pub async fn hello(
    portal: &Portal,
    who: &ApplianceIdentity,
    name: &str,
    model: &str,
    version: &str,
    time_zone: &str,
    restore_roots: &[String],
) -> DomainResult<()> {
    let clip = |s: &str, n: usize| s.trim().chars().take(n).collect::<String>();
    let time_zone = if is_time_zone(time_zone) { time_zone } else { "UTC" };
    let restore_roots: Vec<String> = restore_roots
        .iter()
        .take(MAX_RESTORE_ROOTS)
        .map(|root| clip(root, 1000))
        .collect();
    ensure_registered(&mut *portal.db.pool.acquire().await?, who).await?;
    sqlx::query(
        "UPDATE appliances SET name = $1, model = $2, version = $3, time_zone = $4, restore_roots = $5 WHERE id = $6",
    )
        .bind(clip(name, 100))
        .bind(clip(model, 100))
        .bind(clip(version, 50))
        .bind(time_zone)
        .bind(serde_json::to_string(&restore_roots).unwrap_or_else(|_| "[]".into()))
        .bind(who.id)
        .execute(&portal.db.pool)
        .await?;
    for set in [
        "jobs SET appliance_name = $1",
        "assets SET appliance_name = $1, search_text = LOWER(name || ' ' || path || ' ' || $1)",
    ] {
        sqlx::query(AssertSqlSafe(format!(
            "UPDATE {set} WHERE appliance_id = $2 AND appliance_name <> $1"
        )))
        .bind(clip(name, 100))
        .bind(who.id)
        .execute(&portal.db.pool)
        .await?;
    }
    events::appliance(portal, who.instance_id, who.id).await;
    Ok(())
}

/// Records a heartbeat; returns true if the appliance just came online.
#[tracing::instrument(skip_all)]
pub async fn heartbeat(portal: &Portal, who: &ApplianceIdentity, storage: &Storage) -> DomainResult<bool> {
    let now = portal.now();
    let mut tx = portal.db.begin().await?;
    ensure_registered(&mut tx, who).await?;
    sqlx::query(
        "UPDATE appliances SET last_seen_at = $1, storage_total = $2, storage_free = $3, storage_used = $4 WHERE id = $5",
    )
    .bind(now)
    .bind(to_i64(storage.total_bytes))
    .bind(to_i64(storage.free_bytes))
    .bind(to_i64(storage.used_bytes))
    .bind(who.id)
    .execute(&mut *tx)
    .await?;
    // Compare-and-swap: only one of several racing writers records the transition.
    let came_online = sqlx::query("UPDATE appliances SET online = 1 WHERE id = $1 AND online = 0")
        .bind(who.id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
        == 1;
    if came_online {
        record_event(&mut tx, who.id, "online", now).await?;
    }
    let low_space = model::alerts::is_critically_low(storage.free_bytes, storage.total_bytes);
    let space_flipped = sqlx::query("UPDATE appliances SET low_space = $1 WHERE id = $2 AND low_space <> $1")
        .bind(i64::from(low_space))
        .bind(who.id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
        == 1;
    if came_online || space_flipped {
        engine::touch(&mut tx, Object::Appliance(who.id), now).await?;
    }
    tx.commit().await?;
    if came_online || space_flipped {
        portal.evaluate_now.notify_one();
    }
    events::appliance(portal, who.instance_id, who.id).await;
    Ok(came_online)
}

/// Marks appliances without a heartbeat for `offline_after_ms` offline, recording each
/// transition once; returns them.
#[tracing::instrument(skip_all)]
pub async fn mark_stale_offline(portal: &Portal, offline_after_ms: i64) -> DomainResult<Vec<i64>> {
    let now = portal.now();
    let stale: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT id, instance_id FROM appliances WHERE online = 1 AND last_seen_at < $1 AND deleted_at IS NULL",
    )
    .bind(now - offline_after_ms)
    .fetch_all(&portal.db.pool)
    .await?;
    let mut went_offline = Vec::new();
    for (id, instance_id) in stale {
        let mut tx = portal.db.begin().await?;
        let flipped = sqlx::query(
            "UPDATE appliances SET online = 0 WHERE id = $1 AND online = 1 AND last_seen_at < $2",
        )
        .bind(id)
        .bind(now - offline_after_ms)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if flipped {
            record_event(&mut tx, id, "offline", now).await?;
            engine::touch(&mut tx, Object::Appliance(id), now).await?;
            went_offline.push(id);
        }
        tx.commit().await?;
        if flipped {
            events::appliance(portal, instance_id, id).await;
        }
    }
    Ok(went_offline)
}

/// Replaces the appliance's assets and recovery points with what it reports, and upserts its jobs.
#[tracing::instrument(skip_all)]
pub async fn inventory(
    portal: &Portal,
    who: &ApplianceIdentity,
    assets: &[AssetInfo],
    points: &[RecoveryPointInfo],
    jobs: &[JobInfo],
) -> DomainResult<()> {
    let mut tx = portal.db.begin().await?;
    ensure_registered(&mut tx, who).await?;
    let existing: Vec<String> = sqlx::query_scalar("SELECT external_id FROM assets WHERE appliance_id = $1")
        .bind(who.id)
        .fetch_all(&mut *tx)
        .await?;
    for gone in existing.iter().filter(|id| !assets.iter().any(|a| &&a.id == id)) {
        sqlx::query("DELETE FROM assets WHERE appliance_id = $1 AND external_id = $2")
            .bind(who.id)
            .bind(gone)
            .execute(&mut *tx)
            .await?;
    }
    for asset in assets {
        let policy = asset.policy.as_ref().and_then(|p| serde_json::to_string(p).ok());
        sqlx::query(
            "INSERT INTO assets (appliance_id, external_id, name, path, policy, policy_since) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (appliance_id, external_id) DO UPDATE SET name = excluded.name, path = excluded.path,
               policy = excluded.policy,
               policy_since = CASE WHEN COALESCE(assets.policy, '') = COALESCE(excluded.policy, '')
                                   THEN COALESCE(assets.policy_since, excluded.policy_since) ELSE excluded.policy_since END",
        )
        .bind(who.id)
        .bind(&asset.id)
        .bind(&asset.name)
        .bind(&asset.path)
        .bind(policy)
        .bind(portal.now())
        .execute(&mut *tx)
        .await?;
    }
    // Assets carry their appliance's and organization's names for sorting.
    sqlx::query(
        "UPDATE assets SET
           appliance_name = (SELECT a.name FROM appliances a WHERE a.id = assets.appliance_id),
           organization_name = (SELECT o.name FROM appliances a JOIN organizations o ON o.id = a.organization_id
                                WHERE a.id = assets.appliance_id)
         WHERE appliance_id = $1 AND (appliance_name = '' OR organization_name = '')",
    )
    .bind(who.id)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE assets SET search_text = LOWER(name || ' ' || path || ' ' || appliance_name)
         WHERE appliance_id = $1 AND search_text <> LOWER(name || ' ' || path || ' ' || appliance_name)",
    )
    .bind(who.id)
    .execute(&mut *tx)
    .await?;
    // Jobs carry their asset's name for sorting; a renamed asset renames them.
    sqlx::query(
        "UPDATE jobs SET asset_name = (SELECT s.name FROM assets s WHERE s.appliance_id = jobs.appliance_id
                                                                    AND s.external_id = jobs.asset_external_id)
         WHERE appliance_id = $1 AND EXISTS (SELECT 1 FROM assets s WHERE s.appliance_id = jobs.appliance_id
                                             AND s.external_id = jobs.asset_external_id AND s.name <> jobs.asset_name)",
    )
    .bind(who.id)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "DELETE FROM recovery_points WHERE asset_id IN (SELECT id FROM assets WHERE appliance_id = $1)",
    )
    .bind(who.id)
    .execute(&mut *tx)
    .await?;
    for point in points {
        sqlx::query(
            "INSERT INTO recovery_points (asset_id, external_id, taken_at, size_bytes, files)
             SELECT id, $1, $2, $3, $4 FROM assets WHERE appliance_id = $5 AND external_id = $6",
        )
        .bind(&point.id)
        .bind(point.time)
        .bind(to_i64(point.size_bytes))
        .bind(to_i64(point.files))
        .bind(who.id)
        .bind(&point.asset_id)
        .execute(&mut *tx)
        .await?;
    }
    // Rewritten only where they changed: every inventory reports every recovery point.
    sqlx::query(AssertSqlSafe(format!(
        "UPDATE assets SET points = {POINTS}, last_point_at = {LAST_POINT_AT}, last_point_bytes = {LAST_POINT_BYTES}
         WHERE appliance_id = $1 AND (points <> {POINTS} OR last_point_at IS DISTINCT FROM {LAST_POINT_AT}
                                      OR last_point_bytes IS DISTINCT FROM {LAST_POINT_BYTES})"
    )))
    .bind(who.id)
    .execute(&mut *tx)
    .await?;
    let jobs: Vec<&JobInfo> = jobs
        .iter()
        .filter(|j| !dated_in_future(j, portal.now()))
        .collect();
    for job in &jobs {
        upsert_job(&mut tx, who, job, portal.now()).await?;
    }
    finished::record_finished_jobs(&mut tx, who.id, who.instance_id).await?;
    // Policies, results or the assets themselves may have changed.
    sqlx::query(
        "INSERT INTO alert_checks (object_kind, object_id, due_at) SELECT 'asset', id, $1 FROM assets WHERE appliance_id = $2
         ON CONFLICT (object_kind, object_id) DO UPDATE SET due_at = excluded.due_at",
    )
    .bind(portal.now())
    .bind(who.id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    portal.evaluate_now.notify_one();
    events::appliance(portal, who.instance_id, who.id).await;
    portal
        .publish(
            who.instance_id,
            who.organization_id,
            LiveEvent::Inventory { appliance_id: who.id },
        )
        .await;
    for job in jobs {
        events::job(portal, who.instance_id, who.id, &job.id).await;
    }
    Ok(())
}

/// A job dated later than the clocks allow: ignored, so a wrong clock cannot pin jobs to the
/// top of every list or keep them from the 90-day purge. The portal's clock or the wall clock,
/// whichever is later (they are the same but in tests, whose clock stands still).
fn dated_in_future(job: &JobInfo, now: i64) -> bool {
    let limit = now.max(crate::SystemClock.now_ms()) + FUTURE_TOLERANCE_MS;
    job.started_at > limit || job.ended_at.is_some_and(|t| t > limit)
}

/// Stores a job's state and progress, and passes it on to browsers.
#[tracing::instrument(skip_all)]
pub async fn job(portal: &Portal, who: &ApplianceIdentity, job: &JobInfo) -> DomainResult<()> {
    if dated_in_future(job, portal.now()) {
        let message = format!(
            "job {} is dated in the future and was ignored; check the appliance's clock",
            job.id
        );
        return Err(AppError::invalid("job", message).into());
    }
    if job.state.is_finished() {
        // The result, its count in the Dashboard chart and (for a backup) the asset's alert
        // conditions change at once.
        let mut tx = portal.db.begin().await?;
        ensure_registered(&mut tx, who).await?;
        upsert_job(&mut tx, who, job, portal.now()).await?;
        finished::record_finished_jobs(&mut tx, who.id, who.instance_id).await?;
        enqueue_job_finished(&mut tx, who, job, portal.now()).await?;
        let asset: Option<i64> = match job.kind {
            JobKind::Backup | JobKind::Copy | JobKind::Verify => {
                sqlx::query_scalar("SELECT id FROM assets WHERE appliance_id = $1 AND external_id = $2")
                    .bind(who.id)
                    .bind(&job.asset_id)
                    .fetch_optional(&mut *tx)
                    .await?
            }
            _ => None,
        };
        if let Some(asset) = asset {
            engine::touch(&mut tx, Object::Asset(asset), portal.now()).await?;
        }
        tx.commit().await?;
        if asset.is_some() {
            portal.evaluate_now.notify_one();
        }
    } else {
        let mut conn = portal.db.pool.acquire().await?;
        ensure_registered(&mut conn, who).await?;
        upsert_job(&mut conn, who, job, portal.now()).await?;
    }
    events::job(portal, who.instance_id, who.id, &job.id).await;
    Ok(())
}

/// A `job.finished` delivery for the endpoints that want it (once per job, however often the
/// appliance reports its end).
async fn enqueue_job_finished(
    conn: &mut AnyConnection,
    who: &ApplianceIdentity,
    job: &JobInfo,
    now: i64,
) -> DomainResult<()> {
    let (id, asset_name): (i64, String) =
        sqlx::query_as("SELECT id, asset_name FROM jobs WHERE appliance_id = $1 AND external_id = $2")
            .bind(who.id)
            .bind(&job.id)
            .fetch_one(&mut *conn)
            .await?;
    let event = webhooks::Event {
        instance_id: who.instance_id,
        organization_id: who.organization_id,
        kind: WebhookEvent::JobFinished,
        key: format!("job:{id}"),
        data: serde_json::json!({
            "jobId": id,
            "kind": job.kind.as_str(),
            "status": job.state.as_str(),
            "applianceId": who.id,
            "organizationId": who.organization_id,
            "assetName": asset_name,
            "startedAt": job.started_at,
            "endedAt": job.ended_at,
            "error": job.error,
        }),
    };
    webhooks::enqueue(conn, event, now).await
}

async fn upsert_job(
    conn: &mut AnyConnection,
    who: &ApplianceIdentity,
    job: &JobInfo,
    now: i64,
) -> DomainResult<()> {
    let p = &job.progress;
    sqlx::query(
        "INSERT INTO jobs (appliance_id, organization_id, asset_external_id, external_id, kind, state, started_at, ended_at,
                           percent, bytes_done, bytes_total, files_done, files_total, bytes_per_sec, eta_secs, message, error, updated_at,
                           mode, size_bytes, scheduled_for, appliance_name, asset_name)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21,
                 (SELECT name FROM appliances WHERE id = $1),
                 COALESCE((SELECT name FROM assets WHERE appliance_id = $1 AND external_id = $3), $3))
         ON CONFLICT (appliance_id, external_id) DO UPDATE SET
           state = excluded.state, ended_at = excluded.ended_at, percent = excluded.percent,
           mode = excluded.mode, size_bytes = excluded.size_bytes, scheduled_for = excluded.scheduled_for,
           bytes_done = excluded.bytes_done, bytes_total = excluded.bytes_total, files_done = excluded.files_done,
           files_total = excluded.files_total, bytes_per_sec = excluded.bytes_per_sec, eta_secs = excluded.eta_secs,
           message = excluded.message, error = excluded.error, updated_at = excluded.updated_at",
    )
    .bind(who.id)
    .bind(who.organization_id)
    .bind(&job.asset_id)
    .bind(&job.id)
    .bind(job.kind.as_str())
    .bind(job.state.as_str())
    .bind(job.started_at)
    .bind(job.ended_at)
    .bind(p.percent.clamp(0.0, 100.0))
    .bind(to_i64(p.bytes_done))
    .bind(to_i64(p.bytes_total))
    .bind(to_i64(p.files_done))
    .bind(to_i64(p.files_total))
    .bind(to_i64(p.bytes_per_sec))
    .bind(p.eta_secs.map(to_i64))
    .bind(p.message.chars().take(500).collect::<String>())
    .bind(job.error.as_ref().map(|e| e.chars().take(MAX_JOB_ERROR_CHARS).collect::<String>()))
    .bind(now)
    .bind(job.mode.map(|m| m.as_str()))
    .bind(job.size_bytes.map(to_i64))
    .bind(job.scheduled_for)
    .execute(conn)
    .await?;
    Ok(())
}

#[tracing::instrument(skip_all)]
pub async fn job_log(
    portal: &Portal,
    who: &ApplianceIdentity,
    job_id: &str,
    lines: &[String],
) -> DomainResult<()> {
    let mut tx = portal.db.begin().await?;
    ensure_registered(&mut tx, who).await?;
    let id: Option<i64> =
        sqlx::query_scalar("SELECT id FROM jobs WHERE appliance_id = $1 AND external_id = $2")
            .bind(who.id)
            .bind(job_id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(id) = id else {
        return Err(AppError::not_found("Job").into());
    };
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM job_log WHERE job_id = $1")
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    let room = usize::try_from(MAX_JOB_LOG_LINES - stored).unwrap_or(0);
    for line in lines.iter().take(1000.min(room)) {
        sqlx::query("INSERT INTO job_log (job_id, line, at) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(line.chars().take(2000).collect::<String>())
            .bind(portal.now())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    portal
        .publish(
            who.instance_id,
            who.organization_id,
            LiveEvent::JobLog { job_id: id },
        )
        .await;
    Ok(())
}

/// At connect: commands sent on an earlier connection and never answered. A policy or copy
/// target change is safe to repeat, so it is sent again; anything else ends in error, as the
/// appliance may or may not have acted on it.
#[tracing::instrument(skip_all)]
pub async fn settle_unanswered(portal: &Portal, who: &ApplianceIdentity) -> DomainResult<()> {
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "SELECT id, command FROM appliance_commands WHERE appliance_id = $1 AND status = 'sent' ORDER BY id",
    )
    .bind(who.id)
    .fetch_all(&portal.db.pool)
    .await?;
    for (id, json) in rows {
        let repeatable = matches!(
            serde_json::from_str::<Command>(&json),
            Ok(Command::SetPolicy { .. } | Command::RemovePolicy { .. } | Command::SetCopyTarget { .. })
        );
        if repeatable {
            sqlx::query("UPDATE appliance_commands SET status = 'pending' WHERE id = $1 AND status = 'sent'")
                .bind(id)
                .execute(&portal.db.pool)
                .await?;
            events::command(portal, id).await;
        } else {
            let message =
                "The connection dropped before the appliance answered; check its jobs and try again.";
            finish(
                portal,
                who,
                id,
                &CommandOutcome::Error {
                    message: message.into(),
                },
            )
            .await?;
        }
    }
    Ok(())
}

/// Commands not yet handed to the appliance, oldest first; marks them sent.
#[tracing::instrument(skip_all)]
pub async fn take_pending(portal: &Portal, who: &ApplianceIdentity) -> DomainResult<Vec<(i64, Command)>> {
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "SELECT id, command FROM appliance_commands WHERE appliance_id = $1 AND status = 'pending' ORDER BY id",
    )
    .bind(who.id)
    .fetch_all(&portal.db.pool)
    .await?;
    let mut taken = Vec::new();
    for (id, json) in rows {
        let claimed =
            sqlx::query("UPDATE appliance_commands SET status = 'sent' WHERE id = $1 AND status = 'pending'")
                .bind(id)
                .execute(&portal.db.pool)
                .await?
                .rows_affected()
                == 1;
        if claimed {
            events::command(portal, id).await;
        }
        let command = serde_json::from_str::<Command>(&json)
            .map_err(|e| format!("unreadable command: {e}"))
            .and_then(|command| {
                super::copies::opened_for_delivery(command, &portal.vault).map_err(|e| e.to_string())
            });
        match command {
            Ok(command) if claimed => taken.push((id, command)),
            Ok(_) => {}
            Err(message) => finish(portal, who, id, &CommandOutcome::Error { message }).await?,
        }
    }
    Ok(taken)
}

/// Records how a command ended.
#[tracing::instrument(skip_all, fields(command_id = command_id))]
pub async fn finish(
    portal: &Portal,
    who: &ApplianceIdentity,
    command_id: i64,
    outcome: &CommandOutcome,
) -> DomainResult<()> {
    let (status, message) = match outcome {
        CommandOutcome::Done { message } => ("done", message),
        CommandOutcome::Error { message } => ("error", message),
    };
    let changed = sqlx::query(
        "UPDATE appliance_commands SET status = $1, message = $2, finished_at = $3 WHERE id = $4 AND appliance_id = $5",
    )
    .bind(status)
    .bind(message.chars().take(1000).collect::<String>())
    .bind(portal.now())
    .bind(command_id)
    .bind(who.id)
    .execute(&portal.db.pool)
    .await?
    .rows_affected()
        == 1;
    if !changed {
        // Not a command of this appliance: nothing was changed, so nothing is told.
        return Err(AppError::not_found("Command").into());
    }
    events::command(portal, command_id).await;
    Ok(())
}

/// Where an appliance's registration stands, for its open connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Registered,
    /// Deleted in the portal; `settled` once it has answered every command (the last being
    /// Unregister).
    Deleted {
        settled: bool,
    },
    /// Gone with its organization: no command queue is left, so the gateway tells it to
    /// unregister in passing and closes its connection.
    Gone,
}

#[tracing::instrument(skip_all)]
pub async fn standing(portal: &Portal, who: &ApplianceIdentity) -> DomainResult<Standing> {
    let row: Option<(Option<i64>, i64)> = sqlx::query_as(
        "SELECT a.deleted_at,
                (SELECT COUNT(*) FROM appliance_commands c WHERE c.appliance_id = a.id AND c.status IN ('pending', 'sent'))
         FROM appliances a WHERE a.id = $1",
    )
    .bind(who.id)
    .fetch_optional(&portal.db.pool)
    .await?;
    Ok(match row {
        None => Standing::Gone,
        Some((None, _)) => Standing::Registered,
        Some((Some(_), open)) => Standing::Deleted { settled: open == 0 },
    })
}
