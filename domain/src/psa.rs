//! The durable queue of PSA ticket writes (spec portal-c §1.10). An alert that is raised or
//! resolved writes, in its own transaction, what each integrated PSA must be told: open a
//! ticket, add a note to the open ticket of the same condition, or close it. A worker
//! (`integrations::psa`) sends the writes of each ticket in order, with retries for a day, so
//! a PSA outage delays tickets but never loses or doubles them: every create carries a marker
//! with the alert id, and a retry first looks for a ticket that already carries it.

use chrono::{TimeZone, Utc};
use model::alerts::{AlertKind, Severity};
use model::psa::{TicketDefaults, ticket_title};
use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;

use crate::alerts::mail::Subject;
use crate::alerts::psa_failing::{self, Delivery};
use crate::clock::{HOUR_MS, MINUTE_MS};
use crate::{Db, DomainError, DomainResult, Portal};

/// A ticket's due date: three days after its alert (spec §1.4.5).
pub const DUE_AFTER_MS: i64 = 72 * HOUR_MS;
/// Writes are retried for a day of failures, then given up (a paused queue does not count).
pub const GIVE_UP_AFTER_MS: i64 = 24 * HOUR_MS;
/// A write failing this long raises "PSA tickets failing" in its organization; refused
/// credentials and given-up writes raise it at once.
pub const FAILING_ALERT_AFTER_MS: i64 = HOUR_MS;
const LEASE_MS: i64 = 2 * MINUTE_MS;

/// Wait before the next try after `attempts` failed ones: 1, 5 and 15 minutes, then hourly.
pub fn backoff_ms(attempts: i64) -> i64 {
    match attempts {
        ..=1 => MINUTE_MS,
        2 => 5 * MINUTE_MS,
        3 => 15 * MINUTE_MS,
        _ => HOUR_MS,
    }
}

/// The marker a ticket's description carries, found again by a retry.
pub fn alert_marker(alert_id: i64) -> String {
    format!("[Backplane alert {alert_id}]")
}

/// The marker a note carries, so that a retried note is not written twice.
pub fn op_marker(op_id: i64) -> String {
    format!("[Backplane note {op_id}]")
}

/// What one write sends; fixed when the alert happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum TicketWrite {
    Create {
        company_id: i64,
        title: String,
        description: String,
        queue: Option<String>,
        status: Option<String>,
        priority: String,
        due_at: i64,
        /// The ticket type and source, where the PSA requires them (BMS, Vorex).
        #[serde(default)]
        ticket_type: Option<String>,
        #[serde(default)]
        source: Option<String>,
        /// The account's location, where the PSA files tickets by location (BMS, Vorex);
        /// none: its main location.
        #[serde(default)]
        location: Option<String>,
    },
    Note {
        title: String,
        description: String,
    },
    Close {
        status: String,
        title: String,
        description: String,
    },
}

impl TicketWrite {
    fn name(&self) -> &'static str {
        match self {
            TicketWrite::Create { .. } => "create",
            TicketWrite::Note { .. } => "note",
            TicketWrite::Close { .. } => "close",
        }
    }
}

/// An alert just raised or resolved, with the names its ticket shows.
pub struct AlertFacts<'a> {
    pub id: i64,
    pub instance_id: i64,
    pub organization_id: i64,
    pub kind: AlertKind,
    pub message: &'a str,
    pub subject: &'a Subject,
}

impl AlertFacts<'_> {
    fn title(&self) -> String {
        let about = match &self.subject.asset_name {
            Some(asset) => format!("{} / {asset}", self.subject.appliance_name),
            None => self.subject.appliance_name.clone(),
        };
        ticket_title(self.kind, &self.subject.organization_name, &about)
    }

    fn description(&self, portal: &Portal, at: i64) -> String {
        let severity = match self.kind.severity() {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
        };
        let link = match self.subject.appliance_id {
            Some(id) => portal.link(&format!("/protect/appliances/{id}")),
            None => portal.link("/alerts"),
        };
        let mut lines = vec![
            "Alert details".to_owned(),
            format!("Created: {}", rfc2822(at)),
            format!("Due: {}", rfc2822(at + DUE_AFTER_MS)),
            format!("Severity: {severity}"),
            format!("Organization: {}", self.subject.organization_name),
            format!("Appliance: {}", self.subject.appliance_name),
        ];
        if let Some(asset) = &self.subject.asset_name {
            lines.push(format!("Asset: {asset}"));
        }
        lines.push(format!("Message: {}", self.message));
        lines.push(format!("Open in Backplane: {link}"));
        lines.push(alert_marker(self.id));
        lines.join("\n")
    }
}

fn rfc2822(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map(|t| t.to_rfc2822())
        .unwrap_or_default()
}

#[derive(sqlx::FromRow)]
struct IntegrationDefaults {
    id: i64,
    defaults: String,
}

async fn integrations_of(
    conn: &mut AnyConnection,
    instance_id: i64,
) -> DomainResult<Vec<(i64, TicketDefaults)>> {
    let rows: Vec<IntegrationDefaults> =
        sqlx::query_as("SELECT id, defaults FROM psa_integrations WHERE instance_id = $1 ORDER BY id")
            .bind(instance_id)
            .fetch_all(conn)
            .await?;
    rows.into_iter()
        .map(|row| {
            serde_json::from_str(&row.defaults)
                .map(|defaults| (row.id, defaults))
                .map_err(|e| DomainError::internal(format!("PSA integration {}'s defaults: {e}", row.id)))
        })
        .collect()
}

/// The settings that apply to an organization's alerts: its own ("Overwrite Settings") if it
/// has them, else the integration's; a company of its own applies only if it is not mapped,
/// and the integration's default company is the last resort.
async fn effective(
    conn: &mut AnyConnection,
    (integration_id, defaults): (i64, TicketDefaults),
    organization_id: i64,
) -> DomainResult<TicketDefaults> {
    let own: Option<String> = sqlx::query_scalar(
        "SELECT settings FROM psa_overrides WHERE integration_id = $1 AND organization_id = $2",
    )
    .bind(integration_id)
    .bind(organization_id)
    .fetch_optional(conn)
    .await?;
    let Some(own) = own else {
        return Ok(defaults);
    };
    let mut own: TicketDefaults = serde_json::from_str(&own)
        .map_err(|e| DomainError::internal(format!("PSA settings of organization {organization_id}: {e}")))?;
    if own.company.is_none() {
        own.company = defaults.company;
        own.location = defaults.location;
    }
    Ok(own)
}

/// Queues, for each PSA integrated with the alert's instance, a new ticket for the alert, or a
/// note on the open ticket of the same condition (spec §1.10). Called in the transaction that
/// raised the alert.
pub async fn on_raised(
    conn: &mut AnyConnection,
    portal: &Portal,
    alert: &AlertFacts<'_>,
    now: i64,
) -> DomainResult<()> {
    for (integration_id, defaults) in integrations_of(&mut *conn, alert.instance_id).await? {
        let defaults = effective(&mut *conn, (integration_id, defaults), alert.organization_id).await?;
        let Some(priority) = defaults.priority_for(alert.kind).map(|p| p.value.clone()) else {
            continue;
        };
        let mapped: Option<i64> = sqlx::query_scalar(
            "SELECT company_id FROM psa_mappings WHERE integration_id = $1 AND organization_id = $2",
        )
        .bind(integration_id)
        .bind(alert.organization_id)
        .fetch_optional(&mut *conn)
        .await?;
        let Some(company_id) = mapped.or(defaults.company.as_ref().map(|c| c.id)) else {
            continue;
        };
        let title = alert.title();
        let description = alert.description(portal, now);
        let open: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM psa_tickets WHERE integration_id = $1 AND ticket_key = $2 AND state = 'open'",
        )
        .bind(integration_id)
        .bind(&title)
        .fetch_optional(&mut *conn)
        .await?;
        let (ticket_id, write) = match open {
            Some(ticket_id) => (
                ticket_id,
                TicketWrite::Note {
                    title: "The condition occurred again".into(),
                    description,
                },
            ),
            None => {
                let ticket_id: i64 = sqlx::query_scalar(
                    "INSERT INTO psa_tickets (integration_id, ticket_key, state, opened_at) VALUES ($1, $2, 'open', $3)
                     RETURNING id",
                )
                .bind(integration_id)
                .bind(&title)
                .bind(now)
                .fetch_one(&mut *conn)
                .await?;
                let write = TicketWrite::Create {
                    company_id,
                    title,
                    description,
                    queue: defaults.queue.map(|q| q.value),
                    status: defaults.new_status.map(|s| s.value),
                    priority,
                    due_at: now + DUE_AFTER_MS,
                    ticket_type: defaults.ticket_type.map(|t| t.value),
                    source: defaults.source.map(|s| s.value),
                    location: mapped
                        .is_none()
                        .then_some(defaults.location)
                        .flatten()
                        .map(|l| l.value),
                };
                (ticket_id, write)
            }
        };
        queue(&mut *conn, (ticket_id, alert.id), &write, now).await?;
    }
    Ok(())
}

/// Queues the closing of every open ticket the alert opened or added to, for integrations with
/// a close status; "Do not close automatically" leaves them open. Called in the transaction
/// that resolved the alert.
pub async fn on_resolved(conn: &mut AnyConnection, alert: &AlertFacts<'_>, now: i64) -> DomainResult<()> {
    for (integration_id, defaults) in integrations_of(&mut *conn, alert.instance_id).await? {
        let defaults = effective(&mut *conn, (integration_id, defaults), alert.organization_id).await?;
        let Some(status) = defaults.close_status else {
            continue;
        };
        let tickets: Vec<i64> = sqlx::query_scalar(
            "SELECT DISTINCT t.id FROM psa_tickets t JOIN psa_ticket_ops o ON o.ticket_id = t.id
             WHERE t.integration_id = $1 AND t.state = 'open' AND o.alert_id = $2",
        )
        .bind(integration_id)
        .bind(alert.id)
        .fetch_all(&mut *conn)
        .await?;
        for ticket_id in tickets {
            sqlx::query("UPDATE psa_tickets SET state = 'closed', closed_at = $1 WHERE id = $2")
                .bind(now)
                .bind(ticket_id)
                .execute(&mut *conn)
                .await?;
            let write = TicketWrite::Close {
                status: status.value.clone(),
                title: "Resolved".into(),
                description: format!(
                    "The condition cleared at {}: the alert resolved itself.\n{}",
                    rfc2822(now),
                    alert_marker(alert.id)
                ),
            };
            queue(&mut *conn, (ticket_id, alert.id), &write, now).await?;
        }
    }
    Ok(())
}

async fn queue(
    conn: &mut AnyConnection,
    (ticket_id, alert_id): (i64, i64),
    write: &TicketWrite,
    now: i64,
) -> DomainResult<()> {
    let payload = serde_json::to_string(write).map_err(|e| DomainError::internal(e.to_string()))?;
    sqlx::query(
        "INSERT INTO psa_ticket_ops (ticket_id, op, alert_id, payload, state, next_attempt_at, created_at)
         VALUES ($1, $2, $3, $4, 'pending', $5, $5)",
    )
    .bind(ticket_id)
    .bind(write.name())
    .bind(alert_id)
    .bind(payload)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// A write claimed for sending, with its ticket and integration.
#[derive(Debug, Clone)]
pub struct DueWrite {
    pub id: i64,
    pub ticket_id: i64,
    pub integration_id: i64,
    pub alert_id: i64,
    pub attempts: i64,
    pub created_at: i64,
    /// When this write started failing, if it has.
    pub retrying_since: Option<i64>,
    /// The PSA's id of the ticket, once created.
    pub external_id: Option<i64>,
    pub write: TicketWrite,
}

#[derive(sqlx::FromRow)]
struct DueRow {
    id: i64,
    ticket_id: i64,
    integration_id: i64,
    alert_id: i64,
    attempts: i64,
    created_at: i64,
    retrying_since: Option<i64>,
    external_id: Option<i64>,
    payload: String,
}

/// Claims up to `limit` due writes, each the oldest unfinished one of its ticket, with a lease
/// (compare-and-swap), so two server processes never send the same write; a paused
/// integration's writes wait.
pub async fn claim_due(db: &Db, now: i64, limit: i64) -> DomainResult<Vec<DueWrite>> {
    let candidates: Vec<DueRow> = sqlx::query_as(
        "SELECT o.id, o.ticket_id, t.integration_id, o.alert_id, o.attempts, o.created_at, o.retrying_since,
                t.external_id, o.payload
         FROM psa_ticket_ops o JOIN psa_tickets t ON t.id = o.ticket_id
           JOIN psa_integrations i ON i.id = t.integration_id AND i.paused_since IS NULL
         WHERE o.state = 'pending' AND o.next_attempt_at <= $1 AND (o.locked_until IS NULL OR o.locked_until < $1)
           AND NOT EXISTS (SELECT 1 FROM psa_ticket_ops e WHERE e.ticket_id = o.ticket_id AND e.id < o.id AND e.state = 'pending')
         ORDER BY o.next_attempt_at, o.id LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    let mut claimed = Vec::new();
    for row in candidates {
        let won = sqlx::query(
            "UPDATE psa_ticket_ops SET locked_until = $1, attempts = attempts + 1
             WHERE id = $2 AND state = 'pending' AND (locked_until IS NULL OR locked_until < $3)",
        )
        .bind(now + LEASE_MS)
        .bind(row.id)
        .bind(now)
        .execute(&db.pool)
        .await?
        .rows_affected();
        if won == 0 {
            continue;
        }
        let write = serde_json::from_str(&row.payload)
            .map_err(|e| DomainError::internal(format!("PSA write {}: {e}", row.id)))?;
        claimed.push(DueWrite {
            id: row.id,
            ticket_id: row.ticket_id,
            integration_id: row.integration_id,
            alert_id: row.alert_id,
            attempts: row.attempts + 1,
            created_at: row.created_at,
            retrying_since: row.retrying_since,
            external_id: row.external_id,
            write,
        });
    }
    Ok(claimed)
}

/// How a write went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Done; for a create, the PSA's ticket id and number.
    Done { ticket: Option<(i64, String)> },
    /// Worth another try later (the PSA is down, busy or refused for now).
    Retry(String),
    /// Never going to work (the ticket it needs was never created).
    GiveUp(String),
    /// The PSA refused the credentials: the integration's queue waits until they are saved again.
    Pause(String),
}

/// Records the outcome of a claimed write; the integration's failure state follows the last
/// outcome, so its card shows a PSA that keeps failing, and so does an alert in the
/// organization whose tickets wait ([`psa_failing`]).
pub async fn record(portal: &Portal, due: &DueWrite, outcome: Outcome, now: i64) -> DomainResult<()> {
    let mut tx = portal.db.begin().await?;
    let give_up = |reason: String| Outcome::GiveUp(format!("{reason} (gave up after a day of retries)"));
    let outcome = match outcome {
        Outcome::Retry(reason) if now - due.retrying_since.unwrap_or(now) >= GIVE_UP_AFTER_MS => {
            give_up(reason)
        }
        other => other,
    };
    match &outcome {
        Outcome::Done { ticket } => {
            sqlx::query("UPDATE psa_ticket_ops SET state = 'done', done_at = $1, locked_until = NULL, last_error = NULL WHERE id = $2")
                .bind(now)
                .bind(due.id)
                .execute(&mut *tx)
                .await?;
            if let Some((external_id, number)) = ticket {
                sqlx::query("UPDATE psa_tickets SET external_id = $1, ticket_number = $2 WHERE id = $3")
                    .bind(external_id)
                    .bind(number)
                    .bind(due.ticket_id)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query("UPDATE psa_integrations SET failing_since = NULL, last_error = NULL WHERE id = $1")
                .bind(due.integration_id)
                .execute(&mut *tx)
                .await?;
        }
        Outcome::Retry(reason) => {
            sqlx::query(
                "UPDATE psa_ticket_ops SET next_attempt_at = $1, locked_until = NULL, last_error = $2,
                   retrying_since = COALESCE(retrying_since, $3)
                 WHERE id = $4",
            )
            .bind(now + backoff_ms(due.attempts))
            .bind(reason)
            .bind(now)
            .bind(due.id)
            .execute(&mut *tx)
            .await?;
            mark_failing(&mut tx, due.integration_id, reason, now).await?;
        }
        Outcome::Pause(reason) => {
            // Sent again as soon as the queue resumes, with a fresh day of retries.
            sqlx::query(
                "UPDATE psa_ticket_ops SET locked_until = NULL, last_error = $1, retrying_since = NULL WHERE id = $2",
            )
            .bind(reason)
            .bind(due.id)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE psa_integrations SET paused_since = COALESCE(paused_since, $1) WHERE id = $2",
            )
            .bind(now)
            .bind(due.integration_id)
            .execute(&mut *tx)
            .await?;
            mark_failing(&mut tx, due.integration_id, reason, now).await?;
        }
        Outcome::GiveUp(reason) => {
            sqlx::query("UPDATE psa_ticket_ops SET state = 'failed', done_at = $1, locked_until = NULL, last_error = $2 WHERE id = $3")
                .bind(now)
                .bind(reason)
                .bind(due.id)
                .execute(&mut *tx)
                .await?;
            if matches!(due.write, TicketWrite::Create { .. }) {
                // The ticket never existed: its later writes cannot be made, and the condition
                // gets a new ticket the next time it is raised.
                sqlx::query("UPDATE psa_tickets SET state = 'failed', closed_at = $1 WHERE id = $2")
                    .bind(now)
                    .bind(due.ticket_id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "UPDATE psa_ticket_ops SET state = 'failed', done_at = $1, last_error = 'its ticket was never created'
                     WHERE ticket_id = $2 AND state = 'pending'",
                )
                .bind(now)
                .bind(due.ticket_id)
                .execute(&mut *tx)
                .await?;
            }
            mark_failing(&mut tx, due.integration_id, reason, now).await?;
        }
    }
    let delivery = Delivery {
        integration_id: due.integration_id,
        alert_id: due.alert_id,
    };
    let changed = match &outcome {
        Outcome::Done { .. } => psa_failing::resolve(&mut tx, portal, delivery, now).await?,
        Outcome::Retry(_) if now - due.retrying_since.unwrap_or(now) < FAILING_ALERT_AFTER_MS => None,
        Outcome::Retry(reason) | Outcome::Pause(reason) | Outcome::GiveUp(reason) => {
            psa_failing::raise(&mut tx, portal, delivery, reason, now).await?
        }
    };
    tx.commit().await?;
    portal.publish_alerts_changed(changed).await;
    Ok(())
}

async fn mark_failing(
    conn: &mut AnyConnection,
    integration_id: i64,
    reason: &str,
    now: i64,
) -> DomainResult<()> {
    sqlx::query(
        "UPDATE psa_integrations SET failing_since = COALESCE(failing_since, $1), last_error = $2 WHERE id = $3",
    )
    .bind(now)
    .bind(reason)
    .bind(integration_id)
    .execute(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_follow_the_documented_schedule() {
        let waits: Vec<i64> = (1..=6).map(|n| backoff_ms(n) / MINUTE_MS).collect();
        assert_eq!(waits, [1, 5, 15, 60, 60, 60]);
    }

    #[test]
    fn writes_round_trip_as_json() {
        let write = TicketWrite::Close {
            status: "5".into(),
            title: "Resolved".into(),
            description: "x".into(),
        };
        let text = serde_json::to_string(&write).unwrap();
        assert!(text.contains("\"op\":\"close\""));
        assert_eq!(serde_json::from_str::<TicketWrite>(&text).unwrap(), write);
    }
}
