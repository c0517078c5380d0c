//! Settings → Webhooks: endpoints that receive signed event deliveries, and their log.

use serde::{Deserialize, Serialize};

use crate::AppError;

/// The events an endpoint may subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum WebhookEvent {
    AlertRaised,
    AlertResolved,
    JobFinished,
    ApplianceOffline,
    ApplianceOnline,
}

impl WebhookEvent {
    pub const ALL: [WebhookEvent; 5] = [
        WebhookEvent::AlertRaised,
        WebhookEvent::AlertResolved,
        WebhookEvent::JobFinished,
        WebhookEvent::ApplianceOffline,
        WebhookEvent::ApplianceOnline,
    ];

    /// The `type` of a delivery's payload, and the stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookEvent::AlertRaised => "alert.raised",
            WebhookEvent::AlertResolved => "alert.resolved",
            WebhookEvent::JobFinished => "job.finished",
            WebhookEvent::ApplianceOffline => "appliance.offline",
            WebhookEvent::ApplianceOnline => "appliance.online",
        }
    }

    pub fn parse(text: &str) -> Option<WebhookEvent> {
        WebhookEvent::ALL.into_iter().find(|e| e.as_str() == text)
    }

    pub fn label(self) -> &'static str {
        match self {
            WebhookEvent::AlertRaised => "Alert raised",
            WebhookEvent::AlertResolved => "Alert resolved",
            WebhookEvent::JobFinished => "Job finished",
            WebhookEvent::ApplianceOffline => "Appliance offline",
            WebhookEvent::ApplianceOnline => "Appliance online",
        }
    }
}

/// An endpoint as Settings → Webhooks lists it; never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookEndpoint {
    pub id: i64,
    pub url: String,
    pub events: Vec<WebhookEvent>,
    /// Only this organization's events; none: every organization's.
    pub organization_id: Option<i64>,
    pub organization_name: Option<String>,
    pub enabled: bool,
    pub created_at: i64,
    pub created_by: String,
}

/// An endpoint just made, with its signing secret (shown this once).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewWebhookEndpoint {
    pub endpoint: WebhookEndpoint,
    pub secret: String,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeliveryState {
    /// Waiting for its first or next attempt.
    Pending,
    Delivered,
    /// Gave up after the last attempt ("Resend" queues it again).
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> DeliveryState {
        match text {
            "delivered" => DeliveryState::Delivered,
            "failed" => DeliveryState::Failed,
            _ => DeliveryState::Pending,
        }
    }
}

/// One delivery in an endpoint's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookDelivery {
    pub id: i64,
    /// The `webhook-id` header: the same on every attempt.
    pub message_id: String,
    pub event: WebhookEvent,
    pub state: DeliveryState,
    pub attempts: i64,
    pub created_at: i64,
    pub last_attempt_at: Option<i64>,
    /// The receiver's HTTP status, or why there was none.
    pub last_result: Option<String>,
}

/// An endpoint's URL, checked: https, or http to this machine (a receiver on loopback).
pub fn check_webhook_url(text: &str) -> Result<String, AppError> {
    let text = text.trim();
    let invalid = |message: &str| AppError::invalid("url", message);
    let (scheme, rest) = text
        .split_once("://")
        .ok_or_else(|| invalid("Enter the endpoint's full URL, starting with https://."))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_name = match host.rsplit_once('@') {
        Some(_) => return Err(invalid("The URL may not carry a user name or password.")),
        None if host.starts_with('[') => host.split(']').next().unwrap_or_default().trim_start_matches('['),
        None => host.split(':').next().unwrap_or_default(),
    };
    if host_name.is_empty() || host_name.contains(char::is_whitespace) || text.len() > 2000 {
        return Err(invalid("Enter the endpoint's full URL, starting with https://."));
    }
    let loopback = matches!(host_name, "localhost" | "127.0.0.1" | "::1");
    match scheme.to_ascii_lowercase().as_str() {
        "https" => Ok(text.to_owned()),
        "http" if loopback => Ok(text.to_owned()),
        "http" => Err(invalid(
            "Use https:// (plain http only reaches a receiver on this machine).",
        )),
        _ => Err(invalid("Use an https:// URL.")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_https_except_to_this_machine() {
        assert!(check_webhook_url(" https://hooks.example.com/backplane ").is_ok());
        assert!(check_webhook_url("http://127.0.0.1:8080/in").is_ok());
        assert!(check_webhook_url("http://[::1]:8080/in").is_ok());
        for bad in [
            "",
            "hooks.example.com",
            "http://hooks.example.com/",
            "ftp://x",
            "https://u:p@x.example/",
            "https:///x",
        ] {
            assert_eq!(check_webhook_url(bad).unwrap_err().field(), Some("url"), "{bad}");
        }
    }

    #[test]
    fn event_names_round_trip() {
        for event in WebhookEvent::ALL {
            assert_eq!(WebhookEvent::parse(event.as_str()), Some(event));
        }
    }
}
