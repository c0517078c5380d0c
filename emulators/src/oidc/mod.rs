//! An OpenID Connect provider, as KaseyaOne behaves on the wire (research §5: an
//! IdentityServer-style provider at `/connect/*`, `response_mode=form_post`, a login of
//! username, company and password, then a 2FA code) and as any provider does: discovery, a JWKS
//! whose keys rotate, the authorization code flow with PKCE (S256) and nonce, one-use codes that
//! expire after a minute, client authentication by Basic or form, `amr`, a session cookie that
//! makes the next sign-in silent (and `prompt=none` that fails without one), and RP-initiated
//! logout that accepts only registered post-logout addresses.
//!
//! Tests make the next ID token faulty on purpose (another audience or issuer, expired, signed
//! by a key outside the JWKS, another nonce) with [`Oidc::tweak_next_token`].

pub mod browser;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use openidconnect::core::{
    CoreIdToken, CoreIdTokenClaims, CoreJsonWebKeySet, CoreJwsSigningAlgorithm, CoreRsaPrivateSigningKey,
};
use openidconnect::{
    AccessToken, Audience, AuthenticationMethodReference, EmptyAdditionalClaims, EndUserEmail,
    EndUserUsername, IssuerUrl, JsonWebKeyId, Nonce, PrivateSigningKey, StandardClaims, SubjectIdentifier,
};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// Test-only signing keys (see `keys/README.md`).
const KEYS: [&str; 3] = [
    include_str!("../../keys/oidc-1.pem"),
    include_str!("../../keys/oidc-2.pem"),
    include_str!("../../keys/oidc-3.pem"),
];
const CODE_LIFETIME: Duration = Duration::from_secs(60);
const ID_TOKEN_LIFETIME_SECS: i64 = 300;
const SESSION_COOKIE: &str = "idsrv";

/// A relying party registered at the provider.
#[derive(Debug, Clone, Deserialize)]
pub struct Client {
    pub client_id: String,
    pub client_secret: Option<String>,
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
}

/// A user who can sign in.
#[derive(Debug, Clone, Deserialize)]
pub struct User {
    /// KaseyaOne usernames are e-mail addresses; the ID token's `email`.
    pub username: String,
    pub company: String,
    pub password: String,
    /// The immutable subject (`sub`).
    pub subject: String,
    /// With a code, the login asks for it after the password and `amr` reports `mfa`.
    #[serde(default)]
    pub mfa_code: Option<String>,
    #[serde(default = "yes")]
    pub email_verified: bool,
}

fn yes() -> bool {
    true
}

/// Faults for the next ID token the token endpoint issues.
#[derive(Debug, Clone, Default)]
pub struct Tweaks {
    pub audience: Option<String>,
    pub issuer: Option<String>,
    pub expired: bool,
    /// Signed by a key outside the JWKS under the active key's id.
    pub bad_signature: bool,
    pub nonce: Option<String>,
}

#[derive(Debug, Clone)]
struct Grant {
    client_id: String,
    redirect_uri: String,
    username: String,
    nonce: Option<String>,
    code_challenge: Option<String>,
    mfa: bool,
    issued: Instant,
}

#[derive(Debug, Clone)]
struct PendingLogin {
    username: String,
    request: String,
}

struct Inner {
    /// Where browsers reach the authorize and end-session pages (the issuer, unless a TLS proxy
    /// fronts them).
    front_channel: String,
    clients: Vec<Client>,
    users: Vec<User>,
    active_key: usize,
    codes: HashMap<String, Grant>,
    /// Session cookie → (username, whether it passed MFA).
    sessions: HashMap<String, (String, bool)>,
    pending: HashMap<String, PendingLogin>,
    tweaks: Option<Tweaks>,
    /// Where the next token request is redirected (307) instead of answered.
    token_redirect: Option<String>,
    counter: u64,
    token_requests: u64,
    end_sessions: u64,
}

/// One emulated provider; `issuer` is its own base URL.
#[derive(Clone)]
pub struct Oidc {
    issuer: String,
    inner: Arc<Mutex<Inner>>,
}

impl Oidc {
    pub fn new(issuer: &str, seed: u64) -> Oidc {
        Oidc {
            issuer: issuer.trim_end_matches('/').to_owned(),
            inner: Arc::new(Mutex::new(Inner {
                front_channel: issuer.trim_end_matches('/').to_owned(),
                clients: Vec::new(),
                users: Vec::new(),
                active_key: 0,
                codes: HashMap::new(),
                sessions: HashMap::new(),
                pending: HashMap::new(),
                tweaks: None,
                token_redirect: None,
                counter: seed.wrapping_mul(1_000_003),
                token_requests: 0,
                end_sessions: 0,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Publishes the browser-facing endpoints (authorize, end-session) at `url`, as when a TLS
    /// proxy fronts them; discovery, token and keys stay at the issuer.
    pub fn set_front_channel(&self, url: &str) {
        self.lock().front_channel = url.trim_end_matches('/').to_owned();
    }

    pub fn add_client(&self, client: Client) {
        let mut inner = self.lock();
        inner.clients.retain(|c| c.client_id != client.client_id);
        inner.clients.push(client);
    }

    pub fn add_user(&self, user: User) {
        let mut inner = self.lock();
        inner.users.retain(|u| u.username != user.username);
        inner.users.push(user);
    }

    /// Signs with the next key from now on; the JWKS keeps the previous key beside it (of the
    /// three keys, one is always unpublished: the next one, and the bad-signature tweak's).
    pub fn rotate_keys(&self) {
        let mut inner = self.lock();
        inner.active_key = (inner.active_key + 1) % KEYS.len();
    }

    pub fn tweak_next_token(&self, tweaks: Tweaks) {
        self.lock().tweaks = Some(tweaks);
    }

    /// Answers the next token request with a redirect to `url` (a relying party must not follow
    /// it: that would let the provider aim its back channel anywhere).
    pub fn redirect_next_token_request(&self, url: &str) {
        self.lock().token_redirect = Some(url.to_owned());
    }

    /// Code exchanges attempted, for tests that count them.
    pub fn token_requests(&self) -> u64 {
        self.lock().token_requests
    }

    /// Single logouts that ended a session.
    pub fn end_sessions(&self) -> u64 {
        self.lock().end_sessions
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/.well-known/openid-configuration/jwks", get(jwks))
            .route("/connect/authorize", get(authorize))
            .route("/connect/authorize/login", post(login))
            .route("/connect/authorize/verify", post(verify))
            .route("/connect/token", post(token))
            .route("/connect/endsession", get(end_session))
            .route("/_emulator/clients", post(add_client))
            .route("/_emulator/users", post(add_user))
            .route("/_emulator/rotate", post(rotate))
            .with_state(self.clone())
    }

    fn next_id(&self, prefix: &str) -> String {
        let mut inner = self.lock();
        inner.counter += 1;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let digest = Sha256::digest(format!("{}:{nanos}", inner.counter));
        format!("{prefix}{}", URL_SAFE_NO_PAD.encode(&digest[..18]))
    }
}

fn key(index: usize) -> Result<CoreRsaPrivateSigningKey, String> {
    CoreRsaPrivateSigningKey::from_pem(
        KEYS[index],
        Some(JsonWebKeyId::new(format!("emulator-key-{}", index + 1))),
    )
}

fn key_with_id(index: usize, kid: usize) -> Result<CoreRsaPrivateSigningKey, String> {
    CoreRsaPrivateSigningKey::from_pem(
        KEYS[index],
        Some(JsonWebKeyId::new(format!("emulator-key-{}", kid + 1))),
    )
}

async fn discovery(State(oidc): State<Oidc>) -> Json<serde_json::Value> {
    let base = &oidc.issuer;
    let front = oidc.lock().front_channel.clone();
    Json(serde_json::json!({
        "issuer": base,
        "authorization_endpoint": format!("{front}/connect/authorize"),
        "token_endpoint": format!("{base}/connect/token"),
        "jwks_uri": format!("{base}/.well-known/openid-configuration/jwks"),
        "end_session_endpoint": format!("{front}/connect/endsession"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": ["openid", "email", "profile"],
        "claims_supported": ["sub", "email", "email_verified", "preferred_username", "amr", "nonce"],
        "grant_types_supported": ["authorization_code"],
    }))
}

async fn jwks(State(oidc): State<Oidc>) -> Response {
    let active = oidc.lock().active_key;
    let previous = (active + KEYS.len() - 1) % KEYS.len();
    let keys: Result<Vec<_>, String> = [active, previous]
        .into_iter()
        .map(|i| key(i).map(|k| k.as_verification_key()))
        .collect();
    match keys {
        Ok(keys) => Json(CoreJsonWebKeySet::new(keys)).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
struct AuthorizeParams {
    client_id: Option<String>,
    redirect_uri: Option<String>,
    response_type: Option<String>,
    response_mode: Option<String>,
    scope: Option<String>,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    prompt: Option<String>,
}

fn error_page(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Html(format!(
            "<!doctype html><title>Error</title><h1>Sign-in error</h1><p>{}</p>",
            escape(message)
        )),
    )
        .into_response()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// What an authorization request's check found.
enum Check {
    Valid,
    /// An error the client hears about, at its (registered) redirect URI.
    BackToClient(&'static str),
    /// The client or its redirect URI is unknown: shown, never redirected to.
    Untrusted(&'static str),
}

fn check_request(oidc: &Oidc, params: &AuthorizeParams) -> Check {
    let inner = oidc.lock();
    let Some(client) = params
        .client_id
        .as_deref()
        .and_then(|id| inner.clients.iter().find(|c| c.client_id == id))
    else {
        return Check::Untrusted("Unknown client.");
    };
    let redirect = params.redirect_uri.as_deref().unwrap_or("");
    if !client.redirect_uris.iter().any(|r| r == redirect) {
        return Check::Untrusted("The redirect URI is not registered for this client.");
    }
    if params.response_type.as_deref() != Some("code") {
        return Check::BackToClient("unsupported_response_type");
    }
    if !params
        .scope
        .as_deref()
        .unwrap_or("")
        .split(' ')
        .any(|s| s == "openid")
    {
        return Check::BackToClient("invalid_scope");
    }
    if params.code_challenge.is_some() && params.code_challenge_method.as_deref() != Some("S256") {
        return Check::BackToClient("invalid_request");
    }
    Check::Valid
}

/// Sends the browser back to the client: a form that posts itself (form_post) or a redirect.
fn respond(params: &AuthorizeParams, fields: &[(&str, String)]) -> Response {
    let redirect = params.redirect_uri.clone().unwrap_or_default();
    let mut fields: Vec<(&str, String)> = fields.to_vec();
    if let Some(state) = &params.state {
        fields.push(("state", state.clone()));
    }
    if params.response_mode.as_deref() == Some("form_post") {
        let inputs: String = fields
            .iter()
            .map(|(k, v)| format!(r#"<input type="hidden" name="{k}" value="{}">"#, escape(v)))
            .collect();
        Html(format!(
            r#"<!doctype html><html><head><title>Submit this form</title></head><body onload="document.forms[0].submit()"><form method="post" action="{}">{inputs}<noscript><button>Continue</button></noscript></form></body></html>"#,
            escape(&redirect)
        ))
        .into_response()
    } else {
        let query: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields.iter().map(|(k, v)| (*k, v.as_str())))
            .finish();
        let separator = if redirect.contains('?') { '&' } else { '?' };
        Redirect::to(&format!("{redirect}{separator}{query}")).into_response()
    }
}

/// The provider's own session cookie, if the browser sent one.
fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_owned())
}

fn session_of(oidc: &Oidc, headers: &HeaderMap) -> Option<(String, bool)> {
    let cookie = session_cookie(headers)?;
    oidc.lock().sessions.get(&cookie).cloned()
}

async fn authorize(
    State(oidc): State<Oidc>,
    headers: HeaderMap,
    Query(params): Query<AuthorizeParams>,
) -> Response {
    match check_request(&oidc, &params) {
        Check::Untrusted(message) => return error_page(message),
        Check::BackToClient(code) => return respond(&params, &[("error", code.to_owned())]),
        Check::Valid => {}
    }
    if let Some((username, mfa)) = session_of(&oidc, &headers) {
        return issue_code(&oidc, &params, &username, mfa);
    }
    if params.prompt.as_deref() == Some("none") {
        return respond(&params, &[("error", "login_required".to_owned())]);
    }
    let request = serde_urlencoded_of(&params);
    login_page(&request, None)
}

fn serde_urlencoded_of(params: &AuthorizeParams) -> String {
    let pairs = [
        ("client_id", &params.client_id),
        ("redirect_uri", &params.redirect_uri),
        ("response_type", &params.response_type),
        ("response_mode", &params.response_mode),
        ("scope", &params.scope),
        ("state", &params.state),
        ("nonce", &params.nonce),
        ("code_challenge", &params.code_challenge),
        ("code_challenge_method", &params.code_challenge_method),
    ];
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(
            pairs
                .iter()
                .filter_map(|(k, v)| v.as_ref().map(|v| (*k, v.as_str()))),
        )
        .finish()
}

fn login_page(request: &str, error: Option<&str>) -> Response {
    let error = error
        .map(|e| format!(r#"<p role="alert">{}</p>"#, escape(e)))
        .unwrap_or_default();
    Html(format!(
        r#"<!doctype html><html lang="en"><head><title>Log in — identity provider emulator</title></head><body><main>
<h1>Log in</h1>{error}
<form method="post" action="/connect/authorize/login">
<input type="hidden" name="request" value="{}">
<label>Username <input name="username" autocomplete="username"></label>
<label>Company <input name="organizationName"></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button type="submit">Log In</button>
</form></main></body></html>"#,
        escape(request)
    ))
    .into_response()
}

#[derive(Deserialize)]
struct LoginForm {
    request: String,
    username: String,
    #[serde(rename = "organizationName")]
    organization_name: String,
    password: String,
}

fn params_of(request: &str) -> AuthorizeParams {
    serde_json::from_value(serde_json::Value::Object(
        form_urlencoded::parse(request.as_bytes())
            .map(|(k, v)| (k.into_owned(), serde_json::Value::String(v.into_owned())))
            .collect(),
    ))
    .unwrap_or_default()
}

async fn login(State(oidc): State<Oidc>, Form(form): Form<LoginForm>) -> Response {
    let params = params_of(&form.request);
    if let Check::Untrusted(message) = check_request(&oidc, &params) {
        return error_page(message);
    }
    let user = oidc
        .lock()
        .users
        .iter()
        .find(|u| {
            u.username.eq_ignore_ascii_case(form.username.trim())
                && u.company.eq_ignore_ascii_case(form.organization_name.trim())
                && u.password == form.password
        })
        .cloned();
    let Some(user) = user else {
        return login_page(&form.request, Some("Invalid username, company or password."));
    };
    if user.mfa_code.is_none() {
        return signed_in(&oidc, &params, &user.username, false);
    }
    let pending = oidc.next_id("p-");
    oidc.lock().pending.insert(
        pending.clone(),
        PendingLogin {
            username: user.username.clone(),
            request: form.request.clone(),
        },
    );
    code_page(&pending, None)
}

fn code_page(pending: &str, error: Option<&str>) -> Response {
    let error = error
        .map(|e| format!(r#"<p role="alert">{}</p>"#, escape(e)))
        .unwrap_or_default();
    Html(format!(
        r#"<!doctype html><html lang="en"><head><title>Verify — identity provider emulator</title></head><body><main>
<h1>Two-factor authentication</h1>{error}
<form method="post" action="/connect/authorize/verify">
<input type="hidden" name="pending" value="{}">
<label>Verification code <input name="code" autocomplete="one-time-code"></label>
<button type="submit">Verify</button>
</form></main></body></html>"#,
        escape(pending)
    ))
    .into_response()
}

#[derive(Deserialize)]
struct VerifyForm {
    pending: String,
    code: String,
}

async fn verify(State(oidc): State<Oidc>, Form(form): Form<VerifyForm>) -> Response {
    let Some(pending) = oidc.lock().pending.get(&form.pending).cloned() else {
        return error_page("The login expired. Start again.");
    };
    let expected = oidc
        .lock()
        .users
        .iter()
        .find(|u| u.username == pending.username)
        .and_then(|u| u.mfa_code.clone());
    if expected.as_deref() != Some(form.code.trim()) {
        return code_page(&form.pending, Some("That code is not valid."));
    }
    oidc.lock().pending.remove(&form.pending);
    let params = params_of(&pending.request);
    signed_in(&oidc, &params, &pending.username, true)
}

/// Starts the provider's own session (its cookie makes the next sign-in silent) and answers.
fn signed_in(oidc: &Oidc, params: &AuthorizeParams, username: &str, mfa: bool) -> Response {
    let session = oidc.next_id("s-");
    oidc.lock()
        .sessions
        .insert(session.clone(), (username.to_owned(), mfa));
    let mut response = issue_code(oidc, params, username, mfa);
    if let Ok(cookie) = format!("{SESSION_COOKIE}={session}; Path=/; HttpOnly; SameSite=Lax").parse() {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

fn issue_code(oidc: &Oidc, params: &AuthorizeParams, username: &str, mfa: bool) -> Response {
    let code = oidc.next_id("c-");
    oidc.lock().codes.insert(
        code.clone(),
        Grant {
            client_id: params.client_id.clone().unwrap_or_default(),
            redirect_uri: params.redirect_uri.clone().unwrap_or_default(),
            username: username.to_owned(),
            nonce: params.nonce.clone(),
            code_challenge: params.code_challenge.clone(),
            mfa,
            issued: Instant::now(),
        },
    );
    respond(params, &[("code", code)])
}

#[derive(Deserialize)]
struct TokenForm {
    grant_type: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

fn token_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(serde_json::json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

/// The client's id and secret from Basic auth (each form-urlencoded, RFC 6749 §2.3.1) or the form.
fn client_credentials(headers: &HeaderMap, form: &TokenForm) -> Option<(String, Option<String>)> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    if let Some(pair) = basic {
        let (id, secret) = pair.split_once(':')?;
        let decode = |s: &str| {
            form_urlencoded::parse(format!("v={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        return Some((decode(id), Some(decode(secret))));
    }
    Some((form.client_id.clone()?, form.client_secret.clone()))
}

async fn token(State(oidc): State<Oidc>, headers: HeaderMap, Form(form): Form<TokenForm>) -> Response {
    let redirect = {
        let mut inner = oidc.lock();
        inner.token_requests += 1;
        inner.token_redirect.take()
    };
    if let Some(url) = redirect {
        return Redirect::temporary(&url).into_response();
    }
    if form.grant_type.as_deref() != Some("authorization_code") {
        return token_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Only authorization_code.",
        );
    }
    let Some((client_id, secret)) = client_credentials(&headers, &form) else {
        return token_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "No client authentication.",
        );
    };
    let client = oidc
        .lock()
        .clients
        .iter()
        .find(|c| c.client_id == client_id)
        .cloned();
    let Some(client) = client.filter(|c| c.client_secret.is_none() || c.client_secret == secret) else {
        return token_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Unknown client or wrong secret.",
        );
    };
    // A code is good once: taken out whatever the outcome.
    let grant = form
        .code
        .as_deref()
        .and_then(|code| oidc.lock().codes.remove(code));
    let Some(grant) = grant else {
        return token_error(StatusCode::BAD_REQUEST, "invalid_grant", "Unknown or used code.");
    };
    if grant.issued.elapsed() > CODE_LIFETIME {
        return token_error(StatusCode::BAD_REQUEST, "invalid_grant", "The code expired.");
    }
    if grant.client_id != client.client_id
        || form.redirect_uri.as_deref() != Some(grant.redirect_uri.as_str())
    {
        return token_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "Client or redirect URI mismatch.",
        );
    }
    if let Some(challenge) = &grant.code_challenge {
        let verifier = form.code_verifier.as_deref().unwrap_or("");
        if URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != *challenge {
            return token_error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "PKCE verification failed.",
            );
        }
    }
    let access_token = oidc.next_id("at-");
    match id_token(&oidc, &client, &grant, &access_token) {
        Ok(id_token) => Json(serde_json::json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": 3600,
            "id_token": id_token,
            "scope": "openid email profile",
        }))
        .into_response(),
        Err(e) => token_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", &e),
    }
}

fn id_token(oidc: &Oidc, client: &Client, grant: &Grant, access_token: &str) -> Result<String, String> {
    let (user, tweaks, active) = {
        let mut inner = oidc.lock();
        let user = inner
            .users
            .iter()
            .find(|u| u.username == grant.username)
            .cloned()
            .ok_or("the user is gone")?;
        (user, inner.tweaks.take().unwrap_or_default(), inner.active_key)
    };
    let now = chrono::Utc::now();
    let (issued, expires) = if tweaks.expired {
        (
            now - chrono::Duration::seconds(900),
            now - chrono::Duration::seconds(600),
        )
    } else {
        (now, now + chrono::Duration::seconds(ID_TOKEN_LIFETIME_SECS))
    };
    let issuer = tweaks.issuer.clone().unwrap_or_else(|| oidc.issuer.clone());
    let audience = tweaks
        .audience
        .clone()
        .unwrap_or_else(|| client.client_id.clone());
    let standard = StandardClaims::new(SubjectIdentifier::new(user.subject.clone()))
        .set_email(Some(EndUserEmail::new(user.username.clone())))
        .set_email_verified(Some(user.email_verified))
        .set_preferred_username(Some(EndUserUsername::new(user.username.clone())));
    let mut methods = vec![AuthenticationMethodReference::new("pwd".into())];
    if grant.mfa {
        methods.push(AuthenticationMethodReference::new("mfa".into()));
        methods.push(AuthenticationMethodReference::new("otp".into()));
    }
    let nonce = tweaks.nonce.clone().or_else(|| grant.nonce.clone());
    let claims = CoreIdTokenClaims::new(
        IssuerUrl::new(issuer).map_err(|e| e.to_string())?,
        vec![Audience::new(audience)],
        expires,
        issued,
        standard,
        EmptyAdditionalClaims {},
    )
    .set_nonce(nonce.map(Nonce::new))
    .set_auth_time(Some(issued))
    .set_auth_method_refs(Some(methods));
    let signing = if tweaks.bad_signature {
        key_with_id((active + 1) % KEYS.len(), active)?
    } else {
        key(active)?
    };
    let token = CoreIdToken::new(
        claims,
        &signing,
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        Some(&AccessToken::new(access_token.to_owned())),
        None,
    )
    .map_err(|e| e.to_string())?;
    Ok(token.to_string())
}

#[derive(Deserialize)]
struct EndSessionParams {
    id_token_hint: Option<String>,
    post_logout_redirect_uri: Option<String>,
    client_id: Option<String>,
    state: Option<String>,
}

/// The audience of an ID token this provider issued (the hint names the client).
fn audience_of(id_token: &str) -> Option<String> {
    let payload = id_token.split('.').nth(1)?;
    let claims: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    match &claims["aud"] {
        serde_json::Value::String(aud) => Some(aud.clone()),
        serde_json::Value::Array(list) => list.first()?.as_str().map(str::to_owned),
        _ => None,
    }
}

async fn end_session(
    State(oidc): State<Oidc>,
    headers: HeaderMap,
    Query(params): Query<EndSessionParams>,
) -> Response {
    let client_id = params
        .client_id
        .clone()
        .or_else(|| params.id_token_hint.as_deref().and_then(audience_of));
    let session = session_cookie(&headers);
    {
        let mut inner = oidc.lock();
        if let Some(session) = &session
            && inner.sessions.remove(session).is_some()
        {
            inner.end_sessions += 1;
        }
    }
    let clear = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; Max-Age=0");
    let registered = params.post_logout_redirect_uri.as_deref().filter(|uri| {
        oidc.lock().clients.iter().any(|c| {
            Some(&c.client_id) == client_id.as_ref() && c.post_logout_redirect_uris.iter().any(|r| r == uri)
        })
    });
    let mut response = match registered {
        Some(uri) => {
            let target = match &params.state {
                Some(state) => format!("{uri}{}state={state}", if uri.contains('?') { '&' } else { '?' }),
                None => uri.to_owned(),
            };
            Redirect::to(&target).into_response()
        }
        None => Html("<!doctype html><title>Signed out</title><h1>You have signed out</h1>").into_response(),
    };
    if let Ok(value) = clear.parse() {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

async fn add_client(State(oidc): State<Oidc>, Json(client): Json<Client>) -> StatusCode {
    oidc.add_client(client);
    StatusCode::NO_CONTENT
}

async fn add_user(State(oidc): State<Oidc>, Json(user): Json<User>) -> StatusCode {
    oidc.add_user(user);
    StatusCode::NO_CONTENT
}

async fn rotate(State(oidc): State<Oidc>) -> StatusCode {
    oidc.rotate_keys();
    StatusCode::NO_CONTENT
}
