//! The browser's side of single sign-on: `/sso/start` sends the browser to the instance's
//! provider (tying the sign-in to it with a short-lived cookie), `/sso/callback` takes the
//! provider's answer — a redirect with the code in the query, or KaseyaOne's form POST — and
//! signs the user in, or returns them to their login page with the reason's code.

use axum::Form;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use domain::ClientInfo;
use identity::login::{self, Callback};
use model::sso::{SsoFailure, SsoKind};
use serde::Deserialize;

use crate::AppState;
use crate::middleware::{client_info_of, cookie_value};

/// Ties a sign-in to the browser that started it; scoped to the callback's path.
const BROWSER_COOKIE: &str = "bp_sso";

#[derive(Deserialize)]
pub struct StartQuery {
    homerealm: String,
    provider: String,
}

/// Starts a sign-in: 303 to the provider, or back to the login page with the reason.
pub async fn start(
    State(state): State<AppState>,
    Query(query): Query<StartQuery>,
    request: Request,
) -> Response {
    let client = client_info_of(&request);
    let Some(kind) = SsoKind::parse(&query.provider) else {
        return to_login(Some(&query.homerealm), SsoFailure::Off);
    };
    match login::begin(&state.portal, &query.homerealm, kind, &client).await {
        Ok(started) => {
            let cookie = browser_cookie(&state, &started.browser_token, login::SIGN_IN_LIFETIME_MS / 1000);
            with_cookie(Redirect::to(&started.redirect_to).into_response(), &cookie)
        }
        Err(failure) => to_login(Some(&query.homerealm), failure),
    }
}

#[derive(Deserialize, Default)]
pub struct CallbackParams {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
}

/// The provider's answer by redirect (GET, in the query).
pub async fn callback_get(
    State(state): State<AppState>,
    Query(params): Query<CallbackParams>,
    request: Request,
) -> Response {
    let client = client_info_of(&request);
    finish(&state, params, request.headers(), &client).await
}

/// The provider's answer by form POST (`response_mode=form_post`).
pub async fn callback_post(State(state): State<AppState>, headers: HeaderMap, request: Request) -> Response {
    let client = client_info_of(&request);
    let params =
        <Form<CallbackParams> as axum::extract::FromRequest<AppState>>::from_request(request, &state)
            .await
            .map(|Form(params)| params)
            .unwrap_or_default();
    finish(&state, params, &headers, &client).await
}

async fn finish(
    state: &AppState,
    params: CallbackParams,
    headers: &HeaderMap,
    client: &ClientInfo,
) -> Response {
    let callback = Callback {
        state: params.state,
        code: params.code,
        error: params.error,
        browser_token: cookie_value(headers, BROWSER_COOKIE),
    };
    let cleared = browser_cookie(state, "", 0);
    match login::finish(&state.portal, &callback, client).await {
        Ok(signed_in) => {
            let framed = match state.portal.db.pool.acquire().await {
                Ok(mut conn) => {
                    domain::embedding::frame_ancestors_of_homerealm(&mut conn, &signed_in.homerealm)
                        .await
                        .ok()
                        .flatten()
                        .is_some()
                }
                Err(_) => false,
            };
            let mut policy = state.cookies.clone();
            policy.embeddable |= framed && policy.secure;
            let max_age = state.portal.sessions.absolute_timeout_ms / 1000;
            let session = policy.session_cookie(&signed_in.token, max_age);
            let next = match signed_in.step {
                model::auth::LoginStep::Done => "/".to_owned(),
                _ => format!("/login?homerealm={}", signed_in.homerealm),
            };
            with_cookie(
                with_cookie(Redirect::to(&next).into_response(), &cleared),
                &session,
            )
        }
        Err(refused) => with_cookie(to_login(refused.homerealm.as_deref(), refused.failure), &cleared),
    }
}

fn to_login(homerealm: Option<&str>, failure: SsoFailure) -> Response {
    let homerealm = homerealm
        .filter(|h| h.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        .map(|h| format!("homerealm={h}&"))
        .unwrap_or_default();
    Redirect::to(&format!(
        "/login?{homerealm}bypass=1&sso_error={}",
        failure.code()
    ))
    .into_response()
}

/// The cookie that ties a sign-in to this browser. KaseyaOne posts its answer from its own
/// site, so on https the cookie must be `SameSite=None` to come along; `Partitioned` keeps it
/// working when a console frames the portal (the start and the answer share the top-level site).
fn browser_cookie(state: &AppState, token: &str, max_age: i64) -> String {
    let mut cookie = format!("{BROWSER_COOKIE}={token}; Path=/sso; HttpOnly; Max-Age={max_age}");
    if state.cookies.secure {
        cookie.push_str("; SameSite=None; Secure; Partitioned");
    } else {
        cookie.push_str("; SameSite=Lax");
    }
    cookie
}

fn with_cookie(mut response: Response, cookie: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}
