//! Who calls `/api/v1`: the bearer token's credential, acting as its creator with the creator's
//! role and scopes of this moment, within the credential's rate limit.

use std::num::NonZeroU32;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use domain::DomainError;
use domain::access::Viewer;
use domain::ip_restrictions::{self, RequestAddress};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use model::api_access::WRITE_SCOPE;

use crate::ApiState;
use crate::problem::Problem;

/// How many requests each credential may send: so many a minute, in bursts of so many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub per_minute: u32,
    pub burst: u32,
}

impl Default for RateLimit {
    /// 600 requests a minute, in bursts of up to 100.
    fn default() -> Self {
        RateLimit {
            per_minute: 600,
            burst: 100,
        }
    }
}

pub(crate) fn rate_limiter(limit: RateLimit) -> DefaultKeyedRateLimiter<String> {
    let per_minute = NonZeroU32::new(limit.per_minute).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(limit.burst).unwrap_or(NonZeroU32::MIN);
    RateLimiter::keyed(Quota::per_minute(per_minute).allow_burst(burst))
}

/// The caller of an `/api/v1` operation.
#[derive(Debug, Clone)]
pub struct Caller {
    pub viewer: Viewer,
    pub client_id: String,
    scopes: Vec<String>,
}

impl Caller {
    /// Refuses a token issued without the write scope.
    pub fn require_write(&self) -> Result<(), Problem> {
        if self.scopes.iter().any(|s| s == WRITE_SCOPE) {
            Ok(())
        } else {
            Err(Problem::insufficient_scope(WRITE_SCOPE))
        }
    }
}

impl FromRequestParts<ApiState> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Caller, Problem> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim)
            .ok_or_else(|| {
                Problem::unauthenticated(
                    "invalid_request",
                    "Send an access token from /connect/token as Authorization: Bearer <token>.",
                )
            })?;
        let claims = state
            .keys
            .verify(token, state.issuer())
            .map_err(|reason| Problem::unauthenticated("invalid_token", reason))?;
        if let Err(not_until) = state.limiter.check_key(&claims.client_id) {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            return Err(Problem::too_many_requests(wait.as_secs().max(1)));
        }
        let viewer = domain::api_access::acting_viewer(&state.portal, &claims.client_id, &claims.tenant)
            .await?
            .ok_or_else(|| {
                Problem::unauthenticated(
                    "invalid_token",
                    "The credential of this token is disabled or deleted, or its creator is no longer active.",
                )
            })?;
        let address = parts.extensions.get::<RequestAddress>().map(|a| a.0.as_str());
        let mut conn = state.portal.db.pool.acquire().await.map_err(DomainError::from)?;
        let list = ip_restrictions::allow_list_of(&mut conn, viewer.instance_id).await?;
        if !ip_restrictions::allows(list.as_deref(), address) {
            return Err(Problem::from(ip_restrictions::refusal(address)));
        }
        Ok(Caller {
            viewer,
            client_id: claims.client_id,
            scopes: claims.scope.split_whitespace().map(str::to_owned).collect(),
        })
    }
}
