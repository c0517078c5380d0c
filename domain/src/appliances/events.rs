//! Publishing what changed on appliances to the live hub, after the change is committed.
//! A failure to read the row back is logged and the event dropped: browsers catch up with the
//! next event or their next snapshot, and the change itself is already stored.

use model::live::LiveEvent;

use super::views;
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
                .live
                .publish(instance_id, organization_id, LiveEvent::Appliance { appliance });
        }
        Ok(())
    };
    log_failure("an appliance", publish.await);
}

pub(crate) async fn job(portal: &Portal, instance_id: i64, appliance_id: i64, external_id: &str) {
    let publish = async {
        let mut conn = portal.db.pool.acquire().await?;
        if let Some(job) = views::job_by_external_id(&mut conn, appliance_id, external_id).await? {
            portal
                .live
                .publish(instance_id, job.organization_id, LiveEvent::Job { job });
        }
        Ok(())
    };
    log_failure("a job", publish.await);
}

pub(crate) async fn command(portal: &Portal, instance_id: i64, command_id: i64) {
    let publish = async {
        let mut conn = portal.db.pool.acquire().await?;
        if let Some(command) = views::command(&mut conn, command_id).await? {
            portal.live.publish(
                instance_id,
                command.organization_id,
                LiveEvent::Command { command },
            );
        }
        Ok(())
    };
    log_failure("a command", publish.await);
}
