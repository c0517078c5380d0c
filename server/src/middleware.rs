//! Request middleware: the session and client address of each request, the first-run and
//! sign-in guards for pages, cross-site request forgery protection and security headers.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use app::server::{ClientAddr, RequestSession};
use axum::RequestExt;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use domain::ip_restrictions::{self, RequestAddress};
use domain::sessions::{self, Stage};
use domain::{ClientInfo, embedding};

use crate::AppState;

/// Pages anyone may open; every other page needs a signed-in session.
const PUBLIC_PAGES: [&str; 5] = [
    "/setup",
    "/login",
    "/forgot-password",
    "/reset-password",
    "/activate",
];

/// The token of the session cookie named `cookie`.
pub(crate) fn session_token(request: &Request, cookie: &str) -> Option<String> {
    cookie_value(request.headers(), cookie)
}

/// The value of the cookie `name`, if the request carries a non-empty one.
pub(crate) fn cookie_value(headers: &HeaderMap, cookie: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == cookie && !value.is_empty())
        .map(|(_, value)| value.to_owned())
}

/// The client as [`resolve_session`] recorded it, for handlers outside the app.
pub(crate) fn client_info_of(request: &Request) -> ClientInfo {
    ClientInfo {
        ip: request.extensions().get::<ClientAddr>().map(|a| a.0.clone()),
        user_agent: request
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    }
}

/// Resolves the session cookie once per request and records the client address; a session
/// of an instance whose IP restrictions leave that address out is refused.
pub async fn resolve_session(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    // Through the extractor, which also takes the peer a test set with `MockConnectInfo`.
    let mut client = None;
    if let Ok(ConnectInfo(peer)) = request.extract_parts::<ConnectInfo<SocketAddr>>().await {
        let address = state
            .trusted_proxies
            .client(peer.ip(), request.headers())
            .to_string();
        request.extensions_mut().insert(ClientAddr(address.clone()));
        request.extensions_mut().insert(RequestAddress(address.clone()));
        client = Some(address);
    }
    let session = match session_token(&request, state.cookies.cookie_name()) {
        Some(token) if !request.uri().path().starts_with("/pkg/") => {
            let portal = &state.portal;
            let resolved = async {
                let mut conn = portal.db.pool.acquire().await?;
                sessions::resolve(&mut conn, &token, portal.now(), &portal.sessions).await
            };
            match resolved.await {
                Ok(session) => session,
                Err(error) => {
                    tracing::error!(%error, "resolving a session failed");
                    return (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "The portal cannot reach its database. Try again shortly.",
                    )
                        .into_response();
                }
            }
        }
        _ => None,
    };
    if let Some(session) = &session
        && !ip_restrictions::allows(session.ip_allow_list.as_deref(), client.as_deref())
    {
        return address_refused(&request, client.as_deref());
    }
    let ancestors = match &session {
        Some(session) => session.frame_ancestors.clone(),
        None => match login_homerealm(&request) {
            Some(homerealm) => login_page_ancestors(&state, &homerealm).await,
            None => None,
        },
    };
    request.extensions_mut().insert(RequestSession(session));
    let mut response = next.run(request).await;
    if let Some(ancestors) = ancestors {
        response
            .extensions_mut()
            .insert(InstanceFrameAncestors(ancestors));
    }
    response
}

/// The origins an instance lets frame its portal, for [`security_headers`].
#[derive(Clone)]
struct InstanceFrameAncestors(String);

/// The login page names its instance by `?homerealm=`, so a console can frame it.
fn login_homerealm(request: &Request) -> Option<String> {
    if request.uri().path() != "/login" {
        return None;
    }
    let query = request.uri().query()?;
    let homerealm = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("homerealm="))?;
    Some(homerealm.to_owned())
}

async fn login_page_ancestors(state: &AppState, homerealm: &str) -> Option<String> {
    let mut conn = state.portal.db.pool.acquire().await.ok()?;
    embedding::frame_ancestors_of_homerealm(&mut conn, homerealm)
        .await
        .ok()
        .flatten()
}

/// 403 for a request from outside its instance's allow-list: a page for pages, text otherwise.
fn address_refused(request: &Request, client: Option<&str>) -> Response {
    let message = ip_restrictions::refusal(client).to_string();
    if is_page(request) {
        let page = format!(
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Access denied · Backplane</title></head>\
             <body><main><h1>Access denied</h1><p>{}</p></main></body></html>",
            html_escape(&message)
        );
        return (
            StatusCode::FORBIDDEN,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            page,
        )
            .into_response();
    }
    (StatusCode::FORBIDDEN, message).into_response()
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn is_page(request: &Request) -> bool {
    let path = request.uri().path();
    matches!(*request.method(), Method::GET | Method::HEAD)
        && !path.starts_with("/api/")
        && !path.starts_with("/pkg/")
        && !path.starts_with("/appliance/")
        && !path.starts_with("/sso/")
        && !path.starts_with("/integrations/")
        && !public_api::is_api_path(path)
        && !crate::ops::OPERATOR_PATHS.contains(&path)
        && !path.rsplit('/').next().unwrap_or("").contains('.')
}

/// Before setup every page is the setup page; afterwards pages other than the public ones need
/// a signed-in session, and the login page sends a signed-in user to the Dashboard.
pub async fn guard_pages(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if !is_page(&request) {
        return next.run(request).await;
    }
    let path = request.uri().path().to_owned();
    if !setup_done(&state).await {
        return if path == "/setup" {
            next.run(request).await
        } else {
            Redirect::to("/setup").into_response()
        };
    }
    let signed_in = request
        .extensions()
        .get::<RequestSession>()
        .and_then(|s| s.0.as_ref())
        .is_some_and(|s| s.stage == Stage::Full);
    if path == "/login" && signed_in {
        return Redirect::to("/").into_response();
    }
    if !signed_in && !PUBLIC_PAGES.contains(&path.as_str()) {
        return Redirect::to("/login").into_response();
    }
    next.run(request).await
}

async fn setup_done(state: &AppState) -> bool {
    if state.setup_done.load(Ordering::Relaxed) {
        return true;
    }
    // Once true it stays true, so only a fresh install pays for this query.
    let done = domain::setup::needs_setup(&state.portal)
        .await
        .is_ok_and(|needs| !needs);
    if done {
        state.setup_done.store(true, Ordering::Relaxed);
    }
    done
}

/// Refuses state-changing requests that a browser sent from another site. Browsers label
/// every request with `Sec-Fetch-Site` (and `Origin` on POST); a request without either did not
/// come from a browser page and carries no ambient credentials worth forging.
pub async fn reject_cross_site(State(state): State<AppState>, request: Request, next: Next) -> Response {
    // The single sign-on callback takes KaseyaOne's form POST from its own site; the state
    // and the browser's cookie protect it instead.
    if matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS)
        || request.uri().path() == identity::login::CALLBACK_PATH
    {
        return next.run(request).await;
    }
    if from_this_site(request.headers(), &state.portal.public_url) {
        next.run(request).await
    } else {
        tracing::warn!(path = %request.uri().path(), "cross-site request refused");
        (StatusCode::FORBIDDEN, "Cross-site request refused.").into_response()
    }
}

/// Whether a browser sent this request from the portal's own pages (or it came from no browser
/// page at all): `Sec-Fetch-Site` if present, else `Origin` against the public URL or `Host`.
pub(crate) fn from_this_site(headers: &HeaderMap, public_url: &str) -> bool {
    let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    match (fetch_site, origin) {
        (Some(site), _) => site == "same-origin" || site == "none",
        (None, Some(origin)) => same_origin(origin, host, public_url),
        (None, None) => true,
    }
}

fn same_origin(origin: &str, host: Option<&str>, public_url: &str) -> bool {
    origin == public_url || host.is_some_and(|h| origin.split_once("://").is_some_and(|(_, rest)| rest == h))
}

/// `frame-ancestors` from the allow-list (or only the portal itself) and a few safe defaults.
pub async fn security_headers(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let is_api = path.starts_with("/api/");
    let is_static_file = path.starts_with("/pkg/") || path.rsplit('/').next().unwrap_or("").contains('.');
    // Pages and answers may hold customer data, enrolment secrets or mail; no cache keeps them.
    let private = is_api || !is_static_file;
    let mut response = next.run(request).await;
    let instance = response
        .extensions()
        .get::<InstanceFrameAncestors>()
        .map(|a| a.0.split(' ').map(str::to_owned).collect::<Vec<_>>())
        .unwrap_or_default();
    let mut ancestors = std::iter::once("'self'".to_owned())
        .chain(state.frame_ancestors.iter().cloned())
        .collect::<Vec<_>>();
    for origin in instance {
        if !ancestors.contains(&origin) {
            ancestors.push(origin);
        }
    }
    let headers = response.headers_mut();
    if let Ok(csp) = HeaderValue::from_str(&format!("frame-ancestors {}", ancestors.join(" "))) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if private {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Server functions answer every failure with 500; this gives each error kind its proper status
/// (422, 401, 403, 404, 409, 429 with `Retry-After`), so logs, proxies and API clients can tell
/// a refusal from a fault. The body is unchanged.
pub async fn server_fn_error_status(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if response.status() != StatusCode::INTERNAL_SERVER_ERROR
        || !response.headers().contains_key("serverfnerror")
    {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 256 * 1024).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    if let Ok(error) = serde_json::from_slice::<model::AppError>(&bytes) {
        parts.status = status_of(&error);
        if let model::AppError::Throttled { retry_after_secs } = error {
            parts
                .headers
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
    }
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

fn status_of(error: &model::AppError) -> StatusCode {
    use model::AppError::*;
    match error {
        Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        Unauthenticated => StatusCode::UNAUTHORIZED,
        Forbidden | Denied { .. } => StatusCode::FORBIDDEN,
        NotFound { .. } => StatusCode::NOT_FOUND,
        Conflict { .. } => StatusCode::CONFLICT,
        Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
        Internal { .. } | Transport { .. } => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_matches_the_public_url_or_the_host_header() {
        assert!(same_origin(
            "http://127.0.0.1:3000",
            None,
            "http://127.0.0.1:3000"
        ));
        assert!(same_origin(
            "https://portal.example.com",
            Some("portal.example.com"),
            "http://x"
        ));
        assert!(!same_origin(
            "https://evil.example.com",
            Some("portal.example.com"),
            "https://portal.example.com"
        ));
    }
}
