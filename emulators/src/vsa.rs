//! Kaseya VSA 9's REST API as the portal uses it (research §6, spec portal-c §1.1), under
//! `/api/v1.0`: `GET /auth` with the hashed Basic credentials (`user`, `pass2`, `pass1`,
//! `rpass2`, `rpass1`, `rand2`; a personal access token stands in for the password) answering
//! `Result.ApiToken`, then `Authorization: Bearer`; answers in the `{TotalRecords, Result,
//! ResponseCode, Status, Error}` envelope, some failures as HTTP 200 with a non-zero
//! `ResponseCode`; OData `$top`, `$skip` and `$filter=substringof('text', Message)` on alarm
//! lists; alarms listed (`/assetmgmt/alarms/{returnAllRecords}`), read (`/assetmgmt/alarms/{id}`)
//! and closed (`PUT /assetmgmt/alarms/{id}/close` with `{"key":"notes","value":…}`).
//!
//! VSA documents no way to create an alarm. The portal raises one through the system-alert
//! trigger `POST /automation/systemalerts/{alertId}` with `CreateAlarm` (and `SendEmail` with
//! `UsersToEmail` for the users' e-mail actions), as Kaseya's PowerShell module configures agent
//! alerts; this emulator keeps what such a trigger makes: the alarm, and the mail VSA sends.
//!
//! Faults, for tests and by hand: `POST /_emulator/outage?seconds=N` answers 503 to every API
//! call for that long; `POST /_emulator/lose-answers?count=N` carries out the next N writes but
//! answers 500 (the answer lost on the way); `POST /_emulator/expire-sessions` ends every
//! bearer token (the next call gets 401).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::wire::{header_text, lowercase_path, now_iso};

/// How long a bearer token lasts.
const SESSION_LIFETIME: Duration = Duration::from_secs(3600);
/// The largest `$top` VSA serves.
const MAX_TOP: usize = 100;

/// An alarm in VSA's Alarm Summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alarm {
    pub id: i64,
    /// The system alert that raised it.
    pub alert_id: String,
    pub machine_name: String,
    pub organization: String,
    pub message: String,
    pub open: bool,
    pub close_notes: Option<String>,
}

/// A mail VSA sent through its own SMTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub to: Vec<String>,
    pub subject: String,
    pub body: String,
}

/// A call the emulator answered: method, lowercased path and status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub method: String,
    pub path: String,
    pub status: u16,
}

#[derive(Debug, Default)]
struct Inner {
    alarms: Vec<Alarm>,
    emails: Vec<Email>,
    sessions: Vec<(String, Instant)>,
    next_alarm_id: i64,
    outage_until: Option<Instant>,
    lose_answers: usize,
    calls: Vec<Call>,
    tokens_issued: u64,
}

/// One emulated VSA 9 server.
#[derive(Debug, Clone)]
pub struct Vsa {
    username: String,
    token: String,
    inner: Arc<Mutex<Inner>>,
}

impl Vsa {
    /// A server where `username` signs in with the personal access token `token`.
    pub fn new(username: &str, token: &str) -> Vsa {
        Vsa {
            username: username.to_owned(),
            token: token.to_owned(),
            inner: Arc::new(Mutex::new(Inner {
                next_alarm_id: 70_001,
                ..Inner::default()
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

    /// Ends an outage now.
    pub fn recover(&self) {
        self.lock().outage_until = None;
    }

    /// Carries out the next `count` writes but answers them with 500.
    pub fn lose_answers(&self, count: usize) {
        self.lock().lose_answers = count;
    }

    /// Ends every bearer token.
    pub fn expire_sessions(&self) {
        self.lock().sessions.clear();
    }

    pub fn alarms(&self) -> Vec<Alarm> {
        self.lock().alarms.clone()
    }

    pub fn emails(&self) -> Vec<Email> {
        self.lock().emails.clone()
    }

    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// Bearer tokens handed out by `/auth`.
    pub fn tokens_issued(&self) -> u64 {
        self.lock().tokens_issued
    }

    pub fn router(&self) -> Router {
        let api = Router::new()
            .route("/auth", get(authenticate))
            .route("/automation/systemalerts/{alert_id}", post(trigger_system_alert))
            .route("/assetmgmt/alarms/{which}", get(alarms))
            .route("/assetmgmt/alarms/{id}/close", put(close_alarm))
            .route_layer(middleware::from_fn_with_state(self.clone(), admit));
        let faults = Router::new()
            .route("/outage", post(start_outage))
            .route("/lose-answers", post(set_lost_answers))
            .route("/expire-sessions", post(end_sessions));
        Router::new()
            .nest("/api/v1.0", api)
            .nest("/_emulator", faults)
            .layer(middleware::map_request(lowercase_path))
            .with_state(self.clone())
    }

    fn check_credentials(&self, headers: &HeaderMap) -> bool {
        let Some(encoded) = header_text(headers, "authorization").strip_prefix("Basic ") else {
            return false;
        };
        let Ok(decoded) = STANDARD.decode(encoded.trim()) else {
            return false;
        };
        let text = String::from_utf8_lossy(&decoded);
        let field = |name: &str| {
            text.split(',')
                .find_map(|pair| pair.split_once('=').filter(|(k, _)| *k == name).map(|(_, v)| v))
                .unwrap_or("")
        };
        let random = field("rand2");
        let expected = sha256_hex(&format!(
            "{}{random}",
            sha256_hex(&format!("{}{}", self.token, self.username))
        ));
        field("user") == self.username
            && !random.is_empty()
            && field("pass2") == expected
            && field("rpass2") == sha256_hex(&self.token)
    }

    fn new_session(&self) -> String {
        let mut inner = self.lock();
        inner.tokens_issued += 1;
        let token = sha256_hex(&format!(
            "{}:{:?}:{}",
            self.token,
            Instant::now(),
            inner.tokens_issued
        ));
        let now = Instant::now();
        inner.sessions.retain(|(_, until)| *until > now);
        inner.sessions.push((token.clone(), now + SESSION_LIFETIME));
        token
    }

    fn bearer_valid(&self, headers: &HeaderMap) -> bool {
        let Some(token) = header_text(headers, "authorization").strip_prefix("Bearer ") else {
            return false;
        };
        let now = Instant::now();
        self.lock()
            .sessions
            .iter()
            .any(|(t, until)| t == token.trim() && *until > now)
    }

    /// Whether this write's answer is to be lost (it is carried out all the same).
    fn loses_answer(&self) -> bool {
        let mut inner = self.lock();
        if inner.lose_answers > 0 {
            inner.lose_answers -= 1;
            return true;
        }
        false
    }
}

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// VSA's envelope. A failure answered as HTTP 200 (an unknown alarm) still carries a non-zero
/// `ResponseCode`.
fn envelope(status: StatusCode, result: Value, total: Option<usize>, error: Option<&str>) -> Response {
    let code = match (error, status) {
        (None, _) => 0,
        (Some(_), StatusCode::OK) => 404,
        (Some(_), status) => status.as_u16(),
    };
    let body = json!({
        "TotalRecords": total,
        "Result": result,
        "ResponseCode": code,
        "Status": if error.is_some() { "Error" } else { "OK" },
        "Error": error.unwrap_or("None"),
    });
    (status, [("content-type", "application/json")], body.to_string()).into_response()
}

fn refused(status: StatusCode, error: &str) -> Response {
    envelope(status, Value::Null, None, Some(error))
}

/// Outage, then the bearer token (except on `/auth`), in that order; records every call.
async fn admit(State(vsa): State<Vsa>, request: Request, next: Next) -> Response {
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let answer = if vsa
        .lock()
        .outage_until
        .is_some_and(|until| Instant::now() < until)
    {
        refused(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
    } else if !path.ends_with("/auth") && !vsa.bearer_valid(request.headers()) {
        refused(StatusCode::UNAUTHORIZED, "Session expired or not authenticated.")
    } else {
        next.run(request).await
    };
    vsa.lock().calls.push(Call {
        method,
        path,
        status: answer.status().as_u16(),
    });
    answer
}

async fn authenticate(State(vsa): State<Vsa>, headers: HeaderMap) -> Response {
    if !vsa.check_credentials(&headers) {
        return refused(StatusCode::UNAUTHORIZED, "Invalid credentials.");
    }
    let token = vsa.new_session();
    let result = json!({
        "ApiToken": token,
        "Token": token,
        "UserName": vsa.username,
        "AdminId": 61_433_221,
        "SessionExpiration": now_iso(),
    });
    envelope(StatusCode::OK, result, None, None)
}

fn text_of<'a>(body: &'a Value, path: &[&str]) -> &'a str {
    let mut at = body;
    for key in path {
        at = &at[*key];
    }
    at.as_str().unwrap_or("")
}

async fn trigger_system_alert(
    State(vsa): State<Vsa>,
    Path(alert_id): Path<String>,
    body: String,
) -> Response {
    let Ok(body) = serde_json::from_str::<Value>(&body) else {
        return refused(StatusCode::BAD_REQUEST, "The request body is not JSON.");
    };
    if alert_id.parse::<i64>().is_err() {
        return refused(StatusCode::BAD_REQUEST, "alertId must be a number.");
    }
    let message = text_of(&body, &["Attributes", "Message"]).to_owned();
    let machine = text_of(&body, &["Attributes", "MachineName"]).to_owned();
    if message.is_empty() || machine.is_empty() {
        return refused(
            StatusCode::BAD_REQUEST,
            "Attributes.Message and Attributes.MachineName are required.",
        );
    }
    let mut alarm_id = None;
    if body["CreateAlarm"].as_bool() == Some(true) {
        let mut inner = vsa.lock();
        let id = inner.next_alarm_id;
        inner.next_alarm_id += 1;
        inner.alarms.push(Alarm {
            id,
            alert_id: alert_id.clone(),
            machine_name: machine.clone(),
            organization: text_of(&body, &["Attributes", "OrgName"]).to_owned(),
            message: message.clone(),
            open: true,
            close_notes: None,
        });
        alarm_id = Some(id);
    }
    if body["SendEmail"].as_bool() == Some(true) {
        let to: Vec<String> = text_of(&body, &["UsersToEmail"])
            .split([';', ','])
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_owned)
            .collect();
        if !to.is_empty() {
            vsa.lock().emails.push(Email {
                to,
                subject: format!("Alarm on {machine}"),
                body: message,
            });
        }
    }
    if vsa.loses_answer() {
        return refused(StatusCode::INTERNAL_SERVER_ERROR, "An error has occurred.");
    }
    envelope(StatusCode::OK, json!({ "AlarmId": alarm_id }), None, None)
}

fn alarm_json(alarm: &Alarm) -> Value {
    json!({
        "AlarmId": alarm.id,
        "MachineName": alarm.machine_name,
        "OrgName": alarm.organization,
        "AlarmState": if alarm.open { "Open" } else { "Closed" },
        "Message": alarm.message,
    })
}

/// `substringof('text', Message)`, the only filter the portal sends; anything else is refused
/// as VSA refuses what it cannot parse.
fn substring_filter(filter: &str) -> Option<String> {
    let inner = filter.trim().strip_prefix("substringof(")?.strip_suffix(')')?;
    let (quoted, field) = inner.rsplit_once(',')?;
    if !field.trim().eq_ignore_ascii_case("message") {
        return None;
    }
    let text = quoted.trim().strip_prefix('\'')?.strip_suffix('\'')?;
    Some(text.replace("''", "'"))
}

async fn alarms(
    State(vsa): State<Vsa>,
    Path(which): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    if let Ok(id) = which.parse::<i64>() {
        return match vsa.lock().alarms.iter().find(|a| a.id == id) {
            Some(alarm) => envelope(StatusCode::OK, alarm_json(alarm), None, None),
            None => refused(StatusCode::OK, "Alarm not found."),
        };
    }
    let all = match which.as_str() {
        "true" => true,
        "false" => false,
        _ => return refused(StatusCode::BAD_REQUEST, "returnAllRecords must be true or false."),
    };
    let param = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let number = |name: &str, default: usize| param(name).map_or(Some(default), |v| v.parse().ok());
    let (Some(top), Some(skip)) = (number("$top", MAX_TOP), number("$skip", 0)) else {
        return refused(StatusCode::BAD_REQUEST, "$top and $skip must be numbers.");
    };
    let filter = match param("$filter") {
        None => None,
        Some(text) => match substring_filter(text) {
            Some(needle) => Some(needle),
            None => {
                return refused(
                    StatusCode::BAD_REQUEST,
                    "The $filter expression is not supported.",
                );
            }
        },
    };
    let found: Vec<Value> = vsa
        .lock()
        .alarms
        .iter()
        .filter(|a| all || a.open)
        .filter(|a| {
            filter
                .as_ref()
                .is_none_or(|needle| a.message.contains(needle.as_str()))
        })
        .map(alarm_json)
        .collect();
    let total = found.len();
    let page: Vec<Value> = found.into_iter().skip(skip).take(top.min(MAX_TOP)).collect();
    envelope(StatusCode::OK, Value::Array(page), Some(total), None)
}

async fn close_alarm(State(vsa): State<Vsa>, Path(id): Path<String>, body: String) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return refused(StatusCode::BAD_REQUEST, "alarmId must be a number.");
    };
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let note =
        (body["key"].as_str() == Some("notes")).then(|| body["value"].as_str().unwrap_or("").to_owned());
    {
        let mut inner = vsa.lock();
        let Some(alarm) = inner.alarms.iter_mut().find(|a| a.id == id) else {
            return refused(StatusCode::OK, "Alarm not found.");
        };
        alarm.open = false;
        alarm.close_notes = note;
    }
    if vsa.loses_answer() {
        return refused(StatusCode::INTERNAL_SERVER_ERROR, "An error has occurred.");
    }
    envelope(StatusCode::OK, Value::Bool(true), None, None)
}

fn seconds(query: &[(String, String)], name: &str) -> u64 {
    query
        .iter()
        .find(|(k, _)| k == name)
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

async fn start_outage(State(vsa): State<Vsa>, Query(query): Query<Vec<(String, String)>>) -> StatusCode {
    vsa.outage(Duration::from_secs(seconds(&query, "seconds")));
    StatusCode::NO_CONTENT
}

async fn set_lost_answers(State(vsa): State<Vsa>, Query(query): Query<Vec<(String, String)>>) -> StatusCode {
    vsa.lose_answers(usize::try_from(seconds(&query, "count")).unwrap_or(0));
    StatusCode::NO_CONTENT
}

async fn end_sessions(State(vsa): State<Vsa>) -> StatusCode {
    vsa.expire_sessions();
    StatusCode::NO_CONTENT
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_substring_filter_on_message_is_understood() {
        assert_eq!(
            substring_filter("substringof('[Backplane alarm 7]', Message)").as_deref(),
            Some("[Backplane alarm 7]")
        );
        assert_eq!(
            substring_filter("substringof('it''s', message)").as_deref(),
            Some("it's")
        );
        assert_eq!(substring_filter("substringof('x', MachineName)"), None);
        assert_eq!(substring_filter("AlarmState eq 'Open'"), None);
    }
}
