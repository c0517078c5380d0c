//! Jobs appliances run, as a viewer may see them: running and recently ended jobs, one job and
//! its log, and the 90-day retention. Jobs → Recent's filtered pages are in
//! [`super::recent_jobs`].

use model::appliance::views::{JobLogLine, JobView};
use model::appliance::{JobKind, JobMode, JobProgress, JobState};
use model::jobs::RECENT_JOB_DAYS;
use sqlx::{AnyConnection, AssertSqlSafe};

use super::views::{to_u64, visible_row};
use crate::DomainResult;
use crate::access::{BindViewer, Viewer, visible_org};

#[derive(sqlx::FromRow)]
pub(super) struct JobRow {
    id: i64,
    appliance_id: i64,
    appliance_name: String,
    organization_id: i64,
    organization_name: String,
    scope_id: Option<i64>,
    asset_id: Option<i64>,
    asset_name: Option<String>,
    asset_external_id: String,
    external_id: String,
    kind: String,
    state: String,
    started_at: i64,
    ended_at: Option<i64>,
    percent: f64,
    bytes_done: i64,
    bytes_total: i64,
    files_done: i64,
    files_total: i64,
    bytes_per_sec: i64,
    eta_secs: Option<i64>,
    message: String,
    error: Option<String>,
    mode: Option<String>,
    size_bytes: Option<i64>,
    scheduled_for: Option<i64>,
    /// All matching rows, where a query counts them alongside the page.
    #[sqlx(default)]
    pub(super) total_rows: Option<i64>,
}

impl From<JobRow> for JobView {
    fn from(r: JobRow) -> Self {
        JobView {
            id: r.id,
            appliance_id: r.appliance_id,
            appliance_name: r.appliance_name,
            organization_id: r.organization_id,
            organization_name: r.organization_name,
            scope_id: r.scope_id,
            asset_id: r.asset_id,
            asset_name: r.asset_name.unwrap_or(r.asset_external_id),
            external_id: r.external_id,
            kind: JobKind::parse(&r.kind).unwrap_or(JobKind::Backup),
            state: JobState::parse(&r.state).unwrap_or(JobState::Error),
            started_at: r.started_at,
            ended_at: r.ended_at,
            progress: JobProgress {
                percent: r.percent,
                bytes_done: to_u64(r.bytes_done),
                bytes_total: to_u64(r.bytes_total),
                files_done: to_u64(r.files_done),
                files_total: to_u64(r.files_total),
                bytes_per_sec: to_u64(r.bytes_per_sec),
                eta_secs: r.eta_secs.map(to_u64),
                message: r.message,
            },
            error: r.error,
            mode: r.mode.as_deref().and_then(JobMode::parse),
            size_bytes: r.size_bytes.map(to_u64),
            scheduled_for: r.scheduled_for,
        }
    }
}

pub(super) const JOBS: &str = "SELECT j.id, j.appliance_id, a.name AS appliance_name, j.organization_id, o.name AS organization_name,
        o.scope_id, s.id AS asset_id, s.name AS asset_name, j.asset_external_id, j.external_id, j.kind, j.state, j.started_at,
        j.ended_at, j.percent, j.bytes_done, j.bytes_total, j.files_done, j.files_total, j.bytes_per_sec,
        j.eta_secs, j.message, j.error, j.mode, j.size_bytes, j.scheduled_for
    FROM jobs j JOIN appliances a ON a.id = j.appliance_id JOIN organizations o ON o.id = j.organization_id
    LEFT JOIN assets s ON s.appliance_id = j.appliance_id AND s.external_id = j.asset_external_id";

/// Jobs still running, and those that ended after `ended_after`.
#[derive(Debug, Clone, Copy)]
pub struct JobQuery {
    pub appliance_id: Option<i64>,
    /// Only the jobs of this asset (the portal's id).
    pub asset_id: Option<i64>,
    /// Only running jobs and jobs that ended after this time.
    pub active_or_ended_after: Option<i64>,
    pub limit: u32,
}

/// The viewer's jobs, newest first.
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id))]
pub async fn list(conn: &mut AnyConnection, viewer: &Viewer, query: JobQuery) -> DomainResult<Vec<JobView>> {
    let sql = format!(
        "{JOBS} WHERE o.instance_id = $1 AND {} AND a.deleted_at IS NULL AND ($4 IS NULL OR j.appliance_id = $4)
           AND ($5 IS NULL OR j.state IN ('queued', 'running') OR j.ended_at > $5) AND ($7 IS NULL OR s.id = $7)
         ORDER BY j.started_at DESC, j.id DESC LIMIT $6",
        visible_org(2, 3)
    );
    let rows: Vec<JobRow> = sqlx::query_as(AssertSqlSafe(sql))
        .bind_viewer(viewer)
        .bind(query.appliance_id)
        .bind(query.active_or_ended_after)
        .bind(i64::from(query.limit.clamp(1, 500)))
        .bind(query.asset_id)
        .fetch_all(conn)
        .await?;
    Ok(rows.into_iter().map(JobView::from).collect())
}

/// The `limit` most recently started queued or running jobs the viewer may see, of one
/// organization or scope if given (the Dashboard's Active jobs tile).
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id, organization_id = ?organization_id, scope_id = ?scope_id))]
pub async fn latest_active(
    conn: &mut AnyConnection,
    viewer: &Viewer,
    organization_id: Option<i64>,
    scope_id: Option<i64>,
    limit: i64,
) -> DomainResult<Vec<JobView>> {
    let mut sql = format!(
        "{JOBS} WHERE o.instance_id = $1 AND {} AND a.deleted_at IS NULL AND j.state IN ('queued', 'running')",
        visible_org(2, 3)
    );
    if let Some(organization) = organization_id {
        sql.push_str(&format!(" AND j.organization_id = {organization}"));
    }
    if let Some(scope) = scope_id {
        sql.push_str(&format!(" AND o.scope_id = {scope}"));
    }
    sql.push_str(" ORDER BY j.started_at DESC, j.id DESC LIMIT $4");
    let rows: Vec<JobRow> = sqlx::query_as(AssertSqlSafe(sql))
        .bind_viewer(viewer)
        .bind(limit)
        .fetch_all(conn)
        .await?;
    Ok(rows.into_iter().map(JobView::from).collect())
}

/// Deletes finished jobs (and their logs) that started more than 90 days ago; returns how many.
#[tracing::instrument(skip_all)]
pub async fn purge_old(conn: &mut AnyConnection, now: i64) -> DomainResult<u64> {
    let cutoff = now - RECENT_JOB_DAYS * 24 * 60 * 60 * 1000;
    sqlx::query("DELETE FROM job_log WHERE job_id IN (SELECT id FROM jobs WHERE started_at < $1 AND state NOT IN ('queued', 'running'))")
        .bind(cutoff)
        .execute(&mut *conn)
        .await?;
    let purged = sqlx::query("DELETE FROM jobs WHERE started_at < $1 AND state NOT IN ('queued', 'running')")
        .bind(cutoff)
        .execute(conn)
        .await?
        .rows_affected();
    Ok(purged)
}

/// The job if the viewer may see it; otherwise "not found".
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id, id = id))]
pub async fn get(conn: &mut AnyConnection, viewer: &Viewer, id: i64) -> DomainResult<JobView> {
    let sql = format!(
        "{JOBS} WHERE o.instance_id = $1 AND {} AND j.id = $4",
        visible_org(2, 3)
    );
    visible_row::<JobRow>(conn, viewer, sql, id, "Job")
        .await
        .map(JobView::from)
}

/// A job by the appliance's id for it, regardless of viewer, for live events.
#[tracing::instrument(skip_all, fields(appliance_id = appliance_id))]
pub async fn by_external_id(
    conn: &mut AnyConnection,
    appliance_id: i64,
    external_id: &str,
) -> DomainResult<Option<JobView>> {
    let sql = format!("{JOBS} WHERE j.appliance_id = $1 AND j.external_id = $2");
    let row: Option<JobRow> = sqlx::query_as(AssertSqlSafe(sql))
        .bind(appliance_id)
        .bind(external_id)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(JobView::from))
}

/// The job's log, oldest line first.
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id, job_id = job_id))]
pub async fn log(conn: &mut AnyConnection, viewer: &Viewer, job_id: i64) -> DomainResult<Vec<JobLogLine>> {
    let job = get(conn, viewer, job_id).await?;
    let rows: Vec<(i64, String)> =
        sqlx::query_as("SELECT at, line FROM job_log WHERE job_id = $1 ORDER BY id LIMIT 5000")
            .bind(job.id)
            .fetch_all(conn)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(at, line)| JobLogLine { at, line })
        .collect())
}
