//! Server-only glue between HTTP requests and the domain layer: the session and client of the
//! current request, permission checks, session cookies and error mapping.

use domain::sessions::{Session, Stage};
use domain::{ClientInfo, DomainError, Portal};
use http::header::{HeaderValue, SET_COOKIE, USER_AGENT};
use http::request::Parts;
use leptos::prelude::*;
use model::{Action, AppError};

pub const SESSION_COOKIE: &str = "bp_session";
/// The session cookie's name whenever it is `Secure`: browsers then accept it only from a
/// secure origin, for the whole host, without a Domain, so no sibling subdomain can set or
/// shadow it.
pub const SECURE_SESSION_COOKIE: &str = "__Host-bp_session";

/// The session the server middleware resolved for this request (absent if none).
#[derive(Clone, Debug, Default)]
pub struct RequestSession(pub Option<Session>);

/// The client address the server middleware determined for this request.
#[derive(Clone, Debug)]
pub struct ClientAddr(pub String);

/// How session cookies are written.
#[derive(Clone, Debug)]
pub struct CookiePolicy {
    /// Add `Secure` (everywhere except plain-http loopback).
    pub secure: bool,
    /// Embedded in another site's iframe: `SameSite=None; Secure; Partitioned`.
    pub embeddable: bool,
}

impl CookiePolicy {
    /// The session cookie's name under this policy.
    pub fn cookie_name(&self) -> &'static str {
        if self.secure || self.embeddable {
            SECURE_SESSION_COOKIE
        } else {
            SESSION_COOKIE
        }
    }

    pub fn session_cookie(&self, token: &str, max_age_secs: i64) -> String {
        let name = self.cookie_name();
        let mut cookie = format!("{name}={token}; Path=/; HttpOnly; Max-Age={max_age_secs}");
        if self.embeddable {
            cookie.push_str("; SameSite=None; Secure; Partitioned");
        } else {
            cookie.push_str("; SameSite=Lax");
            if self.secure {
                cookie.push_str("; Secure");
            }
        }
        cookie
    }
}

pub fn portal() -> Portal {
    expect_context::<Portal>()
}

fn parts() -> Option<Parts> {
    use_context::<Parts>()
}

pub fn client_info() -> ClientInfo {
    let parts = parts();
    ClientInfo {
        ip: parts
            .as_ref()
            .and_then(|p| p.extensions.get::<ClientAddr>())
            .map(|a| a.0.clone()),
        user_agent: parts
            .as_ref()
            .and_then(|p| p.headers.get(USER_AGENT))
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    }
}

/// The session of this request at any stage (also half-finished logins).
pub fn any_session() -> Option<Session> {
    parts()
        .and_then(|p| p.extensions.get::<RequestSession>().cloned())
        .and_then(|s| s.0)
}

/// A fully signed-in session, or `Unauthenticated`.
pub fn signed_in() -> Result<Session, AppError> {
    any_session()
        .filter(|s| s.stage == Stage::Full)
        .ok_or(AppError::Unauthenticated)
}

/// A fully signed-in session whose role allows `action`, or the reason why not.
pub fn authorize(action: Action) -> Result<Session, AppError> {
    let session = signed_in()?;
    if session.role.can(action) {
        Ok(session)
    } else {
        Err(AppError::Forbidden)
    }
}

/// The signed-in user as a [`Viewer`], if their role allows `action`.
pub fn viewer(action: Action) -> Result<domain::access::Viewer, AppError> {
    authorize(action).map(|s| domain::access::Viewer::of(&s))
}

/// A database connection for a repository call.
pub async fn conn() -> Result<domain::db::PooledConnection, AppError> {
    portal()
        .db
        .pool
        .acquire()
        .await
        .map_err(|e| to_app_error(e.into()))
}

fn request_id() -> String {
    parts()
        .and_then(|p| {
            p.headers
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "unknown".into())
}

/// Turns a domain failure into what the browser may see; internal causes are logged only.
pub fn to_app_error(error: DomainError) -> AppError {
    match error {
        DomainError::Rejected(app) => app,
        internal => {
            let request_id = request_id();
            tracing::error!(%request_id, error = %internal, "request failed");
            AppError::Internal { request_id }
        }
    }
}

/// Sets the session cookie; for an instance that lets other sites frame it (and on https), with
/// the attributes a cross-site frame needs to keep it.
pub fn set_session_cookie(token: &str, framed_instance: bool) {
    let portal = portal();
    let max_age = portal.sessions.absolute_timeout_ms / 1000;
    let mut policy = expect_context::<CookiePolicy>();
    policy.embeddable |= framed_instance && policy.secure;
    write_cookie(&policy.session_cookie(token, max_age));
}

pub fn clear_session_cookie() {
    write_cookie(&expect_context::<CookiePolicy>().session_cookie("", 0));
}

fn write_cookie(cookie: &str) {
    if let (Some(response), Ok(value)) = (
        use_context::<leptos_axum::ResponseOptions>(),
        HeaderValue::from_str(cookie),
    ) {
        response.append_header(SET_COOKIE, value);
    }
}

/// The dark-theme preference of this request's user, for the `<html>` element.
pub fn dark_theme() -> bool {
    any_session().is_some_and(|s| s.stage == Stage::Full && s.dark_theme)
}
