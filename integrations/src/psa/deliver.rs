//! Sends the queued PSA ticket writes (`domain::psa`): each ticket's writes in order, one
//! request at a time (well inside Autotask's 3 concurrent requests per endpoint). A create that
//! is retried first looks for a ticket carrying its alert's marker (Autotask: in the
//! description; ConnectWise: the external reference), and a note for one carrying its own, so a
//! lost answer never makes a second ticket or note.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use domain::psa::{self, DueWrite, Outcome, TicketWrite};
use domain::{DomainResult, Portal};

use super::{NewTicket, PsaClient, PsaError, service};

/// Writes claimed per round.
const BATCH: i64 = 50;

/// Sends the writes that are due, round after round while there are any (a ticket's note
/// becomes due once its creation is done); returns how many were tried.
pub async fn deliver_due(portal: &Portal) -> DomainResult<usize> {
    crate::rounds::in_rounds(|| deliver_round(portal)).await
}

async fn deliver_round(portal: &Portal) -> DomainResult<usize> {
    let due = psa::claim_due(&portal.db, portal.now(), BATCH).await?;
    let mut clients: HashMap<i64, Result<PsaClient, String>> = HashMap::new();
    for write in &due {
        if let Entry::Vacant(slot) = clients.entry(write.integration_id) {
            let client = service::client_by_id(portal, write.integration_id)
                .await
                .map_err(|e| e.to_string());
            slot.insert(client);
        }
        let outcome = match &clients[&write.integration_id] {
            Ok(client) => send(client, write).await,
            Err(error) => Outcome::Retry(error.clone()),
        };
        if let Outcome::Retry(reason) | Outcome::GiveUp(reason) | Outcome::Pause(reason) = &outcome {
            tracing::warn!(write = write.id, ticket = write.ticket_id, %reason, "PSA ticket write failed");
        }
        psa::record(portal, write, outcome, portal.now()).await?;
    }
    Ok(due.len())
}

async fn send(client: &PsaClient, due: &DueWrite) -> Outcome {
    let result = match &due.write {
        TicketWrite::Create {
            company_id,
            title,
            description,
            queue,
            status,
            priority,
            due_at,
            ticket_type,
            source,
            location,
        } => {
            let ticket = NewTicket {
                company_id: *company_id,
                title: title.clone(),
                description: description.clone(),
                queue: queue.clone(),
                status: status.clone(),
                priority: priority.clone(),
                due_at_ms: *due_at,
                ticket_type: ticket_type.clone(),
                source: source.clone(),
                location: location.clone(),
                reference: psa::alert_marker(due.alert_id),
            };
            create(client, due, &ticket).await.map(Some)
        }
        TicketWrite::Note { title, description } => {
            note(client, due, title, description).await.map(|()| None)
        }
        TicketWrite::Close {
            status,
            title,
            description,
        } => close(client, due, status, (title, description))
            .await
            .map(|()| None),
    };
    match result {
        Ok(ticket) => Outcome::Done { ticket },
        Err(PsaError::NotFound(_)) if !matches!(due.write, TicketWrite::Create { .. }) => {
            Outcome::GiveUp("the ticket no longer exists in the PSA".into())
        }
        Err(PsaError::Credentials { message, .. }) => Outcome::Pause(message),
        Err(error) => Outcome::Retry(error.to_string()),
    }
}

async fn create(client: &PsaClient, due: &DueWrite, ticket: &NewTicket) -> Result<(i64, String), PsaError> {
    if due.attempts > 1
        && let Some(found) = client.find_ticket(&ticket.reference).await?
    {
        return Ok((found.id, found.number));
    }
    let created = client.create_ticket(ticket).await?;
    Ok((created.id, created.number))
}

fn ticket_id(due: &DueWrite) -> Result<i64, PsaError> {
    due.external_id
        .ok_or_else(|| PsaError::NotFound("the ticket was never created".into()))
}

async fn note(client: &PsaClient, due: &DueWrite, title: &str, description: &str) -> Result<(), PsaError> {
    let ticket = ticket_id(due)?;
    let marker = psa::op_marker(due.id);
    if due.attempts > 1 && client.has_note(ticket, &marker).await? {
        return Ok(());
    }
    client
        .add_note(ticket, title, &format!("{description}\n{marker}"))
        .await
}

async fn close(
    client: &PsaClient,
    due: &DueWrite,
    status: &str,
    (title, description): (&str, &str),
) -> Result<(), PsaError> {
    note(client, due, title, description).await?;
    client.set_status(ticket_id(due)?, status).await
}
