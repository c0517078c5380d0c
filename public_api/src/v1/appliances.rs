//! `GET /api/v1/appliances` and `/api/v1/appliances/{id}`.

use axum::Json;
use axum::extract::{RawQuery, State};
use model::appliance::views::{ApplianceFilter, ApplianceSort, ApplianceSummary};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::IdPath;
use super::paging::{PageParams, Paged, timestamp};
use crate::ApiState;
use crate::auth::Caller;
use crate::problem::{Problem, ProblemDetails};

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Appliance {
    pub id: i64,
    pub name: String,
    pub organization_id: i64,
    pub organization_name: String,
    pub online: bool,
    /// RFC 3339.
    pub last_seen_at: Option<String>,
    pub model: String,
    pub version: String,
    pub storage_total_bytes: u64,
    pub storage_free_bytes: u64,
    pub assets: i64,
}

impl From<ApplianceSummary> for Appliance {
    fn from(a: ApplianceSummary) -> Self {
        Appliance {
            id: a.id,
            name: a.name,
            organization_id: a.organization_id,
            organization_name: a.organization_name,
            online: a.online,
            last_seen_at: a.last_seen_at.map(timestamp),
            model: a.model,
            version: a.version,
            storage_total_bytes: a.storage.total_bytes,
            storage_free_bytes: a.storage.free_bytes,
            assets: a.assets,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Connection {
    Online,
    Offline,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct ApplianceParams {
    /// Case-insensitive "contains" on the name.
    pub name: Option<String>,
    pub organization_id: Option<i64>,
    pub scope_id: Option<i64>,
    #[param(inline)]
    pub status: Option<Connection>,
    /// Only appliances low on free space.
    pub low_space: Option<bool>,
    /// 1-based page number (default 1).
    #[param(minimum = 1, maximum = 1000000)]
    pub page: Option<u32>,
    /// Items per page, 1 to 250 (default 50).
    #[param(minimum = 1, maximum = 250)]
    pub page_size: Option<u32>,
}

/// The appliances the caller may see, by name.
#[utoipa::path(
    get, path = "/api/v1/appliances", tag = "appliances",
    params(ApplianceParams),
    security(("oauth2" = ["public_api"])),
    responses(
        (status = 200, body = Paged<Appliance>),
        (status = 400, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 429, body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<Paged<Appliance>>, Problem> {
    let params: ApplianceParams = super::query(raw.as_deref())?;
    let (page, per_page) = PageParams::new(params.page, params.page_size).checked()?;
    let filter = ApplianceFilter {
        scope_id: params.scope_id,
        organization_id: params.organization_id,
        online: params.status.map(|s| matches!(s, Connection::Online)),
        name_contains: params.name,
        low_space: params.low_space.unwrap_or(false),
        sort: ApplianceSort::default(),
    };
    let mut conn = state.conn().await?;
    let found =
        domain::appliances::views::list_page(&mut conn, &caller.viewer, &filter, page, per_page).await?;
    Ok(Json(Paged::of(found, Appliance::from)))
}

/// One appliance.
#[utoipa::path(
    get, path = "/api/v1/appliances/{id}", tag = "appliances",
    params(("id" = i64, Path, minimum = 1)),
    security(("oauth2" = ["public_api"])),
    responses(
        (status = 200, body = Appliance),
        (status = 400, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub async fn get(
    State(state): State<ApiState>,
    caller: Caller,
    IdPath(id): IdPath,
) -> Result<Json<Appliance>, Problem> {
    let mut conn = state.conn().await?;
    let found = domain::appliances::views::get(&mut conn, &caller.viewer, id).await?;
    Ok(Json(found.into()))
}
