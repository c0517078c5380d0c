//! Publishing what changed on appliances to the live hub, after the change is committed.
//! A failure to read the row back is logged and the event dropped: browsers catch up with the
//! next event or their next snapshot, and the change itself is already stored.

use model::live::LiveEvent;

use super::{commands, jobs, views};
use crate::{DomainResult, Portal};

fn log_failure(what: &str, result: DomainResult<()>) {
    if let Err(error) = result {
        tracing::warn!(%error, "publishing {what} failed");
    }
}

pub(crate) async fn appliance(portal: &Portal, instance_id: i64, appliance_id: i64) {
    let publish = async {
        let mut conn = portal.db.pool.acquire().await?;
        if let Some(appliance) = views::summary(&mut conn, appliance_id).await? {
            let organization_id = appliance.organization_id;
            portal
                .publish(instance_id, organization_id, LiveEvent::Appliance { appliance })
                .await;
        }
        Ok(())
    };
    log_failure("an appliance", publish.await);
}

pub(crate) async fn job(portal: &Portal, instance_id: i64, appliance_id: i64, external_id: &str) {
    let publish = async {
        let mut conn = portal.db.pool.acquire().await?;
        if let Some(job) = jobs::by_external_id(&mut conn, appliance_id, external_id).await? {
            portal
                .publish(instance_id, job.organization_id, LiveEvent::Job { job })
                .await;
        }
        Ok(())
    };
    log_failure("a job", publish.await);
}

/// A command's new state, to the browsers of the instance that owns it (read from the row,
/// never from whoever caused the change).
pub(crate) async fn command(portal: &Portal, command_id: i64) {
    let publish = async {
        let mut conn = portal.db.pool.acquire().await?;
        let owner: Option<i64> = sqlx::query_scalar(
            "SELECT a.instance_id FROM appliance_commands c JOIN appliances a ON a.id = c.appliance_id WHERE c.id = $1",
        )
        .bind(command_id)
        .fetch_optional(&mut *conn)
        .await?;
        let view = commands::view(&mut conn, command_id).await?;
        drop(conn);
        if let (Some(instance_id), Some(command)) = (owner, view) {
            portal
                .publish(
                    instance_id,
                    command.organization_id,
                    LiveEvent::Command { command },
                )
                .await;
        }
        Ok(())
    };
    log_failure("a command", publish.await);
}
