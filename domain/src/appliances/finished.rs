//! What a job's end changes, recorded once when it first reports a final state (an appliance
//! reports finished jobs again with every inventory): the Dashboard's daily counts of finished
//! jobs, and for a backup its asset's newest result and newest good backup, which the alert
//! evaluator reads without searching the jobs.

use std::collections::BTreeMap;

use sqlx::{AnyConnection, AssertSqlSafe};

use super::health::failure_shown_until;
use crate::DomainResult;
use crate::clock::HOUR_MS;

const DAY_MS: i64 = 24 * HOUR_MS;

#[derive(sqlx::FromRow)]
struct Finished {
    organization_id: i64,
    ended_at: i64,
    state: String,
    kind: String,
    asset_external_id: String,
    started_at: i64,
    scheduled_for: Option<i64>,
}

/// Records the appliance's jobs that reached a final state since the last call, each once.
pub(crate) async fn record_finished_jobs(
    conn: &mut AnyConnection,
    appliance_id: i64,
    instance_id: i64,
) -> DomainResult<()> {
    let finished: Vec<Finished> = sqlx::query_as(
        "UPDATE jobs SET counted = 1
         WHERE appliance_id = $1 AND counted = 0 AND state IN ('success', 'warning', 'error', 'missed', 'cancelled')
         RETURNING organization_id, COALESCE(ended_at, updated_at) AS ended_at, state, kind, asset_external_id,
                   started_at, scheduled_for",
    )
    .bind(appliance_id)
    .fetch_all(&mut *conn)
    .await?;
    count_per_day(&mut *conn, &finished, instance_id).await?;
    record_copy_progress(&mut *conn, appliance_id, &finished).await?;
    record_restore_tests(&mut *conn, appliance_id, &finished).await?;
    let backups: Vec<&Finished> = finished.iter().filter(|j| j.kind == "backup").collect();
    if backups.is_empty() {
        return Ok(());
    }
    let time_zone: String = sqlx::query_scalar("SELECT time_zone FROM appliances WHERE id = $1")
        .bind(appliance_id)
        .fetch_one(&mut *conn)
        .await?;
    for job in backups {
        record_backup_result(&mut *conn, appliance_id, job).await?;
        if matches!(job.state.as_str(), "error" | "missed") {
            record_failure(&mut *conn, appliance_id, &time_zone, job).await?;
        }
    }
    Ok(())
}

/// The newest restore test's end and result ("success", "warning" or "error"; a cancelled one
/// tells nothing).
async fn record_restore_tests(
    conn: &mut AnyConnection,
    appliance_id: i64,
    finished: &[Finished],
) -> DomainResult<()> {
    let tests = finished
        .iter()
        .filter(|j| j.kind == "verify" && matches!(j.state.as_str(), "success" | "warning" | "error"));
    for job in tests {
        sqlx::query(
            "UPDATE assets SET last_verified_at = $3, last_verify_result = $4
             WHERE appliance_id = $1 AND external_id = $2 AND (last_verified_at IS NULL OR last_verified_at <= $3)",
        )
        .bind(appliance_id)
        .bind(&job.asset_external_id)
        .bind(job.ended_at)
        .bind(&job.state)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// While the appliance has a copy target, a good backup waits for a copy (from its end, the
/// Replication offsite alarm counts); a good copy covers every backup that ended before it
/// started, and leaves waiting only those that ended since.
async fn record_copy_progress(
    conn: &mut AnyConnection,
    appliance_id: i64,
    finished: &[Finished],
) -> DomainResult<()> {
    let good = |job: &&Finished| matches!(job.state.as_str(), "success" | "warning");
    for job in finished.iter().filter(good) {
        let sql = match job.kind.as_str() {
            "backup" => {
                "UPDATE assets SET copy_pending_since = $3
                 WHERE appliance_id = $1 AND external_id = $2
                   AND (copy_pending_since IS NULL OR copy_pending_since > $3)
                   AND EXISTS (SELECT 1 FROM copy_targets t WHERE t.appliance_id = $1)"
            }
            "copy" => {
                "UPDATE assets SET
                   last_copy_at = CASE WHEN last_copy_at IS NULL OR last_copy_at < $3 THEN $3 ELSE last_copy_at END,
                   copy_pending_since = (SELECT MIN(j.ended_at) FROM jobs j
                       WHERE j.appliance_id = $1 AND j.asset_external_id = $2 AND j.kind = 'backup'
                         AND j.state IN ('success', 'warning') AND j.ended_at > $4
                         AND EXISTS (SELECT 1 FROM copy_targets t WHERE t.appliance_id = $1))
                 WHERE appliance_id = $1 AND external_id = $2"
            }
            _ => continue,
        };
        let update = sqlx::query(sql)
            .bind(appliance_id)
            .bind(&job.asset_external_id)
            .bind(job.ended_at);
        let update = if job.kind == "copy" {
            update.bind(job.started_at)
        } else {
            update
        };
        update.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Keeps the asset under "Recent failures" while the failure's day shows in the strip.
async fn record_failure(
    conn: &mut AnyConnection,
    appliance_id: i64,
    time_zone: &str,
    job: &Finished,
) -> DomainResult<()> {
    sqlx::query(
        "UPDATE assets SET failures_shown_until = $3
         WHERE appliance_id = $1 AND external_id = $2 AND (failures_shown_until IS NULL OR failures_shown_until < $3)",
    )
    .bind(appliance_id)
    .bind(&job.asset_external_id)
    .bind(failure_shown_until(job.started_at, time_zone))
    .execute(conn)
    .await?;
    Ok(())
}

async fn count_per_day(
    conn: &mut AnyConnection,
    finished: &[Finished],
    instance_id: i64,
) -> DomainResult<()> {
    let mut days: BTreeMap<(i64, i64), (i64, i64)> = BTreeMap::new();
    for job in finished {
        let counts = days
            .entry((job.organization_id, job.ended_at.div_euclid(DAY_MS) * DAY_MS))
            .or_default();
        match job.state.as_str() {
            "success" | "warning" => counts.0 += 1,
            "error" | "missed" => counts.1 += 1,
            _ => {}
        }
    }
    for ((organization_id, day), (good, missed)) in days {
        for (table, key_column, key) in [
            ("job_days", "organization_id", organization_id),
            ("instance_job_days", "instance_id", instance_id),
        ] {
            sqlx::query(AssertSqlSafe(format!(
                "INSERT INTO {table} ({key_column}, day, good, missed) VALUES ($1, $2, $3, $4)
                 ON CONFLICT ({key_column}, day) DO UPDATE SET good = {table}.good + excluded.good,
                                                              missed = {table}.missed + excluded.missed"
            )))
            .bind(key)
            .bind(day)
            .bind(good)
            .bind(missed)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

/// The asset's newest result (by start) and the scheduled start of its newest good backup.
async fn record_backup_result(
    conn: &mut AnyConnection,
    appliance_id: i64,
    job: &Finished,
) -> DomainResult<()> {
    if !matches!(job.state.as_str(), "success" | "warning" | "error") {
        return Ok(());
    }
    sqlx::query(
        "UPDATE assets SET last_result = $3, last_result_started = $4
         WHERE appliance_id = $1 AND external_id = $2 AND (last_result_started IS NULL OR last_result_started <= $4)",
    )
    .bind(appliance_id)
    .bind(&job.asset_external_id)
    .bind(&job.state)
    .bind(job.started_at)
    .execute(&mut *conn)
    .await?;
    if job.state != "error" {
        let good_start = job.scheduled_for.unwrap_or(job.started_at);
        sqlx::query(
            "UPDATE assets SET last_good_start = $3
             WHERE appliance_id = $1 AND external_id = $2 AND (last_good_start IS NULL OR last_good_start < $3)",
        )
        .bind(appliance_id)
        .bind(&job.asset_external_id)
        .bind(good_start)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Records every finished job from the jobs table at once, as the migration that added these
/// records did (for jobs written straight into the table, as the benchmarks do).
#[tracing::instrument(skip_all)]
pub async fn record_all_finished_jobs(conn: &mut AnyConnection) -> DomainResult<()> {
    for sql in BACKFILL {
        sqlx::query(sql).execute(&mut *conn).await?;
    }
    Ok(())
}

/// The same statements as the end of migrations 7 and 10.
const BACKFILL: [&str; 9] = [
    "DELETE FROM job_days",
    "DELETE FROM instance_job_days",
    "INSERT INTO job_days (organization_id, day, good, missed)
     SELECT organization_id, (COALESCE(ended_at, updated_at) / 86400000) * 86400000,
            SUM(CASE WHEN state IN ('success', 'warning') THEN 1 ELSE 0 END),
            SUM(CASE WHEN state IN ('error', 'missed') THEN 1 ELSE 0 END)
     FROM jobs WHERE state IN ('success', 'warning', 'error', 'missed', 'cancelled')
     GROUP BY organization_id, (COALESCE(ended_at, updated_at) / 86400000) * 86400000",
    "INSERT INTO instance_job_days (instance_id, day, good, missed)
     SELECT o.instance_id, d.day, SUM(d.good), SUM(d.missed)
     FROM job_days d JOIN organizations o ON o.id = d.organization_id
     GROUP BY o.instance_id, d.day",
    "CREATE INDEX jobs_backfill ON jobs(appliance_id, asset_external_id, kind, started_at)",
    "UPDATE assets SET
       last_good_start = (SELECT MAX(COALESCE(j.scheduled_for, j.started_at)) FROM jobs j
                          WHERE j.appliance_id = assets.appliance_id AND j.asset_external_id = assets.external_id
                            AND j.kind = 'backup' AND j.state IN ('success', 'warning')),
       last_result_started = (SELECT MAX(j.started_at) FROM jobs j
                              WHERE j.appliance_id = assets.appliance_id AND j.asset_external_id = assets.external_id
                                AND j.kind = 'backup' AND j.state IN ('success', 'warning', 'error')),
       last_result = (SELECT j.state FROM jobs j
                      WHERE j.appliance_id = assets.appliance_id AND j.asset_external_id = assets.external_id
                        AND j.kind = 'backup' AND j.state IN ('success', 'warning', 'error')
                      ORDER BY j.started_at DESC, j.id DESC LIMIT 1)",
    "UPDATE assets SET
       failures_shown_until = (SELECT (MAX(j.started_at) / 86400000 + 7) * 86400000 FROM jobs j
                               WHERE j.appliance_id = assets.appliance_id AND j.asset_external_id = assets.external_id
                                 AND j.kind = 'backup' AND j.state IN ('error', 'missed'))",
    "DROP INDEX jobs_backfill",
    "UPDATE jobs SET counted = 1 WHERE counted = 0 AND state IN ('success', 'warning', 'error', 'missed', 'cancelled')",
];
