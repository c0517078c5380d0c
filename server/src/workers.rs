//! Background loops. Each is safe to run in several server processes at once.

use std::time::Duration;

use domain::Portal;
use domain::outbox::{self, Mailer};
use tokio::sync::watch;

use crate::ops::Heartbeats;

/// A loop is stalled once it misses this many of its rounds (and at least a minute).
fn allowance(round: Duration) -> Duration {
    (round * 3).max(Duration::from_secs(60))
}

/// Delivers due mail every `every` (the first pass after one period) until shutdown.
pub async fn deliver_mail(
    portal: Portal,
    mailer: Mailer,
    every: Duration,
    heartbeats: Heartbeats,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        heartbeats.beat("mail", allowance(every));
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

/// A background pass: what it is called in heartbeats and logs, and how often it runs.
struct Pass {
    name: &'static str,
    every: Duration,
}

/// Runs `pass` every `every` (the first at once) until shutdown; a failed pass is logged and
/// the next one runs on time.
async fn repeat<F, Fut, T, E>(
    pass: Pass,
    heartbeats: Heartbeats,
    mut shutdown: watch::Receiver<bool>,
    mut run: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    let mut tick = tokio::time::interval(pass.every);
    loop {
        heartbeats.beat(pass.name, allowance(pass.every));
        tokio::select! {
            _ = tick.tick() => {
                if let Err(error) = run().await {
                    tracing::error!(%error, pass = pass.name, "background pass failed");
                }
            }
            _ = shutdown.changed() => break,
        }
    }
}

/// Sends due webhook deliveries every `every` until shutdown.
pub async fn deliver_webhooks(
    portal: Portal,
    client: reqwest::Client,
    every: Duration,
    heartbeats: Heartbeats,
    shutdown: watch::Receiver<bool>,
) {
    let pass = Pass {
        name: "webhooks",
        every,
    };
    repeat(pass, heartbeats, shutdown, || {
        public_api::webhooks::deliver_due(&portal, &client)
    })
    .await;
}

/// Writes backup facts to IT Glue for each integrated instance whose last pass is an hour old;
/// looks every `every`.
pub async fn sync_itglue(
    portal: Portal,
    every: Duration,
    heartbeats: Heartbeats,
    shutdown: watch::Receiver<bool>,
) {
    let pass = Pass {
        name: "itglue",
        every,
    };
    repeat(pass, heartbeats, shutdown, || {
        integrations::itglue::service::sync_due(&portal)
    })
    .await;
}

/// Sends due PSA ticket writes (new tickets, notes, closings) every `every` until shutdown.
pub async fn deliver_psa_tickets(
    portal: Portal,
    every: Duration,
    heartbeats: Heartbeats,
    shutdown: watch::Receiver<bool>,
) {
    let pass = Pass { name: "psa", every };
    repeat(pass, heartbeats, shutdown, || {
        integrations::psa::deliver_due(&portal)
    })
    .await;
}

/// Sends due VSA alarm writes (raises, closes) every `every` until shutdown.
pub async fn deliver_vsa_alarms(
    portal: Portal,
    every: Duration,
    heartbeats: Heartbeats,
    shutdown: watch::Receiver<bool>,
) {
    let pass = Pass { name: "vsa", every };
    repeat(pass, heartbeats, shutdown, || {
        integrations::vsa::deliver_due(&portal)
    })
    .await;
}

/// The longest the alert evaluator sleeps: checks another process scheduled are picked up
/// within this.
const EVALUATOR_IDLE: Duration = Duration::from_secs(15);
const EVALUATOR_RETRY: Duration = Duration::from_millis(200);

/// Evaluates alert conditions when they are due: it sleeps until the earliest due check, or
/// until this process records a change that makes one due now.
pub async fn evaluate_alerts(portal: Portal, heartbeats: Heartbeats, mut shutdown: watch::Receiver<bool>) {
    loop {
        heartbeats.beat("alerts", allowance(EVALUATOR_IDLE));
        let pause = match domain::alerts::engine::run_due(&portal).await {
            Ok(report) => {
                if report.raised + report.resolved > 0 {
                    tracing::info!(
                        raised = report.raised,
                        resolved = report.resolved,
                        "alerts changed"
                    );
                }
                // A check due now that this pass could not claim (another process holds it)
                // is retried shortly, not in a busy loop.
                until_next_check(&portal).await.max(EVALUATOR_RETRY)
            }
            Err(error) => {
                tracing::error!(%error, "alert evaluation failed");
                EVALUATOR_IDLE
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = portal.evaluate_now.notified() => {}
            _ = shutdown.changed() => break,
        }
    }
}

async fn until_next_check(portal: &Portal) -> Duration {
    match domain::alerts::engine::next_due(portal).await {
        Ok(Some(due)) => {
            let wait = (due - portal.now()).clamp(0, EVALUATOR_IDLE.as_millis() as i64);
            Duration::from_millis(wait as u64)
        }
        Ok(None) => EVALUATOR_IDLE,
        Err(error) => {
            tracing::error!(%error, "reading the next alert check failed");
            EVALUATOR_IDLE
        }
    }
}

/// Marks appliances offline once they miss heartbeats for `offline_after_ms`.
pub async fn mark_offline(
    portal: Portal,
    offline_after_ms: i64,
    heartbeats: Heartbeats,
    mut shutdown: watch::Receiver<bool>,
) {
    let every = Duration::from_millis((offline_after_ms / 10).clamp(1_000, 30_000) as u64);
    let mut tick = tokio::time::interval(every);
    loop {
        heartbeats.beat("offline", allowance(every));
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

/// Deletes jobs older than the 90 days Jobs → Recent covers, and alerts settled that long ago,
/// hourly.
pub async fn purge_old_jobs(portal: Portal, heartbeats: Heartbeats, mut shutdown: watch::Receiver<bool>) {
    const HOURLY: Duration = Duration::from_secs(3600);
    let mut tick = tokio::time::interval(HOURLY);
    loop {
        heartbeats.beat("purge", allowance(HOURLY));
        tokio::select! {
            _ = tick.tick() => {
                let purged = async {
                    let mut conn = portal.db.pool.acquire().await?;
                    let alerts = domain::alerts::center::purge_settled(&mut conn, portal.now()).await?;
                    if alerts > 0 {
                        tracing::info!(count = alerts, "purged alerts settled more than 90 days ago");
                    }
                    domain::dashboard::purge_old_days(&mut conn, portal.now()).await?;
                    domain::appliances::jobs::purge_old(&mut conn, portal.now()).await
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
