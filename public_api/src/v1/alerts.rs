//! `GET /api/v1/alerts` and `POST /api/v1/alerts/{id}/dismiss`.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use domain::ClientInfo;
use domain::alerts::center::Dismissal;
use model::alerts::{AlertFilter, AlertView, Severity};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::IdPath;
use super::paging::{PageParams, Paged, timestamp};
use crate::ApiState;
use crate::auth::Caller;
use crate::problem::{Problem, ProblemDetails};

/// An unresolved alert.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    pub id: i64,
    /// The alert's kind, e.g. `backup_failed`, `appliance_offline`.
    pub kind: String,
    /// `critical` or `warning`.
    pub severity: String,
    pub message: String,
    /// RFC 3339.
    pub raised_at: String,
    pub organization_id: i64,
    pub organization_name: String,
    pub appliance_id: Option<i64>,
    pub appliance_name: Option<String>,
    pub asset_id: Option<i64>,
    pub asset_name: Option<String>,
}

impl From<AlertView> for Alert {
    fn from(a: AlertView) -> Self {
        Alert {
            id: a.id,
            kind: a.kind.as_str().into(),
            severity: match a.severity {
                Severity::Critical => "critical",
                Severity::Warning => "warning",
            }
            .into(),
            message: a.message,
            raised_at: timestamp(a.raised_at),
            organization_id: a.organization_id,
            organization_name: a.organization_name,
            appliance_id: a.appliance_id,
            appliance_name: a.appliance_name,
            asset_id: a.asset_id,
            asset_name: a.asset_name,
        }
    }
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct AlertParams {
    pub organization_id: Option<i64>,
    pub scope_id: Option<i64>,
    /// 1-based page number (default 1).
    #[param(minimum = 1, maximum = 1000000)]
    pub page: Option<u32>,
    /// Items per page, 1 to 250 (default 50).
    #[param(minimum = 1, maximum = 250)]
    pub page_size: Option<u32>,
}

/// The unresolved alerts the caller may see, newest first.
#[utoipa::path(
    get, path = "/api/v1/alerts", tag = "alerts",
    params(AlertParams),
    security(("oauth2" = ["public_api"])),
    responses(
        (status = 200, body = Paged<Alert>),
        (status = 400, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 429, body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<Paged<Alert>>, Problem> {
    let params: AlertParams = super::query(raw.as_deref())?;
    let paging = PageParams::new(params.page, params.page_size).checked()?;
    let filter = AlertFilter {
        organization_id: params.organization_id,
        scope_id: params.scope_id,
    };
    let mut conn = state.conn().await?;
    let found = domain::alerts::center::page(&mut conn, &caller.viewer, &filter, paging).await?;
    Ok(Json(Paged::of(found, Alert::from)))
}

/// Dismisses one alert (Manage role or above, and the write scope). A condition that still
/// holds raises a new alert later.
#[utoipa::path(
    post, path = "/api/v1/alerts/{id}/dismiss", tag = "alerts",
    params(("id" = i64, Path, minimum = 1)),
    security(("oauth2" = ["public_api.write"])),
    responses(
        (status = 204, description = "Dismissed"),
        (status = 400, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub async fn dismiss(
    State(state): State<ApiState>,
    caller: Caller,
    IdPath(id): IdPath,
) -> Result<StatusCode, Problem> {
    caller.require_write()?;
    let client = ClientInfo {
        ip: None,
        user_agent: Some(format!("public API client {}", caller.client_id)),
    };
    let dismissed =
        domain::alerts::center::dismiss(&state.portal, &caller.viewer, &Dismissal::One(id), &client).await?;
    match dismissed {
        0 => Err(Problem::not_found("The alert")),
        _ => Ok(StatusCode::NO_CONTENT),
    }
}
