//! `GET /api/v1/organizations` and `/api/v1/organizations/{id}`.

use axum::Json;
use axum::extract::{RawQuery, State};
use model::tenancy::{OrgQuery, OrgSort, ScopeFilter};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::IdPath;
use super::paging::{PageParams, Paged};
use crate::ApiState;
use crate::auth::Caller;
use crate::problem::{Problem, ProblemDetails};

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Organization {
    pub id: i64,
    pub name: String,
    /// None: Unassigned.
    pub scope_id: Option<i64>,
    pub scope_name: Option<String>,
    pub appliances: i64,
    /// Unresolved alerts.
    pub alerts: i64,
    /// Free space of its appliances in percent (100 without appliances).
    pub free_space_percent: f64,
}

impl From<model::tenancy::Organization> for Organization {
    fn from(o: model::tenancy::Organization) -> Self {
        Organization {
            id: o.id,
            name: o.name,
            scope_id: o.scope_id,
            scope_name: o.scope_name,
            appliances: o.appliances,
            alerts: o.alerts,
            free_space_percent: o.free_space_pct,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrganizationSort {
    #[default]
    Name,
    Scope,
    Appliances,
    Alerts,
    FreeSpace,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct OrganizationParams {
    /// Case-insensitive "contains" on the name.
    pub name: Option<String>,
    /// Only organizations of this scope.
    pub scope_id: Option<i64>,
    /// Only organizations with unresolved alerts.
    pub with_alerts: Option<bool>,
    #[param(inline)]
    pub sort: Option<OrganizationSort>,
    pub desc: Option<bool>,
    /// 1-based page number (default 1).
    #[param(minimum = 1, maximum = 1000000)]
    pub page: Option<u32>,
    /// Items per page, 1 to 250 (default 50).
    #[param(minimum = 1, maximum = 250)]
    pub page_size: Option<u32>,
}

/// The organizations the caller may see.
#[utoipa::path(
    get, path = "/api/v1/organizations", tag = "organizations",
    params(OrganizationParams),
    security(("oauth2" = ["public_api"])),
    responses(
        (status = 200, body = Paged<Organization>),
        (status = 400, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 429, body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<Paged<Organization>>, Problem> {
    let params: OrganizationParams = super::query(raw.as_deref())?;
    let (page, per_page) = PageParams::new(params.page, params.page_size).checked()?;
    let query = OrgQuery {
        scope: params.scope_id.map(ScopeFilter::Scope),
        name: params.name.unwrap_or_default(),
        only_with_alerts: params.with_alerts.unwrap_or(false),
        sort: match params.sort.unwrap_or_default() {
            OrganizationSort::Name => OrgSort::Name,
            OrganizationSort::Scope => OrgSort::Scope,
            OrganizationSort::Appliances => OrgSort::Appliances,
            OrganizationSort::Alerts => OrgSort::Alerts,
            OrganizationSort::FreeSpace => OrgSort::FreeSpace,
        },
        descending: params.desc.unwrap_or(false),
        page,
        per_page,
    };
    let mut conn = state.conn().await?;
    let found = domain::organizations::list(&mut conn, &caller.viewer, &query).await?;
    Ok(Json(Paged::of(found, Organization::from)))
}

/// One organization.
#[utoipa::path(
    get, path = "/api/v1/organizations/{id}", tag = "organizations",
    params(("id" = i64, Path, minimum = 1)),
    security(("oauth2" = ["public_api"])),
    responses(
        (status = 200, body = Organization),
        (status = 400, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub async fn get(
    State(state): State<ApiState>,
    caller: Caller,
    IdPath(id): IdPath,
) -> Result<Json<Organization>, Problem> {
    let mut conn = state.conn().await?;
    let found = domain::organizations::get(&mut conn, &caller.viewer, id).await?;
    Ok(Json(found.into()))
}
