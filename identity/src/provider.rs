//! The OpenID Connect relying party: discovery (cached per issuer), the authorization request
//! (code flow with PKCE, state and nonce), and the code exchange with the ID token's checks —
//! issuer, audience, expiry, nonce, signature by a key of the provider's JWKS (fetched again
//! once when the token names a key the cached set lacks), and the access token's hash.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreIdToken, CoreJsonWebKeySet};
use openidconnect::reqwest;
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken,
    EndSessionUrl, EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, LogoutRequest, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, PostLogoutRedirectUrl,
    ProviderMetadataWithLogout, RedirectUrl, Scope, SignatureVerificationError, TokenResponse,
};

/// Provider metadata is fetched again after this long (and whenever a token names an unknown key).
const METADATA_TTL: Duration = Duration::from_secs(60 * 60);
const HTTP_TIMEOUT: Duration = Duration::from_secs(15);

/// `amr` values (RFC 8176) that mean the user passed more than a password.
const SECOND_FACTOR_METHODS: [&str; 12] = [
    "mfa", "otp", "hwk", "swk", "sms", "tel", "fido", "face", "fpt", "iris", "retina", "sc",
];

/// Why talking to a provider did not give a verified identity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// Discovery or the key set could not be fetched or read.
    #[error(
        "The provider at {issuer} could not be reached or did not answer as an OpenID Connect provider: {detail}"
    )]
    Unreachable { issuer: String, detail: String },
    /// The token endpoint refused the code (expired, used, wrong verifier, bad client).
    #[error("The provider refused the sign-in: {0}")]
    Refused(String),
    /// The ID token failed a check; the reason is for logs and the audit, not for the browser.
    #[error("The provider's ID token was refused: {0}")]
    BadToken(String),
}

/// A provider as the instance configured it.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    /// Ask the provider to post the code back (KaseyaOne does) rather than redirect with it.
    pub form_post: bool,
}

/// A started sign-in: where to send the browser, and what the callback must check.
#[derive(Debug, Clone)]
pub struct Authorization {
    pub url: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

/// Who the provider says signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedIdentity {
    /// The provider's immutable subject.
    pub subject: String,
    /// The e-mail (or preferred username) the token carries, if any.
    pub username: Option<String>,
    /// False only when the provider says the e-mail is not verified.
    pub email_verified: bool,
    /// Whether `amr` reports a second factor.
    pub second_factor: bool,
    /// The raw ID token, kept as the hint for single logout.
    pub id_token: String,
}

type Metadata = ProviderMetadataWithLogout;

/// A client made from discovered metadata: authorization endpoint set, token and user-info
/// endpoints as the provider published them.
type RelyingParty = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

struct Cached {
    metadata: Metadata,
    fetched: Instant,
}

static METADATA: LazyLock<Mutex<HashMap<String, Cached>>> = LazyLock::new(Default::default);

/// The back-channel client: it never follows redirects (a provider answering with one would
/// otherwise let it aim the server at any address).
fn http_client() -> Result<reqwest::Client, ProviderError> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(HTTP_TIMEOUT)
        .build()
        .map_err(|e| ProviderError::Refused(format!("HTTP client: {e}")))
}

fn unreachable(issuer: &str, detail: impl std::fmt::Display) -> ProviderError {
    ProviderError::Unreachable {
        issuer: issuer.to_owned(),
        detail: detail.to_string(),
    }
}

fn cached(issuer: &str) -> Option<Metadata> {
    let cache = METADATA.lock().ok()?;
    cache
        .get(issuer)
        .filter(|c| c.fetched.elapsed() < METADATA_TTL)
        .map(|c| c.metadata.clone())
}

fn remember(issuer: &str, metadata: &Metadata) {
    if let Ok(mut cache) = METADATA.lock() {
        cache.insert(
            issuer.to_owned(),
            Cached {
                metadata: metadata.clone(),
                fetched: Instant::now(),
            },
        );
    }
}

/// The provider's metadata and keys, from the cache unless `fresh` or stale.
pub async fn discover(issuer: &str, fresh: bool) -> Result<Metadata, ProviderError> {
    if !fresh && let Some(metadata) = cached(issuer) {
        return Ok(metadata);
    }
    let issuer_url = IssuerUrl::new(issuer.to_owned()).map_err(|e| unreachable(issuer, e))?;
    let metadata = Metadata::discover_async(issuer_url, &http_client()?)
        .await
        .map_err(|e| unreachable(issuer, error_chain(&e)))?;
    remember(issuer, &metadata);
    Ok(metadata)
}

/// The error and its sources on one line (discovery errors hide the useful part in a source).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

fn client_of(
    metadata: Metadata,
    config: &ProviderConfig,
    redirect_uri: &str,
) -> Result<RelyingParty, ProviderError> {
    let redirect = RedirectUrl::new(redirect_uri.to_owned())
        .map_err(|e| ProviderError::Refused(format!("redirect URI: {e}")))?;
    Ok(CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(config.client_id.clone()),
        config.client_secret.clone().map(ClientSecret::new),
    )
    .set_redirect_uri(redirect))
}

/// Starts a sign-in: the provider's authorization URL with a fresh state, nonce and PKCE pair.
pub async fn authorize(config: &ProviderConfig, redirect_uri: &str) -> Result<Authorization, ProviderError> {
    let metadata = discover(&config.issuer, false).await?;
    let client = client_of(metadata, config, redirect_uri)?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge);
    if config.form_post {
        request = request.add_extra_param("response_mode", "form_post");
    }
    let (url, state, nonce) = request.url();
    Ok(Authorization {
        url: url.to_string(),
        state: state.secret().clone(),
        nonce: nonce.secret().clone(),
        pkce_verifier: verifier.secret().clone(),
    })
}

/// Exchanges the code and verifies the ID token at `now_ms`.
pub async fn exchange(
    config: &ProviderConfig,
    redirect_uri: &str,
    (code, pkce_verifier, nonce): (&str, &str, &str),
    now_ms: i64,
) -> Result<VerifiedIdentity, ProviderError> {
    let metadata = discover(&config.issuer, false).await?;
    let client = client_of(metadata.clone(), config, redirect_uri)?;
    let http = http_client()?;
    let response = client
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .map_err(|e| ProviderError::Refused(e.to_string()))?
        .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()))
        .request_async(&http)
        .await
        .map_err(|e| ProviderError::Refused(error_chain(&e)))?;
    let id_token = response
        .id_token()
        .ok_or_else(|| ProviderError::BadToken("the token response has no ID token".into()))?
        .clone();
    let nonce = Nonce::new(nonce.to_owned());
    let checked = match verify(&client, &id_token, &nonce, now_ms, response.access_token()) {
        Err(ProviderError::BadToken(reason)) if reason == NO_MATCHING_KEY => {
            // The provider rotated its keys since they were cached: fetch them once more.
            let keys = CoreJsonWebKeySet::fetch_async(metadata.jwks_uri(), &http)
                .await
                .map_err(|e| unreachable(&config.issuer, error_chain(&e)))?;
            let refreshed = metadata.set_jwks(keys);
            remember(&config.issuer, &refreshed);
            let client = client_of(refreshed, config, redirect_uri)?;
            verify(&client, &id_token, &nonce, now_ms, response.access_token())?
        }
        other => other?,
    };
    Ok(VerifiedIdentity {
        id_token: id_token.to_string(),
        ..checked
    })
}

const NO_MATCHING_KEY: &str = "no key of the provider's key set signed it";

fn verify(
    client: &RelyingParty,
    id_token: &CoreIdToken,
    nonce: &Nonce,
    now_ms: i64,
    access_token: &openidconnect::AccessToken,
) -> Result<VerifiedIdentity, ProviderError> {
    let now = chrono::DateTime::from_timestamp_millis(now_ms).unwrap_or_default();
    let verifier = client.id_token_verifier().set_time_fn(move || now);
    let claims = id_token.claims(&verifier, nonce).map_err(|e| match e {
        ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey) => {
            ProviderError::BadToken(NO_MATCHING_KEY.into())
        }
        other => ProviderError::BadToken(error_chain(&other)),
    })?;
    if let Some(expected) = claims.access_token_hash() {
        let alg = id_token
            .signing_alg()
            .map_err(|e| ProviderError::BadToken(e.to_string()))?;
        let key = id_token
            .signing_key(&verifier)
            .map_err(|e| ProviderError::BadToken(e.to_string()))?;
        let actual = AccessTokenHash::from_token(access_token, alg, key)
            .map_err(|e| ProviderError::BadToken(e.to_string()))?;
        if actual != *expected {
            return Err(ProviderError::BadToken(
                "the access token does not match the ID token's at_hash".into(),
            ));
        }
    }
    let username = claims
        .email()
        .map(|e| e.as_str().to_owned())
        .or_else(|| claims.preferred_username().map(|u| u.as_str().to_owned()));
    let second_factor = claims.auth_method_refs().is_some_and(|methods| {
        methods
            .iter()
            .any(|m| SECOND_FACTOR_METHODS.contains(&m.as_str()))
    });
    Ok(VerifiedIdentity {
        subject: claims.subject().as_str().to_owned(),
        username,
        email_verified: claims.email_verified() != Some(false),
        second_factor,
        id_token: String::new(),
    })
}

/// Where to send the browser to end its session at the provider too, if the provider offers
/// RP-initiated logout.
pub async fn logout_url(config: &ProviderConfig, id_token: &str, post_logout_uri: &str) -> Option<String> {
    let metadata = discover(&config.issuer, false).await.ok()?;
    let end_session = metadata.additional_metadata().end_session_endpoint.clone()?;
    let mut request = LogoutRequest::from(EndSessionUrl::new(end_session.url().to_string()).ok()?)
        .set_client_id(ClientId::new(config.client_id.clone()));
    if let Ok(token) = id_token.parse::<CoreIdToken>() {
        request = request.set_id_token_hint(&token);
    }
    if let Ok(uri) = PostLogoutRedirectUrl::new(post_logout_uri.to_owned()) {
        request = request.set_post_logout_redirect_uri(uri);
    }
    Some(request.http_get_url().to_string())
}
