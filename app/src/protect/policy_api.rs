//! Server functions of backup policies (Protect → Assets) and Jobs → Scheduled.

// Form fields arrive flat, one argument each; `#[server]` copies the arguments to the
// generated client function, where an item-level allow does not reach.
#![allow(clippy::too_many_arguments)]

use leptos::prelude::*;
use model::AppError;
use model::appliance::CommandView;
use model::jobs::{BulkOutcome, ScheduleView};
use model::policy::Retention;
use model::tenancy::Page;
#[cfg(feature = "ssr")]
use {
    crate::server::*,
    domain::appliances::policies,
    model::Action,
    model::jobs::{ScheduleFilter, ScheduleSort},
    model::policy::Frequency,
};

/// Schedules shown per page (spec portal-b §3.4).
pub const SCHEDULES_PER_PAGE: u32 = 50;

/// "12,40,41" → asset ids.
pub fn parse_ids(text: &str) -> Result<Vec<i64>, AppError> {
    text.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.parse()
                .map_err(|_| AppError::invalid("asset_ids", format!("{t:?} is not an asset.")))
        })
        .collect()
}

/// A retention count from a form field: empty is "no rule".
fn keep_count(field: &str, text: Option<String>) -> Result<Option<u32>, AppError> {
    match text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => t.parse().map(Some).map_err(|_| {
            AppError::invalid(field, format!("{t:?} is not a whole number of recovery points."))
        }),
    }
}

/// The five "keep" fields of the policy and retention forms.
pub fn parse_retention(
    keep_last: Option<String>,
    keep_daily: Option<String>,
    keep_weekly: Option<String>,
    keep_monthly: Option<String>,
    keep_yearly: Option<String>,
) -> Result<Retention, AppError> {
    Ok(Retention {
        keep_last: keep_count("keep_last", keep_last)?,
        keep_daily: keep_count("keep_daily", keep_daily)?,
        keep_weekly: keep_count("keep_weekly", keep_weekly)?,
        keep_monthly: keep_count("keep_monthly", keep_monthly)?,
        keep_yearly: keep_count("keep_yearly", keep_yearly)?,
    })
}

/// Signed in (ConfigurePolicies): set (create or replace) the backup policy of the selected
/// assets; the start date and time are in each appliance's zone.
#[server(prefix = "/api", endpoint = "policies/set")]
pub async fn set_policy(
    asset_ids: String,
    frequency: String,
    exclude_weekends: Option<String>,
    start_date: String,
    start_time: String,
    keep_last: Option<String>,
    keep_daily: Option<String>,
    keep_weekly: Option<String>,
    keep_monthly: Option<String>,
    keep_yearly: Option<String>,
) -> Result<BulkOutcome, AppError> {
    let viewer = viewer(Action::ConfigurePolicies)?;
    let request = policies::PolicyRequest {
        frequency: Frequency::parse(&frequency)
            .ok_or_else(|| AppError::invalid("frequency", "Choose how often to back up."))?,
        exclude_weekends: exclude_weekends.is_some(),
        start_date,
        start_time,
        retention: parse_retention(keep_last, keep_daily, keep_weekly, keep_monthly, keep_yearly)?,
    };
    policies::set_policies(
        &portal(),
        &viewer,
        &parse_ids(&asset_ids)?,
        &request,
        &client_info(),
    )
    .await
    .map_err(to_app_error)
}

/// Signed in (ConfigurePolicies): remove the backup policy of the selected assets.
#[server(prefix = "/api", endpoint = "policies/remove")]
pub async fn remove_policy(asset_ids: String) -> Result<BulkOutcome, AppError> {
    let viewer = viewer(Action::ConfigurePolicies)?;
    policies::remove_policies(&portal(), &viewer, &parse_ids(&asset_ids)?, &client_info())
        .await
        .map_err(to_app_error)
}

/// Signed in (ChangeRetention): change which recovery points the selected assets' policies keep.
#[server(prefix = "/api", endpoint = "policies/retention")]
pub async fn set_retention(
    asset_ids: String,
    keep_last: Option<String>,
    keep_daily: Option<String>,
    keep_weekly: Option<String>,
    keep_monthly: Option<String>,
    keep_yearly: Option<String>,
) -> Result<BulkOutcome, AppError> {
    let viewer = viewer(Action::ChangeRetention)?;
    let retention = parse_retention(keep_last, keep_daily, keep_weekly, keep_monthly, keep_yearly)?;
    policies::set_retention(
        &portal(),
        &viewer,
        &parse_ids(&asset_ids)?,
        &retention,
        &client_info(),
    )
    .await
    .map_err(to_app_error)
}

/// Signed in (View): Jobs → Scheduled, filtered, sorted and paged.
#[server(prefix = "/api", endpoint = "schedules/list")]
pub async fn list_schedules(
    scope_id: Option<i64>,
    organization_id: Option<i64>,
    appliance: Option<String>,
    job_name: Option<String>,
    status: Option<String>,
    sort: Option<String>,
    desc: Option<bool>,
    page: Option<u32>,
) -> Result<Page<ScheduleView>, AppError> {
    let viewer = viewer(Action::View)?;
    let filter = ScheduleFilter {
        scope_id,
        organization_id,
        appliance,
        job_name,
        running: match status.as_deref() {
            Some("running") => Some(true),
            Some("idle") => Some(false),
            _ => None,
        },
    };
    let order = (
        sort.as_deref().map(ScheduleSort::parse).unwrap_or_default(),
        desc.unwrap_or(false),
    );
    let portal = portal();
    policies::schedules(
        &mut *conn().await?,
        &viewer,
        &filter,
        order,
        page.unwrap_or(1),
        SCHEDULES_PER_PAGE,
        portal.now(),
    )
    .await
    .map_err(to_app_error)
}

/// Signed in (ConfigurePolicies): pause (`enabled = false`) or resume an asset's schedule.
#[server(prefix = "/api", endpoint = "schedules/enable")]
pub async fn set_schedule_enabled(asset_id: i64, enabled: bool) -> Result<CommandView, AppError> {
    let viewer = viewer(Action::ConfigurePolicies)?;
    policies::set_schedule_enabled(&portal(), &viewer, asset_id, enabled, &client_info())
        .await
        .map_err(to_app_error)
}

/// Signed in (ConfigurePolicies): delete an asset's schedule (its policy).
#[server(prefix = "/api", endpoint = "schedules/delete")]
pub async fn delete_schedule(asset_id: i64) -> Result<CommandView, AppError> {
    let viewer = viewer(Action::ConfigurePolicies)?;
    policies::delete_schedule(&portal(), &viewer, asset_id, &client_info())
        .await
        .map_err(to_app_error)
}
