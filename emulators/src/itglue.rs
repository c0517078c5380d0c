//! IT Glue's REST API as the portal uses it (research §7, spec portal-c §5.5): JSON:API documents
//! with kebab-case attributes, the `x-api-key` header, `page[size]` (default 50, at most 1000)
//! and `page[number]` with a `meta` block, `filter[name]` and `filter[organization_id]`, and
//! 3,000 requests per 5-minute window before 429. Faults: `POST /_emulator/outage?seconds=N`
//! answers 503 to everything else for that long.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use serde_json::{Value, json};

/// The documented budget: requests per window.
pub const RATE_LIMIT: usize = 3000;
pub const RATE_WINDOW: Duration = Duration::from_secs(300);
const MAX_PAGE_SIZE: usize = 1000;
const DEFAULT_PAGE_SIZE: usize = 50;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Configuration {
    pub id: i64,
    pub organization_id: i64,
    /// Kebab-case attributes as last written (`name`, `hostname`, `notes`, …).
    pub attributes: serde_json::Map<String, Value>,
}

#[derive(Debug)]
struct Inner {
    organizations: Vec<Organization>,
    configurations: Vec<Configuration>,
    next_id: i64,
    recent: VecDeque<Instant>,
    outage_until: Option<Instant>,
    rate_limit: usize,
    requests: u64,
}

/// One emulated IT Glue account.
#[derive(Debug, Clone)]
pub struct ItGlue {
    api_key: String,
    inner: Arc<Mutex<Inner>>,
}

impl ItGlue {
    /// An account with `organizations` organizations whose names follow from `seed`.
    pub fn new(api_key: &str, organizations: usize, seed: u64) -> ItGlue {
        let names = crate::names::company_names(organizations, seed);
        let organizations = names
            .into_iter()
            .enumerate()
            .map(|(i, name)| Organization {
                id: 1000 + i as i64,
                name,
            })
            .collect();
        ItGlue {
            api_key: api_key.to_owned(),
            inner: Arc::new(Mutex::new(Inner {
                organizations,
                configurations: Vec::new(),
                next_id: 50_000,
                recent: VecDeque::new(),
                outage_until: None,
                rate_limit: RATE_LIMIT,
                requests: 0,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A smaller budget per window, to reach 429 quickly in tests.
    pub fn set_rate_limit(&self, requests: usize) {
        self.lock().rate_limit = requests;
    }

    /// Answers 503 to every API call for `duration`.
    pub fn outage(&self, duration: Duration) {
        self.lock().outage_until = Some(Instant::now() + duration);
    }

    pub fn organizations(&self) -> Vec<Organization> {
        self.lock().organizations.clone()
    }

    pub fn configurations(&self) -> Vec<Configuration> {
        self.lock().configurations.clone()
    }

    /// API calls answered (any status), for tests that count them.
    pub fn requests(&self) -> u64 {
        self.lock().requests
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/organizations", get(list_organizations))
            .route(
                "/configurations",
                get(list_configurations).post(create_configuration),
            )
            .route("/configurations/{id}", patch(update_configuration))
            .route("/_emulator/outage", post(start_outage))
            .with_state(self.clone())
    }

    /// Auth, outage and rate limit, in the order IT Glue applies them; `Err` is the answer.
    fn admit(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        let mut inner = self.lock();
        inner.requests += 1;
        let now = Instant::now();
        if inner.outage_until.is_some_and(|until| now < until) {
            return Err(error(
                StatusCode::SERVICE_UNAVAILABLE,
                "Service Unavailable",
                "Try again later.",
            ));
        }
        if headers.get("x-api-key").and_then(|v| v.to_str().ok()) != Some(self.api_key.as_str()) {
            return Err(error(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "Invalid or missing API key.",
            ));
        }
        while inner
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) > RATE_WINDOW)
        {
            inner.recent.pop_front();
        }
        if inner.recent.len() >= inner.rate_limit {
            return Err(error(
                StatusCode::TOO_MANY_REQUESTS,
                "Too Many Requests",
                "Rate limit exceeded.",
            ));
        }
        inner.recent.push_back(now);
        Ok(())
    }
}

/// A refusal, answered as a JSON:API error document.
#[derive(Debug)]
struct Refusal {
    status: StatusCode,
    title: &'static str,
    detail: String,
}

fn error(status: StatusCode, title: &'static str, detail: &str) -> Refusal {
    Refusal {
        status,
        title,
        detail: detail.to_owned(),
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let error =
            json!({"status": self.status.as_u16().to_string(), "title": self.title, "detail": self.detail});
        let body = json!({"errors": [error]});
        (
            self.status,
            [("content-type", "application/vnd.api+json")],
            body.to_string(),
        )
            .into_response()
    }
}

fn document(status: StatusCode, body: Value) -> Response {
    (
        status,
        [("content-type", "application/vnd.api+json")],
        body.to_string(),
    )
        .into_response()
}

/// `page[size]` and `page[number]`, checked as IT Glue checks them.
fn paging(query: &[(String, String)]) -> Result<(usize, usize), Refusal> {
    let number = |key: &str, default: usize| -> Result<usize, Refusal> {
        match query.iter().find(|(k, _)| k == key) {
            None => Ok(default),
            Some((_, v)) => v.parse::<usize>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                error(
                    StatusCode::BAD_REQUEST,
                    "Bad Request",
                    &format!("{key} must be a positive number"),
                )
            }),
        }
    };
    let size = number("page[size]", DEFAULT_PAGE_SIZE)?;
    if size > MAX_PAGE_SIZE {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "Bad Request",
            "page[size] may be at most 1000",
        ));
    }
    Ok((size, number("page[number]", 1)?))
}

fn filter<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == &format!("filter[{name}]"))
        .map(|(_, v)| v.as_str())
}

fn page_of(items: Vec<Value>, size: usize, number: usize) -> Value {
    let total = items.len();
    let pages = total.div_ceil(size).max(1);
    let data: Vec<Value> = items.into_iter().skip(size * (number - 1)).take(size).collect();
    json!({
        "data": data,
        "meta": {
            "current-page": number,
            "next-page": (number < pages).then_some(number + 1),
            "prev-page": (number > 1).then_some(number - 1),
            "total-pages": pages,
            "total-count": total,
            "filters": {},
        },
    })
}

async fn list_organizations(
    State(itglue): State<ItGlue>,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    if let Err(refused) = itglue.admit(&headers) {
        return refused.into_response();
    }
    let (size, number) = match paging(&query) {
        Ok(p) => p,
        Err(refused) => return refused.into_response(),
    };
    let mut organizations = itglue.organizations();
    if let Some(name) = filter(&query, "name") {
        organizations.retain(|o| o.name == name);
    }
    if query.iter().any(|(k, v)| k == "sort" && v == "name") {
        organizations.sort_by_key(|o| o.name.to_lowercase());
    }
    let items = organizations
        .into_iter()
        .map(|o| {
            json!({"id": o.id.to_string(), "type": "organizations",
                   "attributes": {"name": o.name, "organization-type-name": "Customer", "organization-status-name": "Active"}})
        })
        .collect();
    document(StatusCode::OK, page_of(items, size, number))
}

fn configuration_resource(c: &Configuration) -> Value {
    let mut attributes = c.attributes.clone();
    attributes.insert("organization-id".into(), json!(c.organization_id));
    attributes.insert("archived".into(), json!(false));
    json!({"id": c.id.to_string(), "type": "configurations", "attributes": attributes})
}

async fn list_configurations(
    State(itglue): State<ItGlue>,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    if let Err(refused) = itglue.admit(&headers) {
        return refused.into_response();
    }
    let (size, number) = match paging(&query) {
        Ok(p) => p,
        Err(refused) => return refused.into_response(),
    };
    let organization = filter(&query, "organization_id").and_then(|v| v.parse::<i64>().ok());
    let name = filter(&query, "name");
    let items = itglue
        .configurations()
        .iter()
        .filter(|c| organization.is_none_or(|o| c.organization_id == o))
        .filter(|c| name.is_none_or(|n| c.attributes.get("name").and_then(Value::as_str) == Some(n)))
        .map(configuration_resource)
        .collect();
    document(StatusCode::OK, page_of(items, size, number))
}

/// The attributes of a `{"data": {"type": "configurations", "attributes": {…}}}` document.
fn attributes_of(body: &str) -> Result<serde_json::Map<String, Value>, Refusal> {
    let invalid = |detail: &str| error(StatusCode::UNPROCESSABLE_ENTITY, "Unprocessable Entity", detail);
    let document: Value = serde_json::from_str(body).map_err(|_| invalid("the body is not JSON"))?;
    if document["data"]["type"] != "configurations" {
        return Err(invalid("data.type must be configurations"));
    }
    let attributes = document["data"]["attributes"]
        .as_object()
        .cloned()
        .ok_or_else(|| invalid("data.attributes is missing"))?;
    if let Some(snake) = attributes.keys().find(|k| k.contains('_')) {
        return Err(invalid(&format!(
            "unknown attribute {snake} (attributes are kebab-case)"
        )));
    }
    Ok(attributes)
}

async fn create_configuration(State(itglue): State<ItGlue>, headers: HeaderMap, body: String) -> Response {
    if let Err(refused) = itglue.admit(&headers) {
        return refused.into_response();
    }
    let mut attributes = match attributes_of(&body) {
        Ok(a) => a,
        Err(refused) => return refused.into_response(),
    };
    let organization_id = attributes.remove("organization-id").and_then(|v| v.as_i64());
    let name_given = attributes
        .get("name")
        .and_then(Value::as_str)
        .is_some_and(|n| !n.is_empty());
    let mut inner = itglue.lock();
    let Some(organization_id) = organization_id.filter(|id| inner.organizations.iter().any(|o| o.id == *id))
    else {
        drop(inner);
        let detail = "organization-id must name an organization";
        return error(StatusCode::UNPROCESSABLE_ENTITY, "Unprocessable Entity", detail).into_response();
    };
    if !name_given {
        drop(inner);
        let detail = "name can't be blank";
        return error(StatusCode::UNPROCESSABLE_ENTITY, "Unprocessable Entity", detail).into_response();
    }
    inner.next_id += 1;
    let created = Configuration {
        id: inner.next_id,
        organization_id,
        attributes,
    };
    inner.configurations.push(created.clone());
    drop(inner);
    document(
        StatusCode::CREATED,
        json!({"data": configuration_resource(&created)}),
    )
}

async fn update_configuration(
    State(itglue): State<ItGlue>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    body: String,
) -> Response {
    if let Err(refused) = itglue.admit(&headers) {
        return refused.into_response();
    }
    let attributes = match attributes_of(&body) {
        Ok(a) => a,
        Err(refused) => return refused.into_response(),
    };
    let mut inner = itglue.lock();
    let Some(found) = inner.configurations.iter_mut().find(|c| c.id == id) else {
        drop(inner);
        return error(StatusCode::NOT_FOUND, "Not Found", "Record not found").into_response();
    };
    for (key, value) in attributes {
        if key != "organization-id" {
            found.attributes.insert(key, value);
        }
    }
    let updated = found.clone();
    drop(inner);
    document(StatusCode::OK, json!({"data": configuration_resource(&updated)}))
}

async fn start_outage(
    State(itglue): State<ItGlue>,
    Query(query): Query<Vec<(String, String)>>,
) -> StatusCode {
    let seconds = query
        .iter()
        .find(|(k, _)| k == "seconds")
        .and_then(|(_, v)| v.parse::<u64>().ok())
        .unwrap_or(60);
    itglue.outage(Duration::from_secs(seconds));
    StatusCode::NO_CONTENT
}
