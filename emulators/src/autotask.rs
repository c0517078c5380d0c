//! Autotask PSA's REST API v1.0 as the portal uses it (research §1, spec portal-c §5.1):
//!
//! - zone discovery (`ZoneInformation?user=`, no credentials), whose `url` points back here;
//! - the header triple on every other call, refused the way Autotask refuses it: a wrong
//!   `Secret` answers 401, a wrong `UserName` or `ApiIntegrationcode` answers **500**;
//! - `{Entity}/query` by GET `?search=` or POST body, filters (`eq`, `noteq`, `gt`, `gte`, `lt`,
//!   `lte`, `beginsWith`, `endsWith`, `contains`, `exist`, `notExist`, `in`, `and`/`or` groups),
//!   at most 500 a page with `pageDetails.nextPageUrl` (a full URL) until null;
//! - `Tickets/entityInformation/fields` with the picklists (queue, status, priority, source);
//! - tickets created by POST (`{"itemId"}`), read by id (`{"item"}`, 404 when missing),
//!   updated by PATCH (only the fields sent); notes under `Tickets/{id}/Notes`;
//! - failures as HTTP 500 with `{"errors": ["…"]}`; paths matched case-insensitively;
//! - limits: 10,000 requests per rolling hour for the database, and at most 3 requests in flight
//!   per entity endpoint, both answered with 429 when exceeded.
//!
//! Faults for tests, under `/_emulator/`: `outage?seconds=N` (503 to every API call),
//! `lose-responses?count=N` (the next N ticket or note writes are stored, but the answer is a
//! 504 without body, as when a proxy times out), and `tickets` (every ticket with its notes).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::wire::{header_text, iso_millis, lowercase_path};

/// Requests per rolling hour for one Autotask database, shared by every integration.
pub const HOURLY_LIMIT: usize = 10_000;
/// Requests in flight per entity endpoint for one tracking identifier.
pub const THREADS_PER_ENDPOINT: usize = 3;
/// Records per page of a query.
pub const PAGE_SIZE: usize = 500;
const API: &str = "/atservicesrest/v1.0";

/// Picklist values the emulated database offers; ids are Autotask's usual defaults but clients
/// must read them from `entityInformation/fields`.
const QUEUES: [(&str, &str); 3] = [
    ("29682833", "Client Portal"),
    ("29683481", "Monitoring Alert"),
    ("29683482", "IT.Level I"),
];
const STATUSES: [(&str, &str); 5] = [
    ("1", "New"),
    ("5", "Complete"),
    ("7", "Waiting Customer"),
    ("8", "In Progress"),
    ("13", "Waiting Vendor"),
];
const PRIORITIES: [(&str, &str); 4] = [("4", "Critical"), ("1", "High"), ("2", "Medium"), ("3", "Low")];
const SOURCES: [(&str, &str); 3] = [("-2", "Insourced"), ("4", "Phone"), ("8", "Monitoring Alert")];

/// The credentials the emulated database accepts.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub username: String,
    pub secret: String,
    pub integration_code: String,
}

#[derive(Debug)]
struct Inner {
    companies: Vec<Value>,
    tickets: Vec<Value>,
    notes: Vec<Value>,
    next_id: i64,
    recent: std::collections::VecDeque<Instant>,
    hourly_limit: usize,
    in_flight: HashMap<String, usize>,
    most_in_flight: usize,
    latency: Duration,
    outage_until: Option<Instant>,
    lose_responses: u32,
    requests: u64,
    tickets_today: u32,
}

/// One emulated Autotask database.
#[derive(Debug, Clone)]
pub struct Autotask {
    credentials: Credentials,
    inner: Arc<Mutex<Inner>>,
}

impl Autotask {
    /// A database with `companies` active customer companies (named from `seed`) besides the
    /// MSP's own company, id 0.
    pub fn new(credentials: Credentials, companies: usize, seed: u64) -> Autotask {
        let mut list = vec![company(0, "Backplane MSP (own company)", 0)];
        for (i, name) in crate::names::company_names(companies, seed)
            .into_iter()
            .enumerate()
        {
            list.push(company(29_000_000 + i as i64, &name, 1));
        }
        Autotask {
            credentials,
            inner: Arc::new(Mutex::new(Inner {
                companies: list,
                tickets: Vec::new(),
                notes: Vec::new(),
                next_id: 7_000,
                recent: Default::default(),
                hourly_limit: HOURLY_LIMIT,
                in_flight: HashMap::new(),
                most_in_flight: 0,
                latency: Duration::ZERO,
                outage_until: None,
                lose_responses: 0,
                requests: 0,
                tickets_today: 0,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Answers 503 to every API call for `duration`.
    pub fn outage(&self, duration: Duration) {
        self.lock().outage_until = Some(Instant::now() + duration);
    }

    /// Ends an outage early.
    pub fn recover(&self) {
        self.lock().outage_until = None;
    }

    /// The next `count` writes are stored but answered with a bodiless 504.
    pub fn lose_responses(&self, count: u32) {
        self.lock().lose_responses = count;
    }

    /// A smaller hourly budget, to reach 429 quickly in tests.
    pub fn set_hourly_limit(&self, requests: usize) {
        self.lock().hourly_limit = requests;
    }

    /// Delay before each API answer, so that concurrent requests overlap.
    pub fn set_latency(&self, latency: Duration) {
        self.lock().latency = latency;
    }

    /// The most requests ever in flight at once on one entity endpoint.
    pub fn most_in_flight(&self) -> usize {
        self.lock().most_in_flight
    }

    pub fn requests(&self) -> u64 {
        self.lock().requests
    }

    /// Adds a company, as a technician does in Autotask.
    pub fn add_company(&self, name: &str) -> i64 {
        let mut inner = self.lock();
        inner.next_id += 1;
        let id = inner.next_id;
        inner.companies.push(company(id, name, 1));
        id
    }

    /// Every ticket, oldest first, each with `notes` (its notes, oldest first).
    pub fn tickets(&self) -> Vec<Value> {
        let inner = self.lock();
        inner
            .tickets
            .iter()
            .map(|ticket| {
                let mut ticket = ticket.clone();
                let notes: Vec<Value> = inner
                    .notes
                    .iter()
                    .filter(|n| n["ticketID"] == ticket["id"])
                    .cloned()
                    .collect();
                ticket["notes"] = Value::Array(notes);
                ticket
            })
            .collect()
    }

    pub fn router(&self) -> Router {
        let api = Router::new()
            .route(&format!("{API}/zoneinformation"), get(zone_information))
            .route(
                &format!("{API}/{{entity}}/query"),
                get(query_get).post(query_post),
            )
            .route(&format!("{API}/{{entity}}/query/next"), get(query_next))
            // Static segments win over `{entity}` in axum's router: tickets' own query routes.
            .route(
                &format!("{API}/tickets/query"),
                get(ticket_query_get).post(ticket_query_post),
            )
            .route(&format!("{API}/tickets/query/next"), get(ticket_query_next))
            .route(
                &format!("{API}/tickets/entityinformation/fields"),
                get(ticket_fields),
            )
            .route(
                &format!("{API}/tickets"),
                post(create_ticket).patch(update_ticket),
            )
            .route(&format!("{API}/tickets/{{id}}"), get(ticket_by_id))
            .route(
                &format!("{API}/tickets/{{id}}/notes"),
                get(ticket_notes).post(create_note),
            )
            .route("/_emulator/outage", post(start_outage))
            .route("/_emulator/lose-responses", post(start_losing))
            .route("/_emulator/tickets", get(all_tickets))
            .with_state(self.clone());
        // Autotask's paths are documented in several casings; route them all.
        Router::new()
            .fallback_service(api)
            .layer(axum::middleware::map_request(lowercase_path))
    }

    /// Outage, credentials, the hourly budget and the thread limit, in that order; on success
    /// the returned guard holds the entity's thread until the answer is made.
    async fn admit(&self, headers: &HeaderMap, entity: &str) -> Result<Thread, Refusal> {
        let latency = {
            let mut inner = self.lock();
            inner.requests += 1;
            let now = Instant::now();
            if inner.outage_until.is_some_and(|until| now < until) {
                return Err(Refusal::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Service Unavailable",
                ));
            }
            self.check_credentials(headers)?;
            while inner
                .recent
                .front()
                .is_some_and(|t| now.duration_since(*t) > Duration::from_secs(3600))
            {
                inner.recent.pop_front();
            }
            if inner.recent.len() >= inner.hourly_limit {
                return Err(Refusal::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "The request threshold of this database has been exceeded for the current hour.",
                ));
            }
            inner.recent.push_back(now);
            let threads = inner.in_flight.entry(entity.to_owned()).or_default();
            if *threads >= THREADS_PER_ENDPOINT {
                return Err(Refusal::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Thread threshold exceeded: at most 3 concurrent requests per endpoint.",
                ));
            }
            *threads += 1;
            let busy = *threads;
            inner.most_in_flight = inner.most_in_flight.max(busy);
            inner.latency
        };
        let thread = Thread {
            autotask: self.clone(),
            entity: entity.to_owned(),
        };
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        Ok(thread)
    }

    fn check_credentials(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        let header = |name: &str| header_text(headers, name);
        let c = &self.credentials;
        if header("apiintegrationcode") != c.integration_code {
            return Err(Refusal::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Integration code is invalid or missing.",
            ));
        }
        if !header("username").eq_ignore_ascii_case(&c.username) {
            return Err(Refusal::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Object reference not set to an instance of an object.",
            ));
        }
        if header("secret") != c.secret {
            return Err(Refusal::new(StatusCode::UNAUTHORIZED, "Unauthorized"));
        }
        Ok(())
    }

    /// Whether this write's answer is to be lost (it is stored all the same).
    fn loses_answer(&self) -> bool {
        let mut inner = self.lock();
        if inner.lose_responses > 0 {
            inner.lose_responses -= 1;
            true
        } else {
            false
        }
    }
}

/// One request's place in its endpoint's thread limit.
struct Thread {
    autotask: Autotask,
    entity: String,
}

impl Drop for Thread {
    fn drop(&mut self) {
        if let Some(threads) = self.autotask.lock().in_flight.get_mut(&self.entity) {
            *threads = threads.saturating_sub(1);
        }
    }
}

fn company(id: i64, name: &str, company_type: i64) -> Value {
    json!({"id": id, "companyName": name, "companyNumber": format!("C{id}"), "companyType": company_type,
           "isActive": true, "parentCompanyID": null})
}

#[derive(Debug)]
struct Refusal {
    status: StatusCode,
    message: String,
}

impl Refusal {
    fn new(status: StatusCode, message: impl Into<String>) -> Refusal {
        Refusal {
            status,
            message: message.into(),
        }
    }

    fn invalid(message: impl Into<String>) -> Refusal {
        Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (self.status, axum::Json(json!({"errors": [self.message]}))).into_response()
    }
}

type Answer = Result<Response, Refusal>;

fn ok(body: Value) -> Answer {
    Ok(axum::Json(body).into_response())
}

/// The zone's root as Autotask gives it: this emulator, seen from the caller, with a slash.
fn zone_root(headers: &HeaderMap) -> String {
    let host = headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1");
    format!("http://{host}/ATServicesRest/")
}

#[derive(Deserialize)]
struct ZoneQuery {
    user: Option<String>,
}

async fn zone_information(
    State(autotask): State<Autotask>,
    headers: HeaderMap,
    Query(query): Query<ZoneQuery>,
) -> Answer {
    autotask.lock().requests += 1;
    let known = query
        .user
        .is_some_and(|user| user.eq_ignore_ascii_case(&autotask.credentials.username));
    if !known {
        return Err(Refusal::invalid(
            "Zone information could not be determined for this user.",
        ));
    }
    let root = zone_root(&headers);
    ok(
        json!({"zoneName": "Emulated Zone", "url": root, "webUrl": root.replace("ATServicesRest/", ""), "ci": 7}),
    )
}

/// A query as Autotask reads it: `filter` (any case) and `MaxRecords` (at most 500).
struct Search {
    filter: Vec<Value>,
    max_records: usize,
}

fn search_of(value: &Value) -> Result<Search, Refusal> {
    let object = value
        .as_object()
        .ok_or_else(|| Refusal::invalid("The search must be a JSON object."))?;
    let field = |name: &str| {
        object
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    };
    let filter = match field("filter") {
        Some(Value::Array(items)) => items.clone(),
        Some(_) => return Err(Refusal::invalid("filter must be an array.")),
        None => return Err(Refusal::invalid("A filter is required.")),
    };
    let max_records = match field("MaxRecords") {
        Some(n) => n
            .as_u64()
            .filter(|n| (1..=PAGE_SIZE as u64).contains(n))
            .ok_or_else(|| Refusal::invalid("MaxRecords must be between 1 and 500."))?
            as usize,
        None => PAGE_SIZE,
    };
    Ok(Search { filter, max_records })
}

#[derive(Deserialize)]
struct SearchParam {
    search: Option<String>,
}

async fn query_get(
    State(autotask): State<Autotask>,
    headers: HeaderMap,
    Path(entity): Path<String>,
    Query(param): Query<SearchParam>,
) -> Answer {
    let text = param
        .search
        .ok_or_else(|| Refusal::invalid("The search parameter is required."))?;
    let value: Value =
        serde_json::from_str(&text).map_err(|e| Refusal::invalid(format!("The search is not JSON: {e}")))?;
    run_query(&autotask, &headers, &entity, &value, 0).await
}

async fn query_post(
    State(autotask): State<Autotask>,
    headers: HeaderMap,
    Path(entity): Path<String>,
    body: String,
) -> Answer {
    let value: Value =
        serde_json::from_str(&body).map_err(|e| Refusal::invalid(format!("The body is not JSON: {e}")))?;
    run_query(&autotask, &headers, &entity, &value, 0).await
}

#[derive(Deserialize)]
struct NextParam {
    paging: String,
}

async fn query_next(
    State(autotask): State<Autotask>,
    headers: HeaderMap,
    Path(entity): Path<String>,
    Query(param): Query<NextParam>,
) -> Answer {
    let bad = || Refusal::invalid("The paging token is not valid.");
    let bytes = hex_decode(&param.paging).ok_or_else(bad)?;
    let token: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let offset = token["offset"].as_u64().ok_or_else(bad)? as usize;
    run_query(&autotask, &headers, &entity, &token["search"], offset).await
}

async fn ticket_query_get(state: State<Autotask>, headers: HeaderMap, param: Query<SearchParam>) -> Answer {
    query_get(state, headers, Path("tickets".into()), param).await
}

async fn ticket_query_post(state: State<Autotask>, headers: HeaderMap, body: String) -> Answer {
    query_post(state, headers, Path("tickets".into()), body).await
}

async fn ticket_query_next(state: State<Autotask>, headers: HeaderMap, param: Query<NextParam>) -> Answer {
    query_next(state, headers, Path("tickets".into()), param).await
}

async fn run_query(
    autotask: &Autotask,
    headers: &HeaderMap,
    entity: &str,
    value: &Value,
    offset: usize,
) -> Answer {
    let _thread = autotask.admit(headers, entity).await?;
    let search = search_of(value)?;
    let all: Vec<Value> = {
        let inner = autotask.lock();
        let rows = match entity {
            "companies" => &inner.companies,
            "tickets" => &inner.tickets,
            "ticketnotes" => &inner.notes,
            other => {
                return Err(Refusal::new(
                    StatusCode::NOT_FOUND,
                    format!("Unknown entity {other}."),
                ));
            }
        };
        rows.iter()
            .filter(|row| search.filter.iter().all(|f| matches(row, f)))
            .cloned()
            .collect()
    };
    let page: Vec<Value> = all
        .iter()
        .skip(offset)
        .take(search.max_records)
        .cloned()
        .collect();
    let next = offset + page.len();
    let next_url = (next < all.len()).then(|| {
        let token = json!({"search": value, "offset": next}).to_string();
        format!(
            "{}V1.0/{}/query/next?paging={}",
            zone_root(headers),
            entity_name(entity),
            hex_encode(token.as_bytes())
        )
    });
    ok(json!({
        "items": page,
        "pageDetails": {"count": page.len(), "requestCount": search.max_records,
                        "prevPageUrl": null, "nextPageUrl": next_url}
    }))
}

fn entity_name(entity: &str) -> &str {
    match entity {
        "companies" => "Companies",
        "tickets" => "Tickets",
        "ticketnotes" => "TicketNotes",
        other => other,
    }
}

/// Whether `row` passes one filter expression.
fn matches(row: &Value, filter: &Value) -> bool {
    let get = |name: &str| -> Option<&str> {
        filter
            .as_object()?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))?
            .1
            .as_str()
    };
    let op = get("op").unwrap_or("").to_ascii_lowercase();
    if op == "and" || op == "or" {
        let items = filter["items"].as_array().cloned().unwrap_or_default();
        return if op == "and" {
            items.iter().all(|f| matches(row, f))
        } else {
            items.iter().any(|f| matches(row, f))
        };
    }
    let field = get("field").unwrap_or("");
    let actual = row
        .as_object()
        .and_then(|o| {
            o.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(field))
                .map(|(_, v)| v)
        })
        .unwrap_or(&Value::Null);
    let wanted = filter
        .as_object()
        .and_then(|o| {
            o.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("value"))
                .map(|(_, v)| v)
        })
        .unwrap_or(&Value::Null);
    let text = |v: &Value| match v {
        Value::String(s) => s.to_lowercase(),
        Value::Null => String::new(),
        other => other.to_string().to_lowercase(),
    };
    let number = |v: &Value| v.as_f64().or_else(|| v.as_str().and_then(|s| s.parse().ok()));
    let compare = || number(actual).zip(number(wanted)).map(|(a, w)| a.partial_cmp(&w));
    match op.as_str() {
        "eq" => text(actual) == text(wanted),
        "noteq" => text(actual) != text(wanted),
        "gt" => matches!(compare(), Some(Some(std::cmp::Ordering::Greater))),
        "gte" => matches!(
            compare(),
            Some(Some(std::cmp::Ordering::Greater | std::cmp::Ordering::Equal))
        ),
        "lt" => matches!(compare(), Some(Some(std::cmp::Ordering::Less))),
        "lte" => matches!(
            compare(),
            Some(Some(std::cmp::Ordering::Less | std::cmp::Ordering::Equal))
        ),
        "beginswith" => text(actual).starts_with(&text(wanted)),
        "endswith" => text(actual).ends_with(&text(wanted)),
        "contains" => text(actual).contains(&text(wanted)),
        "exist" => !actual.is_null(),
        "notexist" => actual.is_null(),
        "in" => wanted
            .as_array()
            .is_some_and(|list| list.iter().any(|w| text(w) == text(actual))),
        _ => false,
    }
}

fn picklist(values: &[(&str, &str)], default: Option<&str>) -> Value {
    values
        .iter()
        .enumerate()
        .map(|(i, (value, label))| {
            json!({"value": value, "label": label, "isDefaultValue": Some(*value) == default,
                   "sortOrder": i, "parentValue": "", "isActive": true, "isSystem": true})
        })
        .collect()
}

fn field_info(name: &str, data_type: &str, required: bool, picklist_values: Option<Value>) -> Value {
    json!({"name": name, "dataType": data_type, "length": 0, "isRequired": required, "isReadOnly": false,
           "isQueryable": true, "isReference": name == "companyID", "referenceEntityType": if name == "companyID" { "Company" } else { "" },
           "isPickList": picklist_values.is_some(), "picklistValues": picklist_values, "picklistParentValueField": ""})
}

async fn ticket_fields(State(autotask): State<Autotask>, headers: HeaderMap) -> Answer {
    let _thread = autotask.admit(&headers, "tickets").await?;
    ok(json!({"fields": [
        field_info("id", "long", true, None),
        field_info("companyID", "integer", true, None),
        field_info("title", "string", true, None),
        field_info("description", "string", false, None),
        field_info("dueDateTime", "datetime", false, None),
        field_info("queueID", "integer", false, Some(picklist(&QUEUES, None))),
        field_info("status", "integer", true, Some(picklist(&STATUSES, Some("1")))),
        field_info("priority", "integer", true, Some(picklist(&PRIORITIES, Some("2")))),
        field_info("source", "integer", false, Some(picklist(&SOURCES, None))),
    ]}))
}

fn in_picklist(values: &[(&str, &str)], value: &Value) -> bool {
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    values.iter().any(|(v, _)| *v == text)
}

/// A field of a request body, whatever its casing.
fn body_field<'a>(body: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    body.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
        .filter(|v| !v.is_null())
}

fn lost() -> Response {
    StatusCode::GATEWAY_TIMEOUT.into_response()
}

async fn create_ticket(
    State(autotask): State<Autotask>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Map<String, Value>>,
) -> Answer {
    let _thread = autotask.admit(&headers, "tickets").await?;
    let required = |name: &str| {
        body_field(&body, name)
            .cloned()
            .ok_or_else(|| Refusal::invalid(format!("Required field {name} is missing.")))
    };
    let company_id = required("companyID")?
        .as_i64()
        .ok_or_else(|| Refusal::invalid("companyID must be an integer."))?;
    let title = required("title")?.as_str().unwrap_or("").to_owned();
    if title.is_empty() || title.chars().count() > 255 {
        return Err(Refusal::invalid("title must have 1 to 255 characters."));
    }
    let status = required("status")?;
    let priority = required("priority")?;
    if !in_picklist(&STATUSES, &status) {
        return Err(Refusal::invalid(format!(
            "Value {status} does not exist for field status."
        )));
    }
    if !in_picklist(&PRIORITIES, &priority) {
        return Err(Refusal::invalid(format!(
            "Value {priority} does not exist for field priority."
        )));
    }
    let queue = body_field(&body, "queueID").cloned().unwrap_or(Value::Null);
    if !queue.is_null() && !in_picklist(&QUEUES, &queue) {
        return Err(Refusal::invalid(format!(
            "Value {queue} does not exist for field queueID."
        )));
    }
    let description = body_field(&body, "description")
        .and_then(Value::as_str)
        .unwrap_or("");
    if description.chars().count() > 8000 {
        return Err(Refusal::invalid("description is longer than 8000 characters."));
    }
    let mut inner = autotask.lock();
    if !inner.companies.iter().any(|c| c["id"] == company_id) {
        return Err(Refusal::invalid(format!("Company {company_id} does not exist.")));
    }
    inner.next_id += 1;
    inner.tickets_today += 1;
    let id = inner.next_id;
    let now = iso_millis(Utc::now());
    let number = format!("T{}.{:04}", &now[..10].replace('-', ""), inner.tickets_today);
    inner.tickets.push(json!({
        "id": id, "ticketNumber": number, "companyID": company_id, "title": title, "description": description,
        "queueID": queue, "status": status, "priority": priority,
        "dueDateTime": body_field(&body, "dueDateTime").cloned().unwrap_or(Value::Null),
        "createDate": now, "lastActivityDate": now, "completedDate": null,
    }));
    drop(inner);
    if autotask.loses_answer() {
        return Ok(lost());
    }
    ok(json!({"itemId": id}))
}

async fn ticket_by_id(State(autotask): State<Autotask>, headers: HeaderMap, Path(id): Path<i64>) -> Answer {
    let _thread = autotask.admit(&headers, "tickets").await?;
    let inner = autotask.lock();
    match inner.tickets.iter().find(|t| t["id"] == id) {
        Some(ticket) => ok(json!({"item": ticket})),
        None => Err(Refusal::new(
            StatusCode::NOT_FOUND,
            format!("Ticket {id} was not found."),
        )),
    }
}

/// PATCH: only the fields sent change (a PUT would blank the others).
async fn update_ticket(
    State(autotask): State<Autotask>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Map<String, Value>>,
) -> Answer {
    let _thread = autotask.admit(&headers, "tickets").await?;
    let id = body_field(&body, "id")
        .and_then(Value::as_i64)
        .ok_or_else(|| Refusal::invalid("The id of the ticket to update is required."))?;
    if let Some(status) = body_field(&body, "status")
        && !in_picklist(&STATUSES, status)
    {
        return Err(Refusal::invalid(format!(
            "Value {status} does not exist for field status."
        )));
    }
    let mut inner = autotask.lock();
    let ticket = inner
        .tickets
        .iter_mut()
        .find(|t| t["id"] == id)
        .ok_or_else(|| Refusal::invalid(format!("Ticket {id} does not exist.")))?;
    for (key, value) in &body {
        if key.eq_ignore_ascii_case("id") {
            continue;
        }
        let name = ticket
            .as_object()
            .and_then(|o| o.keys().find(|k| k.eq_ignore_ascii_case(key)).cloned())
            .unwrap_or_else(|| key.clone());
        ticket[name] = value.clone();
    }
    let now = iso_millis(Utc::now());
    ticket["lastActivityDate"] = json!(now);
    if ticket["status"].to_string().trim_matches('"') == "5" {
        ticket["completedDate"] = json!(now);
    }
    drop(inner);
    if autotask.loses_answer() {
        return Ok(lost());
    }
    ok(json!({"itemId": id}))
}

async fn ticket_notes(State(autotask): State<Autotask>, headers: HeaderMap, Path(id): Path<i64>) -> Answer {
    let _thread = autotask.admit(&headers, "ticketnotes").await?;
    let inner = autotask.lock();
    let items: Vec<Value> = inner
        .notes
        .iter()
        .filter(|n| n["ticketID"] == id)
        .cloned()
        .collect();
    ok(
        json!({"items": items, "pageDetails": {"count": items.len(), "requestCount": PAGE_SIZE,
                                              "prevPageUrl": null, "nextPageUrl": null}}),
    )
}

async fn create_note(
    State(autotask): State<Autotask>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    axum::Json(body): axum::Json<Map<String, Value>>,
) -> Answer {
    let _thread = autotask.admit(&headers, "ticketnotes").await?;
    let text = |name: &str| {
        body_field(&body, name)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let (title, description) = (text("title"), text("description"));
    // The emulated tickets' category makes the note title mandatory, as many real ones do.
    if title.is_empty() || description.is_empty() {
        return Err(Refusal::invalid(
            "title and description are required for notes of this ticket category.",
        ));
    }
    let mut inner = autotask.lock();
    if !inner.tickets.iter().any(|t| t["id"] == id) {
        return Err(Refusal::invalid(format!("Ticket {id} does not exist.")));
    }
    inner.next_id += 1;
    let note_id = inner.next_id;
    inner.notes.push(json!({
        "id": note_id, "ticketID": id, "title": title, "description": description,
        "noteType": body_field(&body, "noteType").cloned().unwrap_or(json!(1)),
        "publish": body_field(&body, "publish").cloned().unwrap_or(json!(1)),
        "createDateTime": iso_millis(Utc::now()),
    }));
    drop(inner);
    if autotask.loses_answer() {
        return Ok(lost());
    }
    ok(json!({"itemId": note_id}))
}

#[derive(Deserialize)]
struct Seconds {
    seconds: u64,
}

async fn start_outage(State(autotask): State<Autotask>, Query(q): Query<Seconds>) -> StatusCode {
    if q.seconds == 0 {
        autotask.recover();
    } else {
        autotask.outage(Duration::from_secs(q.seconds));
    }
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct Count {
    count: u32,
}

async fn start_losing(State(autotask): State<Autotask>, Query(q): Query<Count>) -> StatusCode {
    autotask.lose_responses(q.count);
    StatusCode::NO_CONTENT
}

async fn all_tickets(State(autotask): State<Autotask>) -> axum::Json<Value> {
    axum::Json(Value::Array(autotask.tickets()))
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_combine_as_autotask_documents() {
        let row = json!({"id": 5, "companyName": "Acme Corp", "isActive": true});
        assert!(matches(
            &row,
            &json!({"op": "contains", "field": "companyname", "value": "acme"})
        ));
        assert!(matches(&row, &json!({"op": "gt", "field": "id", "value": 4})));
        assert!(!matches(&row, &json!({"op": "gt", "field": "id", "value": "5"})));
        assert!(matches(
            &row,
            &json!({"op": "or", "items": [{"op": "eq", "field": "id", "value": 1}, {"op": "beginsWith", "field": "companyName", "value": "Ac"}]})
        ));
        assert!(!matches(
            &row,
            &json!({"op": "exist", "field": "parentCompanyID"})
        ));
        assert_eq!(
            hex_decode(&hex_encode(b"{\"a\":1}")).as_deref(),
            Some(&b"{\"a\":1}"[..])
        );
    }
}
