//! ConnectWise PSA (Manage) REST API 3.0 as the portal uses it:
//!
//! - company discovery (`login/companyinfo/{companyId}`, no credentials, the id in any case; 404
//!   without body for an unknown company), whose `SiteUrl` (the request's `Host`) and `Codebase`
//!   point back here: the API lives under [`API_ROOT`] (`/{CODEBASE}apis/3.0`), and under
//!   [`RELEASE_API_ROOT`] too, as ConnectWise cloud also serves it;
//! - on every API call, `Authorization: Basic base64({companyId}+{publicKey}:{privateKey})` and a
//!   `clientId` header, each answered 401 when wrong (bad credentials answer 404 instead in the
//!   cloud-404 mode, as ConnectWise cloud sometimes does);
//! - errors as `{"code", "message", "errors": [{"code", "message", "resource", "field"}]}`;
//! - collections with `page` / `pageSize` (25 by default, at most 1,000, more is a 400) and a
//!   `Link` header (`first` and `prev` past page 1, `next` and `last` before the last page),
//!   forward-only paging (`pagination-type: forward-only` with `pageId`, `next` only),
//!   `conditions` (`=`, `!=`, `<`, `<=`, `>`, `>=`, `like`, `contains`, `in`, their `not` forms,
//!   `and` / `or` with `and` binding tighter, parentheses; strings, numbers, `true` / `false` /
//!   `null`, `[dates]`; references such as `company/id`), `orderBy` and `fields` (top level);
//! - `system/info`, companies (`company/companies`, `/count`, by id), service boards with their
//!   own statuses, priorities;
//! - tickets created by POST (201; `summary` required and at most 100 characters, the company must
//!   exist and not be deleted, the status must belong to the ticket's board, `initialDescription`
//!   kept but never returned), read by id, listed, counted, and updated by JSON-Patch PATCH
//!   (`closedFlag` follows the status); notes under `service/tickets/{id}/notes` (201, `text`
//!   required and one of the display flags set, as ConnectWise requires);
//! - paths matched case-insensitively; query parameter names too.
//!
//! Faults for tests, under `/_emulator/`: `outage?seconds=N` (503 to every call, `0` recovers),
//! `lose-responses?count=N` (the next N ticket or note writes are stored, but the answer is a 504
//! without body), `throttle?count=N&retry_after=S` (the next N API calls answer 429 with
//! `Retry-After: S`), `deny-permission?enabled=B` (ticket and note writes answer 403 `Security`),
//! `cloud-404?enabled=B`, `latency?ms=N`, `companies?name=X` (POST: add one, answers its id),
//! `companies/{id}` (DELETE: sets its `deletedFlag`), and `tickets` (GET: every ticket with its
//! `initialDescription` and notes).

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::wire::{header_text, lowercase_path, now_iso};

/// The codebase `login/companyinfo` announces, with its trailing slash as ConnectWise writes it.
pub const CODEBASE: &str = "v2025_1/";
/// Where the API lives: `/{CODEBASE}apis/3.0`.
pub const API_ROOT: &str = "/v2025_1/apis/3.0";
/// The release root ConnectWise cloud serves besides the announced codebase.
pub const RELEASE_API_ROOT: &str = "/v4_6_release/apis/3.0";
/// Records per page when `pageSize` is not given.
pub const DEFAULT_PAGE_SIZE: usize = 25;
/// The most records one page may hold.
pub const MAX_PAGE_SIZE: usize = 1_000;
/// The longest ticket summary ConnectWise accepts.
pub const SUMMARY_MAX_CHARS: usize = 100;
const FIRST_COMPANY_ID: i64 = 250;
const FIRST_TICKET_ID: i64 = 1_000;
const FIRST_NOTE_ID: i64 = 1;
const DEFAULT_BOARD_ID: i64 = 1;
/// The member the API keys belong to, as `_info.enteredBy` shows it.
const API_MEMBER: &str = "BackplaneAPI";
/// Deeper parentheses than this in `conditions` are refused rather than recursed into.
const MAX_NESTING: usize = 32;

#[derive(Debug)]
struct Board {
    id: i64,
    name: &'static str,
    inactive: bool,
    project: bool,
}

const fn board(id: i64, name: &'static str, inactive: bool, project: bool) -> Board {
    Board {
        id,
        name,
        inactive,
        project,
    }
}

static BOARDS: [Board; 4] = [
    board(1, "Help Desk", false, false),
    board(2, "Alerts", false, false),
    board(3, "Projects", false, true),
    board(4, "Old Board", true, false),
];

#[derive(Debug)]
struct BoardStatus {
    id: i64,
    board: i64,
    name: &'static str,
    sort: i64,
    closed: bool,
    default: bool,
}

const fn status(
    id: i64,
    board: i64,
    name: &'static str,
    sort: i64,
    closed: bool,
    default: bool,
) -> BoardStatus {
    BoardStatus {
        id,
        board,
        name,
        sort,
        closed,
        default,
    }
}

/// Every board has its own statuses, with ids distinct across boards.
static STATUSES: [BoardStatus; 11] = [
    status(11, 1, "New", 0, false, true),
    status(12, 1, "In Progress", 1, false, false),
    status(13, 1, "Completed", 2, true, false),
    status(14, 1, "Closed", 3, true, false),
    status(21, 2, "New", 0, false, true),
    status(22, 2, "Acknowledged", 1, false, false),
    status(23, 2, "Resolved", 2, true, false),
    status(31, 3, "New", 0, false, true),
    status(32, 3, "Closed", 1, true, false),
    status(41, 4, "New", 0, false, true),
    status(42, 4, "Closed", 1, true, false),
];

#[derive(Debug)]
struct Priority {
    id: i64,
    name: &'static str,
    sort: i64,
    default: bool,
}

static PRIORITIES: [Priority; 4] = [
    Priority {
        id: 1,
        name: "Priority 1 - Emergency Response",
        sort: 1,
        default: false,
    },
    Priority {
        id: 2,
        name: "Priority 2 - Quick Response",
        sort: 2,
        default: false,
    },
    Priority {
        id: 4,
        name: "Priority 3 - Normal Response",
        sort: 3,
        default: true,
    },
    Priority {
        id: 8,
        name: "Priority 4 - Schedule Maintenance",
        sort: 4,
        default: false,
    },
];

impl Board {
    fn json(&self) -> Value {
        json!({"id": self.id, "name": self.name, "inactiveFlag": self.inactive, "projectFlag": self.project})
    }

    fn reference(&self) -> Value {
        json!({"id": self.id, "name": self.name})
    }
}

impl BoardStatus {
    fn json(&self) -> Value {
        let board = board_by_id(self.board).map_or(Value::Null, Board::reference);
        json!({"id": self.id, "name": self.name, "board": board, "sortOrder": self.sort, "inactive": false,
               "closedStatus": self.closed, "defaultFlag": self.default})
    }

    fn reference(&self) -> Value {
        json!({"id": self.id, "name": self.name})
    }
}

impl Priority {
    fn json(&self) -> Value {
        json!({"id": self.id, "name": self.name, "sortOrder": self.sort, "defaultFlag": self.default})
    }

    fn reference(&self) -> Value {
        json!({"id": self.id, "name": self.name})
    }
}

fn board_by_id(id: i64) -> Option<&'static Board> {
    BOARDS.iter().find(|b| b.id == id)
}

/// The fields `conditions` and `orderBy` may name, per collection.
const COMPANY_FIELDS: &[&str] = &[
    "id",
    "identifier",
    "name",
    "status/id",
    "status/name",
    "deletedFlag",
    "lastUpdated",
    "_info/lastUpdated",
];
const BOARD_FIELDS: &[&str] = &["id", "name", "inactiveFlag", "projectFlag"];
const STATUS_FIELDS: &[&str] = &[
    "id",
    "name",
    "board/id",
    "board/name",
    "sortOrder",
    "inactive",
    "closedStatus",
    "defaultFlag",
];
const PRIORITY_FIELDS: &[&str] = &["id", "name", "sortOrder", "defaultFlag"];
const TICKET_FIELDS: &[&str] = &[
    "id",
    "summary",
    "recordType",
    "company/id",
    "company/identifier",
    "company/name",
    "board/id",
    "board/name",
    "status/id",
    "status/name",
    "priority/id",
    "priority/name",
    "externalXRef",
    "requiredDate",
    "closedFlag",
    "lastUpdated",
    "_info/lastUpdated",
    "_info/dateEntered",
];
const NOTE_FIELDS: &[&str] = &[
    "id",
    "ticketId",
    "text",
    "detailDescriptionFlag",
    "internalAnalysisFlag",
    "resolutionFlag",
    "dateCreated",
];

/// The credentials the emulated site accepts.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The company id typed at login (`companyinfo/{companyId}`, before the `+` in Basic auth).
    pub company_id: String,
    pub public_key: String,
    pub private_key: String,
    /// The integration's client id from ConnectWise's developer portal (the `clientId` header).
    pub client_id: String,
}

#[derive(Debug)]
struct Inner {
    companies: Vec<Value>,
    tickets: Vec<Value>,
    descriptions: HashMap<i64, String>,
    notes: Vec<Value>,
    next_company_id: i64,
    next_ticket_id: i64,
    next_note_id: i64,
    latency: Duration,
    outage_until: Option<Instant>,
    lose_responses: u32,
    throttled: u32,
    retry_after: u64,
    deny_permission: bool,
    cloud_404: bool,
    requests: u64,
}

/// One emulated ConnectWise PSA site.
#[derive(Debug, Clone)]
pub struct ConnectWise {
    credentials: Credentials,
    inner: Arc<Mutex<Inner>>,
}

impl ConnectWise {
    /// A site with `companies` active companies named from `seed`, ids from 250 upward.
    pub fn new(credentials: Credentials, companies: usize, seed: u64) -> ConnectWise {
        let connectwise = ConnectWise {
            credentials,
            inner: Arc::new(Mutex::new(Inner {
                companies: Vec::with_capacity(companies),
                tickets: Vec::new(),
                descriptions: HashMap::new(),
                notes: Vec::new(),
                next_company_id: FIRST_COMPANY_ID,
                next_ticket_id: FIRST_TICKET_ID,
                next_note_id: FIRST_NOTE_ID,
                latency: Duration::ZERO,
                outage_until: None,
                lose_responses: 0,
                throttled: 0,
                retry_after: 0,
                deny_permission: false,
                cloud_404: false,
                requests: 0,
            })),
        };
        for name in crate::names::company_names(companies, seed) {
            connectwise.add_company(&name);
        }
        connectwise
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The credentials this site accepts.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// Answers 503 to every call for `duration`.
    pub fn outage(&self, duration: Duration) {
        self.lock().outage_until = Some(Instant::now() + duration);
    }

    /// Ends an outage early.
    pub fn recover(&self) {
        self.lock().outage_until = None;
    }

    /// The next `count` ticket or note writes are stored but answered with a bodiless 504.
    pub fn lose_responses(&self, count: u32) {
        self.lock().lose_responses = count;
    }

    /// The next `count` API calls answer 429 with `Retry-After: retry_after_secs`.
    pub fn throttle(&self, count: u32, retry_after_secs: u64) {
        let mut inner = self.lock();
        inner.throttled = count;
        inner.retry_after = retry_after_secs;
    }

    /// Bad credentials answer 404 instead of 401, as ConnectWise cloud sometimes does.
    pub fn cloud_404_on_bad_auth(&self, enabled: bool) {
        self.lock().cloud_404 = enabled;
    }

    /// Ticket and note writes answer 403 `Security`, as for an API member without the right role.
    pub fn deny_permission(&self, enabled: bool) {
        self.lock().deny_permission = enabled;
    }

    /// Delay before each API answer.
    pub fn set_latency(&self, latency: Duration) {
        self.lock().latency = latency;
    }

    /// Calls received, refused ones included.
    pub fn requests(&self) -> u64 {
        self.lock().requests
    }

    /// Adds an active company, as a technician does in ConnectWise; answers its id.
    pub fn add_company(&self, name: &str) -> i64 {
        let mut inner = self.lock();
        let id = inner.next_company_id;
        inner.next_company_id += 1;
        let identifier = identifier_for(name, id, &inner.companies);
        inner.companies.push(company_json(id, &identifier, name));
        id
    }

    /// Marks a company deleted (`deletedFlag`); answers whether it exists.
    pub fn delete_company(&self, id: i64) -> bool {
        let mut inner = self.lock();
        let Some(company) = inner.companies.iter_mut().find(|c| c["id"] == id) else {
            return false;
        };
        company["deletedFlag"] = json!(true);
        company["_info"]["lastUpdated"] = json!(now_iso());
        true
    }

    /// Every ticket, oldest first, each with its `initialDescription` and `notes` (oldest first).
    pub fn tickets(&self) -> Vec<Value> {
        let inner = self.lock();
        inner
            .tickets
            .iter()
            .map(|ticket| {
                let mut ticket = ticket.clone();
                let id = ticket["id"].as_i64().unwrap_or_default();
                let notes: Vec<Value> = inner
                    .notes
                    .iter()
                    .filter(|n| n["ticketId"] == id)
                    .cloned()
                    .collect();
                ticket["initialDescription"] = json!(inner.descriptions.get(&id));
                ticket["notes"] = Value::Array(notes);
                ticket
            })
            .collect()
    }

    pub fn router(&self) -> Router {
        let api = api_routes();
        let site = Router::new()
            .route("/login/companyinfo/{company}", get(company_info))
            .nest(API_ROOT, api.clone())
            .nest(RELEASE_API_ROOT, api)
            .route("/_emulator/outage", post(start_outage))
            .route("/_emulator/lose-responses", post(start_losing))
            .route("/_emulator/throttle", post(start_throttling))
            .route("/_emulator/deny-permission", post(set_denial))
            .route("/_emulator/cloud-404", post(set_cloud_404))
            .route("/_emulator/latency", post(set_latency_ms))
            .route("/_emulator/companies", post(new_company))
            .route("/_emulator/companies/{id}", delete(remove_company))
            .route("/_emulator/tickets", get(all_tickets))
            .fallback(no_route)
            .method_not_allowed_fallback(wrong_method)
            .with_state(self.clone());
        // ConnectWise's paths are case-insensitive; route them all.
        Router::new()
            .fallback_service(site)
            .layer(axum::middleware::map_request(lowercase_path))
    }

    /// Outage, throttling, `clientId` and credentials, in that order, then the latency.
    async fn admit(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        let latency = {
            let mut inner = self.lock();
            inner.requests += 1;
            if inner.outage_until.is_some_and(|until| Instant::now() < until) {
                return Err(Refusal::unavailable());
            }
            if inner.throttled > 0 {
                inner.throttled -= 1;
                return Err(Refusal::throttled(inner.retry_after));
            }
            self.check_client_id(headers)?;
            if !self.credentials_match(headers) {
                return Err(Refusal::bad_credentials(inner.cloud_404));
            }
            inner.latency
        };
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        Ok(())
    }

    fn check_client_id(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        let given = header_text(headers, "clientid").trim();
        if given.is_empty() || !given.eq_ignore_ascii_case(&self.credentials.client_id) {
            return Err(Refusal::new(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "clientId header is required and must be a valid client id",
            ));
        }
        Ok(())
    }

    /// Whether `Authorization` is Basic `{companyId}+{publicKey}:{privateKey}` with our values.
    fn credentials_match(&self, headers: &HeaderMap) -> bool {
        let Some((scheme, encoded)) = header_text(headers, "authorization").trim().split_once(' ') else {
            return false;
        };
        let Some(decoded) = BASE64
            .decode(encoded.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
        else {
            return false;
        };
        let Some((user, private_key)) = decoded.split_once(':') else {
            return false;
        };
        let Some((company, public_key)) = user.split_once('+') else {
            return false;
        };
        let c = &self.credentials;
        scheme.eq_ignore_ascii_case("basic")
            && company.eq_ignore_ascii_case(&c.company_id)
            && public_key == c.public_key
            && private_key == c.private_key
    }

    fn check_permission(&self) -> Result<(), Refusal> {
        if self.lock().deny_permission {
            return Err(Refusal::new(
                StatusCode::FORBIDDEN,
                "Security",
                "You do not have security permission to perform this action. Please contact your \
                 ConnectWise PSA administrator (Service Desk > Service Tickets: Add / Edit).",
            ));
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

    /// A write's answer, unless it is to be lost.
    fn written(&self, status: StatusCode, body: Value) -> Answer {
        if self.loses_answer() {
            return Ok(StatusCode::GATEWAY_TIMEOUT.into_response());
        }
        Ok((status, axum::Json(body)).into_response())
    }

    /// A collection call: admission, then the rows `rows` picks, filtered, ordered and paged.
    async fn list(
        &self,
        headers: &HeaderMap,
        uri: &Uri,
        schema: &[&str],
        rows: impl FnOnce(&Inner) -> Result<Vec<Value>, Refusal>,
    ) -> Answer {
        self.admit(headers).await?;
        let listing = listing_of(uri, headers, schema)?;
        let rows = rows(&self.lock())?;
        Ok(listing.answer(rows, uri, headers))
    }

    /// A `/count` call: `{"count": n}` of the rows `conditions` keeps.
    async fn count(
        &self,
        headers: &HeaderMap,
        uri: &Uri,
        schema: &[&str],
        rows: impl FnOnce(&Inner) -> Vec<Value>,
    ) -> Answer {
        self.admit(headers).await?;
        let listing = listing_of(uri, headers, schema)?;
        let count = rows(&self.lock()).iter().filter(|row| listing.keeps(row)).count();
        ok(json!({ "count": count }))
    }
}

fn api_routes() -> Router<ConnectWise> {
    Router::new()
        .route("/system/info", get(system_info))
        .route("/company/companies", get(companies))
        .route("/company/companies/count", get(company_count))
        .route("/company/companies/{id}", get(company_by_id))
        .route("/service/boards", get(boards))
        .route("/service/boards/{id}", get(board_route))
        .route("/service/boards/{id}/statuses", get(board_statuses))
        .route("/service/priorities", get(priorities))
        .route("/service/priorities/{id}", get(priority_route))
        .route("/service/tickets", get(tickets).post(create_ticket))
        .route("/service/tickets/count", get(ticket_count))
        .route("/service/tickets/{id}", get(ticket_by_id).patch(patch_ticket))
        .route("/service/tickets/{id}/notes", get(ticket_notes).post(create_note))
}

/// This emulator's `host:port` as the caller reached it.
fn host(headers: &HeaderMap) -> &str {
    Some(header_text(headers, "host"))
        .filter(|h| !h.is_empty())
        .unwrap_or("localhost")
}

/// A unique identifier from a company's name: its letters and digits, at most 20 of them.
fn identifier_for(name: &str, id: i64, companies: &[Value]) -> String {
    let base: String = name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(20)
        .collect();
    let taken = companies.iter().any(|c| {
        c["identifier"]
            .as_str()
            .is_some_and(|i| i.eq_ignore_ascii_case(&base))
    });
    if base.is_empty() || taken {
        format!("{base}{id}")
    } else {
        base
    }
}

fn company_json(id: i64, identifier: &str, name: &str) -> Value {
    json!({"id": id, "identifier": identifier, "name": name, "status": {"id": 1, "name": "Active"},
           "deletedFlag": false, "_info": {"lastUpdated": now_iso()}})
}

/// The error envelope: `{"code", "message", "errors"}`.
#[derive(Debug)]
struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: String,
    errors: Vec<Value>,
    retry_after: Option<u64>,
}

impl Refusal {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            status,
            code,
            message: message.into(),
            errors: Vec::new(),
            retry_after: None,
        }
    }

    fn with_error(mut self, code: &str, message: impl Into<String>, resource: &str, field: &str) -> Refusal {
        self.errors
            .push(json!({"code": code, "message": message.into(), "resource": resource, "field": field}));
        self
    }

    fn unavailable() -> Refusal {
        Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "The service is temporarily unavailable. Please try again later.",
        )
    }

    fn throttled(retry_after: u64) -> Refusal {
        let mut refusal = Refusal::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            format!("Too many requests. Please retry after {retry_after} seconds."),
        );
        refusal.retry_after = Some(retry_after);
        refusal
    }

    fn bad_credentials(cloud_404: bool) -> Refusal {
        if cloud_404 {
            return Refusal::not_found("The requested resource was not found.");
        }
        Refusal::new(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "Incorrect public/private key",
        )
    }

    fn not_found(message: impl Into<String>) -> Refusal {
        Refusal::new(StatusCode::NOT_FOUND, "NotFound", message)
    }

    /// 400 `InvalidObject` about one field of a resource (`ticket`, `serviceNote`).
    fn invalid(resource: &str, field: &str, message: impl Into<String>) -> Refusal {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            "InvalidObject",
            format!("{resource} object is invalid"),
        )
        .with_error("InvalidObject", message, resource, field)
    }

    fn required(resource: &str, field: &str) -> Refusal {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            "InvalidObject",
            format!("{resource} object is invalid"),
        )
        .with_error("NullValue", format!("{field} is required."), resource, field)
    }

    fn too_long(resource: &str, field: &str, max: usize) -> Refusal {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            "InvalidObject",
            format!("{resource} object is invalid"),
        )
        .with_error(
            "MaxLengthField",
            format!("{field} cannot be longer than {max} characters."),
            resource,
            field,
        )
    }

    /// 400 `InvalidObject` about a query parameter or the request as a whole.
    fn bad_request(field: &str, message: impl Into<String>) -> Refusal {
        let message = message.into();
        Refusal::new(StatusCode::BAD_REQUEST, "InvalidObject", message.clone()).with_error(
            "InvalidObject",
            message,
            "",
            field,
        )
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = json!({"code": self.code, "message": self.message, "errors": self.errors});
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

type Answer = Result<Response, Refusal>;

fn ok(body: Value) -> Answer {
    Ok(axum::Json(body).into_response())
}

async fn no_route() -> Refusal {
    Refusal::not_found("No resource was found that matches the request URI.")
}

async fn wrong_method() -> Refusal {
    Refusal::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        "The requested resource does not support this HTTP method.",
    )
}

// ---- Reading requests ----

static NULL: Value = Value::Null;

/// A field of an object, whatever its casing (ConnectWise reads JSON case-insensitively).
fn field<'a>(value: &'a Value, name: &str) -> Option<&'a Value> {
    value
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// A field that is present and not null.
fn present<'a>(value: &'a Value, name: &str) -> Option<&'a Value> {
    field(value, name).filter(|v| !v.is_null())
}

/// The value at a `/`-separated path (`company/id`); `lastUpdated` is `_info/lastUpdated`.
fn lookup<'a>(row: &'a Value, path: &str) -> &'a Value {
    let path = if path.eq_ignore_ascii_case("lastUpdated") {
        "_info/lastUpdated"
    } else {
        path
    };
    path.split('/')
        .try_fold(row, |value, key| field(value, key))
        .unwrap_or(&NULL)
}

fn json_body(body: &[u8], resource: &str) -> Result<Value, Refusal> {
    serde_json::from_slice(body)
        .map_err(|e| Refusal::bad_request(resource, format!("The request body is not valid JSON: {e}")))
}

fn json_object(body: &[u8], resource: &str) -> Result<Value, Refusal> {
    let value = json_body(body, resource)?;
    if !value.is_object() {
        return Err(Refusal::bad_request(
            resource,
            format!("The {resource} must be a JSON object."),
        ));
    }
    Ok(value)
}

/// A record id from the path; anything but a number matches no record, as in ConnectWise.
fn record_id(text: &str, what: &str) -> Result<i64, Refusal> {
    text.parse()
        .map_err(|_| Refusal::not_found(format!("{what} with id {text} was not found.")))
}

/// How a reference (`{"id": 5}` or `{"name": "…"}`) names its record.
enum Key {
    Id(i64),
    Name(String),
}

impl Key {
    fn of(value: &Value, name_field: &str) -> Option<Key> {
        if let Some(id) = present(value, "id") {
            return id.as_i64().map(Key::Id);
        }
        present(value, name_field)
            .and_then(Value::as_str)
            .map(|name| Key::Name(name.to_owned()))
    }

    fn matches(&self, id: i64, name: &str) -> bool {
        match self {
            Key::Id(wanted) => *wanted == id,
            Key::Name(wanted) => wanted.eq_ignore_ascii_case(name),
        }
    }
}

fn not_a_reference(resource: &str, field: &str) -> Refusal {
    Refusal::invalid(
        resource,
        field,
        format!("{field} must be a reference such as {{\"id\": 1}}."),
    )
}

// ---- Collections: paging, conditions, ordering ----

/// What a collection call asks for.
#[derive(Debug)]
struct Listing {
    page: usize,
    page_size: usize,
    /// `Some(pageId)` for forward-only paging.
    after_id: Option<i64>,
    conditions: Option<Condition>,
    order: Vec<(String, bool)>,
    fields: Vec<String>,
}

fn params_of(uri: &Uri) -> Result<Vec<(String, String)>, Refusal> {
    Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map(|query| query.0)
        .map_err(|e| Refusal::bad_request("query", e.body_text()))
}

/// A query parameter, whatever the casing of its name.
fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn listing_of(uri: &Uri, headers: &HeaderMap, schema: &[&str]) -> Result<Listing, Refusal> {
    let params = params_of(uri)?;
    let forward_only = header_text(headers, "pagination-type").eq_ignore_ascii_case("forward-only");
    let after_id = match (forward_only, param(&params, "pageId")) {
        (false, _) => None,
        (true, None) => Some(0),
        (true, Some(text)) => Some(
            text.trim()
                .parse()
                .map_err(|_| Refusal::bad_request("pageId", "pageId must be a record id."))?,
        ),
    };
    let conditions = param(&params, "conditions")
        .filter(|text| !text.trim().is_empty())
        .map(|text| parse_conditions(text, schema))
        .transpose()?;
    Ok(Listing {
        page: page_of(param(&params, "page"))?,
        page_size: page_size_of(param(&params, "pageSize"))?,
        after_id,
        conditions,
        order: order_of(param(&params, "orderBy").unwrap_or(""), schema)?,
        fields: param(&params, "fields")
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

fn page_of(text: Option<&str>) -> Result<usize, Refusal> {
    let Some(text) = text else { return Ok(1) };
    text.trim()
        .parse()
        .ok()
        .filter(|page| *page >= 1)
        .ok_or_else(|| Refusal::bad_request("page", "page must be a whole number of at least 1."))
}

fn page_size_of(text: Option<&str>) -> Result<usize, Refusal> {
    let Some(text) = text else {
        return Ok(DEFAULT_PAGE_SIZE);
    };
    text.trim()
        .parse()
        .ok()
        .filter(|size| (1..=MAX_PAGE_SIZE).contains(size))
        .ok_or_else(|| {
            Refusal::bad_request(
                "pageSize",
                format!("pageSize must be between 1 and {MAX_PAGE_SIZE}; {text} was given."),
            )
        })
}

/// `orderBy`: `field [asc|desc]`, several separated by commas.
fn order_of(text: &str, schema: &[&str]) -> Result<Vec<(String, bool)>, Refusal> {
    let mut order = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let words: Vec<&str> = part.split_whitespace().collect();
        let (name, direction) = match words.as_slice() {
            [name] => (*name, "asc"),
            [name, direction] => (*name, *direction),
            _ => {
                return Err(Refusal::bad_request(
                    "orderBy",
                    format!("orderBy '{part}' is malformed."),
                ));
            }
        };
        let descending = match direction.to_ascii_lowercase().as_str() {
            "asc" => false,
            "desc" => true,
            _ => {
                return Err(Refusal::bad_request(
                    "orderBy",
                    format!("orderBy direction '{direction}' must be asc or desc."),
                ));
            }
        };
        order.push((known_field(name, schema, "orderBy")?, descending));
    }
    Ok(order)
}

/// The schema's spelling of a field a request names, or a 400 naming it.
fn known_field(name: &str, schema: &[&str], parameter: &str) -> Result<String, Refusal> {
    schema
        .iter()
        .find(|f| f.eq_ignore_ascii_case(name))
        .map(|f| (*f).to_owned())
        .ok_or_else(|| Refusal::bad_request(parameter, format!("Unknown field '{name}' in {parameter}.")))
}

impl Listing {
    fn keeps(&self, row: &Value) -> bool {
        self.conditions.as_ref().is_none_or(|c| c.holds(row))
    }

    fn answer(&self, rows: Vec<Value>, uri: &Uri, headers: &HeaderMap) -> Response {
        let mut rows: Vec<Value> = rows.into_iter().filter(|row| self.keeps(row)).collect();
        let (items, links) = match self.after_id {
            Some(after) => self.forward_page(&mut rows, after, uri, headers),
            None => self.numbered_page(&mut rows, uri, headers),
        };
        let items: Vec<Value> = items.into_iter().map(|row| project(row, &self.fields)).collect();
        let mut response = axum::Json(Value::Array(items)).into_response();
        if !links.is_empty() {
            let text = links
                .iter()
                .map(|(url, rel)| format!("<{url}>; rel=\"{rel}\""))
                .collect::<Vec<_>>()
                .join(", ");
            if let Ok(value) = HeaderValue::from_str(&text) {
                response.headers_mut().insert(header::LINK, value);
            }
        }
        response
    }

    fn numbered_page(
        &self,
        rows: &mut [Value],
        uri: &Uri,
        headers: &HeaderMap,
    ) -> (Vec<Value>, Vec<(String, &str)>) {
        sort_rows(rows, &self.order);
        let last = rows.len().div_ceil(self.page_size).max(1);
        let start = (self.page - 1).saturating_mul(self.page_size);
        let items = rows.iter().skip(start).take(self.page_size).cloned().collect();
        let link = |page: usize| link_to(headers, uri, "page", page);
        let mut links = Vec::new();
        if self.page > 1 {
            links.push((link(1), "first"));
            links.push((link(self.page - 1), "prev"));
        }
        if self.page < last {
            links.push((link(self.page + 1), "next"));
            links.push((link(last), "last"));
        }
        (items, links)
    }

    fn forward_page(
        &self,
        rows: &mut Vec<Value>,
        after: i64,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> (Vec<Value>, Vec<(String, &str)>) {
        rows.retain(|row| row["id"].as_i64().is_some_and(|id| id > after));
        rows.sort_by_key(|row| row["id"].as_i64().unwrap_or_default());
        let items: Vec<Value> = rows.iter().take(self.page_size).cloned().collect();
        let mut links = Vec::new();
        if rows.len() > self.page_size
            && let Some(last_id) = items.last().and_then(|row| row["id"].as_i64())
        {
            links.push((link_to(headers, uri, "pageId", last_id), "next"));
        }
        (items, links)
    }
}

/// The requested URL with `key` set to `value`, the other parameters as they were sent.
fn link_to(headers: &HeaderMap, uri: &Uri, key: &str, value: impl std::fmt::Display) -> String {
    let mut pairs: Vec<String> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter(|pair| !pair.split('=').next().unwrap_or("").eq_ignore_ascii_case(key))
        .map(str::to_owned)
        .collect();
    pairs.push(format!("{key}={value}"));
    format!("http://{}{}?{}", host(headers), uri.path(), pairs.join("&"))
}

fn sort_rows(rows: &mut [Value], order: &[(String, bool)]) {
    rows.sort_by(|a, b| {
        for (name, descending) in order {
            let ordering = compare_values(lookup(a, name), lookup(b, name));
            let ordering = if *descending { ordering.reverse() } else { ordering };
            if ordering != Ordering::Equal {
                return ordering;
            }
        }
        compare_values(lookup(a, "id"), lookup(b, "id"))
    });
}

fn compare_values(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .unwrap_or_default()
            .total_cmp(&y.as_f64().unwrap_or_default()),
        (Value::String(x), Value::String(y)) => x.to_lowercase().cmp(&y.to_lowercase()),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        _ => Ordering::Equal,
    }
}

/// `fields`: keeps the top-level members the fields start with (`company/name` keeps `company`).
fn project(row: Value, fields: &[String]) -> Value {
    if fields.is_empty() {
        return row;
    }
    let Value::Object(members) = row else { return row };
    let wanted = |key: &str| {
        fields.iter().any(|f| {
            f.split('/')
                .next()
                .is_some_and(|first| first.eq_ignore_ascii_case(key))
        })
    };
    Value::Object(
        members
            .into_iter()
            .filter(|(k, _)| wanted(k))
            .collect::<Map<_, _>>(),
    )
}

// ---- The conditions language ----

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Text(String),
    Number(f64),
    Date(String),
    Symbol(&'static str),
}

#[derive(Debug, Clone, PartialEq)]
enum Literal {
    Text(String),
    Number(f64),
    Bool(bool),
    Null,
    Date(String),
    List(Vec<Literal>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Like,
    NotLike,
    Contains,
    NotContains,
    In,
    NotIn,
}

#[derive(Debug)]
enum Condition {
    Clause { field: String, op: Op, value: Literal },
    And(Box<Condition>, Box<Condition>),
    Or(Box<Condition>, Box<Condition>),
}

fn malformed(message: impl Into<String>) -> Refusal {
    Refusal::bad_request(
        "conditions",
        format!("conditions are malformed: {}", message.into()),
    )
}

fn parse_conditions(text: &str, schema: &[&str]) -> Result<Condition, Refusal> {
    let tokens = tokenize(text).map_err(malformed)?;
    let mut parser = Parser {
        tokens: &tokens,
        at: 0,
        depth: 0,
        schema,
    };
    let condition = parser.any()?;
    match parser.peek() {
        None => Ok(condition),
        Some(token) => Err(malformed(format!("unexpected {}", describe(Some(token))))),
    }
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let starts_number =
            c.is_ascii_digit() || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit));
        let (token, next) = match c {
            '"' => quoted(&chars, i + 1)?,
            '[' => date(&chars, i + 1)?,
            '(' => (Token::Symbol("("), i + 1),
            ')' => (Token::Symbol(")"), i + 1),
            ',' => (Token::Symbol(","), i + 1),
            '=' => (Token::Symbol("="), i + 1),
            '!' | '<' | '>' => comparison(&chars, i)?,
            _ if starts_number => number(&chars, i)?,
            _ if c.is_alphabetic() || c == '_' => word(&chars, i),
            other => return Err(format!("unexpected character '{other}' at {i}")),
        };
        tokens.push(token);
        i = next;
    }
    Ok(tokens)
}

/// A `"…"` string from just after its opening quote; `\"` and `\\` are escapes.
fn quoted(chars: &[char], mut i: usize) -> Result<(Token, usize), String> {
    let mut text = String::new();
    while let Some(&c) = chars.get(i) {
        match c {
            '"' => return Ok((Token::Text(text), i + 1)),
            '\\' => {
                let escaped = chars.get(i + 1).ok_or("unterminated string")?;
                text.push(*escaped);
                i += 2;
            }
            other => {
                text.push(other);
                i += 1;
            }
        }
    }
    Err("unterminated string".into())
}

/// A `[2026-01-01T00:00:00Z]` date from just after its bracket.
fn date(chars: &[char], start: usize) -> Result<(Token, usize), String> {
    let end = chars
        .iter()
        .skip(start)
        .position(|c| *c == ']')
        .ok_or("unterminated date")?
        + start;
    let text: String = chars.get(start..end).unwrap_or_default().iter().collect();
    let text = text.trim();
    if text.is_empty() {
        return Err("empty date".into());
    }
    Ok((Token::Date(text.to_owned()), end + 1))
}

fn comparison(chars: &[char], i: usize) -> Result<(Token, usize), String> {
    let pair = (chars.get(i).copied(), chars.get(i + 1).copied());
    Ok(match pair {
        (Some('!'), Some('=')) | (Some('<'), Some('>')) => (Token::Symbol("!="), i + 2),
        (Some('<'), Some('=')) => (Token::Symbol("<="), i + 2),
        (Some('>'), Some('=')) => (Token::Symbol(">="), i + 2),
        (Some('<'), _) => (Token::Symbol("<"), i + 1),
        (Some('>'), _) => (Token::Symbol(">"), i + 1),
        _ => return Err(format!("unexpected character '!' at {i}")),
    })
}

fn number(chars: &[char], start: usize) -> Result<(Token, usize), String> {
    let mut end = start + 1;
    while chars.get(end).is_some_and(|c| c.is_ascii_digit() || *c == '.') {
        end += 1;
    }
    let text: String = chars.get(start..end).unwrap_or_default().iter().collect();
    let value = text.parse().map_err(|_| format!("'{text}' is not a number"))?;
    Ok((Token::Number(value), end))
}

/// A field name or keyword: letters, digits, `_`, `.` and `/` (for `company/id`).
fn word(chars: &[char], start: usize) -> (Token, usize) {
    let mut end = start;
    while chars
        .get(end)
        .is_some_and(|c| c.is_alphanumeric() || matches!(c, '_' | '/' | '.'))
    {
        end += 1;
    }
    let text: String = chars.get(start..end).unwrap_or_default().iter().collect();
    (Token::Word(text), end)
}

fn describe(token: Option<&Token>) -> String {
    match token {
        None => "end of conditions".into(),
        Some(Token::Word(w)) => format!("'{w}'"),
        Some(Token::Text(t)) => format!("\"{t}\""),
        Some(Token::Number(n)) => n.to_string(),
        Some(Token::Date(d)) => format!("[{d}]"),
        Some(Token::Symbol(s)) => format!("'{s}'"),
    }
}

/// Recursive descent: `any := all ("or" all)*`, `all := term ("and" term)*`,
/// `term := "(" any ")" | field op value`.
struct Parser<'a> {
    tokens: &'a [Token],
    at: usize,
    depth: usize,
    schema: &'a [&'a str],
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn at_keyword(&self, keyword: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(keyword))
    }

    fn expect(&mut self, symbol: &str) -> Result<(), Refusal> {
        match self.next() {
            Some(Token::Symbol(s)) if s == symbol => Ok(()),
            other => Err(malformed(format!(
                "expected '{symbol}', found {}",
                describe(other.as_ref())
            ))),
        }
    }

    fn any(&mut self) -> Result<Condition, Refusal> {
        let mut left = self.all()?;
        while self.at_keyword("or") {
            self.at += 1;
            left = Condition::Or(Box::new(left), Box::new(self.all()?));
        }
        Ok(left)
    }

    fn all(&mut self) -> Result<Condition, Refusal> {
        let mut left = self.term()?;
        while self.at_keyword("and") {
            self.at += 1;
            left = Condition::And(Box::new(left), Box::new(self.term()?));
        }
        Ok(left)
    }

    fn term(&mut self) -> Result<Condition, Refusal> {
        if self.peek() != Some(&Token::Symbol("(")) {
            return self.clause();
        }
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(malformed("parentheses nested too deeply"));
        }
        self.at += 1;
        let inner = self.any()?;
        self.expect(")")?;
        self.depth -= 1;
        Ok(inner)
    }

    fn clause(&mut self) -> Result<Condition, Refusal> {
        let name = match self.next() {
            Some(Token::Word(name)) => name,
            other => {
                return Err(malformed(format!(
                    "expected a field, found {}",
                    describe(other.as_ref())
                )));
            }
        };
        let field = known_field(&name, self.schema, "conditions")?;
        let op = self.operator()?;
        let value = if matches!(op, Op::In | Op::NotIn) {
            self.list()?
        } else {
            self.value()?
        };
        Ok(Condition::Clause { field, op, value })
    }

    fn operator(&mut self) -> Result<Op, Refusal> {
        let token = self.next();
        let op = match &token {
            Some(Token::Symbol(symbol)) => symbol_op(symbol),
            Some(Token::Word(word)) if word.eq_ignore_ascii_case("not") => match self.next() {
                Some(Token::Word(word)) => word_op(&word).and_then(negated),
                _ => None,
            },
            Some(Token::Word(word)) => word_op(word),
            _ => None,
        };
        op.ok_or_else(|| {
            malformed(format!(
                "expected an operator, found {}",
                describe(token.as_ref())
            ))
        })
    }

    fn value(&mut self) -> Result<Literal, Refusal> {
        let token = self.next();
        let literal = match &token {
            Some(Token::Text(text)) => Some(Literal::Text(text.clone())),
            Some(Token::Number(n)) => Some(Literal::Number(*n)),
            Some(Token::Date(d)) => Some(Literal::Date(d.clone())),
            Some(Token::Word(w)) => match w.to_ascii_lowercase().as_str() {
                "true" => Some(Literal::Bool(true)),
                "false" => Some(Literal::Bool(false)),
                "null" => Some(Literal::Null),
                _ => None,
            },
            _ => None,
        };
        literal.ok_or_else(|| malformed(format!("expected a value, found {}", describe(token.as_ref()))))
    }

    fn list(&mut self) -> Result<Literal, Refusal> {
        self.expect("(")?;
        let mut items = vec![self.value()?];
        while self.peek() == Some(&Token::Symbol(",")) {
            self.at += 1;
            items.push(self.value()?);
        }
        self.expect(")")?;
        Ok(Literal::List(items))
    }
}

fn symbol_op(symbol: &str) -> Option<Op> {
    Some(match symbol {
        "=" => Op::Eq,
        "!=" => Op::Ne,
        "<" => Op::Lt,
        "<=" => Op::Le,
        ">" => Op::Gt,
        ">=" => Op::Ge,
        _ => return None,
    })
}

fn word_op(word: &str) -> Option<Op> {
    Some(match word.to_ascii_lowercase().as_str() {
        "like" => Op::Like,
        "contains" => Op::Contains,
        "in" => Op::In,
        _ => return None,
    })
}

fn negated(op: Op) -> Option<Op> {
    Some(match op {
        Op::Like => Op::NotLike,
        Op::Contains => Op::NotContains,
        Op::In => Op::NotIn,
        _ => return None,
    })
}

impl Condition {
    fn holds(&self, row: &Value) -> bool {
        match self {
            Condition::And(a, b) => a.holds(row) && b.holds(row),
            Condition::Or(a, b) => a.holds(row) || b.holds(row),
            Condition::Clause { field, op, value } => compare(lookup(row, field), *op, value),
        }
    }
}

fn compare(actual: &Value, op: Op, wanted: &Literal) -> bool {
    match op {
        Op::Eq => equals(actual, wanted),
        Op::Ne => !equals(actual, wanted),
        Op::Lt => order(actual, wanted) == Some(Ordering::Less),
        Op::Le => matches!(order(actual, wanted), Some(Ordering::Less | Ordering::Equal)),
        Op::Gt => order(actual, wanted) == Some(Ordering::Greater),
        Op::Ge => matches!(order(actual, wanted), Some(Ordering::Greater | Ordering::Equal)),
        Op::Like => like(actual, wanted),
        Op::NotLike => !like(actual, wanted),
        Op::Contains => contains(actual, wanted),
        Op::NotContains => !contains(actual, wanted),
        Op::In => in_list(actual, wanted),
        Op::NotIn => !in_list(actual, wanted),
    }
}

fn value_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.to_lowercase()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn literal_text(literal: &Literal) -> Option<String> {
    match literal {
        Literal::Text(t) | Literal::Date(t) => Some(t.to_lowercase()),
        Literal::Number(n) => Some(n.to_string()),
        Literal::Bool(b) => Some(b.to_string()),
        Literal::Null | Literal::List(_) => None,
    }
}

fn value_number(value: &Value) -> Option<f64> {
    value.as_f64().or_else(|| value.as_str()?.trim().parse().ok())
}

fn equals(actual: &Value, wanted: &Literal) -> bool {
    match wanted {
        Literal::Null => actual.is_null(),
        Literal::Bool(b) => actual.as_bool() == Some(*b),
        Literal::Number(n) => value_number(actual) == Some(*n),
        Literal::Text(_) | Literal::Date(_) => {
            value_text(actual).is_some() && value_text(actual) == literal_text(wanted)
        }
        Literal::List(_) => false,
    }
}

fn order(actual: &Value, wanted: &Literal) -> Option<Ordering> {
    match wanted {
        Literal::Number(n) => value_number(actual)?.partial_cmp(n),
        Literal::Text(_) | Literal::Date(_) => Some(value_text(actual)?.cmp(&literal_text(wanted)?)),
        _ => None,
    }
}

fn like(actual: &Value, wanted: &Literal) -> bool {
    match (value_text(actual), literal_text(wanted)) {
        (Some(text), Some(pattern)) => wildcard_match(&text, &pattern),
        _ => false,
    }
}

fn contains(actual: &Value, wanted: &Literal) -> bool {
    match (value_text(actual), literal_text(wanted)) {
        (Some(text), Some(part)) => text.contains(&part),
        _ => false,
    }
}

fn in_list(actual: &Value, wanted: &Literal) -> bool {
    match wanted {
        Literal::List(items) => items.iter().any(|item| equals(actual, item)),
        single => equals(actual, single),
    }
}

/// SQL `LIKE` with `%` (any run) and `_` (any one character); `[` is taken literally.
fn wildcard_match(text: &str, pattern: &str) -> bool {
    let (t, p): (Vec<char>, Vec<char>) = (text.chars().collect(), pattern.chars().collect());
    let (mut ti, mut pi) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('%') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(c) if *c == '_' || Some(c) == t.get(ti) => {
                ti += 1;
                pi += 1;
            }
            _ => match star {
                Some((star_pi, star_ti)) => {
                    pi = star_pi + 1;
                    ti = star_ti + 1;
                    star = Some((star_pi, star_ti + 1));
                }
                None => return false,
            },
        }
    }
    p.iter().skip(pi).all(|c| *c == '%')
}

// ---- Handlers: discovery and reference data ----

async fn company_info(
    State(cw): State<ConnectWise>,
    headers: HeaderMap,
    Path(company): Path<String>,
) -> Response {
    {
        let mut inner = cw.lock();
        inner.requests += 1;
        if inner.outage_until.is_some_and(|until| Instant::now() < until) {
            return Refusal::unavailable().into_response();
        }
    }
    if !company.eq_ignore_ascii_case(&cw.credentials.company_id) {
        return StatusCode::NOT_FOUND.into_response();
    }
    axum::Json(json!({
        "CompanyName": "Backplane MSP", "Codebase": CODEBASE, "VersionCode": "v2025.1",
        "VersionNumber": "v4.6.0", "CompanyID": cw.credentials.company_id, "IsCloud": true,
        "SiteUrl": host(&headers), "AllowAccess": true,
    }))
    .into_response()
}

async fn system_info(State(cw): State<ConnectWise>, headers: HeaderMap) -> Answer {
    cw.admit(&headers).await?;
    ok(
        json!({"version": "v2025.1.12345", "isCloud": true, "serverTimeZone": "Eastern Standard Time",
              "cloudRegion": "NA"}),
    )
}

async fn companies(
    State(cw): State<ConnectWise>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Answer {
    cw.list(&headers, &uri, COMPANY_FIELDS, |inner| {
        Ok(inner.companies.clone())
    })
    .await
}

async fn company_count(
    State(cw): State<ConnectWise>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Answer {
    cw.count(&headers, &uri, COMPANY_FIELDS, |inner| inner.companies.clone())
        .await
}

async fn company_by_id(State(cw): State<ConnectWise>, headers: HeaderMap, Path(id): Path<String>) -> Answer {
    cw.admit(&headers).await?;
    let id = record_id(&id, "Company")?;
    let company = cw.lock().companies.iter().find(|c| c["id"] == id).cloned();
    company
        .map(axum::Json)
        .map(IntoResponse::into_response)
        .ok_or_else(|| Refusal::not_found(format!("Company with id {id} was not found.")))
}

async fn boards(State(cw): State<ConnectWise>, headers: HeaderMap, OriginalUri(uri): OriginalUri) -> Answer {
    cw.list(&headers, &uri, BOARD_FIELDS, |_| {
        Ok(BOARDS.iter().map(Board::json).collect())
    })
    .await
}

async fn board_route(State(cw): State<ConnectWise>, headers: HeaderMap, Path(id): Path<String>) -> Answer {
    cw.admit(&headers).await?;
    let id = record_id(&id, "Board")?;
    board_by_id(id)
        .map(|board| axum::Json(board.json()).into_response())
        .ok_or_else(|| Refusal::not_found(format!("Board with id {id} was not found.")))
}

async fn board_statuses(
    State(cw): State<ConnectWise>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    Path(id): Path<String>,
) -> Answer {
    cw.list(&headers, &uri, STATUS_FIELDS, |_| {
        let id = record_id(&id, "Board")?;
        board_by_id(id).ok_or_else(|| Refusal::not_found(format!("Board with id {id} was not found.")))?;
        Ok(STATUSES
            .iter()
            .filter(|s| s.board == id)
            .map(BoardStatus::json)
            .collect())
    })
    .await
}

async fn priorities(
    State(cw): State<ConnectWise>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Answer {
    cw.list(&headers, &uri, PRIORITY_FIELDS, |_| {
        Ok(PRIORITIES.iter().map(Priority::json).collect())
    })
    .await
}

async fn priority_route(State(cw): State<ConnectWise>, headers: HeaderMap, Path(id): Path<String>) -> Answer {
    cw.admit(&headers).await?;
    let id = record_id(&id, "Priority")?;
    PRIORITIES
        .iter()
        .find(|p| p.id == id)
        .map(|p| axum::Json(p.json()).into_response())
        .ok_or_else(|| Refusal::not_found(format!("Priority with id {id} was not found.")))
}

// ---- Tickets ----

/// A ticket's fields, checked as ConnectWise checks them.
struct TicketFields {
    summary: String,
    company: Value,
    board: &'static Board,
    status: &'static BoardStatus,
    priority: &'static Priority,
    external_xref: Option<String>,
    required_date: Option<String>,
    description: Option<String>,
}

fn summary_of(value: Option<&Value>) -> Result<String, Refusal> {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Err(Refusal::required("ticket", "summary"));
    };
    let summary = value
        .as_str()
        .ok_or_else(|| Refusal::invalid("ticket", "summary", "summary must be a string."))?;
    if summary.trim().is_empty() {
        return Err(Refusal::required("ticket", "summary"));
    }
    if summary.chars().count() > SUMMARY_MAX_CHARS {
        return Err(Refusal::too_long("ticket", "summary", SUMMARY_MAX_CHARS));
    }
    Ok(summary.to_owned())
}

/// The company a ticket names, as the ticket shows it; it must exist and not be deleted.
fn company_ref(inner: &Inner, value: Option<&Value>) -> Result<Value, Refusal> {
    let value = value
        .filter(|v| !v.is_null())
        .ok_or_else(|| Refusal::required("ticket", "company"))?;
    let key = Key::of(value, "identifier").ok_or_else(|| not_a_reference("ticket", "company"))?;
    let company = inner
        .companies
        .iter()
        .find(|c| {
            key.matches(
                c["id"].as_i64().unwrap_or_default(),
                c["identifier"].as_str().unwrap_or(""),
            )
        })
        .ok_or_else(|| Refusal::invalid("ticket", "company", "Company not found."))?;
    if company["deletedFlag"] == true {
        return Err(Refusal::invalid("ticket", "company", "Company has been deleted."));
    }
    Ok(json!({"id": company["id"], "identifier": company["identifier"], "name": company["name"]}))
}

/// The board a ticket names (Help Desk when none); it must exist and be active.
fn board_of(value: Option<&Value>) -> Result<&'static Board, Refusal> {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return board_by_id(DEFAULT_BOARD_ID)
            .ok_or_else(|| Refusal::invalid("ticket", "board", "No default board."));
    };
    let key = Key::of(value, "name").ok_or_else(|| not_a_reference("ticket", "board"))?;
    let board = BOARDS
        .iter()
        .find(|b| key.matches(b.id, b.name))
        .ok_or_else(|| Refusal::invalid("ticket", "board", "Board not found."))?;
    if board.inactive {
        return Err(Refusal::invalid(
            "ticket",
            "board",
            format!("Board {} is inactive.", board.name),
        ));
    }
    Ok(board)
}

/// The status a ticket names, which must be one of its board's (the board's default when none).
fn status_of(board: &Board, value: Option<&Value>) -> Result<&'static BoardStatus, Refusal> {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return STATUSES
            .iter()
            .find(|s| s.board == board.id && s.default)
            .ok_or_else(|| Refusal::invalid("ticket", "status", "The board has no default status."));
    };
    let key = Key::of(value, "name").ok_or_else(|| not_a_reference("ticket", "status"))?;
    STATUSES
        .iter()
        .find(|s| s.board == board.id && key.matches(s.id, s.name))
        .ok_or_else(|| {
            Refusal::invalid(
                "ticket",
                "status",
                format!("Status not found on board {} (id {}).", board.name, board.id),
            )
        })
}

fn priority_of(value: Option<&Value>) -> Result<&'static Priority, Refusal> {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return PRIORITIES
            .iter()
            .find(|p| p.default)
            .ok_or_else(|| Refusal::invalid("ticket", "priority", "No default priority."));
    };
    let key = Key::of(value, "name").ok_or_else(|| not_a_reference("ticket", "priority"))?;
    PRIORITIES
        .iter()
        .find(|p| key.matches(p.id, p.name))
        .ok_or_else(|| Refusal::invalid("ticket", "priority", "Priority not found."))
}

/// An optional string field; anything but a string or null is refused.
fn optional_text(value: Option<&Value>, name: &str) -> Result<Option<String>, Refusal> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(Refusal::invalid(
            "ticket",
            name,
            format!("{name} must be a string."),
        )),
    }
}

/// `requiredDate`: an ISO 8601 date such as `2026-01-01T00:00:00Z`.
fn required_date_of(value: Option<&Value>) -> Result<Option<String>, Refusal> {
    let date = optional_text(value, "requiredDate")?;
    let plausible = |d: &str| {
        let b = d.as_bytes();
        b.len() >= 10 && b[4] == b'-' && b[7] == b'-' && d.chars().take(4).all(|c| c.is_ascii_digit())
    };
    match date {
        Some(d) if !plausible(&d) => Err(Refusal::invalid(
            "ticket",
            "requiredDate",
            "requiredDate must be a date such as 2026-01-01T00:00:00Z.",
        )),
        other => Ok(other),
    }
}

fn ticket_fields(inner: &Inner, body: &Value) -> Result<TicketFields, Refusal> {
    let summary = summary_of(field(body, "summary"))?;
    let company = company_ref(inner, field(body, "company"))?;
    let board = board_of(field(body, "board"))?;
    let status = status_of(board, field(body, "status"))?;
    let priority = priority_of(field(body, "priority"))?;
    Ok(TicketFields {
        summary,
        company,
        board,
        status,
        priority,
        external_xref: optional_text(field(body, "externalXRef"), "externalXRef")?,
        required_date: required_date_of(field(body, "requiredDate"))?,
        description: optional_text(field(body, "initialDescription"), "initialDescription")?,
    })
}

fn ticket_json(id: i64, t: &TicketFields) -> Value {
    let now = now_iso();
    json!({
        "id": id, "summary": t.summary, "recordType": "ServiceTicket",
        "board": t.board.reference(), "status": t.status.reference(), "company": t.company,
        "priority": t.priority.reference(), "externalXRef": t.external_xref,
        "requiredDate": t.required_date, "closedFlag": t.status.closed,
        "_info": {"dateEntered": now, "enteredBy": API_MEMBER, "lastUpdated": now, "updatedBy": API_MEMBER},
    })
}

async fn tickets(State(cw): State<ConnectWise>, headers: HeaderMap, OriginalUri(uri): OriginalUri) -> Answer {
    cw.list(&headers, &uri, TICKET_FIELDS, |inner| Ok(inner.tickets.clone()))
        .await
}

async fn ticket_count(
    State(cw): State<ConnectWise>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Answer {
    cw.count(&headers, &uri, TICKET_FIELDS, |inner| inner.tickets.clone())
        .await
}

async fn ticket_by_id(State(cw): State<ConnectWise>, headers: HeaderMap, Path(id): Path<String>) -> Answer {
    cw.admit(&headers).await?;
    let id = record_id(&id, "Ticket")?;
    let ticket = cw.lock().tickets.iter().find(|t| t["id"] == id).cloned();
    ticket
        .map(|t| axum::Json(t).into_response())
        .ok_or_else(|| Refusal::not_found(format!("Ticket with id {id} was not found.")))
}

async fn create_ticket(State(cw): State<ConnectWise>, headers: HeaderMap, body: Bytes) -> Answer {
    cw.admit(&headers).await?;
    cw.check_permission()?;
    let body = json_object(&body, "ticket")?;
    let ticket = {
        let mut inner = cw.lock();
        let fields = ticket_fields(&inner, &body)?;
        let id = inner.next_ticket_id;
        inner.next_ticket_id += 1;
        let ticket = ticket_json(id, &fields);
        if let Some(description) = fields.description {
            inner.descriptions.insert(id, description);
        }
        inner.tickets.push(ticket.clone());
        ticket
    };
    cw.written(StatusCode::CREATED, ticket)
}

/// One JSON-Patch operation on a ticket field; `status/id` and the like become `status`.
struct PatchOp {
    field: String,
    value: Value,
}

fn bad_patch(message: impl Into<String>) -> Refusal {
    Refusal::bad_request("patch", message)
}

fn patch_ops(body: &[u8]) -> Result<Vec<PatchOp>, Refusal> {
    let Value::Array(items) = json_body(body, "patch")? else {
        return Err(bad_patch(
            "The body must be a JSON-Patch array such as [{\"op\": \"replace\", \"path\": \"status\", \"value\": {\"id\": 1}}].",
        ));
    };
    if items.is_empty() {
        return Err(bad_patch("The patch has no operations."));
    }
    items.iter().map(patch_op).collect()
}

fn patch_op(item: &Value) -> Result<PatchOp, Refusal> {
    let op = present(item, "op")
        .and_then(Value::as_str)
        .ok_or_else(|| bad_patch("Each operation needs an op."))?;
    if !op.eq_ignore_ascii_case("replace") && !op.eq_ignore_ascii_case("add") {
        return Err(bad_patch(format!(
            "Operation '{op}' is not supported; use replace."
        )));
    }
    let path = present(item, "path")
        .and_then(Value::as_str)
        .ok_or_else(|| bad_patch("Each operation needs a path."))?
        .trim_start_matches('/')
        .to_ascii_lowercase();
    let value = field(item, "value")
        .cloned()
        .ok_or_else(|| bad_patch("Each operation needs a value."))?;
    let (name, member) = match path.split_once('/') {
        Some((name, member)) => (name.to_owned(), Some(member.to_owned())),
        None => (path, None),
    };
    let value = match member.as_deref() {
        None => value,
        Some("id") => json!({ "id": value }),
        Some("name") => json!({ "name": value }),
        Some("identifier") => json!({ "identifier": value }),
        Some(other) => return Err(bad_patch(format!("Path {name}/{other} cannot be patched."))),
    };
    Ok(PatchOp { field: name, value })
}

/// The ticket after `ops`: the status must belong to the (possibly new) board; a board change
/// without a status moves the ticket to the new board's default status.
fn patched(inner: &Inner, ticket: &Value, ops: &[PatchOp]) -> Result<Value, Refusal> {
    let mut updated = ticket.clone();
    let mut board =
        board_by_id(lookup(ticket, "board/id").as_i64().unwrap_or(DEFAULT_BOARD_ID)).unwrap_or(&BOARDS[0]);
    let mut new_status = None;
    for op in ops {
        match op.field.as_str() {
            "summary" => updated["summary"] = json!(summary_of(Some(&op.value))?),
            "board" => {
                board = board_of(Some(&op.value))?;
                updated["board"] = board.reference();
            }
            "status" => new_status = Some(&op.value),
            "priority" => updated["priority"] = priority_of(Some(&op.value))?.reference(),
            "company" => updated["company"] = company_ref(inner, Some(&op.value))?,
            "externalxref" => {
                updated["externalXRef"] = json!(optional_text(Some(&op.value), "externalXRef")?)
            }
            "requireddate" => updated["requiredDate"] = json!(required_date_of(Some(&op.value))?),
            other => {
                return Err(Refusal::invalid(
                    "ticket",
                    other,
                    format!("{other} cannot be patched."),
                ));
            }
        }
    }
    let current = lookup(ticket, "status/id").as_i64().unwrap_or_default();
    let status = match new_status {
        Some(value) => status_of(board, Some(value))?,
        None => match STATUSES.iter().find(|s| s.board == board.id && s.id == current) {
            Some(status) => status,
            None => status_of(board, None)?,
        },
    };
    updated["status"] = status.reference();
    updated["closedFlag"] = json!(status.closed);
    updated["_info"]["lastUpdated"] = json!(now_iso());
    updated["_info"]["updatedBy"] = json!(API_MEMBER);
    Ok(updated)
}

async fn patch_ticket(
    State(cw): State<ConnectWise>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Answer {
    cw.admit(&headers).await?;
    cw.check_permission()?;
    let id = record_id(&id, "Ticket")?;
    let ops = patch_ops(&body)?;
    let ticket = {
        let mut inner = cw.lock();
        let index = inner
            .tickets
            .iter()
            .position(|t| t["id"] == id)
            .ok_or_else(|| Refusal::not_found(format!("Ticket with id {id} was not found.")))?;
        let updated = patched(&inner, &inner.tickets[index], &ops)?;
        inner.tickets[index] = updated.clone();
        updated
    };
    cw.written(StatusCode::OK, ticket)
}

// ---- Notes ----

fn note_flag(body: &Value, name: &str) -> Result<bool, Refusal> {
    match present(body, name) {
        None => Ok(false),
        Some(Value::Bool(flag)) => Ok(*flag),
        Some(_) => Err(Refusal::invalid(
            "serviceNote",
            name,
            format!("{name} must be true or false."),
        )),
    }
}

fn note_json(id: i64, ticket_id: i64, body: &Value) -> Result<Value, Refusal> {
    let text = match present(body, "text") {
        None => return Err(Refusal::required("serviceNote", "text")),
        Some(Value::String(text)) if text.trim().is_empty() => {
            return Err(Refusal::required("serviceNote", "text"));
        }
        Some(Value::String(text)) => text.clone(),
        Some(_) => return Err(Refusal::invalid("serviceNote", "text", "text must be a string.")),
    };
    let detail = note_flag(body, "detailDescriptionFlag")?;
    let internal = note_flag(body, "internalAnalysisFlag")?;
    let resolution = note_flag(body, "resolutionFlag")?;
    if !(detail || internal || resolution) {
        return Err(Refusal::invalid(
            "serviceNote",
            "detailDescriptionFlag",
            "Please choose where to display the notes in order to save this record.",
        ));
    }
    let now = now_iso();
    Ok(json!({
        "id": id, "ticketId": ticket_id, "text": text, "detailDescriptionFlag": detail,
        "internalAnalysisFlag": internal, "resolutionFlag": resolution, "dateCreated": now,
        "createdBy": API_MEMBER, "_info": {"lastUpdated": now, "updatedBy": API_MEMBER},
    }))
}

fn ticket_exists(inner: &Inner, id: i64) -> Result<(), Refusal> {
    if inner.tickets.iter().any(|t| t["id"] == id) {
        Ok(())
    } else {
        Err(Refusal::not_found(format!("Ticket with id {id} was not found.")))
    }
}

async fn ticket_notes(
    State(cw): State<ConnectWise>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    Path(id): Path<String>,
) -> Answer {
    cw.list(&headers, &uri, NOTE_FIELDS, |inner| {
        let id = record_id(&id, "Ticket")?;
        ticket_exists(inner, id)?;
        Ok(inner
            .notes
            .iter()
            .filter(|n| n["ticketId"] == id)
            .cloned()
            .collect())
    })
    .await
}

async fn create_note(
    State(cw): State<ConnectWise>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Answer {
    cw.admit(&headers).await?;
    cw.check_permission()?;
    let ticket_id = record_id(&id, "Ticket")?;
    let body = json_object(&body, "serviceNote")?;
    let note = {
        let mut inner = cw.lock();
        ticket_exists(&inner, ticket_id)?;
        let note = note_json(inner.next_note_id, ticket_id, &body)?;
        inner.next_note_id += 1;
        inner.notes.push(note.clone());
        note
    };
    cw.written(StatusCode::CREATED, note)
}

// ---- Control routes ----

#[derive(Deserialize)]
struct Seconds {
    seconds: u64,
}

async fn start_outage(State(cw): State<ConnectWise>, Query(q): Query<Seconds>) -> StatusCode {
    if q.seconds == 0 {
        cw.recover();
    } else {
        cw.outage(Duration::from_secs(q.seconds));
    }
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct Count {
    count: u32,
}

async fn start_losing(State(cw): State<ConnectWise>, Query(q): Query<Count>) -> StatusCode {
    cw.lose_responses(q.count);
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct Throttle {
    count: u32,
    retry_after: Option<u64>,
}

async fn start_throttling(State(cw): State<ConnectWise>, Query(q): Query<Throttle>) -> StatusCode {
    cw.throttle(q.count, q.retry_after.unwrap_or(1));
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct Enabled {
    enabled: bool,
}

async fn set_denial(State(cw): State<ConnectWise>, Query(q): Query<Enabled>) -> StatusCode {
    cw.deny_permission(q.enabled);
    StatusCode::NO_CONTENT
}

async fn set_cloud_404(State(cw): State<ConnectWise>, Query(q): Query<Enabled>) -> StatusCode {
    cw.cloud_404_on_bad_auth(q.enabled);
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct Millis {
    ms: u64,
}

async fn set_latency_ms(State(cw): State<ConnectWise>, Query(q): Query<Millis>) -> StatusCode {
    cw.set_latency(Duration::from_millis(q.ms));
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct NewCompany {
    name: String,
}

async fn new_company(
    State(cw): State<ConnectWise>,
    Query(q): Query<NewCompany>,
) -> (StatusCode, axum::Json<Value>) {
    let id = cw.add_company(&q.name);
    (StatusCode::CREATED, axum::Json(json!({ "id": id })))
}

async fn remove_company(State(cw): State<ConnectWise>, Path(id): Path<i64>) -> StatusCode {
    if cw.delete_company(id) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}

async fn all_tickets(State(cw): State<ConnectWise>) -> axum::Json<Value> {
    axum::Json(Value::Array(cw.tickets()))
}

// ---- Small utilities ----

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{SocketAddr, TcpStream};

    const CLIENT_ID: &str = "2b1f6a0e-0c1d-4b7e-9f5a-3c2d1e0f9a8b";

    fn credentials() -> Credentials {
        Credentials {
            company_id: "Backplane".into(),
            public_key: "pubKey".into(),
            private_key: "privKey".into(),
            client_id: CLIENT_ID.into(),
        }
    }

    /// Serves `cw` on a port of its own, on a thread of its own.
    fn serve(cw: &ConnectWise) -> SocketAddr {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let router = cw.router();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(listener, router).await.unwrap();
            });
        });
        addr
    }

    fn encode64(bytes: &[u8]) -> String {
        BASE64.encode(bytes)
    }

    /// Percent-encodes a query parameter's value.
    fn escape(text: &str) -> String {
        text.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    }

    struct Reply {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    }

    impl Reply {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        }

        fn json(&self) -> Value {
            serde_json::from_str(&self.body).unwrap_or(Value::Null)
        }

        fn items(&self) -> Vec<Value> {
            self.json().as_array().cloned().unwrap_or_default()
        }
    }

    /// One HTTP/1.1 exchange on a fresh connection.
    fn send(
        addr: SocketAddr,
        method: &str,
        target: &str,
        headers: &[(String, String)],
        body: Option<&str>,
    ) -> Reply {
        let body = body.unwrap_or("");
        let mut request = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ));
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut raw = String::new();
        stream.read_to_string(&mut raw).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap();
        let mut lines = head.lines();
        let status = lines
            .next()
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        Reply {
            status,
            headers,
            body: body.to_owned(),
        }
    }

    fn auth(company: &str, public: &str, private: &str, client: Option<&str>) -> Vec<(String, String)> {
        let basic = encode64(format!("{company}+{public}:{private}").as_bytes());
        let mut headers = vec![("Authorization".to_owned(), format!("Basic {basic}"))];
        if let Some(client) = client {
            headers.push(("clientId".to_owned(), client.to_owned()));
        }
        headers
    }

    fn good() -> Vec<(String, String)> {
        auth("backplane", "pubKey", "privKey", Some(CLIENT_ID))
    }

    fn api(addr: SocketAddr, method: &str, path: &str, body: Option<Value>) -> Reply {
        let body = body.map(|b| b.to_string());
        send(
            addr,
            method,
            &format!("{API_ROOT}{path}"),
            &good(),
            body.as_deref(),
        )
    }

    fn tickets_where(addr: SocketAddr, conditions: &str) -> Reply {
        api(
            addr,
            "GET",
            &format!("/service/tickets?conditions={}", escape(conditions)),
            None,
        )
    }

    /// The URL of one relation in a `Link` header.
    fn rel(link: &str, rel: &str) -> Option<String> {
        link.split(", ")
            .find(|part| part.ends_with(&format!("rel=\"{rel}\"")))
            .and_then(|part| part.split_once('>'))
            .map(|(url, _)| url.trim_start_matches('<').to_owned())
    }

    fn path_of(url: &str, addr: SocketAddr) -> String {
        url.strip_prefix(&format!("http://{addr}")).unwrap().to_owned()
    }

    fn new_ticket(addr: SocketAddr, body: Value) -> Reply {
        api(addr, "POST", "/service/tickets", Some(body))
    }

    #[test]
    fn company_info_points_back_here() {
        assert_eq!(API_ROOT, format!("/{CODEBASE}apis/3.0"));
        let cw = ConnectWise::new(credentials(), 3, 1);
        let addr = serve(&cw);
        let reply = send(addr, "GET", "/login/companyinfo/BACKPLANE", &[], None);
        assert_eq!(reply.status, 200);
        let info = reply.json();
        assert_eq!(info["Codebase"], CODEBASE);
        assert_eq!(info["CompanyID"], "Backplane");
        assert_eq!(info["SiteUrl"], addr.to_string());
        assert_eq!(info["IsCloud"], true);
        assert_eq!(info["VersionCode"], "v2025.1");
        let unknown = send(addr, "GET", "/login/companyinfo/someoneelse", &[], None);
        assert_eq!(unknown.status, 404);
        assert!(unknown.body.is_empty());
        // The root built from the answer serves the API, in any casing.
        let root = format!("/{}apis/3.0", info["Codebase"].as_str().unwrap());
        let system = send(addr, "GET", &format!("{root}/System/Info"), &good(), None);
        assert_eq!(system.status, 200);
        assert_eq!(system.json()["isCloud"], true);
        assert_eq!(system.json()["version"], "v2025.1.12345");
        let release = send(
            addr,
            "GET",
            &format!("{RELEASE_API_ROOT}/system/info"),
            &good(),
            None,
        );
        assert_eq!(release.status, 200);
        let nowhere = api(addr, "GET", "/no/such/thing", None);
        assert_eq!(nowhere.status, 404);
        assert_eq!(nowhere.json()["code"], "NotFound");
    }

    #[test]
    fn bad_credentials_are_refused() {
        let cw = ConnectWise::new(credentials(), 3, 1);
        let addr = serve(&cw);
        let path = format!("{API_ROOT}/system/info");
        let call = |headers: Vec<(String, String)>| send(addr, "GET", &path, &headers, None);
        let wrong_key = call(auth("backplane", "pubKey", "nope", Some(CLIENT_ID)));
        assert_eq!(wrong_key.status, 401);
        assert_eq!(wrong_key.json()["code"], "Unauthorized");
        assert_eq!(wrong_key.json()["message"], "Incorrect public/private key");
        assert_eq!(
            call(auth("other", "pubKey", "privKey", Some(CLIENT_ID))).status,
            401
        );
        assert_eq!(
            call(auth("backplane", "PUBKEY", "privKey", Some(CLIENT_ID))).status,
            401
        );
        assert_eq!(call(vec![("clientId".into(), CLIENT_ID.into())]).status, 401);
        let no_client = call(auth("backplane", "pubKey", "privKey", None));
        assert_eq!(no_client.status, 401);
        assert!(no_client.json()["message"].as_str().unwrap().contains("clientId"));
        let wrong_client = call(auth("backplane", "pubKey", "privKey", Some("not-ours")));
        assert_eq!(wrong_client.status, 401);
        assert!(
            wrong_client.json()["message"]
                .as_str()
                .unwrap()
                .contains("clientId")
        );

        cw.cloud_404_on_bad_auth(true);
        let cloud = call(auth("backplane", "pubKey", "nope", Some(CLIENT_ID)));
        assert_eq!(cloud.status, 404);
        assert_eq!(cloud.json()["code"], "NotFound");
        assert_eq!(call(auth("backplane", "pubKey", "privKey", None)).status, 401);
        assert_eq!(call(good()).status, 200);
        assert_eq!(cw.requests(), 9);
    }

    #[test]
    fn link_headers_walk_every_page() {
        let cw = ConnectWise::new(credentials(), 1_100, 7);
        let addr = serve(&cw);
        let first = api(addr, "GET", "/company/companies?pageSize=1000", None);
        assert_eq!(first.status, 200);
        let page = first.items();
        assert_eq!(page.len(), 1_000);
        assert_eq!(page[0]["id"], 250);
        assert_eq!(page[0]["status"]["name"], "Active");
        let link = first.header("link").unwrap();
        let next = rel(link, "next").unwrap();
        assert!(
            next.ends_with("/company/companies?pageSize=1000&page=2"),
            "{link}"
        );
        assert!(rel(link, "last").unwrap().ends_with("page=2"), "{link}");
        assert!(rel(link, "prev").is_none());

        let second = send(addr, "GET", &path_of(&next, addr), &good(), None);
        let rest = second.items();
        assert_eq!(rest.len(), 100);
        assert_eq!(rest[99]["id"], 1_349);
        let link = second.header("link").unwrap();
        assert!(rel(link, "next").is_none(), "{link}");
        assert!(rel(link, "prev").unwrap().ends_with("page=1"));

        let small = api(addr, "GET", "/company/companies", None);
        assert_eq!(small.items().len(), DEFAULT_PAGE_SIZE);
        assert!(
            rel(small.header("link").unwrap(), "last")
                .unwrap()
                .ends_with("page=44")
        );

        let too_big = api(addr, "GET", "/company/companies?pageSize=1001", None);
        assert_eq!(too_big.status, 400);
        assert_eq!(too_big.json()["code"], "InvalidObject");
        assert!(too_big.json()["message"].as_str().unwrap().contains("pageSize"));
        assert_eq!(api(addr, "GET", "/company/companies?page=0", None).status, 400);
    }

    #[test]
    fn forward_only_paging_follows_page_ids() {
        let cw = ConnectWise::new(credentials(), 1_100, 7);
        let addr = serve(&cw);
        let mut headers = good();
        headers.push(("pagination-type".into(), "forward-only".into()));
        let first = send(
            addr,
            "GET",
            &format!("{API_ROOT}/company/companies?pageSize=1000"),
            &headers,
            None,
        );
        assert_eq!(first.items().len(), 1_000);
        let link = first.header("link").unwrap();
        assert!(rel(link, "last").is_none(), "{link}");
        let next = rel(link, "next").unwrap();
        assert!(next.ends_with("pageSize=1000&pageId=1249"), "{link}");
        let second = send(addr, "GET", &path_of(&next, addr), &headers, None);
        let rest = second.items();
        assert_eq!(rest.len(), 100);
        assert_eq!(rest[0]["id"], 1_250);
        assert!(second.header("link").is_none());
    }

    #[test]
    fn conditions_filter_and_refuse() {
        let cw = ConnectWise::new(credentials(), 5, 1);
        let addr = serve(&cw);
        for (company, summary, xref) in [
            (250, "Backup failed: disk full", "job-1"),
            (250, "Backup ok", "job-2"),
            (251, "Disk warning", "job-3"),
        ] {
            let body = json!({"summary": summary, "company": {"id": company}, "externalXRef": xref});
            assert_eq!(new_ticket(addr, body).status, 201);
        }
        let by_xref = tickets_where(addr, r#"externalXRef="job-2""#).items();
        assert_eq!(by_xref.len(), 1);
        assert_eq!(by_xref[0]["summary"], "Backup ok");
        let like = tickets_where(addr, r#"company/id=250 and summary like "%disk%""#).items();
        assert_eq!(like.len(), 1);
        assert_eq!(like[0]["externalXRef"], "job-1");
        let grouped = r#"company/id in (250, 251) AND (summary contains "DISK" or externalXRef = "job-2")"#;
        assert_eq!(tickets_where(addr, grouped).items().len(), 3);
        let board = r#"board/name="Help Desk" and closedFlag=false and status/id != 14"#;
        assert_eq!(tickets_where(addr, board).items().len(), 3);
        assert_eq!(tickets_where(addr, "company/id > 250").items().len(), 1);
        let count = api(
            addr,
            "GET",
            "/service/tickets/count?conditions=company/id%3D250",
            None,
        );
        assert_eq!(count.json()["count"], 2);

        let unknown = tickets_where(addr, r#"colour="red""#);
        assert_eq!(unknown.status, 400);
        assert_eq!(unknown.json()["code"], "InvalidObject");
        assert!(unknown.json()["message"].as_str().unwrap().contains("colour"));
        for bad in [
            r#"summary like"#,
            r#"summary = "open"#,
            "id = 5 and",
            "id ~ 5",
            "(id = 5",
        ] {
            let reply = tickets_where(addr, bad);
            assert_eq!(reply.status, 400, "{bad}");
            assert_eq!(reply.json()["code"], "InvalidObject", "{bad}");
        }

        let ordered = api(addr, "GET", "/service/tickets?orderBy=summary%20desc", None).items();
        let summaries: Vec<&str> = ordered.iter().filter_map(|t| t["summary"].as_str()).collect();
        assert_eq!(
            summaries,
            ["Disk warning", "Backup ok", "Backup failed: disk full"]
        );
        let names: Vec<String> = api(addr, "GET", "/company/companies?orderBy=name%20asc", None)
            .items()
            .iter()
            .filter_map(|c| c["name"].as_str().map(str::to_lowercase))
            .collect();
        assert!(names.windows(2).all(|w| w[0] <= w[1]), "{names:?}");
        assert_eq!(
            api(addr, "GET", "/company/companies?orderBy=colour", None).status,
            400
        );
    }

    #[test]
    fn the_conditions_grammar() {
        let row = json!({"id": 7, "summary": "Say \"hi\" [Backplane note 7]", "closedFlag": false,
                         "company": {"id": 250, "name": "Acme Corp"}, "requiredDate": null,
                         "_info": {"lastUpdated": "2026-03-01T10:00:00Z"}});
        let holds = |text: &str| parse_conditions(text, TICKET_FIELDS).map(|c| c.holds(&row));
        assert!(holds(r#"summary like "say \"hi\"%""#).unwrap());
        assert!(holds(r#"summary like "%[Backplane note 7]%""#).unwrap());
        assert!(!holds(r#"summary like "%[Backplane note 8]%""#).unwrap());
        assert!(
            holds("lastUpdated > [2026-01-01T00:00:00Z] and _info/lastUpdated < [2027-01-01T00:00:00Z]")
                .unwrap()
        );
        assert!(holds("id = 1 or id = 2 or Company/Name = \"acme corp\"").unwrap());
        assert!(holds("id = 1 and id = 2 or id = 7").unwrap());
        assert!(!holds("id = 1 and (id = 2 or id = 7)").unwrap());
        assert!(holds("id in (1, 7) and company/id not in (1) and closedFlag = false").unwrap());
        assert!(
            holds("requiredDate = null and summary not contains \"bye\" and id >= 7 and id <= 7").unwrap()
        );
        assert!(holds("summary not like \"x%\" and id != 8 and id <> 9").unwrap());
        assert!(holds(&format!("{}id = 7{}", "(".repeat(40), ")".repeat(40))).is_err());
        for bad in [
            "",
            "id",
            "id =",
            "= 5",
            "id = \"open",
            "id = [2026",
            "id in 5",
            "id = 5 5",
            "id @ 5",
        ] {
            assert!(holds(bad).is_err(), "{bad}");
        }
        assert!(wildcard_match("backup %done", "backup _%done"));
        assert!(wildcard_match("abc", "%"));
        assert!(!wildcard_match("abc", "ab"));
        assert!(wildcard_match("aXbXc", "a%b%c"));
    }

    #[test]
    fn long_summaries_and_bad_companies_are_refused() {
        let cw = ConnectWise::new(credentials(), 3, 1);
        let addr = serve(&cw);
        let long = new_ticket(addr, json!({"summary": "x".repeat(101), "company": {"id": 250}}));
        assert_eq!(long.status, 400);
        let error = &long.json()["errors"][0];
        assert_eq!(error["code"], "MaxLengthField");
        assert_eq!(error["field"], "summary");
        assert_eq!(long.json()["code"], "InvalidObject");
        assert!(cw.tickets().is_empty());
        let fits = new_ticket(addr, json!({"summary": "é".repeat(100), "company": {"id": 250}}));
        assert_eq!(fits.status, 201);
        assert_eq!(fits.json()["id"], 1_000);

        let no_summary = new_ticket(addr, json!({"company": {"id": 250}}));
        assert_eq!(no_summary.json()["errors"][0]["field"], "summary");
        let nobody = new_ticket(addr, json!({"summary": "s", "company": {"id": 9}}));
        assert_eq!(nobody.status, 400);
        assert_eq!(nobody.json()["errors"][0]["field"], "company");
        assert!(cw.delete_company(251));
        let deleted = new_ticket(addr, json!({"summary": "s", "company": {"id": 251}}));
        assert_eq!(deleted.json()["errors"][0]["field"], "company");
        let by_id = api(addr, "GET", "/company/companies/251", None);
        assert_eq!(by_id.json()["deletedFlag"], true);
        assert_eq!(api(addr, "GET", "/company/companies/9", None).status, 404);
        let not_json = send(
            addr,
            "POST",
            &format!("{API_ROOT}/service/tickets"),
            &good(),
            Some("{"),
        );
        assert_eq!(not_json.status, 400);
        assert_eq!(not_json.json()["code"], "InvalidObject");
        assert_eq!(cw.tickets().len(), 1);
    }

    #[test]
    fn statuses_belong_to_their_board() {
        let cw = ConnectWise::new(credentials(), 3, 1);
        let addr = serve(&cw);
        let statuses = api(addr, "GET", "/service/boards/2/statuses", None).items();
        assert_eq!(statuses.len(), 3);
        assert!(statuses.iter().all(|s| s["board"]["name"] == "Alerts"));
        assert_eq!(api(addr, "GET", "/service/boards", None).items().len(), 4);
        assert_eq!(api(addr, "GET", "/service/priorities", None).items().len(), 4);

        let elsewhere = new_ticket(
            addr,
            json!({"summary": "s", "company": {"id": 250}, "board": {"id": 1}, "status": {"id": 21}}),
        );
        assert_eq!(elsewhere.status, 400);
        let error = &elsewhere.json()["errors"][0];
        assert_eq!(error["field"], "status");
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .starts_with("Status not found on board")
        );

        let alert = new_ticket(
            addr,
            json!({"summary": "s", "company": {"id": 250}, "board": {"id": 2}, "status": {"id": 21},
                                            "priority": {"id": 1}, "requiredDate": "2026-01-01T00:00:00Z"}),
        );
        assert_eq!(alert.status, 201);
        let alert = alert.json();
        assert_eq!(alert["board"]["name"], "Alerts");
        assert_eq!(alert["status"]["name"], "New");
        assert_eq!(alert["priority"]["name"], "Priority 1 - Emergency Response");
        assert_eq!(alert["requiredDate"], "2026-01-01T00:00:00Z");

        let plain = new_ticket(addr, json!({"summary": "s", "company": {"id": 250}})).json();
        assert_eq!(plain["board"]["id"], 1);
        assert_eq!(plain["status"]["id"], 11);
        assert_eq!(plain["priority"]["id"], 4);
        assert_eq!(
            plain["company"]["identifier"].as_str().map(str::is_empty),
            Some(false)
        );
        let inactive = new_ticket(
            addr,
            json!({"summary": "s", "company": {"id": 250}, "board": {"id": 4}}),
        );
        assert_eq!(inactive.json()["errors"][0]["field"], "board");
        let no_priority = new_ticket(
            addr,
            json!({"summary": "s", "company": {"id": 250}, "priority": {"id": 3}}),
        );
        assert_eq!(no_priority.json()["errors"][0]["field"], "priority");
    }

    #[test]
    fn patching_the_status_closes_the_ticket() {
        let cw = ConnectWise::new(credentials(), 3, 1);
        let addr = serve(&cw);
        let created = new_ticket(
            addr,
            json!({"summary": "s", "company": {"id": 250}, "initialDescription": "details"}),
        );
        assert_eq!(created.status, 201);
        let ticket = created.json();
        assert!(field(&ticket, "initialDescription").is_none());
        assert_eq!(ticket["closedFlag"], false);
        let path = format!("/service/tickets/{}", ticket["id"]);

        let close = json!([{"op": "replace", "path": "status", "value": {"id": 13}}]);
        let closed = api(addr, "PATCH", &path, Some(close));
        assert_eq!(closed.status, 200);
        assert_eq!(closed.json()["closedFlag"], true);
        assert_eq!(closed.json()["status"]["name"], "Completed");
        assert_eq!(api(addr, "GET", &path, None).json()["closedFlag"], true);

        let reopen = json!([{"op": "replace", "path": "/status/id", "value": 12}, {"op": "replace", "path": "summary", "value": "t"}]);
        let reopened = api(addr, "PATCH", &path, Some(reopen)).json();
        assert_eq!(reopened["closedFlag"], false);
        assert_eq!(reopened["summary"], "t");

        let foreign = api(
            addr,
            "PATCH",
            &path,
            Some(json!([{"op": "replace", "path": "status", "value": {"id": 22}}])),
        );
        assert_eq!(foreign.status, 400);
        assert_eq!(foreign.json()["errors"][0]["field"], "status");
        let moved = api(
            addr,
            "PATCH",
            &path,
            Some(json!([{"op": "replace", "path": "board", "value": {"id": 2}}])),
        )
        .json();
        assert_eq!(moved["status"]["id"], 21);
        for bad in [
            json!({"op": "replace"}),
            json!([]),
            json!([{"op": "replace", "path": "status"}]),
            json!([{"op": "remove", "path": "summary"}]),
        ] {
            let reply = api(addr, "PATCH", &path, Some(bad.clone()));
            assert_eq!(reply.status, 400, "{bad}");
            assert_eq!(reply.json()["code"], "InvalidObject", "{bad}");
        }
        let missing = api(
            addr,
            "PATCH",
            "/service/tickets/99999",
            Some(json!([{"op": "replace", "path": "summary", "value": "x"}])),
        );
        assert_eq!(missing.status, 404);
        assert_eq!(api(addr, "GET", "/service/tickets/abc", None).status, 404);
        assert_eq!(cw.tickets()[0]["initialDescription"], "details");
    }

    #[test]
    fn notes_are_kept_in_order_and_found_by_conditions() {
        let cw = ConnectWise::new(credentials(), 3, 1);
        let addr = serve(&cw);
        let id = new_ticket(addr, json!({"summary": "s", "company": {"id": 250}})).json()["id"].clone();
        let notes = format!("/service/tickets/{id}/notes");
        let first = api(
            addr,
            "POST",
            &notes,
            Some(json!({"text": "Disk full [Backplane note 7]", "detailDescriptionFlag": true})),
        );
        assert_eq!(first.status, 201);
        assert_eq!(first.json()["ticketId"], id);
        assert_eq!(first.json()["detailDescriptionFlag"], true);
        assert_eq!(first.json()["resolutionFlag"], false);
        let second = api(
            addr,
            "POST",
            &notes,
            Some(json!({"text": "Second [Backplane note 8]", "internalAnalysisFlag": true})),
        );
        assert_eq!(second.status, 201);
        let empty = api(
            addr,
            "POST",
            &notes,
            Some(json!({"text": " ", "detailDescriptionFlag": true})),
        );
        assert_eq!(empty.status, 400);
        assert_eq!(empty.json()["errors"][0]["field"], "text");
        let unplaced = api(addr, "POST", &notes, Some(json!({"text": "where?"})));
        assert_eq!(unplaced.status, 400);

        let like = format!(
            "{notes}?conditions={}",
            escape(r#"text like "%[Backplane note 7]%""#)
        );
        let found = api(addr, "GET", &like, None).items();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0]["id"], first.json()["id"]);
        let contains = format!("{notes}?conditions={}", escape(r#"text contains "note 8""#));
        assert_eq!(
            api(addr, "GET", &contains, None).items()[0]["id"],
            second.json()["id"]
        );
        assert_eq!(api(addr, "GET", &notes, None).items().len(), 2);

        assert_eq!(api(addr, "GET", "/service/tickets/99999/notes", None).status, 404);
        let nowhere = api(
            addr,
            "POST",
            "/service/tickets/99999/notes",
            Some(json!({"text": "x", "detailDescriptionFlag": true})),
        );
        assert_eq!(nowhere.status, 404);
        let kept = &cw.tickets()[0]["notes"];
        assert_eq!(kept[0]["text"], "Disk full [Backplane note 7]");
        assert_eq!(kept[1]["text"], "Second [Backplane note 8]");
    }

    #[test]
    fn throttling_answers_429_with_retry_after() {
        let cw = ConnectWise::new(credentials(), 3, 1);
        let addr = serve(&cw);
        cw.throttle(2, 30);
        for _ in 0..2 {
            let reply = api(addr, "GET", "/system/info", None);
            assert_eq!(reply.status, 429);
            assert_eq!(reply.header("retry-after"), Some("30"));
            assert_eq!(reply.json()["code"], "TooManyRequests");
        }
        assert_eq!(api(addr, "GET", "/system/info", None).status, 200);
        let control = send(
            addr,
            "POST",
            "/_emulator/throttle?count=1&retry_after=5",
            &[],
            None,
        );
        assert_eq!(control.status, 204);
        assert_eq!(
            api(addr, "GET", "/company/companies", None).header("retry-after"),
            Some("5")
        );
        assert_eq!(api(addr, "GET", "/company/companies", None).status, 200);
    }

    #[test]
    fn outages_lost_answers_and_permissions() {
        let cw = ConnectWise::new(credentials(), 3, 1);
        let addr = serve(&cw);
        assert_eq!(
            send(addr, "POST", "/_emulator/outage?seconds=60", &[], None).status,
            204
        );
        let down = api(addr, "GET", "/system/info", None);
        assert_eq!(down.status, 503);
        assert_eq!(down.json()["code"], "ServiceUnavailable");
        assert_eq!(
            send(addr, "POST", "/_emulator/outage?seconds=0", &[], None).status,
            204
        );
        assert_eq!(api(addr, "GET", "/system/info", None).status, 200);

        assert_eq!(
            send(addr, "POST", "/_emulator/lose-responses?count=1", &[], None).status,
            204
        );
        let lost = new_ticket(addr, json!({"summary": "s", "company": {"id": 250}}));
        assert_eq!(lost.status, 504);
        assert!(lost.body.is_empty());
        assert_eq!(cw.tickets().len(), 1);
        assert_eq!(
            new_ticket(addr, json!({"summary": "s", "company": {"id": 250}})).status,
            201
        );

        cw.deny_permission(true);
        let denied = new_ticket(addr, json!({"summary": "s", "company": {"id": 250}}));
        assert_eq!(denied.status, 403);
        assert_eq!(denied.json()["code"], "Security");
        assert!(
            denied.json()["message"]
                .as_str()
                .unwrap()
                .starts_with("You do not have security permission")
        );
        assert_eq!(api(addr, "GET", "/service/tickets", None).items().len(), 2);
        cw.deny_permission(false);

        let added = send(addr, "POST", "/_emulator/companies?name=New%20Co", &[], None);
        assert_eq!(added.status, 201);
        let company = added.json()["id"].as_i64().unwrap();
        assert_eq!(company, 253);
        assert_eq!(
            send(
                addr,
                "DELETE",
                &format!("/_emulator/companies/{company}"),
                &[],
                None
            )
            .status,
            204
        );
        let gone = new_ticket(addr, json!({"summary": "s", "company": {"id": company}}));
        assert_eq!(gone.json()["errors"][0]["field"], "company");
        let all = send(addr, "GET", "/_emulator/tickets", &[], None).items();
        assert_eq!(all.len(), 2);
        assert!(all[0]["notes"].is_array());
    }
}
