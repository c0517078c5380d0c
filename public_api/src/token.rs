//! The OAuth 2.0 token endpoint (client credentials grant, RFC 6749 §4.4) and the discovery
//! documents (spec portal-c §2.2, §2.4).

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use domain::ip_restrictions::{self, RequestAddress};
use model::api_access::{READ_SCOPE, WRITE_SCOPE};
use serde::Serialize;
use serde_json::json;

use crate::ApiState;
use crate::keys::{AUDIENCE, Claims};

pub const TOKEN_PATH: &str = "/connect/token";
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";
pub const JWKS_PATH: &str = "/.well-known/openid-configuration/jwks";

/// How long an access token lives.
pub const TOKEN_LIFETIME_SECS: u64 = 3600;

#[derive(Debug, Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
    scope: String,
}

/// An RFC 6749 §5.2 error.
#[derive(Debug)]
struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
}

impl OAuthError {
    fn new(error: &'static str, description: impl Into<String>) -> OAuthError {
        let status = match error {
            "invalid_client" => StatusCode::UNAUTHORIZED,
            "server_error" => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        };
        OAuthError {
            status,
            error,
            description: description.into(),
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.error, "error_description": self.description});
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        no_store(headers);
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"public_api\""),
            );
        }
        response
    }
}

fn no_store(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// `POST /connect/token`.
pub async fn token(
    State(state): State<ApiState>,
    address: Option<Extension<RequestAddress>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let address = address.map(|Extension(a)| a.0);
    match issue(&state, (&headers, address.as_deref()), &body).await {
        Ok(answer) => {
            let mut response = Json(answer).into_response();
            no_store(response.headers_mut());
            response
        }
        Err(error) => error.into_response(),
    }
}

async fn issue(
    state: &ApiState,
    (headers, address): (&HeaderMap, Option<&str>),
    body: &[u8],
) -> Result<TokenResponse, OAuthError> {
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(body).map_err(|_| {
        OAuthError::new(
            "invalid_request",
            "Send an application/x-www-form-urlencoded body.",
        )
    })?;
    let field = |name: &str| -> Result<Option<&str>, OAuthError> {
        let mut values = form
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, v)| v.as_str());
        let first = values.next();
        match values.next() {
            Some(_) => Err(OAuthError::new(
                "invalid_request",
                format!("{name} is given more than once."),
            )),
            None => Ok(first),
        }
    };
    match field("grant_type")? {
        None => return Err(OAuthError::new("invalid_request", "grant_type is missing.")),
        Some("client_credentials") => {}
        Some(_) => {
            return Err(OAuthError::new(
                "unsupported_grant_type",
                "Only grant_type=client_credentials is supported.",
            ));
        }
    }
    let (client_id, secret) = client_credentials(headers, field("client_id")?, field("client_secret")?)?;
    let scope = granted_scope(field("scope")?.unwrap_or_default())?;
    let mut conn = state.portal.db.pool.acquire().await.map_err(server_error)?;
    let client = domain::api_access::authenticate(&mut conn, &client_id, &secret)
        .await
        .map_err(server_error)?
        .ok_or_else(|| {
            OAuthError::new(
                "invalid_client",
                "The client id or secret is wrong, or the credential is disabled.",
            )
        })?;
    let list = ip_restrictions::allow_list_of(&mut conn, client.instance_id)
        .await
        .map_err(server_error)?;
    if !ip_restrictions::allows(list.as_deref(), address) {
        let refusal = ip_restrictions::refusal(address).to_string();
        return Err(OAuthError::new("unauthorized_client", refusal));
    }
    let now = jsonwebtoken::get_current_timestamp();
    let claims = Claims {
        iss: state.issuer().to_owned(),
        aud: AUDIENCE.into(),
        sub: client.client_id.clone(),
        client_id: client.client_id,
        tenant: client.homerealm,
        scope: scope.clone(),
        exp: now + TOKEN_LIFETIME_SECS,
        iat: now,
        jti: domain::secrets::random_token(),
    };
    let access_token = state.keys.sign(&claims).map_err(server_error)?;
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: TOKEN_LIFETIME_SECS,
        scope,
    })
}

fn server_error(error: impl std::fmt::Display) -> OAuthError {
    tracing::error!(%error, "issuing an API token failed");
    OAuthError::new("server_error", "The token could not be issued; try again.")
}

/// The client's id and secret from HTTP Basic (RFC 6749 §2.3.1: each form-encoded) or from the
/// body; one method only.
fn client_credentials(
    headers: &HeaderMap,
    form_id: Option<&str>,
    form_secret: Option<&str>,
) -> Result<(String, String), OAuthError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "));
    match (basic, form_id) {
        (Some(_), Some(_)) => Err(OAuthError::new(
            "invalid_request",
            "Authenticate the client either by HTTP Basic or in the body, not both.",
        )),
        (Some(encoded), None) => {
            let decoded = STANDARD
                .decode(encoded.trim())
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or_else(|| OAuthError::new("invalid_client", "The Basic credentials are not base64."))?;
            let (id, secret) = decoded
                .split_once(':')
                .ok_or_else(|| OAuthError::new("invalid_client", "The Basic credentials have no ':'."))?;
            Ok((form_decoded(id), form_decoded(secret)))
        }
        (None, Some(id)) => Ok((id.to_owned(), form_secret.unwrap_or_default().to_owned())),
        (None, None) => Err(OAuthError::new(
            "invalid_client",
            "Authenticate with the client id and secret (HTTP Basic or client_id and client_secret).",
        )),
    }
}

fn form_decoded(text: &str) -> String {
    serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("v={text}"))
        .ok()
        .and_then(|mut pairs| pairs.pop())
        .map(|(_, v)| v)
        .unwrap_or_else(|| text.to_owned())
}

/// The scopes granted: those asked for, or both when none is named.
fn granted_scope(requested: &str) -> Result<String, OAuthError> {
    let mut granted: Vec<&str> = Vec::new();
    for scope in requested.split_whitespace() {
        if scope != READ_SCOPE && scope != WRITE_SCOPE {
            return Err(OAuthError::new(
                "invalid_scope",
                format!("Unknown scope {scope}."),
            ));
        }
        if !granted.contains(&scope) {
            granted.push(scope);
        }
    }
    if granted.is_empty() {
        granted = vec![READ_SCOPE, WRITE_SCOPE];
    }
    Ok(granted.join(" "))
}

/// `GET /.well-known/openid-configuration`.
pub async fn discovery(State(state): State<ApiState>) -> Json<serde_json::Value> {
    let issuer = state.issuer();
    Json(json!({
        "issuer": issuer,
        "token_endpoint": format!("{issuer}{TOKEN_PATH}"),
        "jwks_uri": format!("{issuer}{JWKS_PATH}"),
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": [READ_SCOPE, WRITE_SCOPE],
        "response_types_supported": ["token"],
        "access_token_signing_alg_values_supported": ["EdDSA"],
        "service_documentation": format!("{issuer}{}", crate::v1::DOCS_PATH),
    }))
}

/// `GET /.well-known/openid-configuration/jwks`.
pub async fn jwks(State(state): State<ApiState>) -> Json<jsonwebtoken::jwk::JwkSet> {
    Json(state.keys.jwks())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn scopes_default_to_both_and_unknown_ones_are_refused() {
        assert_eq!(granted_scope("").unwrap(), "public_api public_api.write");
        assert_eq!(granted_scope(" public_api public_api ").unwrap(), "public_api");
        assert_eq!(granted_scope("openid").err().unwrap().error, "invalid_scope");
    }

    #[test]
    fn basic_credentials_are_form_decoded_and_one_method_only() {
        let mut headers = HeaderMap::new();
        let encoded = STANDARD.encode("abc:se%2Bcret");
        headers.insert(header::AUTHORIZATION, format!("Basic {encoded}").parse().unwrap());
        assert_eq!(
            client_credentials(&headers, None, None).ok().unwrap(),
            ("abc".into(), "se+cret".into())
        );
        assert_eq!(
            client_credentials(&headers, Some("abc"), Some("x"))
                .err()
                .unwrap()
                .error,
            "invalid_request"
        );
        assert_eq!(
            client_credentials(&HeaderMap::new(), None, None)
                .err()
                .unwrap()
                .error,
            "invalid_client"
        );
    }
}
