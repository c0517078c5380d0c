//! The public REST API (issue 16, spec portal-c §2): API credentials exchange their secret for
//! a signed access token at `/connect/token`; `/api/v1` answers over the same domain services
//! as the portal, as the credential's creator. The OpenAPI document is generated from the
//! handlers and served with a reference page that needs nothing from the internet.

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use domain::Portal;
use governor::DefaultKeyedRateLimiter;

pub mod auth;
pub mod keys;
pub mod problem;
pub mod token;
pub mod v1;
pub mod webhooks;

pub use keys::SigningKeys;

#[derive(Clone)]
pub struct ApiState {
    pub portal: Portal,
    pub keys: Arc<SigningKeys>,
    limiter: Arc<DefaultKeyedRateLimiter<String>>,
}

impl ApiState {
    pub fn new(portal: Portal, keys: Arc<SigningKeys>) -> ApiState {
        ApiState::with_rate_limit(portal, keys, auth::RateLimit::default())
    }

    pub fn with_rate_limit(portal: Portal, keys: Arc<SigningKeys>, limit: auth::RateLimit) -> ApiState {
        ApiState {
            portal,
            keys,
            limiter: Arc::new(auth::rate_limiter(limit)),
        }
    }

    /// A database connection for one request.
    pub async fn conn(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Any>, problem::Problem> {
        Ok(self
            .portal
            .db
            .pool
            .acquire()
            .await
            .map_err(domain::DomainError::from)?)
    }

    /// The tokens' issuer: the portal's public URL.
    pub fn issuer(&self) -> &str {
        &self.portal.public_url
    }
}

/// The token endpoint, the discovery documents and `/api/v1` with its document and reference.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route(token::TOKEN_PATH, post(token::token))
        .route(token::DISCOVERY_PATH, get(token::discovery))
        .route(token::JWKS_PATH, get(token::jwks))
        .with_state(state.clone())
        .merge(v1::router(state))
}

/// Paths this router answers, for the server's middleware (no session, no page guard).
pub fn is_api_path(path: &str) -> bool {
    path.starts_with("/api/v1/") || path == token::TOKEN_PATH || path.starts_with("/.well-known/")
}
