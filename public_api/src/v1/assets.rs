//! `GET /api/v1/assets`: protected assets with their last backup, copy and verified restore.

use axum::Json;
use axum::extract::{RawQuery, State};
use domain::appliances::assets::AssetQuery;
use model::appliance::views::{AssetView, LastBackup};
use model::lists::AssetSort;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::paging::{PageParams, Paged, timestamp};
use crate::ApiState;
use crate::auth::Caller;
use crate::problem::{Problem, ProblemDetails};

/// A job's result and when it started.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    /// `success`, `warning` or `error` (a restore test: `success` or `error`).
    pub status: String,
    /// RFC 3339.
    pub started_at: String,
}

impl From<LastBackup> for Outcome {
    fn from(last: LastBackup) -> Self {
        Outcome {
            status: last.state.as_str().into(),
            started_at: timestamp(last.started_at),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Asset {
    pub id: i64,
    pub name: String,
    pub path: String,
    pub appliance_id: i64,
    pub appliance_name: String,
    pub organization_id: i64,
    pub organization_name: String,
    /// Whether a backup policy protects it.
    pub has_policy: bool,
    pub last_backup: Option<Outcome>,
    pub recovery_points: i64,
    /// RFC 3339.
    pub last_recovery_point_at: Option<String>,
    pub last_recovery_point_bytes: Option<u64>,
    /// RFC 3339: the newest good backup copy's end.
    pub last_copy_at: Option<String>,
    /// The newest restore test ("last certified").
    pub last_verified: Option<Outcome>,
    /// A backup failed or was missed in the last seven days.
    pub recent_failures: bool,
}

impl From<AssetView> for Asset {
    fn from(a: AssetView) -> Self {
        Asset {
            id: a.id,
            name: a.name,
            path: a.path,
            appliance_id: a.appliance_id,
            appliance_name: a.appliance_name,
            organization_id: a.organization_id,
            organization_name: a.organization_name,
            has_policy: a.policy.is_some(),
            last_backup: a.last_backup.map(Outcome::from),
            recovery_points: a.recovery_points,
            last_recovery_point_at: a.last_recovery_point_at.map(timestamp),
            last_recovery_point_bytes: a.last_point_bytes,
            last_copy_at: a.last_copy_at.map(timestamp),
            last_verified: a.last_verified.map(Outcome::from),
            recent_failures: a.recent_failures,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AssetOrder {
    Organization,
    Name,
    Appliance,
    LastBackup,
    LastCopy,
    LastVerified,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct AssetParams {
    /// Case-insensitive "contains" on the asset's name.
    pub name: Option<String>,
    /// Case-insensitive "contains" on its appliance's name.
    pub appliance: Option<String>,
    pub appliance_id: Option<i64>,
    pub organization_id: Option<i64>,
    pub scope_id: Option<i64>,
    /// Only assets with a failed or missed backup in the last seven days.
    pub recent_failures: Option<bool>,
    /// Default: organization, appliance, then name.
    #[param(inline)]
    pub sort: Option<AssetOrder>,
    pub desc: Option<bool>,
    /// 1-based page number (default 1).
    #[param(minimum = 1, maximum = 1000000)]
    pub page: Option<u32>,
    /// Items per page, 1 to 250 (default 50).
    #[param(minimum = 1, maximum = 250)]
    pub page_size: Option<u32>,
}

/// The assets the caller may see.
#[utoipa::path(
    get, path = "/api/v1/assets", tag = "assets",
    params(AssetParams),
    security(("oauth2" = ["public_api"])),
    responses(
        (status = 200, body = Paged<Asset>),
        (status = 400, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 429, body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<Paged<Asset>>, Problem> {
    let params: AssetParams = super::query(raw.as_deref())?;
    let (page, per_page) = PageParams::new(params.page, params.page_size).checked()?;
    let query = AssetQuery {
        scope_id: params.scope_id,
        appliance_id: params.appliance_id,
        organization_id: params.organization_id,
        name_contains: params.name,
        appliance_contains: params.appliance,
        recent_failures: params.recent_failures.unwrap_or(false),
        sort: match params.sort.unwrap_or(AssetOrder::Organization) {
            AssetOrder::Organization => AssetSort::Organization,
            AssetOrder::Name => AssetSort::Name,
            AssetOrder::Appliance => AssetSort::Appliance,
            AssetOrder::LastBackup => AssetSort::LastBackup,
            AssetOrder::LastCopy => AssetSort::LastCopy,
            AssetOrder::LastVerified => AssetSort::LastVerified,
        },
        descending: params.desc.unwrap_or(false),
        page,
        per_page,
    };
    let now = state.portal.now();
    let mut conn = state.conn().await?;
    let found = domain::appliances::assets::list(&mut conn, &caller.viewer, &query, now).await?;
    Ok(Json(Paged::of(found, Asset::from)))
}
