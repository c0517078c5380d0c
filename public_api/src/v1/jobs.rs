//! `GET /api/v1/jobs`: finished jobs of the last 90 days, filtered as Jobs → Recent filters.

use axum::Json;
use axum::extract::{RawQuery, State};
use model::appliance::views::JobView;
use model::appliance::{JobKind, JobState};
use model::jobs::JobSort;
use model::lists::RecentJobsQuery;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::paging::{PageParams, Paged, timestamp};
use crate::ApiState;
use crate::auth::Caller;
use crate::problem::{Problem, ProblemDetails};

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub id: i64,
    /// `backup`, `restore`, `copy` or `verify`.
    pub kind: String,
    /// `success`, `warning`, `error`, `cancelled` or `missed`.
    pub status: String,
    pub appliance_id: i64,
    pub appliance_name: String,
    pub organization_id: i64,
    pub organization_name: String,
    pub asset_id: Option<i64>,
    pub asset_name: String,
    /// RFC 3339.
    pub started_at: String,
    pub ended_at: Option<String>,
    pub size_bytes: Option<u64>,
    pub error: Option<String>,
}

impl From<JobView> for Job {
    fn from(j: JobView) -> Self {
        Job {
            id: j.id,
            kind: j.kind.as_str().into(),
            status: j.state.as_str().into(),
            appliance_id: j.appliance_id,
            appliance_name: j.appliance_name,
            organization_id: j.organization_id,
            organization_name: j.organization_name,
            asset_id: j.asset_id,
            asset_name: j.asset_name,
            started_at: timestamp(j.started_at),
            ended_at: j.ended_at.map(timestamp),
            size_bytes: j.size_bytes,
            error: j.error,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Success,
    Warning,
    Error,
    Cancelled,
    Missed,
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobType {
    Backup,
    Restore,
    Copy,
    Verify,
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobOrder {
    Started,
    Appliance,
    Asset,
    Status,
    Type,
    Duration,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct JobParams {
    #[param(inline)]
    pub status: Option<JobStatus>,
    #[serde(rename = "type")]
    #[param(rename = "type")]
    #[param(inline)]
    pub job_type: Option<JobType>,
    /// First day, `YYYY-MM-DD` (UTC, inclusive).
    #[param(format = Date)]
    pub from: Option<String>,
    /// Last day, `YYYY-MM-DD` (UTC, inclusive).
    #[param(format = Date)]
    pub to: Option<String>,
    /// Case-insensitive "contains" on the appliance's name.
    pub appliance: Option<String>,
    /// Case-insensitive "contains" on the asset's name.
    pub asset: Option<String>,
    pub organization_id: Option<i64>,
    pub scope_id: Option<i64>,
    /// Default: newest first.
    #[param(inline)]
    pub sort: Option<JobOrder>,
    pub desc: Option<bool>,
    /// 1-based page number (default 1).
    #[param(minimum = 1, maximum = 1000000)]
    pub page: Option<u32>,
    /// Items per page, 1 to 250 (default 50).
    #[param(minimum = 1, maximum = 250)]
    pub page_size: Option<u32>,
}

/// Finished jobs the caller may see, from the last 90 days.
#[utoipa::path(
    get, path = "/api/v1/jobs", tag = "jobs",
    params(JobParams),
    security(("oauth2" = ["public_api"])),
    responses(
        (status = 200, body = Paged<Job>),
        (status = 400, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 429, body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<Paged<Job>>, Problem> {
    let params: JobParams = super::query(raw.as_deref())?;
    for (field, day) in [("from", &params.from), ("to", &params.to)] {
        if day.as_deref().is_some_and(|d| d.trim().is_empty()) {
            return Err(Problem::invalid(
                field,
                format!("{field} is empty; give a date (YYYY-MM-DD) or leave it out."),
            ));
        }
    }
    let (page, per_page) = PageParams::new(params.page, params.page_size).checked()?;
    let sort = params.sort.map(|order| match order {
        JobOrder::Started => JobSort::Started,
        JobOrder::Appliance => JobSort::Appliance,
        JobOrder::Asset => JobSort::Asset,
        JobOrder::Status => JobSort::Status,
        JobOrder::Type => JobSort::Type,
        JobOrder::Duration => JobSort::Duration,
    });
    let query = RecentJobsQuery {
        scope_id: params.scope_id,
        organization_id: params.organization_id,
        appliance: params.appliance,
        asset: params.asset,
        status: params.status.map(|s| match s {
            JobStatus::Success => JobState::Success,
            JobStatus::Warning => JobState::Warning,
            JobStatus::Error => JobState::Error,
            JobStatus::Cancelled => JobState::Cancelled,
            JobStatus::Missed => JobState::Missed,
        }),
        kind: params.job_type.map(|t| match t {
            JobType::Backup => JobKind::Backup,
            JobType::Restore => JobKind::Restore,
            JobType::Copy => JobKind::Copy,
            JobType::Verify => JobKind::Verify,
        }),
        from: params.from,
        to: params.to,
        descending: params.desc.unwrap_or(sort.is_none()),
        sort,
        page,
        per_page,
    };
    let filter = query.filter()?;
    let order = (query.sort.unwrap_or_default(), query.descending);
    let now = state.portal.now();
    let mut conn = state.conn().await?;
    let found =
        domain::appliances::recent_jobs::page(&mut conn, &caller.viewer, &filter, order, page, per_page, now)
            .await?;
    Ok(Json(Paged::of(found, Job::from)))
}
