//! Kaseya BMS API v2, which Vorex serves too (research §3, spec portal-c §5.3): a token from
//! `POST /v2/security/authenticate` (form: UserName, Password, Tenant, GrantType=password; the
//! token arrives as `result.accessToken`), then `Authorization: Bearer` on every call, a new
//! token when it expires. Every answer is an envelope `{success, error, result}` and a failure
//! may come as HTTP 200 with `success: false`. Accounts page 100 at a time; a ticket needs
//! account, location, title, details, open date, status, priority, type and source; types and
//! sources have no documented lookup, so they are read from the generic lookup tables
//! `TicketType` and `TicketSource` (empty when a BMS lacks them). One request at a time.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use model::psa::{PickValue, PsaCompany, TicketChoices, truncate_chars};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::psa::{NewTicket, Ticket};

/// The most accounts BMS returns in one page.
pub const PAGE_SIZE: usize = 100;
/// The longest ticket title BMS accepts.
pub const TITLE_MAX: usize = 200;
/// BMS documents no lookup of note types; notes use the first one.
const NOTE_TYPE: i64 = 1;

/// What authenticates the portal to one BMS (or Vorex) tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BmsCredentials {
    pub username: String,
    pub password: String,
    /// The tenant: the MSP's company name in BMS.
    pub tenant: String,
}

/// Why a call did not succeed, in words an administrator can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BmsError {
    #[error("BMS could not be reached at {0}.")]
    Unreachable(String),
    #[error("BMS refused the login: {0}")]
    BadCredentials(String),
    #[error("BMS does not know the tenant: {0}")]
    UnknownTenant(String),
    #[error("BMS's request limit is reached: {0}")]
    Throttled(String),
    #[error("BMS is unavailable (HTTP {0}).")]
    Unavailable(u16),
    #[error("BMS refused the request: {0}")]
    Refused(String),
    #[error("BMS has no such record.")]
    NotFound,
    #[error("BMS's answer was not understood: {0}")]
    Malformed(String),
}

#[derive(Debug, Clone)]
pub struct BmsClient {
    http: reqwest::Client,
    api_url: String,
    credentials: BmsCredentials,
    token: Arc<Mutex<Option<String>>>,
}

fn http_client() -> Result<reqwest::Client, BmsError> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| BmsError::Unreachable(e.to_string()))
}

impl BmsClient {
    /// Signs in at `api_url` (e.g. `https://api.bms.kaseya.com`) and returns a client with the token.
    pub async fn connect(api_url: &str, credentials: BmsCredentials) -> Result<BmsClient, BmsError> {
        let client = BmsClient::at(api_url, credentials)?;
        client.token(true).await?;
        Ok(client)
    }

    /// A client that signs in on its first call.
    pub fn at(api_url: &str, credentials: BmsCredentials) -> Result<BmsClient, BmsError> {
        Ok(BmsClient {
            http: http_client()?,
            api_url: api_url.trim_end_matches('/').to_owned(),
            credentials,
            token: Arc::new(Mutex::new(None)),
        })
    }

    pub fn api_url(&self) -> &str {
        &self.api_url
    }

    fn url(&self, path: &str) -> String {
        format!("{}/v2/{path}", self.api_url)
    }

    /// The current token, or a new one (`renew`: the old one was refused).
    async fn token(&self, renew: bool) -> Result<String, BmsError> {
        let mut token = self.token.lock().await;
        if let (Some(current), false) = (token.as_ref(), renew) {
            return Ok(current.clone());
        }
        let c = &self.credentials;
        let form = [
            ("UserName", c.username.as_str()),
            ("Password", c.password.as_str()),
            ("Tenant", c.tenant.as_str()),
            ("GrantType", "password"),
        ];
        let response = self
            .http
            .post(self.url("security/authenticate"))
            .form(&form)
            .send()
            .await
            .map_err(|e| BmsError::Unreachable(format!("{} ({e})", self.api_url)))?;
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status >= 500 {
            return Err(BmsError::Unavailable(status));
        }
        if !succeeded(&body) {
            let message = message_of(&body, status);
            return Err(if message.to_lowercase().contains("tenant") {
                BmsError::UnknownTenant(message)
            } else {
                BmsError::BadCredentials(message)
            });
        }
        let access = field(&field(&body, "result"), "accessToken")
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| BmsError::Malformed("authentication without an access token".into()))?;
        *token = Some(access.clone());
        Ok(access)
    }

    /// Sends a request with the token (signing in again once if it expired) and answers the
    /// envelope's `result` with its `totalRecords`.
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(Value, Option<u64>), BmsError> {
        let mut renewed = false;
        loop {
            let token = self.token(renewed).await?;
            let mut request = self
                .http
                .request(method.clone(), self.url(path))
                .bearer_auth(token);
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = request
                .send()
                .await
                .map_err(|e| BmsError::Unreachable(format!("{} ({e})", self.api_url)))?;
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            match status {
                401 if !renewed => renewed = true,
                401 => return Err(BmsError::BadCredentials(message_of(&body, status))),
                404 => return Err(BmsError::NotFound),
                429 => return Err(BmsError::Throttled(message_of(&body, status))),
                500..=599 => return Err(BmsError::Unavailable(status)),
                200..=299 if succeeded(&body) => {
                    let total = field(&body, "totalRecords").as_u64();
                    return Ok((field(&body, "result"), total));
                }
                // BMS also reports failures as HTTP 200 with `success: false`.
                _ => return Err(BmsError::Refused(message_of(&body, status))),
            }
        }
    }

    async fn get(&self, path: &str) -> Result<(Value, Option<u64>), BmsError> {
        self.send(reqwest::Method::GET, path, None).await
    }

    async fn list(&self, path: &str) -> Result<Vec<Value>, BmsError> {
        let (result, _) = self.get(path).await?;
        Ok(result.as_array().cloned().unwrap_or_default())
    }

    /// Checks the login with the cheapest authenticated call.
    pub async fn test(&self) -> Result<(), BmsError> {
        self.get("crm/accounts/lookup?PageSize=1&PageNumber=1")
            .await
            .map(|_| ())
    }

    /// The active accounts, by name; only those whose name contains `search`, if given.
    pub async fn companies(&self, search: Option<&str>) -> Result<Vec<PsaCompany>, BmsError> {
        let filter = search
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .unwrap_or_default();
        let mut companies = Vec::new();
        for page in 1.. {
            let mut url = reqwest::Url::parse("http://x/crm/accounts/lookup")
                .map_err(|e| BmsError::Malformed(e.to_string()))?;
            url.query_pairs_mut()
                .append_pair("Filter.Name", filter)
                .append_pair("Filter.WithInactiveAccounts", "false")
                .append_pair("PageSize", &PAGE_SIZE.to_string())
                .append_pair("PageNumber", &page.to_string());
            let path = format!("crm/accounts/lookup?{}", url.query().unwrap_or_default());
            let (result, total) = self.get(&path).await?;
            let found = result.as_array().cloned().unwrap_or_default();
            companies.extend(found.iter().map(company_of));
            let all_read = total.is_some_and(|total| companies.len() as u64 >= total);
            if found.len() < PAGE_SIZE || all_read {
                break;
            }
        }
        companies.sort_by(|a, b| {
            a.name
                .to_lowercase()
                .cmp(&b.name.to_lowercase())
                .then(a.id.cmp(&b.id))
        });
        Ok(companies)
    }

    /// One active account by id (through the lookup: BMS has no GET of one account).
    pub async fn company(&self, id: i64) -> Result<PsaCompany, BmsError> {
        let path = format!("crm/accounts/lookup?Filter.Ids={id}&Filter.WithInactiveAccounts=false");
        let found = self.list(&path).await?;
        found
            .iter()
            .find(|a| field(a, "id").as_i64() == Some(id))
            .map(company_of)
            .ok_or(BmsError::NotFound)
    }

    /// Queues, statuses and priorities from their lookups; types and sources from the generic
    /// lookup tables.
    pub async fn ticket_choices(&self) -> Result<TicketChoices, BmsError> {
        let active = |list: Vec<Value>| -> Vec<PickValue> {
            list.iter()
                .filter(|v| field(v, "isActive").as_bool() != Some(false))
                .map(pick_of)
                .collect()
        };
        let table = |name: &'static str| async move {
            match self.list(&format!("system/lookup/{name}")).await {
                Err(BmsError::NotFound) => Ok(Vec::new()),
                other => other,
            }
        };
        Ok(TicketChoices {
            queues: active(self.list("system/queues/lookup").await?),
            statuses: active(self.list("system/statuses/lookup").await?),
            priorities: active(self.list("system/priorities/lookup").await?),
            types: active(table("TicketType").await?),
            sources: active(table("TicketSource").await?),
            ..TicketChoices::default()
        })
    }

    /// The account's main location (the first, if none is marked main).
    async fn main_location(&self, account_id: i64) -> Result<i64, BmsError> {
        let locations = self
            .list(&format!("crm/accounts/{account_id}/locations/lookup"))
            .await?;
        locations
            .iter()
            .find(|l| field(l, "isMain").as_bool() == Some(true))
            .or(locations.first())
            .and_then(|l| field(l, "id").as_i64())
            .ok_or_else(|| BmsError::Refused(format!("account {account_id} has no location")))
    }

    /// The account's active locations, the main one first.
    pub async fn locations(&self, account_id: i64) -> Result<Vec<PickValue>, BmsError> {
        let mut locations = self
            .list(&format!("crm/accounts/{account_id}/locations/lookup"))
            .await?;
        locations.retain(|l| field(l, "isActive").as_bool() != Some(false));
        locations.sort_by_key(|l| field(l, "isMain").as_bool() != Some(true));
        Ok(locations.iter().map(pick_of).collect())
    }

    /// Opens a ticket at the chosen location of the account, else at its main location.
    pub async fn create_ticket(&self, ticket: &NewTicket) -> Result<Ticket, BmsError> {
        let required = |what: &str, value: &Option<String>| {
            value
                .as_deref()
                .ok_or_else(|| BmsError::Refused(format!("choose the {what} of tickets")))
                .and_then(number)
        };
        let location = match &ticket.location {
            Some(location) => number(location)?,
            None => self.main_location(ticket.company_id).await?,
        };
        let mut body = json!({
            "AccountId": ticket.company_id,
            "LocationId": location,
            "Title": truncate_chars(&ticket.title, TITLE_MAX),
            "Details": ticket.description,
            "OpenDate": bms_time(now_ms()),
            "DueDate": bms_time(ticket.due_at_ms),
            "StatusId": required("status", &ticket.status)?,
            "PriorityId": number(&ticket.priority)?,
            "TypeId": required("type", &ticket.ticket_type)?,
            "SourceId": required("source", &ticket.source)?,
        });
        if let Some(queue) = &ticket.queue {
            body["QueueId"] = json!(number(queue)?);
        }
        let (created, _) = self
            .send(reqwest::Method::POST, "servicedesk/tickets", Some(&body))
            .await?;
        ticket_of(&created)
    }

    /// The ticket whose details carry `marker`, if one does.
    pub async fn find_ticket(&self, marker: &str) -> Result<Option<Ticket>, BmsError> {
        let search = json!({"PageSize": 1, "PageNumber": 1, "Filter": {"Details": marker}});
        let (found, _) = self
            .send(reqwest::Method::POST, "servicedesk/tickets/search", Some(&search))
            .await?;
        found
            .as_array()
            .and_then(|list| list.first())
            .map(ticket_of)
            .transpose()
    }

    /// Adds a public note (BMS notes have no title: it leads the text).
    pub async fn add_note(&self, ticket_id: i64, title: &str, text: &str) -> Result<i64, BmsError> {
        let body = json!({
            "Details": format!("{title}\n\n{text}"),
            "IsInternal": false,
            "NoteDate": bms_time(now_ms()),
            "TypeId": NOTE_TYPE,
        });
        let path = format!("servicedesk/tickets/{ticket_id}/notes");
        let (created, _) = self.send(reqwest::Method::POST, &path, Some(&body)).await?;
        field(&created, "id")
            .as_i64()
            .ok_or_else(|| BmsError::Malformed("note without id".into()))
    }

    /// Whether a note of the ticket carries `marker`.
    pub async fn has_note(&self, ticket_id: i64, marker: &str) -> Result<bool, BmsError> {
        let notes = self
            .list(&format!("servicedesk/tickets/{ticket_id}/notes"))
            .await?;
        Ok(notes
            .iter()
            .any(|n| field(n, "details").as_str().is_some_and(|d| d.contains(marker))))
    }

    /// Moves a ticket to `status`, changing nothing else (JSON Patch).
    pub async fn set_status(&self, ticket_id: i64, status: &str) -> Result<(), BmsError> {
        let patch = json!([{"op": "replace", "path": "/StatusId", "value": number(status)?}]);
        let path = format!("servicedesk/tickets/{ticket_id}");
        self.send(reqwest::Method::PATCH, &path, Some(&patch)).await?;
        Ok(())
    }
}

/// A member of a JSON object by name, whatever its case (the swagger says PascalCase, the wire
/// is camelCase).
fn field(value: &Value, name: &str) -> Value {
    value
        .as_object()
        .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
        .map(|(_, v)| v.clone())
        .unwrap_or(Value::Null)
}

fn succeeded(body: &Value) -> bool {
    field(body, "success").as_bool() == Some(true)
}

fn message_of(body: &Value, status: u16) -> String {
    field(&field(body, "error"), "message")
        .as_str()
        .filter(|m| !m.is_empty())
        .map(str::to_owned)
        .unwrap_or_else(|| format!("HTTP {status}"))
}

fn number(value: &str) -> Result<i64, BmsError> {
    value
        .parse()
        .map_err(|_| BmsError::Refused(format!("{value:?} is not a BMS id")))
}

fn company_of(c: &Value) -> PsaCompany {
    PsaCompany {
        id: field(c, "id").as_i64().unwrap_or_default(),
        name: field(c, "name").as_str().unwrap_or_default().to_owned(),
    }
}

fn pick_of(v: &Value) -> PickValue {
    PickValue {
        value: field(v, "id").as_i64().unwrap_or_default().to_string(),
        label: field(v, "name").as_str().unwrap_or_default().to_owned(),
    }
}

fn ticket_of(item: &Value) -> Result<Ticket, BmsError> {
    Ok(Ticket {
        id: field(item, "id")
            .as_i64()
            .ok_or_else(|| BmsError::Malformed("ticket without id".into()))?,
        number: field(item, "ticketNumber")
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        status: field(item, "statusName").as_str().unwrap_or_default().to_owned(),
    })
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// UTC as BMS takes it: `yyyy-mm-ddThh:mm:ssZ`.
fn bms_time(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_read_whatever_their_case() {
        let body = json!({"Success": true, "Result": {"AccessToken": "t"}});
        assert!(succeeded(&body));
        assert_eq!(field(&field(&body, "result"), "accessToken"), json!("t"));
        let refused = json!({"success": false, "error": {"message": "Invalid username or password"}});
        assert!(!succeeded(&refused));
        assert_eq!(message_of(&refused, 200), "Invalid username or password");
        assert_eq!(message_of(&Value::Null, 503), "HTTP 503");
    }
}
