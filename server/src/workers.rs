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
