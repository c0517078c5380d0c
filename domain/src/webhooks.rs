//! Webhook endpoints (Settings → Webhooks, Superusers) and their deliveries. A delivery is a row
//! written in the transaction of the change it reports, one per subscribed endpoint, unique per
//! endpoint and event, so a repeated report makes no second delivery; a worker sends it with
//! retries under a lease, so two server processes never send it at once.

use model::webhooks::{
    DeliveryState, NewWebhookEndpoint, WebhookDelivery, WebhookEndpoint, WebhookEvent, check_webhook_url,
};
use model::{Action, AppError};
use rand::Rng;
use sqlx::{AnyConnection, AssertSqlSafe};

use crate::access::Viewer;
use crate::audit::{self, Entry};
use crate::clock::{HOUR_MS, MINUTE_MS, SECOND_MS};
use crate::secrets::system_random;
use crate::{ClientInfo, Db, DomainResult, Portal, organizations};

/// Attempts before a delivery is given up ("Resend" starts it again): about two days of waits.
pub const MAX_ATTEMPTS: i64 = 20;
const LEASE_MS: i64 = 2 * MINUTE_MS;
/// How many deliveries an endpoint's log shows.
pub const LOG_LIMIT: i64 = 50;

/// Wait before attempt `attempts` + 1: 10 s doubling, at most six hours.
pub fn backoff_ms(attempts: i64) -> i64 {
    let exp = attempts.clamp(1, 20) - 1;
    (10 * SECOND_MS).saturating_mul(1 << exp).min(6 * HOUR_MS)
}

#[derive(sqlx::FromRow)]
struct EndpointRow {
    id: i64,
    url: String,
    events: String,
    organization_id: Option<i64>,
    organization_name: Option<String>,
    enabled: i64,
    created_at: i64,
    created_by: String,
}

impl From<EndpointRow> for WebhookEndpoint {
    fn from(row: EndpointRow) -> Self {
        WebhookEndpoint {
            id: row.id,
            url: row.url,
            events: row.events.split(',').filter_map(WebhookEvent::parse).collect(),
            organization_id: row.organization_id,
            organization_name: row.organization_name,
            enabled: row.enabled != 0,
            created_at: row.created_at,
            created_by: row.created_by,
        }
    }
}

const SELECT: &str =
    "SELECT e.id, e.url, e.events, e.organization_id, o.name AS organization_name, e.enabled,
                             e.created_at, e.created_by
                      FROM webhook_endpoints e LEFT JOIN organizations o ON o.id = e.organization_id";

/// The instance's endpoints, oldest first.
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id))]
pub async fn list(conn: &mut AnyConnection, viewer: &Viewer) -> DomainResult<Vec<WebhookEndpoint>> {
    viewer.require(Action::ManageWebhooks)?;
    let rows: Vec<EndpointRow> = sqlx::query_as(AssertSqlSafe(format!(
        "{SELECT} WHERE e.instance_id = $1 ORDER BY e.id"
    )))
    .bind(viewer.instance_id)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(WebhookEndpoint::from).collect())
}

async fn get(conn: &mut AnyConnection, viewer: &Viewer, id: i64) -> DomainResult<WebhookEndpoint> {
    let row: Option<EndpointRow> = sqlx::query_as(AssertSqlSafe(format!(
        "{SELECT} WHERE e.instance_id = $1 AND e.id = $2"
    )))
    .bind(viewer.instance_id)
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.map(WebhookEndpoint::from)
        .ok_or_else(|| AppError::not_found("The webhook endpoint").into())
}

/// What a new endpoint receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointRequest {
    pub url: String,
    pub events: Vec<WebhookEvent>,
    pub organization_id: Option<i64>,
}

/// A new endpoint; its signing secret (`whsec_…`) is returned this once.
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id))]
pub async fn create(
    portal: &Portal,
    viewer: &Viewer,
    request: &EndpointRequest,
    client: &ClientInfo,
) -> DomainResult<NewWebhookEndpoint> {
    viewer.require(Action::ManageWebhooks)?;
    let url = check_webhook_url(&request.url)?;
    if request.events.is_empty() {
        return Err(AppError::invalid("events", "Choose at least one event.").into());
    }
    let events: Vec<&str> = WebhookEvent::ALL
        .into_iter()
        .filter(|e| request.events.contains(e))
        .map(WebhookEvent::as_str)
        .collect();
    let mut tx = portal.db.begin().await?;
    if let Some(organization_id) = request.organization_id {
        organizations::get(&mut tx, viewer, organization_id).await?;
    }
    let secret = new_secret();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO webhook_endpoints (instance_id, url, secret, events, organization_id, created_at, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(viewer.instance_id)
    .bind(&url)
    .bind(portal.vault.seal(&secret))
    .bind(events.join(","))
    .bind(request.organization_id)
    .bind(portal.now())
    .bind(&viewer.email)
    .fetch_one(&mut *tx)
    .await?;
    let entry = Entry::by(viewer, client, "webhook.create", &url).after(events.join(", "));
    audit::record(&mut tx, entry, portal.now()).await?;
    let endpoint = get(&mut tx, viewer, id).await?;
    tx.commit().await?;
    Ok(NewWebhookEndpoint { endpoint, secret })
}

/// Pauses or resumes an endpoint; a paused one is given no new deliveries.
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id, id = id))]
pub async fn set_enabled(
    portal: &Portal,
    viewer: &Viewer,
    id: i64,
    enabled: bool,
    client: &ClientInfo,
) -> DomainResult<()> {
    viewer.require(Action::ManageWebhooks)?;
    let mut tx = portal.db.begin().await?;
    let endpoint = get(&mut tx, viewer, id).await?;
    sqlx::query("UPDATE webhook_endpoints SET enabled = $1 WHERE id = $2")
        .bind(i64::from(enabled))
        .bind(endpoint.id)
        .execute(&mut *tx)
        .await?;
    let action = if enabled {
        "webhook.enable"
    } else {
        "webhook.disable"
    };
    audit::record(
        &mut tx,
        Entry::by(viewer, client, action, &endpoint.url),
        portal.now(),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Deletes an endpoint and its deliveries.
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id, id = id))]
pub async fn delete(portal: &Portal, viewer: &Viewer, id: i64, client: &ClientInfo) -> DomainResult<()> {
    viewer.require(Action::ManageWebhooks)?;
    let mut tx = portal.db.begin().await?;
    let endpoint = get(&mut tx, viewer, id).await?;
    sqlx::query("DELETE FROM webhook_deliveries WHERE endpoint_id = $1")
        .bind(endpoint.id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1")
        .bind(endpoint.id)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        Entry::by(viewer, client, "webhook.delete", &endpoint.url),
        portal.now(),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: i64,
    event: String,
    state: String,
    attempts: i64,
    created_at: i64,
    last_attempt_at: Option<i64>,
    last_result: Option<String>,
}

/// The newest deliveries of an endpoint.
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id, id = endpoint_id))]
pub async fn deliveries(
    conn: &mut AnyConnection,
    viewer: &Viewer,
    endpoint_id: i64,
) -> DomainResult<Vec<WebhookDelivery>> {
    viewer.require(Action::ManageWebhooks)?;
    let endpoint = get(&mut *conn, viewer, endpoint_id).await?;
    let rows: Vec<DeliveryRow> = sqlx::query_as(
        "SELECT id, event, state, attempts, created_at, last_attempt_at, last_result
         FROM webhook_deliveries WHERE endpoint_id = $1 ORDER BY id DESC LIMIT $2",
    )
    .bind(endpoint.id)
    .bind(LOG_LIMIT)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            Some(WebhookDelivery {
                id: row.id,
                message_id: message_id(row.id),
                event: WebhookEvent::parse(&row.event)?,
                state: DeliveryState::parse(&row.state),
                attempts: row.attempts,
                created_at: row.created_at,
                last_attempt_at: row.last_attempt_at,
                last_result: row.last_result,
            })
        })
        .collect())
}

/// Sends a delivery again (same message id), now.
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id, id = delivery_id))]
pub async fn resend(
    portal: &Portal,
    viewer: &Viewer,
    delivery_id: i64,
    client: &ClientInfo,
) -> DomainResult<()> {
    viewer.require(Action::ManageWebhooks)?;
    let mut tx = portal.db.begin().await?;
    let found: Option<(i64, String)> = sqlx::query_as(
        "SELECT e.id, e.url FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
         WHERE d.id = $1 AND e.instance_id = $2",
    )
    .bind(delivery_id)
    .bind(viewer.instance_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((_, url)) = found else {
        return Err(AppError::not_found("The delivery").into());
    };
    sqlx::query(
        "UPDATE webhook_deliveries SET state = 'pending', attempts = 0, next_attempt_at = $1, locked_until = NULL
         WHERE id = $2",
    )
    .bind(portal.now())
    .bind(delivery_id)
    .execute(&mut *tx)
    .await?;
    let entry = Entry::by(viewer, client, "webhook.resend", &url).after(message_id(delivery_id));
    audit::record(&mut tx, entry, portal.now()).await?;
    tx.commit().await?;
    Ok(())
}

/// Something that happened, for the endpoints that want it.
#[derive(Debug, Clone)]
pub struct Event {
    pub instance_id: i64,
    pub organization_id: i64,
    pub kind: WebhookEvent,
    /// Names what happened (`alert:17`, `job:4`); with the kind, once: a second report of the
    /// same kind of event about it is ignored.
    pub key: String,
    pub data: serde_json::Value,
}

/// Writes a delivery of `event` for each enabled endpoint of its instance that subscribes to
/// its kind and organization; part of the caller's transaction.
pub(crate) async fn enqueue(conn: &mut AnyConnection, event: Event, now: i64) -> DomainResult<()> {
    let payload = serde_json::json!({
        "type": event.kind.as_str(),
        "timestamp": chrono::DateTime::from_timestamp_millis(now)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        "data": event.data,
    });
    sqlx::query(
        "INSERT INTO webhook_deliveries (endpoint_id, event, event_key, payload, state, next_attempt_at, created_at)
         SELECT e.id, $1, $2, $3, 'pending', $4, $4 FROM webhook_endpoints e
         WHERE e.instance_id = $5 AND e.enabled = 1 AND (e.organization_id IS NULL OR e.organization_id = $6)
           AND (',' || e.events || ',') LIKE $7
         ON CONFLICT (endpoint_id, event_key) DO NOTHING",
    )
    .bind(event.kind.as_str())
    .bind(format!("{}:{}", event.kind.as_str(), event.key))
    .bind(payload.to_string())
    .bind(now)
    .bind(event.instance_id)
    .bind(event.organization_id)
    .bind(format!("%,{},%", event.kind.as_str()))
    .execute(conn)
    .await?;
    Ok(())
}

/// The `webhook-id` of a delivery: the same on every attempt.
pub fn message_id(delivery_id: i64) -> String {
    format!("msg_{delivery_id}")
}

fn new_secret() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    system_random().fill_bytes(&mut bytes);
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// A delivery claimed for one attempt.
#[derive(Debug, Clone)]
pub struct Due {
    pub id: i64,
    pub message_id: String,
    pub url: String,
    /// The endpoint's secret, opened (`whsec_…`).
    pub secret: String,
    pub payload: String,
    /// The attempt this is, from 1.
    pub attempt: i64,
}

/// Claims up to `limit` due deliveries for this process (a lease of two minutes).
#[tracing::instrument(skip_all)]
pub async fn claim_due(portal: &Portal, now: i64, limit: i64) -> DomainResult<Vec<Due>> {
    let candidates: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM webhook_deliveries WHERE state = 'pending' AND next_attempt_at <= $1
           AND (locked_until IS NULL OR locked_until < $1) ORDER BY next_attempt_at, id LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(&portal.db.pool)
    .await?;
    let mut claimed = Vec::new();
    for id in candidates {
        let row: Option<(i64, String, i64)> = sqlx::query_as(
            "UPDATE webhook_deliveries SET locked_until = $1, attempts = attempts + 1, last_attempt_at = $2
             WHERE id = $3 AND state = 'pending' AND (locked_until IS NULL OR locked_until < $2)
             RETURNING endpoint_id, payload, attempts",
        )
        .bind(now + LEASE_MS)
        .bind(now)
        .bind(id)
        .fetch_optional(&portal.db.pool)
        .await?;
        let Some((endpoint_id, payload, attempt)) = row else {
            continue;
        };
        let (url, sealed): (String, String) =
            sqlx::query_as("SELECT url, secret FROM webhook_endpoints WHERE id = $1")
                .bind(endpoint_id)
                .fetch_one(&portal.db.pool)
                .await?;
        claimed.push(Due {
            id,
            message_id: message_id(id),
            url,
            secret: portal.vault.open(&sealed)?,
            payload,
            attempt,
        });
    }
    Ok(claimed)
}

/// Records an attempt's result: delivered, or retried later, or given up after the last.
#[tracing::instrument(skip_all, fields(id = due.id))]
pub async fn record_attempt(db: &Db, due: &Due, result: Result<u16, String>, now: i64) -> DomainResult<()> {
    let (state, next, text) = match &result {
        Ok(status) => (DeliveryState::Delivered, now, format!("HTTP {status}")),
        Err(error) if due.attempt >= MAX_ATTEMPTS => (DeliveryState::Failed, now, error.clone()),
        Err(error) => (
            DeliveryState::Pending,
            now + backoff_ms(due.attempt),
            error.clone(),
        ),
    };
    sqlx::query(
        "UPDATE webhook_deliveries SET state = $1, next_attempt_at = $2, locked_until = NULL, last_result = $3
         WHERE id = $4",
    )
    .bind(state.as_str())
    .bind(next)
    .bind(text.chars().take(300).collect::<String>())
    .bind(due.id)
    .execute(&db.pool)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_from_ten_seconds_to_six_hours() {
        assert_eq!(backoff_ms(1), 10 * SECOND_MS);
        assert_eq!(backoff_ms(2), 20 * SECOND_MS);
        assert_eq!(backoff_ms(12), 20_480 * SECOND_MS);
        assert_eq!(backoff_ms(13), 6 * HOUR_MS);
        let waited: i64 = (1..MAX_ATTEMPTS).map(backoff_ms).sum();
        assert!((48 * HOUR_MS..56 * HOUR_MS).contains(&waited), "{waited}");
        assert!(new_secret().starts_with("whsec_"));
    }
}
