//! Autotask PSA REST v1.0 (research §1, spec portal-c §5.1): the zone is discovered by
//! `ZoneInformation?user=`, every other call carries `ApiIntegrationcode`, `UserName` and
//! `Secret`; queries page by `pageDetails.nextPageUrl` (500 a page); picklists come from
//! `Tickets/entityInformation/fields`; updates are PATCH (a PUT would blank what it omits);
//! failures are often HTTP 500 with `{"errors": [...]}`, including a wrong user name or
//! tracking identifier. At most 3 requests per endpoint may be in flight: this client sends
//! one at a time.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use model::psa::{PickValue, PsaCompany, TicketChoices};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::psa::{NewTicket, Ticket};

/// Where zones are looked up, unless an installation points elsewhere (an emulator, a relay).
pub const ZONE_LOOKUP: &str = "https://webservices.autotask.net/atservicesrest";
/// The most records Autotask returns in one page.
pub const PAGE_SIZE: usize = 500;

/// What authenticates the portal to one Autotask database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutotaskCredentials {
    /// The API-only user's name (an e-mail-like login).
    pub username: String,
    pub secret: String,
    /// The API tracking identifier chosen on that user (the `ApiIntegrationcode` header).
    pub integration_code: String,
}

/// Why a call did not succeed, in words an administrator can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AutotaskError {
    #[error("Autotask could not be reached at {0}.")]
    Unreachable(String),
    #[error("Autotask does not know the API user {0:?} (zone lookup failed).")]
    UnknownUser(String),
    #[error("Autotask refused the password (Secret) of the API user.")]
    BadSecret,
    #[error("Autotask refused the credentials: {0} (check the user name and the API tracking identifier).")]
    BadCredentials(String),
    #[error("Autotask's request limit is reached: {0}")]
    Throttled(String),
    #[error("Autotask is unavailable (HTTP {0}).")]
    Unavailable(u16),
    #[error("Autotask refused the request: {0}")]
    Refused(String),
    #[error("Autotask has no such record.")]
    NotFound,
    #[error("Autotask's answer was not understood: {0}")]
    Malformed(String),
}

impl AutotaskError {
    /// Whether a later try may succeed (an outage, a limit, a lost answer).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            AutotaskError::Unreachable(_) | AutotaskError::Throttled(_) | AutotaskError::Unavailable(_)
        )
    }
}

#[derive(Debug, Clone)]
pub struct AutotaskClient {
    http: reqwest::Client,
    zone_url: String,
    credentials: AutotaskCredentials,
}

#[derive(Deserialize)]
struct ZoneInformation {
    url: String,
}

fn http_client() -> Result<reqwest::Client, AutotaskError> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| AutotaskError::Unreachable(e.to_string()))
}

impl AutotaskClient {
    /// Looks up the API user's zone at `lookup_url` and returns a client of that zone.
    pub async fn discover(
        lookup_url: &str,
        credentials: AutotaskCredentials,
    ) -> Result<AutotaskClient, AutotaskError> {
        let http = http_client()?;
        let url = format!("{}/V1.0/ZoneInformation", lookup_url.trim_end_matches('/'));
        let response = http
            .get(&url)
            .query(&[("user", credentials.username.as_str())])
            .send()
            .await
            .map_err(|e| AutotaskError::Unreachable(format!("{lookup_url} ({e})")))?;
        let status = response.status();
        if !status.is_success() {
            return Err(match status.as_u16() {
                404 | 500 => AutotaskError::UnknownUser(credentials.username.clone()),
                other => AutotaskError::Unavailable(other),
            });
        }
        let zone: ZoneInformation = response
            .json()
            .await
            .map_err(|e| AutotaskError::Malformed(format!("zone information: {e}")))?;
        AutotaskClient::at_zone(&zone.url, credentials)
    }

    /// A client of a zone already known (its root, as the zone lookup gave it).
    pub fn at_zone(
        zone_url: &str,
        credentials: AutotaskCredentials,
    ) -> Result<AutotaskClient, AutotaskError> {
        Ok(AutotaskClient {
            http: http_client()?,
            zone_url: zone_url.trim_end_matches('/').to_owned(),
            credentials,
        })
    }

    pub fn zone_url(&self) -> &str {
        &self.zone_url
    }

    fn url(&self, path: &str) -> String {
        format!("{}/V1.0/{path}", self.zone_url)
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Value, AutotaskError> {
        let c = &self.credentials;
        let response = request
            .header("ApiIntegrationcode", &c.integration_code)
            .header("UserName", &c.username)
            .header("Secret", &c.secret)
            .send()
            .await
            .map_err(|e| AutotaskError::Unreachable(format!("{} ({e})", self.zone_url)))?;
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let message = || {
            body["errors"]
                .as_array()
                .map(|errors| {
                    errors
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join("; ")
                })
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| format!("HTTP {status}"))
        };
        match status {
            200..=299 => Ok(body),
            401 => Err(AutotaskError::BadSecret),
            404 => Err(AutotaskError::NotFound),
            429 => Err(AutotaskError::Throttled(message())),
            500 => Err(AutotaskError::Refused(message())),
            502..=504 => Err(AutotaskError::Unavailable(status)),
            _ => Err(AutotaskError::Refused(message())),
        }
    }

    /// Checks the credentials with the cheapest authenticated call (one company). Autotask
    /// answers a wrong user name or tracking identifier with a 500, told apart here.
    pub async fn test(&self) -> Result<(), AutotaskError> {
        let search = json!({"filter": [{"op": "exist", "field": "id"}], "MaxRecords": 1});
        match self.query("Companies", &search, Some(1)).await {
            Ok(_) => Ok(()),
            Err(AutotaskError::Refused(message)) => Err(AutotaskError::BadCredentials(message)),
            Err(other) => Err(other),
        }
    }

    /// Runs a query, following `nextPageUrl` until it is null or `limit` records are read.
    async fn query(
        &self,
        entity: &str,
        search: &Value,
        limit: Option<usize>,
    ) -> Result<Vec<Value>, AutotaskError> {
        let mut items = Vec::new();
        let mut body = self
            .send(self.http.post(self.url(&format!("{entity}/query"))).json(search))
            .await?;
        loop {
            let page = body["items"]
                .as_array()
                .ok_or_else(|| AutotaskError::Malformed(format!("{entity} query without items")))?;
            items.extend(page.iter().cloned());
            if limit.is_some_and(|limit| items.len() >= limit) {
                break;
            }
            let Some(next) = body["pageDetails"]["nextPageUrl"].as_str().map(str::to_owned) else {
                break;
            };
            body = self.send(self.http.get(next)).await?;
        }
        Ok(items)
    }

    /// The active companies, by name; only those whose name contains `search`, if given.
    pub async fn companies(&self, search: Option<&str>) -> Result<Vec<PsaCompany>, AutotaskError> {
        let mut filter = vec![json!({"op": "eq", "field": "isActive", "value": true})];
        if let Some(text) = search.map(str::trim).filter(|t| !t.is_empty()) {
            filter.push(json!({"op": "contains", "field": "companyName", "value": text}));
        }
        let search = json!({"filter": filter, "IncludeFields": ["id", "companyName", "isActive"]});
        let mut companies: Vec<PsaCompany> = self
            .query("Companies", &search, None)
            .await?
            .iter()
            .map(|c| PsaCompany {
                id: c["id"].as_i64().unwrap_or_default(),
                name: c["companyName"].as_str().unwrap_or_default().to_owned(),
            })
            .collect();
        companies.sort_by(|a, b| {
            a.name
                .to_lowercase()
                .cmp(&b.name.to_lowercase())
                .then(a.id.cmp(&b.id))
        });
        Ok(companies)
    }

    /// One company by id.
    pub async fn company(&self, id: i64) -> Result<PsaCompany, AutotaskError> {
        let search = json!({"filter": [{"op": "eq", "field": "id", "value": id}]});
        let found = self.query("Companies", &search, Some(1)).await?;
        let company = found.first().ok_or(AutotaskError::NotFound)?;
        Ok(PsaCompany {
            id,
            name: company["companyName"].as_str().unwrap_or_default().to_owned(),
        })
    }

    /// The ticket picklists settings choose from (never hard-coded: ids differ per database).
    pub async fn ticket_choices(&self) -> Result<TicketChoices, AutotaskError> {
        let body = self
            .send(self.http.get(self.url("Tickets/entityInformation/fields")))
            .await?;
        let fields = body["fields"]
            .as_array()
            .ok_or_else(|| AutotaskError::Malformed("entity information without fields".into()))?;
        let picklist = |name: &str| -> Vec<PickValue> {
            fields
                .iter()
                .find(|f| f["name"].as_str().is_some_and(|n| n.eq_ignore_ascii_case(name)))
                .and_then(|f| f["picklistValues"].as_array())
                .map(|values| {
                    values
                        .iter()
                        .filter(|v| v["isActive"].as_bool().unwrap_or(true))
                        .map(|v| PickValue {
                            value: value_text(&v["value"]),
                            label: v["label"].as_str().unwrap_or_default().to_owned(),
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        Ok(TicketChoices {
            queues: picklist("queueID"),
            statuses: picklist("status"),
            priorities: picklist("priority"),
            ..TicketChoices::default()
        })
    }

    /// Opens a ticket and reads back its number.
    pub async fn create_ticket(&self, ticket: &NewTicket) -> Result<Ticket, AutotaskError> {
        let mut body = json!({
            "companyID": ticket.company_id,
            "title": ticket.title,
            "description": ticket.description,
            "priority": number_or_text(&ticket.priority),
            "status": number_or_text(ticket.status.as_deref().unwrap_or("1")),
            "dueDateTime": autotask_time(ticket.due_at_ms),
        });
        if let Some(queue) = &ticket.queue {
            body["queueID"] = number_or_text(queue);
        }
        let created = self.send(self.http.post(self.url("Tickets")).json(&body)).await?;
        let id = created["itemId"]
            .as_i64()
            .ok_or_else(|| AutotaskError::Malformed("create without itemId".into()))?;
        self.ticket(id).await
    }

    pub async fn ticket(&self, id: i64) -> Result<Ticket, AutotaskError> {
        let body = self
            .send(self.http.get(self.url(&format!("Tickets/{id}"))))
            .await?;
        ticket_of(&body["item"])
    }

    /// The ticket whose description carries `marker`, if one does (a retry's check).
    pub async fn find_ticket(&self, marker: &str) -> Result<Option<Ticket>, AutotaskError> {
        let search =
            json!({"filter": [{"op": "contains", "field": "description", "value": marker}], "MaxRecords": 1});
        let found = self.query("Tickets", &search, Some(1)).await?;
        found.first().map(ticket_of).transpose()
    }

    /// Adds a note to a ticket.
    pub async fn add_note(
        &self,
        ticket_id: i64,
        title: &str,
        description: &str,
    ) -> Result<i64, AutotaskError> {
        let body = json!({"ticketID": ticket_id, "title": title, "description": description,
                          "noteType": 1, "publish": 1});
        let created = self
            .send(
                self.http
                    .post(self.url(&format!("Tickets/{ticket_id}/Notes")))
                    .json(&body),
            )
            .await?;
        created["itemId"]
            .as_i64()
            .ok_or_else(|| AutotaskError::Malformed("note without itemId".into()))
    }

    /// Whether a note of the ticket carries `marker` (a retry's check).
    pub async fn has_note(&self, ticket_id: i64, marker: &str) -> Result<bool, AutotaskError> {
        let search = json!({"filter": [
            {"op": "eq", "field": "ticketID", "value": ticket_id},
            {"op": "contains", "field": "description", "value": marker}
        ], "MaxRecords": 1});
        Ok(!self.query("TicketNotes", &search, Some(1)).await?.is_empty())
    }

    /// Moves a ticket to `status`, changing nothing else (PATCH).
    pub async fn set_status(&self, ticket_id: i64, status: &str) -> Result<(), AutotaskError> {
        let body = json!({"id": ticket_id, "status": number_or_text(status)});
        self.send(self.http.patch(self.url("Tickets")).json(&body))
            .await?;
        Ok(())
    }
}

fn ticket_of(item: &Value) -> Result<Ticket, AutotaskError> {
    Ok(Ticket {
        id: item["id"]
            .as_i64()
            .ok_or_else(|| AutotaskError::Malformed("ticket without id".into()))?,
        number: item["ticketNumber"].as_str().unwrap_or_default().to_owned(),
        status: value_text(&item["status"]),
    })
}

/// Picklist values arrive as strings; Autotask's integer fields take numbers.
fn number_or_text(value: &str) -> Value {
    value
        .parse::<i64>()
        .map(Value::from)
        .unwrap_or_else(|_| Value::from(value))
}

fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// UTC as Autotask wants it: `yyyy-mm-ddThh:mm:ss.msZ`.
fn autotask_time(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}
