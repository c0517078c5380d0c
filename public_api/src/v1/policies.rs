//! An asset's backup policy: `GET /api/v1/assets/{id}` shows it; `PUT` and `DELETE` on
//! `/api/v1/assets/{id}/policy` ask the asset's appliance to set or drop it, as Protect → Set
//! backup policy does (Admin role or above, and the write scope).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use domain::ClientInfo;
use domain::appliances::policies::PolicyRequest;
use model::AppError;
use model::policy::{Frequency, Policy, Retention};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::IdPath;
use super::assets::Asset;
use crate::ApiState;
use crate::auth::Caller;
use crate::problem::{Problem, ProblemDetails};

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BackupFrequency {
    Hourly,
    Bihourly,
    FourTimesDaily,
    Daily,
    Weekly,
}

impl From<Frequency> for BackupFrequency {
    fn from(f: Frequency) -> Self {
        match f {
            Frequency::Hourly => BackupFrequency::Hourly,
            Frequency::Bihourly => BackupFrequency::Bihourly,
            Frequency::FourTimesDaily => BackupFrequency::FourTimesDaily,
            Frequency::Daily => BackupFrequency::Daily,
            Frequency::Weekly => BackupFrequency::Weekly,
        }
    }
}

impl From<BackupFrequency> for Frequency {
    fn from(f: BackupFrequency) -> Self {
        match f {
            BackupFrequency::Hourly => Frequency::Hourly,
            BackupFrequency::Bihourly => Frequency::Bihourly,
            BackupFrequency::FourTimesDaily => Frequency::FourTimesDaily,
            BackupFrequency::Daily => Frequency::Daily,
            BackupFrequency::Weekly => Frequency::Weekly,
        }
    }
}

/// Which recovery points are kept (each 0 to 10,000); all empty keeps every one.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Keep {
    #[serde(default, deserialize_with = "optional_count")]
    #[schema(minimum = 0, maximum = 10000)]
    pub last: Option<u32>,
    #[serde(default, deserialize_with = "optional_count")]
    #[schema(minimum = 0, maximum = 10000)]
    pub daily: Option<u32>,
    #[serde(default, deserialize_with = "optional_count")]
    #[schema(minimum = 0, maximum = 10000)]
    pub weekly: Option<u32>,
    #[serde(default, deserialize_with = "optional_count")]
    #[schema(minimum = 0, maximum = 10000)]
    pub monthly: Option<u32>,
    #[serde(default, deserialize_with = "optional_count")]
    #[schema(minimum = 0, maximum = 10000)]
    pub yearly: Option<u32>,
}

/// A whole number, as JSON Schema counts them: `7` and `7.0` alike.
fn whole_number<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    let value = f64::deserialize(deserializer)?;
    if value.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&value) {
        // In range and whole, checked above.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Ok(value as u32)
    } else {
        Err(serde::de::Error::custom(format!(
            "{value} is not a whole number of 0 or more"
        )))
    }
}

fn optional_count<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<u32>, D::Error> {
    #[derive(Deserialize)]
    struct Whole(#[serde(deserialize_with = "whole_number")] u32);
    Ok(Option::<Whole>::deserialize(deserializer)?.map(|Whole(n)| n))
}

fn restore_test_days<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u16, D::Error> {
    let days = whole_number(deserializer)?;
    u16::try_from(days).map_err(|_| serde::de::Error::custom(format!("{days} days is too many")))
}

impl From<Retention> for Keep {
    fn from(r: Retention) -> Self {
        Keep {
            last: r.keep_last,
            daily: r.keep_daily,
            weekly: r.keep_weekly,
            monthly: r.keep_monthly,
            yearly: r.keep_yearly,
        }
    }
}

impl From<Keep> for Retention {
    fn from(k: Keep) -> Self {
        Retention {
            keep_last: k.last,
            keep_daily: k.daily,
            keep_weekly: k.weekly,
            keep_monthly: k.monthly,
            keep_yearly: k.yearly,
        }
    }
}

/// A backup policy as the appliance runs it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupPolicy {
    pub frequency: BackupFrequency,
    pub exclude_weekends: bool,
    /// `YYYY-MM-DD`, in the appliance's zone.
    pub start_date: String,
    /// `HH:MM`, 24-hour, in the appliance's zone.
    pub start_time: String,
    pub keep: Keep,
    /// A disabled policy keeps its settings but starts no backups.
    pub enabled: bool,
    /// Days between restore tests; 0: none.
    pub restore_test_days: u16,
}

impl From<Policy> for BackupPolicy {
    fn from(p: Policy) -> Self {
        BackupPolicy {
            frequency: p.schedule.frequency.into(),
            exclude_weekends: p.schedule.exclude_weekends,
            start_date: p.schedule.start_date,
            start_time: p.schedule.start_time,
            keep: p.retention.into(),
            enabled: p.enabled,
            restore_test_days: p.restore_test_days,
        }
    }
}

/// The policy to set.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BackupPolicyRequest {
    pub frequency: BackupFrequency,
    /// A weekly policy that excludes weekends must start on a weekday.
    #[serde(default)]
    pub exclude_weekends: bool,
    /// `YYYY-MM-DD`, in the appliance's zone.
    #[schema(format = Date)]
    pub start_date: String,
    /// `HH:MM`, 24-hour, in the appliance's zone.
    #[schema(pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    pub start_time: String,
    #[serde(default)]
    pub keep: Keep,
    /// Days between restore tests, 0 (never) to 365 (default 7).
    #[serde(default = "weekly", deserialize_with = "restore_test_days")]
    #[schema(minimum = 0, maximum = 365)]
    pub restore_test_days: u16,
}

fn weekly() -> u16 {
    model::policy::DEFAULT_RESTORE_TEST_DAYS
}

/// An asset with its policy and any change on its way to the appliance.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AssetWithPolicy {
    #[serde(flatten)]
    pub asset: Asset,
    /// As the appliance last reported it.
    pub policy: Option<BackupPolicy>,
    /// A policy change was sent and the appliance has not carried it out yet.
    pub policy_change_pending: bool,
}

/// One asset, with its backup policy.
#[utoipa::path(
    get, path = "/api/v1/assets/{id}", tag = "assets",
    params(("id" = i64, Path, minimum = 1)),
    security(("oauth2" = ["public_api"])),
    responses(
        (status = 200, body = AssetWithPolicy),
        (status = 400, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub async fn get_asset(
    State(state): State<ApiState>,
    caller: Caller,
    IdPath(id): IdPath,
) -> Result<Json<AssetWithPolicy>, Problem> {
    let mut conn = state.conn().await?;
    let asset = domain::appliances::assets::get(&mut conn, &caller.viewer, id).await?;
    Ok(Json(AssetWithPolicy {
        policy: asset.policy.clone().map(BackupPolicy::from),
        policy_change_pending: asset.policy_pending(),
        asset: asset.into(),
    }))
}

/// Asks the asset's appliance to run this policy (creating or replacing it).
#[utoipa::path(
    put, path = "/api/v1/assets/{id}/policy", tag = "assets",
    params(("id" = i64, Path, minimum = 1)),
    request_body = BackupPolicyRequest,
    security(("oauth2" = ["public_api.write"])),
    responses(
        (status = 202, description = "Sent to the appliance"),
        (status = 400, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub async fn set_policy(
    State(state): State<ApiState>,
    caller: Caller,
    IdPath(id): IdPath,
    body: Bytes,
) -> Result<StatusCode, Problem> {
    caller.require_write()?;
    let wanted: BackupPolicyRequest = serde_json::from_slice(&body)
        .map_err(|e| Problem::invalid("body", format!("Not a backup policy: {e}")))?;
    let request = PolicyRequest {
        frequency: wanted.frequency.into(),
        exclude_weekends: wanted.exclude_weekends,
        start_date: wanted.start_date,
        start_time: wanted.start_time,
        retention: wanted.keep.into(),
        restore_test_days: wanted.restore_test_days,
    };
    visible(&state, &caller, id).await?;
    let client = client_of(&caller);
    let outcome =
        domain::appliances::policies::set_policies(&state.portal, &caller.viewer, &[id], &request, &client)
            .await?;
    accepted(outcome)
}

/// Asks the asset's appliance to drop its policy.
#[utoipa::path(
    delete, path = "/api/v1/assets/{id}/policy", tag = "assets",
    params(("id" = i64, Path, minimum = 1)),
    security(("oauth2" = ["public_api.write"])),
    responses(
        (status = 202, description = "Sent to the appliance"),
        (status = 400, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub async fn remove_policy(
    State(state): State<ApiState>,
    caller: Caller,
    IdPath(id): IdPath,
) -> Result<StatusCode, Problem> {
    caller.require_write()?;
    visible(&state, &caller, id).await?;
    let client = client_of(&caller);
    let outcome =
        domain::appliances::policies::remove_policies(&state.portal, &caller.viewer, &[id], &client).await?;
    accepted(outcome)
}

/// "Not found" for an asset the caller may not see, before anything else is said about it.
async fn visible(state: &ApiState, caller: &Caller, id: i64) -> Result<(), Problem> {
    let mut conn = state.conn().await?;
    domain::appliances::assets::get(&mut conn, &caller.viewer, id).await?;
    Ok(())
}

fn client_of(caller: &Caller) -> ClientInfo {
    ClientInfo {
        ip: None,
        user_agent: Some(format!("public API client {}", caller.client_id)),
    }
}

fn accepted(outcome: model::jobs::BulkOutcome) -> Result<StatusCode, Problem> {
    match outcome.refused.into_iter().next() {
        Some(reason) => Err(AppError::conflict(reason).into()),
        None => Ok(StatusCode::ACCEPTED),
    }
}
