//! The durable queue of Kaseya VSA 9 alarm writes (spec portal-c §1.1). A conditional alarm
//! whose category the instance forwards writes, in the transaction that raised it, a "raise"
//! for VSA (the alarm, and the VSA e-mails of users who asked for them and see its
//! organization); its resolution writes a "close". A worker (`integrations::vsa`) sends each
//! alert's writes in order with retries for a day, so a VSA outage delays alarms but never
//! loses or doubles them: every alarm carries a marker with the alert id, and a retried raise
//! first looks for an alarm that already carries it.

use model::AppError;
use model::vsa::AlarmCategory;
use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;

use crate::clock::MINUTE_MS;
use crate::psa::{AlertFacts, GIVE_UP_AFTER_MS, backoff_ms};
use crate::{Db, DomainError, DomainResult, Portal, users};

const LEASE_MS: i64 = 2 * MINUTE_MS;
/// The longest list of recipients one e-mail action takes.
pub const MAX_RECIPIENTS: usize = 20;

/// The marker a VSA alarm's message carries, found again by a retry.
pub fn alarm_marker(alert_id: i64) -> String {
    format!("[Backplane alarm {alert_id}]")
}

/// What one write sends; fixed when the alert happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum AlarmWrite {
    Raise {
        category: AlarmCategory,
        /// The machine VSA files the alarm under: the appliance, or the protected asset.
        machine: String,
        organization: String,
        /// The alarm's text, ending with its marker.
        message: String,
        /// Addresses VSA also mails (the users' e-mail actions); empty: none.
        email_to: Vec<String>,
    },
    Close {
        note: String,
    },
}

impl AlarmWrite {
    fn name(&self) -> &'static str {
        match self {
            AlarmWrite::Raise { .. } => "raise",
            AlarmWrite::Close { .. } => "close",
        }
    }
}

/// Splits recipients as typed or pasted (commas, semicolons, spaces), checks each address and
/// drops repeats.
pub fn parse_recipients(text: &str) -> Result<Vec<String>, AppError> {
    let invalid = |message: String| AppError::invalid("recipients", message);
    let mut found: Vec<String> = Vec::new();
    for address in text
        .split([',', ';', ' ', '\n', '\t'])
        .map(str::trim)
        .filter(|a| !a.is_empty())
    {
        let address = users::validate_email(address)
            .map_err(|_| invalid(format!("“{address}” is not an e-mail address.")))?;
        if !found.contains(&address) {
            found.push(address);
        }
    }
    if found.is_empty() {
        return Err(invalid("Enter at least one recipient.".into()));
    }
    if found.len() > MAX_RECIPIENTS {
        return Err(invalid(format!(
            "An action mails at most {MAX_RECIPIENTS} recipients."
        )));
    }
    Ok(found)
}

#[derive(sqlx::FromRow)]
struct Forwarding {
    id: i64,
    forward_backups: i64,
    forward_copies: i64,
}

impl Forwarding {
    fn forwards(&self, category: AlarmCategory) -> bool {
        match category {
            AlarmCategory::Backups => self.forward_backups != 0,
            AlarmCategory::Copies => self.forward_copies != 0,
        }
    }
}

/// The addresses of the e-mail actions for `category` whose users are active and see the
/// organization (an action never mails about organizations outside its creator's reach).
async fn email_recipients(
    conn: &mut AnyConnection,
    (instance_id, organization_id): (i64, i64),
    category: AlarmCategory,
) -> DomainResult<Vec<String>> {
    let lists: Vec<String> = sqlx::query_scalar(
        "SELECT a.recipients FROM vsa_email_actions a JOIN users u ON u.id = a.user_id
         WHERE a.instance_id = $1 AND a.category = $2 AND u.instance_id = $1 AND u.status = 'active'
           AND (u.role = 'superuser' OR u.global_scope = 1 OR EXISTS (
                SELECT 1 FROM user_scopes us JOIN organizations o ON o.scope_id = us.scope_id
                WHERE us.user_id = u.id AND o.id = $3))
         ORDER BY a.id",
    )
    .bind(instance_id)
    .bind(category.as_str())
    .bind(organization_id)
    .fetch_all(conn)
    .await?;
    let mut recipients: Vec<String> = Vec::new();
    for address in lists.iter().flat_map(|list| list.split(',')) {
        if !recipients.iter().any(|r| r == address) {
            recipients.push(address.to_owned());
        }
    }
    Ok(recipients)
}

/// Queues the alarm for VSA if the instance forwards the alert's category. Called in the
/// transaction that raised the alert.
pub async fn on_raised(conn: &mut AnyConnection, alert: &AlertFacts<'_>, now: i64) -> DomainResult<()> {
    let Some(category) = AlarmCategory::of(alert.kind) else {
        return Ok(());
    };
    let integration: Option<Forwarding> = sqlx::query_as(
        "SELECT id, forward_backups, forward_copies FROM vsa_integrations WHERE instance_id = $1",
    )
    .bind(alert.instance_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(integration) = integration.filter(|i| i.forwards(category)) else {
        return Ok(());
    };
    let email_to = email_recipients(&mut *conn, (alert.instance_id, alert.organization_id), category).await?;
    let machine = alert
        .subject
        .asset_name
        .clone()
        .unwrap_or_else(|| alert.subject.appliance_name.clone());
    let write = AlarmWrite::Raise {
        category,
        machine,
        organization: alert.subject.organization_name.clone(),
        message: format!(
            "{} (appliance {}) {}",
            alert.message,
            alert.subject.appliance_name,
            alarm_marker(alert.id)
        ),
        email_to,
    };
    queue(&mut *conn, (integration.id, alert.id), &write, now).await
}

/// Queues the closing of the VSA alarm the alert raised, if it raised one. Called in the
/// transaction that resolved the alert.
pub async fn on_resolved(conn: &mut AnyConnection, alert: &AlertFacts<'_>, now: i64) -> DomainResult<()> {
    let raised: Option<i64> = sqlx::query_scalar(
        "SELECT w.integration_id FROM vsa_alarm_writes w JOIN vsa_integrations i ON i.id = w.integration_id
         WHERE i.instance_id = $1 AND w.alert_id = $2 AND w.op = 'raise' AND w.state <> 'failed'",
    )
    .bind(alert.instance_id)
    .bind(alert.id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(integration_id) = raised else {
        return Ok(());
    };
    let write = AlarmWrite::Close {
        note: format!(
            "The condition cleared: Backplane resolved the alert. {}",
            alarm_marker(alert.id)
        ),
    };
    queue(&mut *conn, (integration_id, alert.id), &write, now).await
}

async fn queue(
    conn: &mut AnyConnection,
    (integration_id, alert_id): (i64, i64),
    write: &AlarmWrite,
    now: i64,
) -> DomainResult<()> {
    let payload = serde_json::to_string(write).map_err(|e| DomainError::internal(e.to_string()))?;
    sqlx::query(
        "INSERT INTO vsa_alarm_writes (integration_id, alert_id, op, payload, state, next_attempt_at, created_at)
         VALUES ($1, $2, $3, $4, 'pending', $5, $5)",
    )
    .bind(integration_id)
    .bind(alert_id)
    .bind(write.name())
    .bind(payload)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// A write claimed for sending.
#[derive(Debug, Clone)]
pub struct DueAlarmWrite {
    pub id: i64,
    pub integration_id: i64,
    pub alert_id: i64,
    pub attempts: i64,
    pub retrying_since: Option<i64>,
    /// VSA's id of the alarm the alert raised, once known.
    pub vsa_alarm_id: Option<String>,
    pub write: AlarmWrite,
}

#[derive(sqlx::FromRow)]
struct DueRow {
    id: i64,
    integration_id: i64,
    alert_id: i64,
    attempts: i64,
    retrying_since: Option<i64>,
    vsa_alarm_id: Option<String>,
    payload: String,
}

/// Claims up to `limit` due writes, each the oldest unfinished one of its alert, with a lease
/// (compare-and-swap), so two server processes never send the same write; a paused
/// integration's writes wait.
pub async fn claim_due(db: &Db, now: i64, limit: i64) -> DomainResult<Vec<DueAlarmWrite>> {
    let candidates: Vec<DueRow> = sqlx::query_as(
        "SELECT w.id, w.integration_id, w.alert_id, w.attempts, w.retrying_since, w.payload,
                (SELECT r.vsa_alarm_id FROM vsa_alarm_writes r
                 WHERE r.integration_id = w.integration_id AND r.alert_id = w.alert_id AND r.op = 'raise') AS vsa_alarm_id
         FROM vsa_alarm_writes w JOIN vsa_integrations i ON i.id = w.integration_id AND i.paused_since IS NULL
         WHERE w.state = 'pending' AND w.next_attempt_at <= $1 AND (w.locked_until IS NULL OR w.locked_until < $1)
           AND NOT EXISTS (SELECT 1 FROM vsa_alarm_writes e WHERE e.integration_id = w.integration_id
                           AND e.alert_id = w.alert_id AND e.id < w.id AND e.state = 'pending')
         ORDER BY w.next_attempt_at, w.id LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    let mut claimed = Vec::new();
    for row in candidates {
        let won = sqlx::query(
            "UPDATE vsa_alarm_writes SET locked_until = $1, attempts = attempts + 1
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
            .map_err(|e| DomainError::internal(format!("VSA alarm write {}: {e}", row.id)))?;
        claimed.push(DueAlarmWrite {
            id: row.id,
            integration_id: row.integration_id,
            alert_id: row.alert_id,
            attempts: row.attempts + 1,
            retrying_since: row.retrying_since,
            vsa_alarm_id: row.vsa_alarm_id,
            write,
        });
    }
    Ok(claimed)
}

/// How a write went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlarmOutcome {
    /// Done; for a raise, VSA's alarm id when VSA told it.
    Done { vsa_alarm_id: Option<String> },
    /// Worth another try later (VSA is down, busy or refused for now).
    Retry(String),
    /// Never going to work.
    GiveUp(String),
    /// VSA refused the token: the queue waits until a working one is saved.
    Pause(String),
}

/// Records the outcome of a claimed write; the integration's failure state follows the last
/// outcome, for its card.
pub async fn record(
    portal: &Portal,
    due: &DueAlarmWrite,
    outcome: AlarmOutcome,
    now: i64,
) -> DomainResult<()> {
    let mut tx = portal.db.begin().await?;
    let outcome = match outcome {
        AlarmOutcome::Retry(reason) if now - due.retrying_since.unwrap_or(now) >= GIVE_UP_AFTER_MS => {
            AlarmOutcome::GiveUp(format!("{reason} (gave up after a day of retries)"))
        }
        other => other,
    };
    match &outcome {
        AlarmOutcome::Done { vsa_alarm_id } => {
            sqlx::query(
                "UPDATE vsa_alarm_writes SET state = 'done', done_at = $1, locked_until = NULL, last_error = NULL,
                   vsa_alarm_id = COALESCE($2, vsa_alarm_id)
                 WHERE id = $3",
            )
            .bind(now)
            .bind(vsa_alarm_id)
            .bind(due.id)
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE vsa_integrations SET failing_since = NULL, last_error = NULL WHERE id = $1")
                .bind(due.integration_id)
                .execute(&mut *tx)
                .await?;
        }
        AlarmOutcome::Retry(reason) => {
            sqlx::query(
                "UPDATE vsa_alarm_writes SET next_attempt_at = $1, locked_until = NULL, last_error = $2,
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
        AlarmOutcome::Pause(reason) => {
            // Sent again as soon as the queue resumes, with a fresh day of retries.
            sqlx::query(
                "UPDATE vsa_alarm_writes SET locked_until = NULL, last_error = $1, retrying_since = NULL WHERE id = $2",
            )
            .bind(reason)
            .bind(due.id)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE vsa_integrations SET paused_since = COALESCE(paused_since, $1) WHERE id = $2",
            )
            .bind(now)
            .bind(due.integration_id)
            .execute(&mut *tx)
            .await?;
            mark_failing(&mut tx, due.integration_id, reason, now).await?;
        }
        AlarmOutcome::GiveUp(reason) => {
            sqlx::query(
                "UPDATE vsa_alarm_writes SET state = 'failed', done_at = $1, locked_until = NULL, last_error = $2 WHERE id = $3",
            )
            .bind(now)
            .bind(reason)
            .bind(due.id)
            .execute(&mut *tx)
            .await?;
            if matches!(due.write, AlarmWrite::Raise { .. }) {
                // The alarm never reached VSA: there is nothing to close.
                sqlx::query(
                    "UPDATE vsa_alarm_writes SET state = 'failed', done_at = $1, last_error = 'its alarm was never raised'
                     WHERE integration_id = $2 AND alert_id = $3 AND state = 'pending'",
                )
                .bind(now)
                .bind(due.integration_id)
                .bind(due.alert_id)
                .execute(&mut *tx)
                .await?;
            }
            mark_failing(&mut tx, due.integration_id, reason, now).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

async fn mark_failing(
    conn: &mut AnyConnection,
    integration_id: i64,
    reason: &str,
    now: i64,
) -> DomainResult<()> {
    sqlx::query(
        "UPDATE vsa_integrations SET failing_since = COALESCE(failing_since, $1), last_error = $2 WHERE id = $3",
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
    fn recipients_are_split_checked_and_deduplicated() {
        assert_eq!(
            parse_recipients("a@x.com, b@y.org;A@X.com  c@z.net").unwrap(),
            vec!["a@x.com", "b@y.org", "c@z.net"]
        );
        let message = |text: &str| match parse_recipients(text) {
            Err(AppError::Invalid { message, .. }) => message,
            other => panic!("{other:?}"),
        };
        assert!(message(" , ").contains("at least one"));
        assert!(message("a@x.com nope").contains("“nope”"));
        let many: Vec<String> = (0..21).map(|i| format!("u{i}@x.com")).collect();
        assert!(message(&many.join(",")).contains("at most 20"));
    }
}
