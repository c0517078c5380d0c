//! ConnectWise PSA REST API 3.0 (research §2, spec portal-c §5.2): the API root is discovered by
//! `login/companyinfo/{companyId}` (its `SiteUrl` and `Codebase`); every call carries Basic
//! `company+public:private` and the product's `clientId` header; collections page by the `Link`
//! header (at most 1000 a page); statuses belong to a service board; a ticket's `summary` holds
//! at most 100 characters, and its `externalXRef` carries the alert's marker so a retry finds
//! it; notes live under `service/tickets/{id}/notes`. A 429 is retried after its `Retry-After`
//! when that is short; this client sends one request at a time.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use model::psa::{PickValue, PsaCompany, QueueStatuses, TicketChoices, truncate_chars};
use reqwest::header::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::psa::{NewTicket, Ticket};

/// The most records ConnectWise returns in one page.
pub const PAGE_SIZE: usize = 1000;
/// The longest ticket summary ConnectWise accepts.
pub const SUMMARY_MAX: usize = 100;
/// A throttled call is retried after `Retry-After` up to this long, this many times; longer
/// waits are left to the caller (the ticket queue retries later).
const RETRY_AFTER_MAX: Duration = Duration::from_secs(10);
const THROTTLE_RETRIES: usize = 2;

/// What authenticates the portal to one ConnectWise company.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectWiseCredentials {
    /// The company id typed at ConnectWise's login.
    pub company_id: String,
    /// The API member's key pair.
    pub public_key: String,
    pub private_key: String,
    /// The product's id from ConnectWise's developer program (a server setting).
    pub client_id: String,
}

/// Why a call did not succeed, in words an administrator can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectWiseError {
    #[error("ConnectWise could not be reached at {0}.")]
    Unreachable(String),
    #[error("ConnectWise does not know the company id {0:?}.")]
    UnknownCompany(String),
    #[error("ConnectWise refused the API keys: {0} (check the company id, public key and private key).")]
    BadCredentials(String),
    #[error("The API member lacks a permission: {0}")]
    MissingPermission(String),
    #[error("ConnectWise's request limit is reached (retry after {0} s).")]
    Throttled(u64),
    #[error("ConnectWise is unavailable (HTTP {0}).")]
    Unavailable(u16),
    #[error("ConnectWise refused the request: {0}")]
    Refused(String),
    #[error("ConnectWise has no such record.")]
    NotFound,
    #[error("ConnectWise's answer was not understood: {0}")]
    Malformed(String),
}

#[derive(Debug, Clone)]
pub struct ConnectWiseClient {
    http: reqwest::Client,
    api_url: String,
    credentials: ConnectWiseCredentials,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CompanyInfo {
    codebase: String,
    site_url: String,
}

fn http_client() -> Result<reqwest::Client, ConnectWiseError> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| ConnectWiseError::Unreachable(e.to_string()))
}

impl ConnectWiseClient {
    /// Asks `site` (e.g. `https://na.myconnectwise.net`) where the company's API lives and
    /// returns a client of it.
    pub async fn discover(
        site: &str,
        credentials: ConnectWiseCredentials,
    ) -> Result<ConnectWiseClient, ConnectWiseError> {
        let site = site.trim_end_matches('/');
        let url = format!("{site}/login/companyinfo/{}", credentials.company_id);
        let response = http_client()?
            .get(&url)
            .send()
            .await
            .map_err(|e| ConnectWiseError::Unreachable(format!("{site} ({e})")))?;
        match response.status().as_u16() {
            200 => {}
            404 => return Err(ConnectWiseError::UnknownCompany(credentials.company_id)),
            other => return Err(ConnectWiseError::Unavailable(other)),
        }
        // Some sites answer an unknown company with 200 and an empty body.
        let info: CompanyInfo = response
            .json()
            .await
            .map_err(|_| ConnectWiseError::UnknownCompany(credentials.company_id.clone()))?;
        let scheme = site.split_once("://").map_or("https", |(scheme, _)| scheme);
        let api_url = format!("{scheme}://{}/{}apis/3.0", info.site_url, info.codebase);
        ConnectWiseClient::at(&api_url, credentials)
    }

    /// A client of an API root found before.
    pub fn at(
        api_url: &str,
        credentials: ConnectWiseCredentials,
    ) -> Result<ConnectWiseClient, ConnectWiseError> {
        Ok(ConnectWiseClient {
            http: http_client()?,
            api_url: api_url.trim_end_matches('/').to_owned(),
            credentials,
        })
    }

    pub fn api_url(&self) -> &str {
        &self.api_url
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.api_url)
    }

    fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        let c = &self.credentials;
        self.http
            .request(method, url)
            .basic_auth(format!("{}+{}", c.company_id, c.public_key), Some(&c.private_key))
            .header("clientId", &c.client_id)
            .header("Accept", "application/json")
    }

    /// Sends a request (again after a short `Retry-After`), answering its JSON and headers.
    async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<(Value, HeaderMap), ConnectWiseError> {
        let mut throttled = 0;
        loop {
            let mut request = self.request(method.clone(), url);
            if let Some(body) = body {
                request = request.json(body);
            }
            match self.answer(request).await {
                Err(ConnectWiseError::Throttled(seconds))
                    if throttled < THROTTLE_RETRIES && Duration::from_secs(seconds) <= RETRY_AFTER_MAX =>
                {
                    throttled += 1;
                    tokio::time::sleep(Duration::from_secs(seconds.max(1))).await;
                }
                other => return other,
            }
        }
    }

    async fn answer(&self, request: reqwest::RequestBuilder) -> Result<(Value, HeaderMap), ConnectWiseError> {
        let response = request
            .send()
            .await
            .map_err(|e| ConnectWiseError::Unreachable(format!("{} ({e})", self.api_url)))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        match status {
            200..=299 => Ok((body, headers)),
            401 => Err(ConnectWiseError::BadCredentials(message_of(&body, status))),
            403 => Err(ConnectWiseError::MissingPermission(message_of(&body, status))),
            404 => Err(ConnectWiseError::NotFound),
            429 => Err(ConnectWiseError::Throttled(retry_after(&headers))),
            500 | 502..=504 => Err(ConnectWiseError::Unavailable(status)),
            _ => Err(ConnectWiseError::Refused(message_of(&body, status))),
        }
    }

    async fn get(&self, path: &str) -> Result<Value, ConnectWiseError> {
        Ok(self.send(reqwest::Method::GET, &self.url(path), None).await?.0)
    }

    /// Reads a whole collection, following the `Link` header's next page.
    async fn collection(&self, path: &str, query: &[(&str, &str)]) -> Result<Vec<Value>, ConnectWiseError> {
        let page_size = PAGE_SIZE.to_string();
        let mut url = reqwest::Url::parse(&self.url(path))
            .map_err(|e| ConnectWiseError::Unreachable(format!("{} ({e})", self.api_url)))?;
        url.query_pairs_mut()
            .extend_pairs(query)
            .append_pair("pageSize", &page_size);
        let mut next = Some(url.to_string());
        let mut items = Vec::new();
        while let Some(url) = next.take() {
            let (body, headers) = self.send(reqwest::Method::GET, &url, None).await?;
            let page = body
                .as_array()
                .ok_or_else(|| ConnectWiseError::Malformed(format!("{path} is not a list")))?;
            items.extend(page.iter().cloned());
            next = next_link(&headers);
        }
        Ok(items)
    }

    /// Checks the keys and the client id with the cheapest authenticated call. ConnectWise's
    /// cloud may answer bad keys with 404, so a 404 here means them too.
    pub async fn test(&self) -> Result<(), ConnectWiseError> {
        match self.get("system/info").await {
            Ok(_) => Ok(()),
            Err(ConnectWiseError::NotFound) => Err(ConnectWiseError::BadCredentials(
                "the API answered 404 to the credential check".into(),
            )),
            Err(other) => Err(other),
        }
    }

    /// The companies not deleted, by name; only those whose name contains `search`, if given.
    pub async fn companies(&self, search: Option<&str>) -> Result<Vec<PsaCompany>, ConnectWiseError> {
        let mut conditions = "deletedFlag=false".to_owned();
        if let Some(text) = search.map(str::trim).filter(|t| !t.is_empty()) {
            conditions.push_str(&format!(" and name like {}", quoted(&format!("%{text}%"))));
        }
        let found = self
            .collection(
                "company/companies",
                &[
                    ("conditions", &conditions),
                    ("orderBy", "name asc"),
                    ("fields", "id,name"),
                ],
            )
            .await?;
        let mut companies: Vec<PsaCompany> = found.iter().map(company_of).collect();
        companies.sort_by(|a, b| {
            a.name
                .to_lowercase()
                .cmp(&b.name.to_lowercase())
                .then(a.id.cmp(&b.id))
        });
        Ok(companies)
    }

    /// One company by id; a deleted one counts as missing.
    pub async fn company(&self, id: i64) -> Result<PsaCompany, ConnectWiseError> {
        let found = self.get(&format!("company/companies/{id}")).await?;
        if found["deletedFlag"].as_bool() == Some(true) {
            return Err(ConnectWiseError::NotFound);
        }
        Ok(company_of(&found))
    }

    /// The active service boards (project boards aside) with each one's statuses, and the
    /// priorities: never hard-coded, since ids differ per company.
    pub async fn ticket_choices(&self) -> Result<TicketChoices, ConnectWiseError> {
        let conditions = [
            ("conditions", "inactiveFlag=false and projectFlag=false"),
            ("orderBy", "name asc"),
        ];
        let boards: Vec<PickValue> = self
            .collection("service/boards", &conditions)
            .await?
            .iter()
            .map(pick_of)
            .collect();
        let mut queue_statuses = Vec::new();
        for board in &boards {
            let statuses = self
                .collection(
                    &format!("service/boards/{}/statuses", board.value),
                    &[("conditions", "inactive=false"), ("orderBy", "id asc")],
                )
                .await?;
            queue_statuses.push(QueueStatuses {
                queue: board.value.clone(),
                statuses: statuses.iter().map(pick_of).collect(),
            });
        }
        let priorities = self
            .collection("service/priorities", &[("orderBy", "id asc")])
            .await?;
        Ok(TicketChoices {
            queues: boards,
            priorities: priorities.iter().map(pick_of).collect(),
            queue_statuses,
            ..TicketChoices::default()
        })
    }

    /// Opens a ticket on the board with the alert's marker as its external reference.
    pub async fn create_ticket(&self, ticket: &NewTicket) -> Result<Ticket, ConnectWiseError> {
        let mut body = json!({
            "summary": truncate_chars(&ticket.title, SUMMARY_MAX),
            "company": {"id": ticket.company_id},
            "priority": {"id": number(&ticket.priority)?},
            "initialDescription": ticket.description,
            "externalXRef": ticket.reference,
            "requiredDate": connectwise_time(ticket.due_at_ms),
        });
        if let Some(board) = &ticket.queue {
            body["board"] = json!({"id": number(board)?});
        }
        if let Some(status) = &ticket.status {
            body["status"] = json!({"id": number(status)?});
        }
        let (created, _) = self
            .send(reqwest::Method::POST, &self.url("service/tickets"), Some(&body))
            .await?;
        ticket_of(&created)
    }

    /// The ticket whose external reference is `marker`, if one is.
    pub async fn find_ticket(&self, marker: &str) -> Result<Option<Ticket>, ConnectWiseError> {
        let conditions = format!("externalXRef={}", quoted(marker));
        let found = self
            .collection(
                "service/tickets",
                &[("conditions", &conditions), ("orderBy", "id asc")],
            )
            .await?;
        found.first().map(ticket_of).transpose()
    }

    /// Adds a note to the ticket's discussion (ConnectWise notes have no title: it leads the text).
    pub async fn add_note(&self, ticket_id: i64, title: &str, text: &str) -> Result<i64, ConnectWiseError> {
        let body = json!({
            "text": format!("{title}\n\n{text}"),
            "detailDescriptionFlag": true,
            "internalAnalysisFlag": false,
            "resolutionFlag": false,
        });
        let url = self.url(&format!("service/tickets/{ticket_id}/notes"));
        let (created, _) = self.send(reqwest::Method::POST, &url, Some(&body)).await?;
        created["id"]
            .as_i64()
            .ok_or_else(|| ConnectWiseError::Malformed("note without id".into()))
    }

    /// Whether a note of the ticket carries `marker`.
    pub async fn has_note(&self, ticket_id: i64, marker: &str) -> Result<bool, ConnectWiseError> {
        // `contains`, not `like`: SQL Server reads the marker's brackets in a LIKE pattern as a set.
        let conditions = format!("text contains {}", quoted(marker));
        let found = self
            .collection(
                &format!("service/tickets/{ticket_id}/notes"),
                &[("conditions", &conditions)],
            )
            .await?;
        Ok(!found.is_empty())
    }

    /// Moves a ticket to a status of its board, changing nothing else (JSON Patch).
    pub async fn set_status(&self, ticket_id: i64, status: &str) -> Result<(), ConnectWiseError> {
        let patch = json!([{"op": "replace", "path": "status", "value": {"id": number(status)?}}]);
        let url = self.url(&format!("service/tickets/{ticket_id}"));
        self.send(reqwest::Method::PATCH, &url, Some(&patch)).await?;
        Ok(())
    }
}

fn message_of(body: &Value, status: u16) -> String {
    let mut parts: Vec<String> = body["message"].as_str().map(str::to_owned).into_iter().collect();
    if let Some(errors) = body["errors"].as_array() {
        parts.extend(errors.iter().filter_map(|e| {
            let message = e["message"].as_str()?;
            Some(match e["field"].as_str().filter(|f| !f.is_empty()) {
                Some(field) => format!("{field}: {message}"),
                None => message.to_owned(),
            })
        }));
    }
    if parts.is_empty() {
        format!("HTTP {status}")
    } else {
        parts.join("; ")
    }
}

fn retry_after(headers: &HeaderMap) -> u64 {
    headers
        .get("Retry-After")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(60)
}

/// The `rel="next"` address of a `Link` header, if there is one.
fn next_link(headers: &HeaderMap) -> Option<String> {
    let link = headers.get("Link")?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        let is_next = params
            .split(';')
            .any(|p| p.trim().eq_ignore_ascii_case("rel=\"next\""));
        is_next.then(|| {
            url.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_owned()
        })
    })
}

/// A string in ConnectWise's conditions grammar.
fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

fn number(value: &str) -> Result<i64, ConnectWiseError> {
    value
        .parse()
        .map_err(|_| ConnectWiseError::Refused(format!("{value:?} is not a ConnectWise id")))
}

fn company_of(c: &Value) -> PsaCompany {
    PsaCompany {
        id: c["id"].as_i64().unwrap_or_default(),
        name: c["name"].as_str().unwrap_or_default().to_owned(),
    }
}

fn pick_of(v: &Value) -> PickValue {
    PickValue {
        value: v["id"].as_i64().unwrap_or_default().to_string(),
        label: v["name"].as_str().unwrap_or_default().to_owned(),
    }
}

/// ConnectWise's ticket number is its id.
fn ticket_of(item: &Value) -> Result<Ticket, ConnectWiseError> {
    let id = item["id"]
        .as_i64()
        .ok_or_else(|| ConnectWiseError::Malformed("ticket without id".into()))?;
    Ok(Ticket {
        id,
        number: format!("#{id}"),
        status: item["status"]["name"].as_str().unwrap_or_default().to_owned(),
    })
}

/// UTC as ConnectWise wants it: `yyyy-mm-ddThh:mm:ssZ`.
fn connectwise_time(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_page_comes_from_the_link_header() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "Link",
            "<https://x/apis/3.0/a?page=2&pageSize=1000>; rel=\"next\", <https://x/apis/3.0/a?page=9>; rel=\"last\""
                .parse()
                .unwrap(),
        );
        assert_eq!(
            next_link(&headers).as_deref(),
            Some("https://x/apis/3.0/a?page=2&pageSize=1000")
        );
        headers.insert("Link", "<https://x/a?page=1>; rel=\"first\"".parse().unwrap());
        assert_eq!(next_link(&headers), None);
    }

    #[test]
    fn conditions_quote_their_strings() {
        assert_eq!(quoted(r#"Bob "the" \ co"#), r#""Bob \"the\" \\ co""#);
    }

    #[test]
    fn errors_name_their_fields() {
        let body = json!({"code": "InvalidObject", "message": "Ticket object is invalid",
            "errors": [{"code": "MaxLengthField", "message": "too long", "field": "summary"}]});
        assert_eq!(
            message_of(&body, 400),
            "Ticket object is invalid; summary: too long"
        );
        assert_eq!(message_of(&Value::Null, 503), "HTTP 503");
    }
}
