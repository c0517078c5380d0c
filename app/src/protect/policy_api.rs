//! Server functions of backup policies (Protect → Assets).

use leptos::prelude::*;
use model::AppError;
use model::jobs::BulkOutcome;
use model::policy::Retention;
use serde::{Deserialize, Serialize};
#[cfg(feature = "ssr")]
use {crate::server::*, domain::appliances::policies, model::Action, model::policy::Frequency};

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
fn keep_count(field: &str, text: Option<&str>) -> Result<Option<u32>, AppError> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => t.parse().map(Some).map_err(|_| {
            AppError::invalid(field, format!("{t:?} is not a whole number of recovery points."))
        }),
    }
}

/// "Test a restore every N days": empty is the default (weekly), 0 is never.
#[cfg(feature = "ssr")]
fn restore_test_days_field(text: Option<&str>) -> Result<u16, AppError> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(model::policy::DEFAULT_RESTORE_TEST_DAYS),
        Some(t) => t.parse().map_err(|_| {
            AppError::invalid(
                "restore_test_days",
                format!("{t:?} is not a whole number of days."),
            )
        }),
    }
}

/// The five "keep" fields of the policy and retention forms, named `keep[last]` … `keep[yearly]`;
/// empty is "no rule".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KeepFields {
    pub last: Option<String>,
    pub daily: Option<String>,
    pub weekly: Option<String>,
    pub monthly: Option<String>,
    pub yearly: Option<String>,
}

impl KeepFields {
    pub fn retention(&self) -> Result<Retention, AppError> {
        Ok(Retention {
            keep_last: keep_count("keep_last", self.last.as_deref())?,
            keep_daily: keep_count("keep_daily", self.daily.as_deref())?,
            keep_weekly: keep_count("keep_weekly", self.weekly.as_deref())?,
            keep_monthly: keep_count("keep_monthly", self.monthly.as_deref())?,
            keep_yearly: keep_count("keep_yearly", self.yearly.as_deref())?,
        })
    }
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
    #[server(default)] keep: KeepFields,
    restore_test_days: Option<String>,
) -> Result<BulkOutcome, AppError> {
    let viewer = viewer(Action::ConfigurePolicies)?;
    let request = policies::PolicyRequest {
        frequency: Frequency::parse(&frequency)
            .ok_or_else(|| AppError::invalid("frequency", "Choose how often to back up."))?,
        exclude_weekends: exclude_weekends.is_some(),
        start_date,
        start_time,
        retention: keep.retention()?,
        restore_test_days: restore_test_days_field(restore_test_days.as_deref())?,
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
    #[server(default)] keep: KeepFields,
) -> Result<BulkOutcome, AppError> {
    let viewer = viewer(Action::ChangeRetention)?;
    let retention = keep.retention()?;
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
