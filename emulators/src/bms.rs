//! Kaseya BMS API v2 (Vorex serves the same API) as the portal uses it (research §3, spec
//! portal-c §5.3):
//!
//! - `POST /v2/security/authenticate` with a form body (`application/x-www-form-urlencoded` or
//!   `multipart/form-data`; field names in any case) of `UserName`, `Password`, `Tenant` (the
//!   MSP's company name, any case) and `GrantType=password`; tokens answered camelCase as
//!   `result.accessToken` (with `refreshToken` and both expiry times). A wrong user, password or
//!   tenant answers **HTTP 200** with `success: false`; a missing `GrantType` answers 400. Access
//!   tokens last [`TOKEN_LIFETIME`] unless configured; `POST /v2/security/refreshtoken`
//!   (`{AccessToken, RefreshToken}`, JSON or form) swaps a pair for a new one;
//! - `Authorization: Bearer` on every other call, 401 when missing, unknown or expired;
//! - the envelope `{"success", "error": {"code", "message", "details"}, "result"}` on every
//!   answer, lists with `totalRecords` (all matches, whatever the page); `error.code` is an
//!   integer, as the swagger's `ErrorInfo` declares;
//! - lookups: accounts (`crm/accounts/lookup` with `Filter.Name` (contains, any case),
//!   `Filter.Ids`, `Filter.WithInactiveAccounts`, `PageSize` up to [`MAX_PAGE_SIZE`] (more is a
//!   400), `PageNumber` from 1; the only way to read one account: the swagger has no GET of
//!   `crm/accounts/{id}`), an account's locations
//!   (a `Main` one, `isMain`, and for every second seeded account a `Branch Office` listed
//!   before it), queues, statuses, priorities; ticket types and sources have no lookup of their
//!   own, only the generic `system/lookup/{tableName}` with the undocumented names
//!   [`TICKET_TYPE_TABLE`] and [`TICKET_SOURCE_TABLE`] (any other table is a 404);
//! - tickets: created by POST (PascalCase input read in any case; `AccountId`, `LocationId`,
//!   `Title` (at most [`TITLE_MAX_CHARS`]), `Details`, `OpenDate`, `StatusId`, `PriorityId`,
//!   `TypeId`, `SourceId` required, each refused by name when missing or unknown; the location
//!   must be the account's, the account active), read by id, searched (`tickets/search`:
//!   `Filter.Title` / `Filter.Details` contains, `Filter.AccountIds`, `Filter.ExcludeCompleted`;
//!   newest first), patched by JSON Patch (`replace` / `add` of `StatusId`, `PriorityId`,
//!   `QueueId`, `Title`); notes under `tickets/{id}/notes` (`Details`, `IsInternal`, `NoteDate`,
//!   `TypeId` required), listed oldest first;
//! - [`HOURLY_LIMIT`] calls per rolling hour per endpoint (method and route pattern), then 429;
//! - paths matched case-insensitively, query parameter names too; unknown routes a bare 404.
//!
//! Faults for tests, under `/_emulator/`: `outage?seconds=N` (503 to every API call, `0`
//! recovers), `lose-responses?count=N` (the next N ticket or note writes are stored, but the
//! answer is a 504 without body), `fail-with-200?count=N` (the next N ticket or note writes
//! answer HTTP 200 with `success: false` and store nothing, as BMS does), `expire-tokens`,
//! `hourly-limit?calls=N`, `accounts?name=X` (POST: adds one, answers its id),
//! `accounts/{id}/deactivate` (POST), and `tickets` (GET: every ticket with its notes).

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, MatchedPath, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use serde_json::{Value, json};

use crate::wire::{header_text, iso_seconds, lowercase_path, now_iso};

/// The most records one page may hold.
pub const MAX_PAGE_SIZE: usize = 100;
/// Records per page when `PageSize` is not given.
pub const DEFAULT_PAGE_SIZE: usize = 10;
/// Calls per rolling hour to one endpoint.
pub const HOURLY_LIMIT: usize = 1_500;
/// The longest ticket title BMS accepts.
pub const TITLE_MAX_CHARS: usize = 200;
/// How long an access token lasts unless [`Bms::set_token_lifetime`] says otherwise.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(3_600);
/// How long a refresh token lasts.
pub const REFRESH_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3_600);
/// The generic lookup table of ticket types (undocumented by Kaseya).
pub const TICKET_TYPE_TABLE: &str = "TicketType";
/// The generic lookup table of ticket sources (undocumented by Kaseya).
pub const TICKET_SOURCE_TABLE: &str = "TicketSource";
/// Ticket types until [`Bms::set_ticket_types`]; ids from [`FIRST_TYPE_ID`], the first default.
pub const TICKET_TYPES: [&str; 3] = ["Alert", "Service Request", "Incident"];
/// Ticket sources until [`Bms::set_ticket_sources`]; ids from [`FIRST_SOURCE_ID`].
pub const TICKET_SOURCES: [&str; 3] = ["Monitoring", "Email", "Phone"];
pub const FIRST_TYPE_ID: i64 = 31;
pub const FIRST_SOURCE_ID: i64 = 41;
const FIRST_ACCOUNT_ID: i64 = 1_001;
const FIRST_LOCATION_ID: i64 = 5_001;
const FIRST_TICKET_ID: i64 = 10_001;
const FIRST_NOTE_ID: i64 = 70_001;

/// Queues: id, name, active.
const QUEUES: [(i64, &str, bool); 4] = [
    (21, "Alerts", true),
    (22, "Help Desk", true),
    (23, "NOC", true),
    (24, "Legacy", false),
];
/// Statuses: id, name, system status, completes the ticket.
const STATUSES: [(i64, &str, bool, bool); 5] = [
    (1, "New", true, false),
    (2, "In Progress", false, false),
    (3, "Waiting", false, false),
    (4, "Completed", true, true),
    (5, "Closed", true, true),
];
/// Priorities: id, name, default.
const PRIORITIES: [(i64, &str, bool); 4] = [
    (11, "Critical", false),
    (12, "High", false),
    (13, "Medium", true),
    (14, "Low", false),
];

/// The credentials the emulated tenant accepts.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    /// The tenant: the MSP's company name in BMS.
    pub tenant: String,
}

#[derive(Debug, Clone)]
struct Account {
    id: i64,
    name: String,
    active: bool,
}

#[derive(Debug, Clone)]
struct Location {
    id: i64,
    account_id: i64,
    name: String,
    main: bool,
}

#[derive(Debug, Default)]
struct Inner {
    accounts: Vec<Account>,
    locations: Vec<Location>,
    tickets: Vec<Value>,
    notes: Vec<Value>,
    types: Vec<String>,
    sources: Vec<String>,
    next_account_id: i64,
    next_location_id: i64,
    next_ticket_id: i64,
    next_note_id: i64,
    tickets_today: u32,
    access_tokens: HashMap<String, Instant>,
    /// Refresh token → (its access token, expiry).
    refresh_tokens: HashMap<String, (String, Instant)>,
    token_lifetime: Duration,
    calls: HashMap<String, VecDeque<Instant>>,
    hourly_limit: usize,
    outage_until: Option<Instant>,
    lose_responses: u32,
    fail_with_200: u32,
    requests: u64,
}

/// One emulated BMS (or Vorex) tenant.
#[derive(Debug, Clone)]
pub struct Bms {
    credentials: Credentials,
    inner: Arc<Mutex<Inner>>,
}

impl Bms {
    /// A tenant with `accounts` active accounts named from `seed`, ids from 1001 upward; every
    /// second one has a branch office besides its main location.
    pub fn new(credentials: Credentials, accounts: usize, seed: u64) -> Bms {
        let bms = Bms {
            credentials,
            inner: Arc::new(Mutex::new(Inner {
                types: TICKET_TYPES.map(String::from).to_vec(),
                sources: TICKET_SOURCES.map(String::from).to_vec(),
                next_account_id: FIRST_ACCOUNT_ID,
                next_location_id: FIRST_LOCATION_ID,
                next_ticket_id: FIRST_TICKET_ID,
                next_note_id: FIRST_NOTE_ID,
                token_lifetime: TOKEN_LIFETIME,
                hourly_limit: HOURLY_LIMIT,
                ..Inner::default()
            })),
        };
        for (i, name) in crate::names::company_names(accounts, seed).iter().enumerate() {
            let id = bms.add_account(name);
            if i % 2 == 1 {
                bms.lock().add_location(id, "Branch Office", false);
            }
        }
        bms
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The credentials this tenant accepts.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// Answers 503 to every API call for `duration`.
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

    /// The next `count` ticket or note writes answer HTTP 200 with `success: false` and store
    /// nothing.
    pub fn fail_with_200(&self, count: u32) {
        self.lock().fail_with_200 = count;
    }

    /// Calls per rolling hour per endpoint, to reach 429 quickly in tests.
    pub fn set_hourly_limit(&self, calls: usize) {
        self.lock().hourly_limit = calls;
    }

    /// How long access tokens issued from now on last.
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        self.lock().token_lifetime = lifetime;
    }

    /// Expires every access token issued so far (refresh tokens stay valid).
    pub fn expire_tokens(&self) {
        let now = Instant::now();
        for expiry in self.lock().access_tokens.values_mut() {
            *expiry = now;
        }
    }

    /// The ticket types of the `TicketType` table, ids from [`FIRST_TYPE_ID`]; none removes
    /// the table (404), as on a BMS without it.
    pub fn set_ticket_types(&self, names: &[&str]) {
        self.lock().types = names.iter().map(|n| n.to_string()).collect();
    }

    /// The ticket sources of the `TicketSource` table, ids from [`FIRST_SOURCE_ID`]; none
    /// removes the table.
    pub fn set_ticket_sources(&self, names: &[&str]) {
        self.lock().sources = names.iter().map(|n| n.to_string()).collect();
    }

    /// API calls received, refused ones included.
    pub fn requests(&self) -> u64 {
        self.lock().requests
    }

    /// Adds an active account with its main location; answers the account's id.
    pub fn add_account(&self, name: &str) -> i64 {
        let mut inner = self.lock();
        let id = inner.next_account_id;
        inner.next_account_id += 1;
        inner.accounts.push(Account {
            id,
            name: name.to_owned(),
            active: true,
        });
        inner.add_location(id, "Main", true);
        id
    }

    /// Marks an account inactive; answers whether it exists.
    pub fn deactivate_account(&self, id: i64) -> bool {
        let mut inner = self.lock();
        let account = inner.accounts.iter_mut().find(|a| a.id == id);
        account.map(|a| a.active = false).is_some()
    }

    /// Every ticket, oldest first, each with `notes` (oldest first).
    pub fn tickets(&self) -> Vec<Value> {
        let inner = self.lock();
        let with_notes = |ticket: &Value| {
            let mut ticket = ticket.clone();
            ticket["notes"] = Value::Array(inner.notes_of(ticket["id"].as_i64().unwrap_or_default()));
            ticket
        };
        inner.tickets.iter().map(with_notes).collect()
    }

    pub fn router(&self) -> Router {
        let site = Router::new()
            .route("/v2/security/authenticate", post(authenticate))
            .route("/v2/security/refreshtoken", post(refresh_token))
            .route("/v2/crm/accounts/lookup", get(account_lookup))
            .route(
                "/v2/crm/accounts/{account}/locations/lookup",
                get(location_lookup),
            )
            .route("/v2/system/queues/lookup", get(queue_lookup))
            .route("/v2/system/statuses/lookup", get(status_lookup))
            .route("/v2/system/priorities/lookup", get(priority_lookup))
            .route("/v2/system/lookup/{table}", get(table_lookup))
            .route("/v2/servicedesk/tickets", post(create_ticket))
            .route("/v2/servicedesk/tickets/search", post(search_tickets))
            .route(
                "/v2/servicedesk/tickets/{ticket}",
                get(ticket_by_id).patch(patch_ticket),
            )
            .route(
                "/v2/servicedesk/tickets/{ticket}/notes",
                get(ticket_notes).post(create_note),
            )
            .route("/_emulator/{action}", post(control))
            .route("/_emulator/accounts/{id}/deactivate", post(retire_account))
            .route("/_emulator/tickets", get(all_tickets))
            .with_state(self.clone());
        // BMS's paths are case-insensitive (ASP.NET routing); route them all.
        Router::new()
            .fallback_service(site)
            .layer(axum::middleware::map_request(lowercase_path))
    }

    /// Outage, bearer token (when `bearer`), then the endpoint's hourly budget.
    fn admit(&self, parts: &Parts, bearer: bool) -> Result<(), Refusal> {
        let mut inner = self.lock();
        inner.requests += 1;
        let now = Instant::now();
        if inner.outage_until.is_some_and(|until| now < until) {
            return Err(Refusal::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "The service is temporarily unavailable.",
            ));
        }
        if bearer {
            inner.check_bearer(&parts.headers, now)?;
        }
        let route = parts
            .extensions
            .get::<MatchedPath>()
            .map_or(parts.uri.path(), MatchedPath::as_str);
        inner.count_call(&format!("{} {route}", parts.method), now)
    }
}

impl Inner {
    fn add_location(&mut self, account_id: i64, name: &str, main: bool) {
        let id = self.next_location_id;
        self.next_location_id += 1;
        self.locations.push(Location {
            id,
            account_id,
            name: name.to_owned(),
            main,
        });
    }

    fn account(&self, id: i64) -> Option<&Account> {
        self.accounts.iter().find(|a| a.id == id)
    }

    fn notes_of(&self, ticket_id: i64) -> Vec<Value> {
        let notes = self.notes.iter().filter(|n| n["ticketId"] == ticket_id);
        notes.cloned().collect()
    }

    fn check_bearer(&self, headers: &HeaderMap, now: Instant) -> Result<(), Refusal> {
        let given = header_text(headers, header::AUTHORIZATION.as_str()).trim();
        let token = given
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim());
        match token.and_then(|t| self.access_tokens.get(t)) {
            Some(expiry) if now < *expiry => Ok(()),
            Some(_) => Err(Refusal::unauthorized("The access token has expired.")),
            None => Err(Refusal::unauthorized(
                "Unauthorized: a valid bearer token is required.",
            )),
        }
    }

    /// Counts a call to `endpoint`, refusing it beyond the hourly limit.
    fn count_call(&mut self, endpoint: &str, now: Instant) -> Result<(), Refusal> {
        let limit = self.hourly_limit;
        let recent = self.calls.entry(endpoint.to_owned()).or_default();
        while recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(3_600))
        {
            recent.pop_front();
        }
        if recent.len() >= limit {
            return Err(Refusal::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!("API rate limit exceeded: at most {limit} calls per hour to this endpoint."),
            ));
        }
        recent.push_back(now);
        Ok(())
    }

    /// A new token pair, answered as BMS's `TokenOutputDto`.
    fn issue_tokens(&mut self) -> Value {
        let (access, refresh) = (random_token(), random_token());
        let now = Instant::now();
        let lifetime = self.token_lifetime;
        self.access_tokens.insert(access.clone(), now + lifetime);
        self.refresh_tokens
            .insert(refresh.clone(), (access.clone(), now + REFRESH_TOKEN_LIFETIME));
        json!({"accessToken": access, "refreshToken": refresh,
               "accessTokenExpireOn": iso_in(lifetime),
               "refreshTokenExpireOn": iso_in(REFRESH_TOKEN_LIFETIME)})
    }

    /// A pending `fail_with_200` fault, consumed.
    fn fail_once(&mut self) -> Result<(), Refusal> {
        if self.fail_with_200 == 0 {
            return Ok(());
        }
        self.fail_with_200 -= 1;
        Err(Refusal {
            status: StatusCode::OK,
            code: 500,
            message: "An unexpected error occurred. Please try again later.".into(),
        })
    }

    /// A stored write's answer: the result, or a bodiless 504 when the answer is to be lost.
    fn written(&mut self, result: Value) -> Answer {
        if self.lose_responses > 0 {
            self.lose_responses -= 1;
            return Ok(StatusCode::GATEWAY_TIMEOUT.into_response());
        }
        ok(result)
    }

    fn table(&self, name: &str) -> Option<(&[String], i64)> {
        if name.eq_ignore_ascii_case(TICKET_TYPE_TABLE) {
            Some((self.types.as_slice(), FIRST_TYPE_ID))
        } else if name.eq_ignore_ascii_case(TICKET_SOURCE_TABLE) {
            Some((self.sources.as_slice(), FIRST_SOURCE_ID))
        } else {
            None
        }
        .filter(|(rows, _)| !rows.is_empty())
    }

    fn type_name(&self, id: i64) -> Option<&str> {
        let index = usize::try_from(id - FIRST_TYPE_ID).ok()?;
        self.types.get(index).map(String::as_str)
    }

    fn source_known(&self, id: i64) -> bool {
        usize::try_from(id - FIRST_SOURCE_ID).is_ok_and(|i| i < self.sources.len())
    }

    fn store_ticket(&mut self, mut ticket: Value) -> Value {
        let id = self.next_ticket_id;
        self.next_ticket_id += 1;
        self.tickets_today += 1;
        let today: String = now_iso()[..10].chars().filter(|c| *c != '-').collect();
        ticket["id"] = json!(id);
        ticket["ticketNumber"] = json!(format!("T{today}.{:04}", self.tickets_today % 10_000));
        self.tickets.push(ticket.clone());
        ticket
    }
}

/// A call admitted with a valid bearer token, counted against its endpoint's budget.
struct Caller;

impl FromRequestParts<Bms> for Caller {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, bms: &Bms) -> Result<Caller, Refusal> {
        bms.admit(parts, true).map(|()| Caller)
    }
}

/// A call to the security endpoints: no token needed, but outages and the budget apply.
struct Anonymous;

impl FromRequestParts<Bms> for Anonymous {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, bms: &Bms) -> Result<Anonymous, Refusal> {
        bms.admit(parts, false).map(|()| Anonymous)
    }
}

// ---- Answers ----

/// A failure in BMS's envelope: `success: false`, `error: {code, message}`, `result: null`.
#[derive(Debug)]
struct Refusal {
    status: StatusCode,
    code: i64,
    message: String,
}

impl Refusal {
    fn new(status: StatusCode, message: impl Into<String>) -> Refusal {
        Refusal {
            status,
            code: i64::from(status.as_u16()),
            message: message.into(),
        }
    }

    fn invalid(message: impl Into<String>) -> Refusal {
        Refusal::new(StatusCode::BAD_REQUEST, message)
    }

    fn not_found(message: impl Into<String>) -> Refusal {
        Refusal::new(StatusCode::NOT_FOUND, message)
    }

    fn unauthorized(message: impl Into<String>) -> Refusal {
        Refusal::new(StatusCode::UNAUTHORIZED, message)
    }

    /// A login refused the BMS way: HTTP 200 with `success: false`.
    fn login(message: impl Into<String>) -> Refusal {
        Refusal {
            status: StatusCode::OK,
            code: 401,
            message: message.into(),
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let error = json!({"code": self.code, "message": self.message, "details": null});
        let body = json!({"success": false, "error": error, "result": null});
        (self.status, axum::Json(body)).into_response()
    }
}

type Answer = Result<Response, Refusal>;

fn ok(result: Value) -> Answer {
    Ok(axum::Json(json!({"success": true, "error": null, "result": result})).into_response())
}

/// One page of `rows`, with `totalRecords` counting them all.
fn ok_page(rows: Vec<Value>, page: Page) -> Answer {
    let total = rows.len();
    let start = page.size.saturating_mul(page.number - 1);
    let items: Vec<Value> = rows.into_iter().skip(start).take(page.size).collect();
    let body = json!({"success": true, "error": null, "result": items, "totalRecords": total});
    Ok(axum::Json(body).into_response())
}

fn ok_list(rows: Vec<Value>) -> Answer {
    ok_page(rows, Page::all())
}

// ---- Reading requests ----

/// A member of a JSON object, whatever its casing, unless null.
fn field<'a>(value: &'a Value, name: &str) -> Option<&'a Value> {
    let object = value.as_object()?;
    let found = object.iter().find(|(k, _)| k.eq_ignore_ascii_case(name));
    found.map(|(_, v)| v).filter(|v| !v.is_null())
}

fn json_body(body: &[u8]) -> Result<Value, Refusal> {
    serde_json::from_slice(body)
        .map_err(|e| Refusal::invalid(format!("The request body is not valid JSON: {e}")))
}

/// `name=value&…` pairs, decoded.
fn url_pairs(text: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(text.as_bytes()).into_owned().collect()
}

/// The parts of a `multipart/form-data` body that carry a `name`.
fn multipart_pairs(body: &str, boundary: &str) -> Vec<(String, String)> {
    let part_of = |part: &str| {
        let (head, value) = part.strip_prefix("\r\n")?.split_once("\r\n\r\n")?;
        let disposition = head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition"))?;
        let name = disposition
            .split(';')
            .find_map(|p| p.trim().strip_prefix("name="))?
            .trim_matches('"');
        Some((
            name.to_owned(),
            value.strip_suffix("\r\n").unwrap_or(value).to_owned(),
        ))
    };
    body.split(&format!("--{boundary}")).filter_map(part_of).collect()
}

/// A form body, URL-encoded or multipart (the swagger says multipart, clients send either).
fn form_pairs(headers: &HeaderMap, body: &[u8]) -> Result<Vec<(String, String)>, Refusal> {
    let content_type = header_text(headers, header::CONTENT_TYPE.as_str());
    let text = String::from_utf8_lossy(body);
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match media.as_str() {
        "application/x-www-form-urlencoded" => Ok(url_pairs(&text)),
        "multipart/form-data" => {
            let boundary = content_type
                .split(';')
                .find_map(|p| p.trim().strip_prefix("boundary="))
                .map(|b| b.trim_matches('"'))
                .ok_or_else(|| Refusal::invalid("Missing content-type boundary."))?;
            Ok(multipart_pairs(&text, boundary))
        }
        _ => Err(Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported media type: a form is expected.",
        )),
    }
}

/// A named value of form or query pairs, whatever its casing; empty counts as absent.
fn pair<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    let found = pairs.iter().find(|(k, _)| k.eq_ignore_ascii_case(name));
    found.map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
}

fn query_pairs(uri: &Uri) -> Vec<(String, String)> {
    url_pairs(uri.query().unwrap_or(""))
}

fn parse_param<T: std::str::FromStr>(pairs: &[(String, String)], name: &str) -> Result<Option<T>, Refusal> {
    let Some(text) = pair(pairs, name) else {
        return Ok(None);
    };
    let parsed = text.trim().to_ascii_lowercase().parse();
    parsed
        .map(Some)
        .map_err(|_| Refusal::invalid(format!("The value '{text}' is not valid for {name}.")))
}

/// An id from the path; anything else is refused as ASP.NET's model binding does.
fn id_of(text: &str) -> Result<i64, Refusal> {
    text.parse()
        .map_err(|_| Refusal::invalid(format!("The value '{text}' is not valid.")))
}

/// A page request: `PageSize` from 1 to [`MAX_PAGE_SIZE`], `PageNumber` from 1.
#[derive(Debug, Clone, Copy)]
struct Page {
    size: usize,
    number: usize,
}

impl Page {
    fn all() -> Page {
        Page {
            size: usize::MAX,
            number: 1,
        }
    }

    fn of(size: Option<i64>, number: Option<i64>) -> Result<Page, Refusal> {
        let size = size.unwrap_or(DEFAULT_PAGE_SIZE as i64);
        if !(1..=MAX_PAGE_SIZE as i64).contains(&size) {
            return Err(Refusal::invalid(format!(
                "PageSize must be between 1 and {MAX_PAGE_SIZE}."
            )));
        }
        let number = number.unwrap_or(1);
        if number < 1 {
            return Err(Refusal::invalid("PageNumber must be 1 or more."));
        }
        Ok(Page {
            size: size as usize,
            number: number as usize,
        })
    }
}

/// Whether `text` starts as an ISO 8601 date (`yyyy-mm-dd`), optionally with a time.
fn is_iso_date(text: &str) -> bool {
    let bytes = text.as_bytes();
    let digits =
        |range: std::ops::Range<usize>| bytes.get(range).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let number =
        |range: std::ops::Range<usize>| text.get(range).and_then(|t| t.parse::<u32>().ok()).unwrap_or(0);
    digits(0..4)
        && bytes.get(4) == Some(&b'-')
        && (1..=12).contains(&number(5..7))
        && bytes.get(7) == Some(&b'-')
        && (1..=31).contains(&number(8..10))
        && digits(5..7)
        && digits(8..10)
        && matches!(bytes.get(10), None | Some(b'T' | b't' | b' '))
}

fn required<'a>(body: &'a Value, name: &str) -> Result<&'a Value, Refusal> {
    field(body, name).ok_or_else(|| Refusal::invalid(format!("{name} is required")))
}

fn required_id(body: &Value, name: &str) -> Result<i64, Refusal> {
    let value = required(body, name)?;
    value
        .as_i64()
        .ok_or_else(|| Refusal::invalid(format!("{name} must be an integer")))
}

fn optional_id(body: &Value, name: &str) -> Result<Option<i64>, Refusal> {
    match field(body, name) {
        None => Ok(None),
        Some(_) => required_id(body, name).map(Some),
    }
}

fn required_text(body: &Value, name: &str) -> Result<String, Refusal> {
    match required(body, name)?.as_str() {
        Some(text) if !text.trim().is_empty() => Ok(text.to_owned()),
        Some(_) => Err(Refusal::invalid(format!("{name} is required"))),
        None => Err(Refusal::invalid(format!("{name} must be a string"))),
    }
}

fn required_date(body: &Value, name: &str) -> Result<String, Refusal> {
    let text = required_text(body, name)?;
    if !is_iso_date(&text) {
        return Err(Refusal::invalid(format!("{name} is not a valid date: {text}")));
    }
    Ok(text)
}

fn optional_date(body: &Value, name: &str) -> Result<Option<String>, Refusal> {
    match field(body, name).and_then(Value::as_str) {
        None | Some("") => Ok(None),
        Some(_) => required_date(body, name).map(Some),
    }
}

fn check_title(title: &str) -> Result<(), Refusal> {
    if title.chars().count() > TITLE_MAX_CHARS {
        return Err(Refusal::invalid(format!(
            "Title must be at most {TITLE_MAX_CHARS} characters"
        )));
    }
    Ok(())
}

// ---- Security ----

async fn authenticate(State(bms): State<Bms>, _: Anonymous, headers: HeaderMap, body: Bytes) -> Answer {
    let form = form_pairs(&headers, &body)?;
    let grant = pair(&form, "GrantType").ok_or_else(|| Refusal::invalid("GrantType is required"))?;
    if !grant.eq_ignore_ascii_case("password") {
        return Err(Refusal::invalid(format!("GrantType '{grant}' is not supported")));
    }
    let c = &bms.credentials;
    let tenant = pair(&form, "Tenant").unwrap_or("");
    if !tenant.trim().eq_ignore_ascii_case(c.tenant.trim()) {
        return Err(Refusal::login(format!("Tenant '{tenant}' was not found")));
    }
    let user_ok = pair(&form, "UserName").is_some_and(|u| u.eq_ignore_ascii_case(&c.username));
    if !user_ok || pair(&form, "Password") != Some(c.password.as_str()) {
        return Err(Refusal::login("Invalid username or password"));
    }
    ok(bms.lock().issue_tokens())
}

/// `{AccessToken, RefreshToken}` (JSON, or a form as the swagger says): a new pair for the old.
async fn refresh_token(State(bms): State<Bms>, _: Anonymous, headers: HeaderMap, body: Bytes) -> Answer {
    let (access, refresh) = match form_pairs(&headers, &body) {
        Ok(form) => (
            pair(&form, "AccessToken").map(str::to_owned),
            pair(&form, "RefreshToken").map(str::to_owned),
        ),
        Err(_) => {
            let json = json_body(&body)?;
            let text = |name| field(&json, name).and_then(Value::as_str).map(str::to_owned);
            (text("AccessToken"), text("RefreshToken"))
        }
    };
    let access = access.ok_or_else(|| Refusal::invalid("AccessToken is required"))?;
    let refresh = refresh.ok_or_else(|| Refusal::invalid("RefreshToken is required"))?;
    let mut inner = bms.lock();
    let valid = inner
        .refresh_tokens
        .get(&refresh)
        .is_some_and(|(paired, expiry)| *paired == access && Instant::now() < *expiry);
    if !valid {
        return Err(Refusal::login("Invalid or expired refresh token"));
    }
    inner.refresh_tokens.remove(&refresh);
    inner.access_tokens.remove(&access);
    ok(inner.issue_tokens())
}

// ---- Lookups ----

fn account_json(account: &Account, tenant: &str) -> Value {
    json!({"id": account.id, "name": account.name, "tenantName": tenant, "isActive": account.active})
}

/// `Filter.Name` (contains, any case), `Filter.Ids`, `Filter.WithInactiveAccounts`, paged.
async fn account_lookup(State(bms): State<Bms>, _: Caller, uri: Uri) -> Answer {
    let query = query_pairs(&uri);
    let name = pair(&query, "Filter.Name").map(str::to_lowercase);
    let inactive = parse_param::<bool>(&query, "Filter.WithInactiveAccounts")?.unwrap_or(false);
    let ids = query
        .iter()
        .filter(|(k, v)| k.eq_ignore_ascii_case("Filter.Ids") && !v.is_empty())
        .map(|(_, v)| id_of(v))
        .collect::<Result<Vec<i64>, Refusal>>()?;
    let page = Page::of(
        parse_param(&query, "PageSize")?,
        parse_param(&query, "PageNumber")?,
    )?;
    let inner = bms.lock();
    let mut found: Vec<&Account> = inner
        .accounts
        .iter()
        .filter(|a| inactive || a.active)
        .filter(|a| ids.is_empty() || ids.contains(&a.id))
        .filter(|a| name.as_ref().is_none_or(|n| a.name.to_lowercase().contains(n)))
        .collect();
    found.sort_by(|a, b| {
        a.name
            .to_lowercase()
            .cmp(&b.name.to_lowercase())
            .then(a.id.cmp(&b.id))
    });
    let rows = found
        .into_iter()
        .map(|a| account_json(a, &bms.credentials.tenant))
        .collect();
    ok_page(rows, page)
}

/// The account's locations by name (so a branch office may come before the main one).
async fn location_lookup(State(bms): State<Bms>, _: Caller, Path(account): Path<String>) -> Answer {
    let id = id_of(&account)?;
    let inner = bms.lock();
    if inner.account(id).is_none() {
        return Err(Refusal::not_found(format!("Account {id} was not found")));
    }
    let mut locations: Vec<&Location> = inner.locations.iter().filter(|l| l.account_id == id).collect();
    locations.sort_by(|a, b| a.name.cmp(&b.name));
    let row =
        |l: &&Location| json!({"id": l.id, "name": l.name, "accountId": l.account_id, "isMain": l.main});
    ok_list(locations.iter().map(row).collect())
}

async fn queue_lookup(_: Caller) -> Answer {
    let row = |(id, name, active): &(i64, &str, bool)| json!({"id": id, "name": name, "isActive": active});
    ok_list(QUEUES.iter().map(row).collect())
}

async fn status_lookup(_: Caller) -> Answer {
    let row = |(id, name, system, _): &(i64, &str, bool, bool)| {
        json!({"id": id, "name": name, "isActive": true,
               "isSystemStatus": system, "statusOrder": id})
    };
    ok_list(STATUSES.iter().map(row).collect())
}

async fn priority_lookup(_: Caller) -> Answer {
    let row = |(id, name, default): &(i64, &str, bool)| json!({"id": id, "name": name, "isDefault": default});
    ok_list(PRIORITIES.iter().map(row).collect())
}

/// The generic lookup: only the ticket type and source tables exist here.
async fn table_lookup(State(bms): State<Bms>, _: Caller, Path(table): Path<String>) -> Answer {
    let inner = bms.lock();
    let (names, first_id) = inner
        .table(&table)
        .ok_or_else(|| Refusal::not_found(format!("Lookup table '{table}' was not found")))?;
    let row = |(i, name): (usize, &String)| {
        json!({"id": first_id + i as i64, "name": name,
               "isDefault": i == 0, "isActive": true})
    };
    ok_list(names.iter().enumerate().map(row).collect())
}

// ---- Tickets ----

fn status_of(id: i64) -> Option<&'static (i64, &'static str, bool, bool)> {
    STATUSES.iter().find(|s| s.0 == id)
}

fn priority_name(id: i64) -> Option<&'static str> {
    PRIORITIES.iter().find(|p| p.0 == id).map(|p| p.1)
}

/// An active queue's name.
fn queue_name(id: i64) -> Option<&'static str> {
    QUEUES.iter().find(|q| q.0 == id && q.2).map(|q| q.1)
}

fn unknown(name: &str, id: i64) -> Refusal {
    Refusal::invalid(format!("{name} {id} was not found"))
}

/// A ticket's fields as `TicketInputDto` requires them, each refused by name.
struct TicketInput {
    account: i64,
    location: i64,
    title: String,
    details: String,
    open_date: String,
    status: i64,
    priority: i64,
    type_id: i64,
    source: i64,
    queue: Option<i64>,
    due_date: Option<String>,
}

impl TicketInput {
    fn read(body: &Value) -> Result<TicketInput, Refusal> {
        if !body.is_object() {
            return Err(Refusal::invalid("The ticket must be a JSON object."));
        }
        Ok(TicketInput {
            account: required_id(body, "AccountId")?,
            location: required_id(body, "LocationId")?,
            title: required_text(body, "Title")?,
            details: required_text(body, "Details")?,
            open_date: required_date(body, "OpenDate")?,
            status: required_id(body, "StatusId")?,
            priority: required_id(body, "PriorityId")?,
            type_id: required_id(body, "TypeId")?,
            source: required_id(body, "SourceId")?,
            queue: optional_id(body, "QueueId")?,
            due_date: optional_date(body, "DueDate")?,
        })
    }

    /// The ticket as BMS answers it (without id and number), once every reference is checked.
    fn ticket(&self, inner: &Inner) -> Result<Value, Refusal> {
        let account = inner
            .account(self.account)
            .ok_or_else(|| unknown("AccountId", self.account))?;
        if !account.active {
            return Err(Refusal::invalid(format!("Account {} is inactive", account.id)));
        }
        let location = inner.locations.iter().find(|l| l.id == self.location);
        let location = location.ok_or_else(|| unknown("LocationId", self.location))?;
        if location.account_id != account.id {
            return Err(Refusal::invalid(format!(
                "LocationId {} does not belong to account {}",
                location.id, account.id
            )));
        }
        check_title(&self.title)?;
        let status = status_of(self.status).ok_or_else(|| unknown("StatusId", self.status))?;
        let priority = priority_name(self.priority).ok_or_else(|| unknown("PriorityId", self.priority))?;
        let type_name = inner
            .type_name(self.type_id)
            .ok_or_else(|| unknown("TypeId", self.type_id))?;
        if !inner.source_known(self.source) {
            return Err(unknown("SourceId", self.source));
        }
        let queue = self
            .queue
            .map(|q| queue_name(q).ok_or_else(|| unknown("QueueId", q)))
            .transpose()?;
        let now = now_iso();
        Ok(json!({
            "title": self.title, "details": self.details,
            "accountId": account.id, "accountName": account.name,
            "locationId": location.id, "locationName": location.name,
            "statusId": status.0, "statusName": status.1,
            "priorityId": self.priority, "priorityName": priority,
            "queueId": self.queue, "queueName": queue, "typeId": self.type_id, "typeName": type_name,
            "sourceId": self.source, "openDate": self.open_date, "dueDate": self.due_date,
            "createdOn": now, "modifiedOn": now,
        }))
    }
}

async fn create_ticket(State(bms): State<Bms>, _: Caller, body: Bytes) -> Answer {
    let input = TicketInput::read(&json_body(&body)?)?;
    let mut inner = bms.lock();
    let ticket = input.ticket(&inner)?;
    inner.fail_once()?;
    let stored = inner.store_ticket(ticket);
    inner.written(stored)
}

fn ticket_index(inner: &Inner, text: &str) -> Result<usize, Refusal> {
    let id = id_of(text)?;
    let found = inner.tickets.iter().position(|t| t["id"] == id);
    found.ok_or_else(|| Refusal::not_found(format!("Ticket {id} was not found")))
}

async fn ticket_by_id(State(bms): State<Bms>, _: Caller, Path(ticket): Path<String>) -> Answer {
    let inner = bms.lock();
    let index = ticket_index(&inner, &ticket)?;
    ok(inner.tickets[index].clone())
}

/// `Filter.Title` / `Filter.Details` (contains, any case), `Filter.AccountIds`,
/// `Filter.ExcludeCompleted` (0/1 or a boolean).
fn search_keeps(filter: Option<&Value>, ticket: &Value) -> bool {
    let Some(filter) = filter else {
        return true;
    };
    let contains = |name: &str, key: &str| {
        let wanted = field(filter, name).and_then(Value::as_str).map(str::to_lowercase);
        wanted.is_none_or(|w| {
            ticket[key]
                .as_str()
                .is_some_and(|t| t.to_lowercase().contains(&w))
        })
    };
    let accounts = field(filter, "AccountIds")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty());
    let in_accounts = accounts.is_none_or(|ids| ids.contains(&ticket["accountId"]));
    let exclude =
        field(filter, "ExcludeCompleted").is_some_and(|v| v.as_bool() == Some(true) || v.as_i64() == Some(1));
    let completed = ticket["statusId"]
        .as_i64()
        .and_then(status_of)
        .is_some_and(|s| s.3);
    contains("Title", "title") && contains("Details", "details") && in_accounts && !(exclude && completed)
}

async fn search_tickets(State(bms): State<Bms>, _: Caller, body: Bytes) -> Answer {
    let search = json_body(&body)?;
    let number = |name| {
        field(&search, name)
            .map(|v| {
                v.as_i64()
                    .ok_or_else(|| Refusal::invalid(format!("{name} must be an integer")))
            })
            .transpose()
    };
    let page = Page::of(number("PageSize")?, number("PageNumber")?)?;
    let filter = field(&search, "Filter");
    let inner = bms.lock();
    let rows = inner
        .tickets
        .iter()
        .rev()
        .filter(|t| search_keeps(filter, t))
        .cloned()
        .collect();
    ok_page(rows, page)
}

/// One JSON Patch operation applied to `ticket`.
fn apply_operation(ticket: &mut Value, operation: &Value) -> Result<(), Refusal> {
    let op = field(operation, "op").and_then(Value::as_str).unwrap_or("");
    if !op.eq_ignore_ascii_case("replace") && !op.eq_ignore_ascii_case("add") {
        return Err(Refusal::invalid(format!(
            "The JSON patch operation '{op}' is not supported."
        )));
    }
    let path = field(operation, "path").and_then(Value::as_str).unwrap_or("");
    let target = path.trim_start_matches('/').to_ascii_lowercase();
    let value = field(operation, "value").cloned().unwrap_or(Value::Null);
    let id = || {
        value
            .as_i64()
            .ok_or_else(|| Refusal::invalid(format!("The value for {path} must be an integer.")))
    };
    match target.as_str() {
        "statusid" => {
            let status = id()?;
            let status = status_of(status).ok_or_else(|| unknown("StatusId", status))?;
            ticket["statusId"] = json!(status.0);
            ticket["statusName"] = json!(status.1);
        }
        "priorityid" => {
            let priority = id()?;
            let name = priority_name(priority).ok_or_else(|| unknown("PriorityId", priority))?;
            ticket["priorityId"] = json!(priority);
            ticket["priorityName"] = json!(name);
        }
        "queueid" if value.is_null() => {
            ticket["queueId"] = Value::Null;
            ticket["queueName"] = Value::Null;
        }
        "queueid" => {
            let queue = id()?;
            ticket["queueName"] = json!(queue_name(queue).ok_or_else(|| unknown("QueueId", queue))?);
            ticket["queueId"] = json!(queue);
        }
        "title" => {
            let title = value.as_str().filter(|t| !t.trim().is_empty());
            let title = title.ok_or_else(|| Refusal::invalid("Title is required"))?;
            check_title(title)?;
            ticket["title"] = json!(title);
        }
        _ => {
            return Err(Refusal::invalid(format!(
                "The target location specified by path segment '{}' was not found.",
                path.trim_start_matches('/')
            )));
        }
    }
    Ok(())
}

/// JSON Patch (`application/json-patch+json` or JSON): all operations apply, or none.
async fn patch_ticket(State(bms): State<Bms>, _: Caller, Path(ticket): Path<String>, body: Bytes) -> Answer {
    let operations = json_body(&body)?;
    let operations = operations
        .as_array()
        .filter(|ops| !ops.is_empty())
        .ok_or_else(|| Refusal::invalid("The patch must be a non-empty array of operations."))?;
    let mut inner = bms.lock();
    let index = ticket_index(&inner, &ticket)?;
    let mut patched = inner.tickets[index].clone();
    for operation in operations {
        apply_operation(&mut patched, operation)?;
    }
    inner.fail_once()?;
    patched["modifiedOn"] = json!(now_iso());
    inner.tickets[index] = patched.clone();
    inner.written(patched)
}

async fn ticket_notes(State(bms): State<Bms>, _: Caller, Path(ticket): Path<String>) -> Answer {
    let inner = bms.lock();
    let index = ticket_index(&inner, &ticket)?;
    ok_list(inner.notes_of(inner.tickets[index]["id"].as_i64().unwrap_or_default()))
}

/// `Details`, `IsInternal`, `NoteDate` and `TypeId` (0 or more), all required.
async fn create_note(State(bms): State<Bms>, _: Caller, Path(ticket): Path<String>, body: Bytes) -> Answer {
    let body = json_body(&body)?;
    let details = required_text(&body, "Details")?;
    let internal = required(&body, "IsInternal")?;
    let internal = internal
        .as_bool()
        .ok_or_else(|| Refusal::invalid("IsInternal must be a boolean"))?;
    let note_date = required_date(&body, "NoteDate")?;
    let type_id = required_id(&body, "TypeId")?;
    if type_id < 0 {
        return Err(Refusal::invalid("TypeId must be 0 or more"));
    }
    let mut inner = bms.lock();
    let index = ticket_index(&inner, &ticket)?;
    inner.fail_once()?;
    let ticket_id = inner.tickets[index]["id"].clone();
    let id = inner.next_note_id;
    inner.next_note_id += 1;
    let note = json!({"id": id, "ticketId": ticket_id, "details": details, "isInternal": internal,
                      "noteDate": note_date, "typeId": type_id, "createdOn": now_iso()});
    inner.notes.push(note.clone());
    inner.written(note)
}

// ---- Control routes ----

/// `POST /_emulator/{action}?…`: `outage?seconds=N` (0 recovers), `lose-responses?count=N`,
/// `fail-with-200?count=N`, `expire-tokens`, `hourly-limit?calls=N`, `accounts?name=X`.
async fn control(
    State(bms): State<Bms>,
    Path(action): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let number = |name: &str| q.get(name).and_then(|v| v.parse::<u64>().ok());
    let count = || number("count").map(|n| u32::try_from(n).unwrap_or(u32::MAX));
    match (action.as_str(), q.get("name")) {
        ("outage", _) if number("seconds") == Some(0) => bms.recover(),
        ("outage", _) if let Some(seconds) = number("seconds") => bms.outage(Duration::from_secs(seconds)),
        ("lose-responses", _) if let Some(count) = count() => bms.lose_responses(count),
        ("fail-with-200", _) if let Some(count) = count() => bms.fail_with_200(count),
        ("expire-tokens", _) => bms.expire_tokens(),
        ("hourly-limit", _) if let Some(calls) = number("calls") => bms.set_hourly_limit(calls as usize),
        ("accounts", Some(name)) => {
            let id = bms.add_account(name);
            return (StatusCode::CREATED, axum::Json(json!({ "id": id }))).into_response();
        }
        _ => return StatusCode::BAD_REQUEST.into_response(),
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn retire_account(State(bms): State<Bms>, Path(id): Path<i64>) -> StatusCode {
    if bms.deactivate_account(id) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}

async fn all_tickets(State(bms): State<Bms>) -> axum::Json<Value> {
    axum::Json(Value::Array(bms.tickets()))
}

// ---- Small utilities ----

/// 64 hex digits no one can guess from the previous ones.
fn random_token() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    (0..4)
        .map(|_| {
            let mut hasher = RandomState::new().build_hasher();
            hasher.write_u128(nanos);
            hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
            format!("{:016x}", hasher.finish())
        })
        .collect()
}

/// UTC `after` from now, as BMS writes timestamps.
fn iso_in(after: Duration) -> String {
    let after = chrono::Duration::from_std(after).unwrap_or_default();
    iso_seconds(Utc::now() + after)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{SocketAddr, TcpStream};

    const FORM: &str = "application/x-www-form-urlencoded";
    const LOGIN: &str = "UserName=api%40msp.example&Password=s3cret%26pass&Tenant=Backplane%20MSP";

    fn credentials() -> Credentials {
        Credentials {
            username: "api@msp.example".into(),
            password: "s3cret&pass".into(),
            tenant: "Backplane MSP".into(),
        }
    }

    /// A tenant with `accounts` accounts served on a port of its own, on a thread of its own.
    fn serve(accounts: usize) -> (Bms, SocketAddr) {
        let bms = Bms::new(credentials(), accounts, 1);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let router = bms.router();
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
        (bms, addr)
    }

    struct Reply {
        status: u16,
        body: String,
    }

    impl Reply {
        fn json(&self) -> Value {
            serde_json::from_str(&self.body).unwrap_or(Value::Null)
        }

        fn result(&self) -> Value {
            self.json()["result"].clone()
        }

        fn items(&self) -> Vec<Value> {
            self.result().as_array().cloned().unwrap_or_default()
        }

        fn message(&self) -> String {
            self.json()["error"]["message"].as_str().unwrap_or("").to_owned()
        }

        /// The HTTP status and the envelope's `success`.
        fn outcome(&self) -> (u16, Value) {
            (self.status, self.json()["success"].clone())
        }
    }

    /// One HTTP/1.1 exchange on a fresh connection.
    fn send(addr: SocketAddr, method: &str, target: &str, token: Option<&str>, body: (&str, &str)) -> Reply {
        let (content_type, body) = body;
        let bearer = token
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        let request = format!(
            "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{bearer}\
             Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut raw = String::new();
        stream.read_to_string(&mut raw).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap();
        let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        Reply {
            status,
            body: body.to_owned(),
        }
    }

    fn control(addr: SocketAddr, target: &str) -> Reply {
        send(addr, "POST", target, None, ("application/json", ""))
    }

    fn authenticate(addr: SocketAddr, content_type: &str, body: &str) -> Reply {
        send(
            addr,
            "POST",
            "/v2/security/authenticate",
            None,
            (content_type, body),
        )
    }

    fn login(addr: SocketAddr) -> String {
        let reply = authenticate(addr, FORM, &format!("{LOGIN}&GrantType=password"));
        reply.result()["accessToken"].as_str().unwrap().to_owned()
    }

    fn api(addr: SocketAddr, token: &str, method: &str, path: &str, body: Option<Value>) -> Reply {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        send(
            addr,
            method,
            &format!("/v2/{path}"),
            Some(token),
            ("application/json", &body),
        )
    }

    fn get(addr: SocketAddr, token: &str, path: &str) -> Reply {
        api(addr, token, "GET", path, None)
    }

    fn ticket_body(account: i64, location: i64) -> Value {
        json!({"AccountId": account, "LocationId": location, "Title": "Backup failed",
               "Details": "Job x [bp 7]", "OpenDate": "2026-03-01T10:00:00Z",
               "StatusId": 1, "PriorityId": 13, "TypeId": 31, "SourceId": 41,
               "QueueId": 21})
    }

    fn main_location(addr: SocketAddr, token: &str, account: i64) -> i64 {
        let locations = get(addr, token, &format!("crm/accounts/{account}/locations/lookup")).items();
        let main = locations.iter().find(|l| l["isMain"] == true).unwrap();
        main["id"].as_i64().unwrap()
    }

    fn names(rows: &[Value], key: &str) -> Vec<String> {
        rows.iter()
            .map(|r| r[key].as_str().unwrap_or("").to_owned())
            .collect()
    }

    #[test]
    fn authentication_answers_tokens_or_200_refusals() {
        let (_, addr) = serve(3);
        let reply = authenticate(addr, FORM, &format!("{LOGIN}&grantType=password"));
        assert_eq!(reply.outcome(), (200, json!(true)));
        assert!(reply.json()["error"].is_null());
        let tokens = reply.result();
        assert_eq!(tokens["accessToken"].as_str().unwrap().len(), 64);
        assert_ne!(tokens["accessToken"], tokens["refreshToken"]);
        assert!(tokens["accessTokenExpireOn"].as_str().unwrap().ends_with('Z'));
        assert!(tokens["refreshTokenExpireOn"].is_string());

        let part = |name: &str, value: &str| {
            format!("--XyZ\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
        };
        let multipart = [
            ("UserName", "api@msp.example"),
            ("Password", "s3cret&pass"),
            ("Tenant", "BACKPLANE MSP"),
        ]
        .map(|(n, v)| part(n, v))
        .concat()
            + &part("GrantType", "password")
            + "--XyZ--\r\n";
        let reply = authenticate(addr, "multipart/form-data; boundary=XyZ", &multipart);
        assert_eq!(reply.result()["accessToken"].as_str().map(str::len), Some(64));

        let wrong = authenticate(
            addr,
            FORM,
            &LOGIN.replace("s3cret%26pass", "nope&GrantType=password"),
        );
        assert_eq!(wrong.outcome(), (200, json!(false)));
        assert!(wrong.result().is_null());
        assert_eq!(wrong.message(), "Invalid username or password");
        let stranger = authenticate(
            addr,
            FORM,
            &LOGIN.replace("Backplane%20MSP", "Other&GrantType=password"),
        );
        assert_eq!(stranger.outcome(), (200, json!(false)));
        assert!(stranger.message().contains("Tenant 'Other'"));
        let no_grant = authenticate(addr, FORM, LOGIN);
        assert_eq!(no_grant.outcome(), (400, json!(false)));
        assert_eq!(no_grant.message(), "GrantType is required");
        assert_eq!(authenticate(addr, "application/json", "{}").status, 415);
    }

    #[test]
    fn every_other_call_needs_a_bearer_token() {
        let (bms, addr) = serve(3);
        for token in [None, Some("made-up")] {
            let reply = send(
                addr,
                "GET",
                "/v2/system/queues/lookup",
                token,
                ("application/json", ""),
            );
            assert_eq!(reply.outcome(), (401, json!(false)));
            assert_eq!(reply.json()["error"]["code"], 401);
        }
        let token = login(addr);
        let queues = get(addr, &token, "System/Queues/Lookup");
        assert_eq!(queues.status, 200);
        assert_eq!(queues.json()["totalRecords"], 4);
        assert_eq!(get(addr, &token, "nothing/here").status, 404);
        assert_eq!(bms.requests(), 4);
    }

    #[test]
    fn tokens_expire_and_refresh() {
        let (bms, addr) = serve(3);
        let tokens = authenticate(addr, FORM, &format!("{LOGIN}&GrantType=password")).result();
        let access = tokens["accessToken"].as_str().unwrap();
        assert_eq!(get(addr, access, "system/priorities/lookup").status, 200);
        assert_eq!(control(addr, "/_emulator/expire-tokens").status, 204);
        let expired = get(addr, access, "system/priorities/lookup");
        assert_eq!(expired.status, 401);
        assert!(expired.message().contains("expired"));

        let swap = json!({"AccessToken": access, "RefreshToken": tokens["refreshToken"]}).to_string();
        let refresh = || {
            send(
                addr,
                "POST",
                "/v2/security/refreshtoken",
                None,
                ("application/json", &swap),
            )
        };
        let renewed = refresh();
        assert_eq!(renewed.outcome(), (200, json!(true)));
        let fresh = renewed.result()["accessToken"].as_str().unwrap().to_owned();
        assert_eq!(get(addr, &fresh, "system/priorities/lookup").status, 200);
        assert_eq!(refresh().outcome(), (200, json!(false)));

        bms.set_token_lifetime(Duration::from_millis(50));
        let short = login(addr);
        assert_eq!(get(addr, &short, "system/priorities/lookup").status, 200);
        std::thread::sleep(Duration::from_millis(80));
        assert_eq!(get(addr, &short, "system/priorities/lookup").status, 401);
    }

    #[test]
    fn accounts_page_by_100_and_filter_by_name() {
        let (bms, addr) = serve(250);
        let token = login(addr);
        let page = |query: &str| get(addr, &token, &format!("crm/accounts/lookup?{query}"));
        let first = page("Filter.Name=&Filter.WithInactiveAccounts=false&PageSize=100&PageNumber=1");
        assert_eq!(first.items().len(), 100);
        assert_eq!(first.json()["totalRecords"], 250);
        assert_eq!(first.items()[0]["tenantName"], "Backplane MSP");
        assert_eq!(first.items()[0]["isActive"], true);
        assert_eq!(page("pagesize=100&pagenumber=3").items().len(), 50);
        assert_eq!(page("PageSize=100&PageNumber=4").items().len(), 0);
        assert_eq!(page("PageNumber=1").items().len(), DEFAULT_PAGE_SIZE);
        for bad in [
            "PageSize=101",
            "PageSize=0",
            "PageNumber=zero",
            "Filter.WithInactiveAccounts=maybe",
        ] {
            assert_eq!(page(bad).outcome(), (400, json!(false)), "{bad}");
        }

        let widgets = bms.add_account("ZZ Special Widgets");
        let found = page("Filter.Name=special%20WIDGETS&PageSize=100");
        assert_eq!(found.items().len(), 1);
        assert_eq!(found.items()[0]["id"], widgets);
        assert!(bms.deactivate_account(widgets));
        assert_eq!(page("Filter.Name=special+widgets").items().len(), 0);
        let with_inactive = page("Filter.Name=special%20widgets&Filter.WithInactiveAccounts=true");
        assert_eq!(with_inactive.items()[0]["isActive"], false);
        let by_ids = page(&format!(
            "Filter.Ids={widgets}&Filter.Ids=1001&Filter.WithInactiveAccounts=true"
        ));
        assert_eq!(by_ids.items().len(), 2);
        assert!(by_ids.items().iter().any(|a| a["name"] == "ZZ Special Widgets"));
    }

    #[test]
    fn accounts_have_a_main_location_and_some_a_branch() {
        let (_, addr) = serve(4);
        let token = login(addr);
        let locations = |account: i64| get(addr, &token, &format!("crm/accounts/{account}/locations/lookup"));
        let single = locations(1_001).items();
        assert_eq!(single.len(), 1);
        assert_eq!(single[0]["name"], "Main");
        assert_eq!(single[0]["isMain"], true);
        assert_eq!(single[0]["accountId"], 1_001);
        let two = locations(1_002).items();
        assert_eq!(names(&two, "name"), ["Branch Office", "Main"]);
        assert_eq!(
            (&two[0]["isMain"], &two[1]["isMain"]),
            (&json!(false), &json!(true))
        );
        assert_eq!(locations(9_999).status, 404);
    }

    #[test]
    fn lookups_include_the_undocumented_tables() {
        let (bms, addr) = serve(1);
        let token = login(addr);
        let list = |path: &str| get(addr, &token, path);
        let statuses = list("system/statuses/lookup").items();
        assert_eq!(
            names(&statuses, "name"),
            ["New", "In Progress", "Waiting", "Completed", "Closed"]
        );
        assert_eq!(statuses[0]["isSystemStatus"], true);
        let priorities = list("system/priorities/lookup").items();
        assert_eq!(priorities.iter().filter(|p| p["isDefault"] == true).count(), 1);
        assert_eq!(priorities[2]["name"], "Medium");
        assert!(
            list("system/queues/lookup")
                .items()
                .iter()
                .any(|q| q["isActive"] == false)
        );
        let types = list("system/lookup/TicketType").items();
        assert_eq!(
            types[0],
            json!({"id": FIRST_TYPE_ID, "name": "Alert", "isDefault": true, "isActive": true})
        );
        assert_eq!(
            names(&list("system/lookup/ticketsource").items(), "name"),
            TICKET_SOURCES
        );
        assert_eq!(list("system/lookup/TicketTypes").outcome(), (404, json!(false)));
        bms.set_ticket_types(&[]);
        assert_eq!(list("system/lookup/TicketType").status, 404);
        bms.set_ticket_sources(&["Portal"]);
        assert_eq!(list("system/lookup/TicketSource").items()[0]["name"], "Portal");
    }

    #[test]
    fn tickets_are_validated_field_by_field() {
        let (bms, addr) = serve(3);
        let token = login(addr);
        let create = |body: Value| api(addr, &token, "POST", "servicedesk/tickets", Some(body));
        let location = main_location(addr, &token, 1_001);
        let mut body = ticket_body(1_001, location);
        body.as_object_mut().unwrap().remove("LocationId");
        let refused = create(body);
        assert_eq!(refused.outcome(), (400, json!(false)));
        assert_eq!(refused.message(), "LocationId is required");
        let foreign = create(ticket_body(1_001, main_location(addr, &token, 1_002)));
        assert_eq!(foreign.status, 400);
        assert!(
            foreign.message().starts_with("LocationId"),
            "{}",
            foreign.message()
        );
        let wrongs = [
            ("StatusId", json!(99)),
            ("PriorityId", json!(1)),
            ("TypeId", json!(41)),
            ("SourceId", json!(31)),
            ("QueueId", json!(24)),
            ("Title", json!("x".repeat(201))),
            ("OpenDate", json!("yesterday")),
            ("AccountId", json!(7)),
            ("Details", json!(" ")),
        ];
        for (name, value) in wrongs {
            let mut body = ticket_body(1_001, location);
            body[name] = value;
            let reply = create(body);
            assert_eq!(reply.status, 400, "{name}");
            assert!(reply.message().starts_with(name), "{name}: {}", reply.message());
        }
        assert!(bms.tickets().is_empty());

        let created = create(
            json!({"accountid": 1_001, "locationId": location, "title": "é".repeat(200),
                                    "details": "d", "openDate": "2026-03-01", "statusId": 1, "priorityId": 11,
                                    "typeId": 32, "sourceId": 43}),
        );
        assert_eq!(created.status, 200, "{}", created.body);
        let ticket = created.result();
        let number = ticket["ticketNumber"].as_str().unwrap();
        assert!(
            number.len() == 14 && number.starts_with('T') && number.as_bytes()[9] == b'.',
            "{number}"
        );
        assert_eq!(ticket["typeName"], "Service Request");
        assert_eq!(ticket["statusName"], "New");
        assert!(ticket["queueId"].is_null() && ticket["dueDate"].is_null());
        assert_eq!(
            get(addr, &token, &format!("servicedesk/tickets/{}", ticket["id"])).result(),
            ticket
        );
        assert_eq!(
            get(addr, &token, "servicedesk/tickets/1").outcome(),
            (404, json!(false))
        );

        bms.deactivate_account(1_001);
        assert!(
            create(ticket_body(1_001, location))
                .message()
                .contains("inactive")
        );
    }

    #[test]
    fn tickets_are_searched_patched_and_noted() {
        let (bms, addr) = serve(3);
        let token = login(addr);
        let mut body = ticket_body(1_002, main_location(addr, &token, 1_002));
        let first = api(addr, &token, "POST", "servicedesk/tickets", Some(body.clone())).result();
        body["Title"] = json!("Disk nearly full");
        body["Details"] = json!("Volume C: [bp 8]");
        let second = api(addr, &token, "POST", "servicedesk/tickets", Some(body)).result();
        let search = |filter: Value| {
            let body = json!({"PageSize": 100, "PageNumber": 1, "Filter": filter});
            api(addr, &token, "POST", "servicedesk/tickets/search", Some(body))
        };
        let by_title = search(json!({"Title": "DISK"}));
        assert_eq!(by_title.json()["totalRecords"], 1);
        assert_eq!(by_title.items()[0]["id"], second["id"]);
        assert_eq!(search(json!({"Details": "[bp 7]"})).items()[0]["id"], first["id"]);
        assert_eq!(search(json!({"AccountIds": [1_001]})).items().len(), 0);
        assert_eq!(search(json!({})).items().len(), 2);

        let path = format!("servicedesk/tickets/{}", first["id"]);
        let patch = |ops: Value| api(addr, &token, "PATCH", &path, Some(ops));
        let closed = patch(json!([{"op": "replace", "path": "/StatusId", "value": 5},
                                  {"op": "replace", "path": "/title", "value": "Done"}]));
        assert_eq!(closed.status, 200, "{}", closed.body);
        assert_eq!(closed.result()["statusName"], "Closed");
        assert_eq!(closed.result()["title"], "Done");
        assert_eq!(search(json!({"ExcludeCompleted": 1})).items().len(), 1);
        assert_eq!(
            patch(json!([{"op": "replace", "path": "/Colour", "value": 1}])).status,
            400
        );
        let half = patch(json!([{"op": "replace", "path": "/Title", "value": "x"},
                                {"op": "replace", "path": "/StatusId", "value": 9}]));
        assert_eq!(half.status, 400);
        assert_eq!(get(addr, &token, &path).result()["title"], "Done");

        let notes = format!("{path}/notes");
        let note = |details: &str| {
            json!({"Details": details, "IsInternal": false,
                   "NoteDate": "2026-03-01T11:00:00Z", "TypeId": 1})
        };
        let added = api(addr, &token, "POST", &notes, Some(note("Job retried")));
        assert_eq!(added.status, 200);
        assert_eq!(added.result()["ticketId"], first["id"]);
        assert_eq!(added.result()["isInternal"], false);
        api(addr, &token, "POST", &notes, Some(note("Second")));
        let mut incomplete = note("x");
        incomplete.as_object_mut().unwrap().remove("IsInternal");
        let refused = api(addr, &token, "POST", &notes, Some(incomplete));
        assert_eq!(refused.message(), "IsInternal is required");
        assert_eq!(
            names(&get(addr, &token, &notes).items(), "details"),
            ["Job retried", "Second"]
        );
        assert_eq!(bms.tickets()[0]["notes"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn faults_fail_with_200_lose_answers_and_go_down() {
        let (bms, addr) = serve(3);
        let token = login(addr);
        let location = main_location(addr, &token, 1_001);
        let create = || {
            api(
                addr,
                &token,
                "POST",
                "servicedesk/tickets",
                Some(ticket_body(1_001, location)),
            )
        };
        assert_eq!(control(addr, "/_emulator/fail-with-200?count=1").status, 204);
        let failed = create();
        assert_eq!(failed.outcome(), (200, json!(false)));
        assert!(failed.message().contains("unexpected error"));
        assert!(bms.tickets().is_empty());
        assert_eq!(create().outcome(), (200, json!(true)));

        assert_eq!(control(addr, "/_emulator/lose-responses?count=1").status, 204);
        let lost = create();
        assert_eq!(lost.status, 504);
        assert!(lost.body.is_empty());
        assert_eq!(bms.tickets().len(), 2);

        bms.fail_with_200(1);
        let notes = format!("servicedesk/tickets/{}/notes", bms.tickets()[0]["id"]);
        let note =
            json!({"Details": "n", "IsInternal": true, "NoteDate": "2026-03-01T11:00:00Z", "TypeId": 0});
        assert_eq!(
            api(addr, &token, "POST", &notes, Some(note)).outcome(),
            (200, json!(false))
        );
        assert!(bms.tickets()[0]["notes"].as_array().unwrap().is_empty());

        assert_eq!(control(addr, "/_emulator/outage?seconds=60").status, 204);
        assert_eq!(
            get(addr, &token, "system/queues/lookup").outcome(),
            (503, json!(false))
        );
        control(addr, "/_emulator/outage?seconds=0");
        assert_eq!(get(addr, &token, "system/queues/lookup").status, 200);

        let new_id = control(addr, "/_emulator/accounts?name=New%20Co").json()["id"]
            .as_i64()
            .unwrap();
        assert_eq!(
            control(addr, &format!("/_emulator/accounts/{new_id}/deactivate")).status,
            204
        );
        let lookup = format!("crm/accounts/lookup?Filter.Ids={new_id}&Filter.WithInactiveAccounts=true");
        assert_eq!(get(addr, &token, &lookup).items()[0]["isActive"], false);
        let all = send(addr, "GET", "/_emulator/tickets", None, ("application/json", "")).json();
        assert_eq!(all.as_array().unwrap().len(), 2);
    }

    #[test]
    fn the_hourly_limit_is_per_endpoint() {
        let (bms, addr) = serve(3);
        let token = login(addr);
        bms.set_hourly_limit(3);
        for id in [1_001, 1_002, 1_003] {
            let locations = format!("crm/accounts/{id}/locations/lookup");
            assert_eq!(get(addr, &token, &locations).status, 200);
        }
        let limited = get(addr, &token, "crm/accounts/1001/locations/lookup");
        assert_eq!(limited.outcome(), (429, json!(false)));
        assert!(limited.message().contains("per hour"));
        assert_eq!(get(addr, &token, "system/queues/lookup").status, 200);
        assert_eq!(control(addr, "/_emulator/hourly-limit?calls=1500").status, 204);
        assert_eq!(
            get(addr, &token, "crm/accounts/1001/locations/lookup").status,
            200
        );
    }

    #[test]
    fn forms_and_dates_are_read_as_bms_reads_them() {
        assert_eq!(
            url_pairs("a%40b+c=%2&d"),
            [("a@b c".into(), "%2".into()), ("d".into(), String::new())]
        );
        assert!(is_iso_date("2026-03-01T10:00:00.000+02:00") && is_iso_date("2026-03-01"));
        assert!(!is_iso_date("2026-13-01") && !is_iso_date("01/03/2026") && !is_iso_date("2026-03-01X"));
    }
}
