//! What operators watch that lives in the database, read when `/metrics` is scraped.

use crate::{DomainResult, Portal};

/// Work waiting, and how long it has waited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backlog {
    /// Jobs queued or running on appliances.
    pub jobs_running: i64,
    /// Appliances whose heartbeat is current.
    pub appliances_online: i64,
    /// Mails queued and not yet sent.
    pub outbox_pending: i64,
    /// How long the oldest queued mail has waited, in ms (0 with none).
    pub outbox_oldest_age_ms: i64,
    /// How far the alert evaluator is behind its earliest due check, in ms (0 when none is
    /// overdue).
    pub alert_evaluation_lag_ms: i64,
}

/// The backlog across every instance of this server.
#[tracing::instrument(skip_all)]
pub async fn backlog(portal: &Portal) -> DomainResult<Backlog> {
    let now = portal.now();
    let pool = &portal.db.pool;
    let jobs_running: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')")
            .fetch_one(pool)
            .await?;
    let appliances_online: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM appliances WHERE online = 1 AND deleted_at IS NULL")
            .fetch_one(pool)
            .await?;
    let (outbox_pending, oldest): (i64, Option<i64>) =
        sqlx::query_as("SELECT COUNT(*), MIN(created_at) FROM outbox WHERE status = 'queued'")
            .fetch_one(pool)
            .await?;
    let due = crate::alerts::engine::next_due(portal).await?;
    Ok(Backlog {
        jobs_running,
        appliances_online,
        outbox_pending,
        outbox_oldest_age_ms: oldest.map_or(0, |t| (now - t).max(0)),
        alert_evaluation_lag_ms: due.map_or(0, |t| (now - t).max(0)),
    })
}
