//! Sends the queued VSA alarm writes (`domain::vsa`): each alert's writes in order (its close
//! after its raise). A raise that is retried first looks for an alarm carrying its marker, so
//! a lost answer or a worker stopped between "sent" and "recorded" never makes a second alarm
//! or a second e-mail.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use domain::vsa::{self, AlarmOutcome, AlarmWrite, DueAlarmWrite, alarm_marker};
use domain::{DomainResult, Portal};

use super::{AlarmSink, NewAlarm, VsaClient, VsaError, service};

/// Writes claimed per round.
const BATCH: i64 = 50;

/// Sends the writes that are due, round after round while there are any; returns how many
/// were tried.
pub async fn deliver_due(portal: &Portal) -> DomainResult<usize> {
    crate::rounds::in_rounds(|| deliver_round(portal)).await
}

async fn deliver_round(portal: &Portal) -> DomainResult<usize> {
    let due = vsa::claim_due(&portal.db, portal.now(), BATCH).await?;
    let mut clients: HashMap<i64, Result<VsaClient, String>> = HashMap::new();
    for write in &due {
        if let Entry::Vacant(slot) = clients.entry(write.integration_id) {
            let client = service::client_by_id(portal, write.integration_id)
                .await
                .map_err(|e| e.to_string());
            slot.insert(client);
        }
        let outcome = match &clients[&write.integration_id] {
            Ok(client) => send(client, write).await,
            Err(error) => AlarmOutcome::Retry(error.clone()),
        };
        if let AlarmOutcome::Retry(reason) | AlarmOutcome::GiveUp(reason) | AlarmOutcome::Pause(reason) =
            &outcome
        {
            tracing::warn!(write = write.id, alert = write.alert_id, %reason, "VSA alarm write failed");
        }
        vsa::record(portal, write, outcome, portal.now()).await?;
    }
    Ok(due.len())
}

/// Sends one write to `sink` and says how it went.
pub async fn send(sink: &impl AlarmSink, due: &DueAlarmWrite) -> AlarmOutcome {
    let result = match &due.write {
        AlarmWrite::Raise {
            machine,
            organization,
            message,
            email_to,
            ..
        } => {
            let alarm = NewAlarm {
                alert_id: due.alert_id,
                machine,
                organization,
                message,
                email_to,
            };
            raise(sink, due, &alarm).await
        }
        AlarmWrite::Close { note } => close(sink, due, note).await,
    };
    match result {
        Ok(vsa_alarm_id) => AlarmOutcome::Done { vsa_alarm_id },
        Err(VsaError::BadCredentials) => AlarmOutcome::Pause(VsaError::BadCredentials.to_string()),
        Err(error) => AlarmOutcome::Retry(error.to_string()),
    }
}

async fn raise(
    sink: &impl AlarmSink,
    due: &DueAlarmWrite,
    alarm: &NewAlarm<'_>,
) -> Result<Option<String>, VsaError> {
    if due.attempts > 1
        && let Some(found) = sink.find(&alarm_marker(due.alert_id)).await?
    {
        return Ok(Some(found.id));
    }
    let raised = sink.raise(alarm).await?;
    Ok(raised)
}

async fn close(sink: &impl AlarmSink, due: &DueAlarmWrite, note: &str) -> Result<Option<String>, VsaError> {
    let alarm_id = match &due.vsa_alarm_id {
        Some(id) => Some(id.clone()),
        None => sink.find(&alarm_marker(due.alert_id)).await?.map(|a| a.id),
    };
    // An alarm someone already removed in VSA has nothing left to close.
    let Some(alarm_id) = alarm_id else {
        return Ok(None);
    };
    match sink.close(&alarm_id, note).await {
        Ok(()) | Err(VsaError::NotFound(_)) => Ok(None),
        Err(error) => Err(error),
    }
}
