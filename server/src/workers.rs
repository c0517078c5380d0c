//! Background loops. Each is safe to run in several server processes at once.

use std::time::Duration;

use domain::Portal;
use domain::outbox::{self, Mailer};
use tokio::sync::watch;

/// Delivers due mail every few seconds until shutdown.
pub async fn deliver_mail(portal: Portal, mailer: Mailer, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(3));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Err(error) = outbox::deliver_due(&portal.db, &mailer, portal.now()).await {
                    tracing::error!(%error, "mail delivery pass failed");
                }
            }
            _ = shutdown.changed() => break,
        }
    }
}

/// Marks appliances offline once they miss heartbeats for `offline_after_ms`.
pub async fn mark_offline(portal: Portal, offline_after_ms: i64, mut shutdown: watch::Receiver<bool>) {
    let every = Duration::from_millis((offline_after_ms / 10).clamp(1_000, 30_000) as u64);
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                match domain::appliances::gateway::mark_stale_offline(&portal, offline_after_ms).await {
                    Ok(ids) if !ids.is_empty() => tracing::info!(appliances = ?ids, "appliances went offline"),
                    Ok(_) => {}
                    Err(error) => tracing::error!(%error, "offline check failed"),
                }
            }
            _ = shutdown.changed() => break,
        }
    }
}

/// Deletes jobs older than the 90 days Jobs → Recent covers, hourly.
pub async fn purge_old_jobs(portal: Portal, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let purged = async {
                    let mut conn = portal.db.pool.acquire().await?;
                    domain::appliances::views::purge_old_jobs(&mut conn, portal.now()).await
                };
                match purged.await {
                    Ok(0) => {}
                    Ok(count) => tracing::info!(count, "purged jobs older than 90 days"),
                    Err(error) => tracing::error!(%error, "purging old jobs failed"),
                }
            }
            _ = shutdown.changed() => break,
        }
    }
}
