//! Errors of `/api/v1` as RFC 9457 problem details (`application/problem+json`), carrying the
//! same codes the portal's errors have.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use domain::DomainError;
use model::AppError;
use serde::Serialize;
use utoipa::ToSchema;

/// An `/api/v1` error (boxed: it travels in every handler's `Result`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem(Box<ProblemDetails>);

/// A problem: `code` is the portal's error kind (`invalid`, `forbidden`, `not_found`, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ProblemDetails {
    /// Always `about:blank`: the status and `code` say what happened.
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub code: String,
    /// The query parameter or body field at fault, for `invalid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(skip)]
    retry_after_secs: Option<u64>,
    #[serde(skip)]
    bearer_error: Option<&'static str>,
}

impl Problem {
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Problem {
        Problem::from(ProblemDetails {
            problem_type: "about:blank".into(),
            title: status.canonical_reason().unwrap_or("Error").into(),
            status: status.as_u16(),
            detail: detail.into(),
            code: code.into(),
            field: None,
            retry_after_secs: None,
            bearer_error: None,
        })
    }

    fn with(self, change: impl FnOnce(&mut ProblemDetails)) -> Problem {
        let mut details = self.0;
        change(&mut details);
        Problem(details)
    }

    pub fn invalid(field: &str, detail: impl Into<String>) -> Problem {
        let field = field.to_owned();
        Problem::new(StatusCode::BAD_REQUEST, "invalid", detail).with(|d| d.field = Some(field))
    }

    /// 401 with `WWW-Authenticate: Bearer` naming `error` (RFC 6750 §3).
    pub fn unauthenticated(error: &'static str, detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::UNAUTHORIZED, "unauthenticated", detail)
            .with(|d| d.bearer_error = Some(error))
    }

    /// 403 for a token without the scope an operation needs (RFC 6750 §3.1).
    pub fn insufficient_scope(scope: &str) -> Problem {
        let detail = format!("The access token lacks the {scope} scope.");
        Problem::new(StatusCode::FORBIDDEN, "forbidden", detail)
            .with(|d| d.bearer_error = Some("insufficient_scope"))
    }

    pub fn too_many_requests(retry_after_secs: u64) -> Problem {
        let detail = format!("Too many requests for this credential; retry in {retry_after_secs} s.");
        Problem::new(StatusCode::TOO_MANY_REQUESTS, "throttled", detail)
            .with(|d| d.retry_after_secs = Some(retry_after_secs))
    }

    pub fn not_found(what: &str) -> Problem {
        Problem::from(AppError::not_found(what))
    }
}

impl From<ProblemDetails> for Problem {
    fn from(details: ProblemDetails) -> Problem {
        Problem(Box::new(details))
    }
}

impl From<AppError> for Problem {
    fn from(error: AppError) -> Problem {
        let detail = error.to_string();
        match error {
            AppError::Invalid { field, .. } => Problem::invalid(&field, detail),
            AppError::Unauthenticated => Problem::unauthenticated("invalid_token", detail),
            AppError::Forbidden | AppError::Denied { .. } => {
                Problem::new(StatusCode::FORBIDDEN, "forbidden", detail)
            }
            AppError::NotFound { .. } => Problem::new(StatusCode::NOT_FOUND, "not_found", detail),
            AppError::Conflict { .. } => Problem::new(StatusCode::CONFLICT, "conflict", detail),
            AppError::Throttled { retry_after_secs } => Problem::too_many_requests(retry_after_secs),
            AppError::Internal { .. } | AppError::Transport { .. } => {
                Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", detail)
            }
        }
    }
}

impl From<DomainError> for Problem {
    fn from(error: DomainError) -> Problem {
        match error {
            DomainError::Rejected(error) => Problem::from(error),
            other => {
                let request_id = domain::secrets::random_token()[..12].to_owned();
                tracing::error!(request_id, error = %other, "public API request failed");
                Problem::from(AppError::Internal { request_id })
            }
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let details = *self.0;
        let status = StatusCode::from_u16(details.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, axum::Json(&details)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(secs) = details.retry_after_secs {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(error) = details.bearer_error {
            let challenge = format!("Bearer realm=\"public_api\", error=\"{error}\"");
            if let Ok(value) = HeaderValue::from_str(&challenge) {
                headers.insert(header::WWW_AUTHENTICATE, value);
            }
        }
        response
    }
}
