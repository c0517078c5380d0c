//! Server functions of the Dashboard, the Alert Center and the alert settings.

use leptos::prelude::*;
use model::AppError;
use model::alerts::{
    AlarmSettings, AlertCategory, AlertGroup, AlertKind, AlertSettings, AlertView, DashboardView,
};
use serde::{Deserialize, Serialize};
#[cfg(feature = "ssr")]
use {
    crate::server::*,
    domain::alerts::center::{self, Dismissal},
    domain::alerts::settings::{self, CustomRequest},
    model::Action,
    model::alerts::{AlertFilter, ThresholdBlock, Thresholds},
};

#[cfg(feature = "ssr")]
fn filter(organization: Option<i64>, scope: Option<i64>) -> AlertFilter {
    AlertFilter {
        organization_id: organization,
        scope_id: scope,
    }
}

/// Signed in: the Dashboard's tiles, of one organization or scope if given.
#[server(prefix = "/api", endpoint = "dashboard")]
pub async fn dashboard(organization: Option<i64>, scope: Option<i64>) -> Result<DashboardView, AppError> {
    let viewer = viewer(Action::View)?;
    let now = portal().now();
    domain::dashboard::dashboard(&mut *conn().await?, &viewer, &filter(organization, scope), now)
        .await
        .map_err(to_app_error)
}

/// Signed in: how many unresolved alerts the user may see (the bell).
#[server(prefix = "/api", endpoint = "alerts/count")]
pub async fn alert_count() -> Result<i64, AppError> {
    let viewer = viewer(Action::View)?;
    center::count(&mut *conn().await?, &viewer, &AlertFilter::default())
        .await
        .map_err(to_app_error)
}

/// Signed in: the Alert Center's groups, newest first.
#[server(prefix = "/api", endpoint = "alerts/groups")]
pub async fn alert_groups(
    organization: Option<i64>,
    scope: Option<i64>,
) -> Result<Vec<AlertGroup>, AppError> {
    let viewer = viewer(Action::View)?;
    let offline_after_ms = portal().alerting.offline_after_ms;
    center::groups(
        &mut *conn().await?,
        &viewer,
        &filter(organization, scope),
        offline_after_ms,
    )
    .await
    .map_err(to_app_error)
}

/// Signed in: the alerts of one group.
#[server(prefix = "/api", endpoint = "alerts/members")]
pub async fn alert_members(kind: AlertKind, organization_id: i64) -> Result<Vec<AlertView>, AppError> {
    let viewer = viewer(Action::View)?;
    center::members(&mut *conn().await?, &viewer, kind, organization_id)
        .await
        .map_err(to_app_error)
}

#[cfg(feature = "ssr")]
async fn dismiss(action: Action, dismissal: Dismissal) -> Result<u64, AppError> {
    let viewer = viewer(action)?;
    center::dismiss(&portal(), &viewer, &dismissal, &client_info())
        .await
        .map_err(to_app_error)
}

/// Signed in (View): the active alerts of an appliance and its assets, newest first.
#[server(prefix = "/api", endpoint = "alerts/of-appliance")]
pub async fn appliance_alerts(appliance_id: i64) -> Result<Vec<AlertView>, AppError> {
    let viewer = viewer(Action::View)?;
    center::of_appliance(&mut *conn().await?, &viewer, appliance_id)
        .await
        .map_err(to_app_error)
}

/// Manage and up: dismiss one alert.
#[server(prefix = "/api", endpoint = "alerts/dismiss")]
pub async fn dismiss_alert(id: i64) -> Result<u64, AppError> {
    dismiss(Action::DismissAlert, Dismissal::One(id)).await
}

/// Admin and up: dismiss a group.
#[server(prefix = "/api", endpoint = "alerts/dismiss-group")]
pub async fn dismiss_group(kind: AlertKind, organization_id: i64) -> Result<u64, AppError> {
    dismiss(
        Action::DismissAlertGroups,
        Dismissal::Group {
            kind,
            organization_id,
        },
    )
    .await
}

/// Admin and up: dismiss every alert the user sees.
#[server(prefix = "/api", endpoint = "alerts/dismiss-all")]
pub async fn dismiss_all() -> Result<u64, AppError> {
    dismiss(Action::DismissAlertGroups, Dismissal::All).await
}

/// Superuser: dismiss every alert of an organization and/or scope.
#[server(prefix = "/api", endpoint = "alerts/dismiss-matching")]
pub async fn dismiss_matching(organization: Option<i64>, scope: Option<i64>) -> Result<u64, AppError> {
    dismiss(
        Action::BulkDismissAlerts,
        Dismissal::Matching(filter(organization, scope)),
    )
    .await
}

/// Superuser: Settings → Alerts.
#[server(prefix = "/api", endpoint = "alerts/settings")]
pub async fn get_alert_settings() -> Result<AlertSettings, AppError> {
    let viewer = viewer(Action::ManageAlertSettings)?;
    settings::alert_settings(&mut *conn().await?, viewer.instance_id)
        .await
        .map_err(to_app_error)
}

/// Superuser: turn a category on or off.
#[server(prefix = "/api", endpoint = "alerts/category")]
pub async fn set_alert_category(category: AlertCategory, enabled: bool) -> Result<(), AppError> {
    let viewer = viewer(Action::ManageAlertSettings)?;
    settings::set_category(&portal(), &viewer, category, enabled, &client_info())
        .await
        .map_err(to_app_error)
}

/// Superuser: add an alert e-mail recipient.
#[server(prefix = "/api", endpoint = "alerts/recipients/add")]
pub async fn add_alert_recipient(email: String) -> Result<(), AppError> {
    let viewer = viewer(Action::ManageAlertSettings)?;
    settings::add_recipient(&portal(), &viewer, &email, &client_info())
        .await
        .map_err(to_app_error)
}

/// Superuser: remove an alert e-mail recipient.
#[server(prefix = "/api", endpoint = "alerts/recipients/remove")]
pub async fn remove_alert_recipient(email: String) -> Result<(), AppError> {
    let viewer = viewer(Action::ManageAlertSettings)?;
    settings::remove_recipient(&portal(), &viewer, &email, &client_info())
        .await
        .map_err(to_app_error)
}

/// Superuser: Settings → Conditional alarms.
#[server(prefix = "/api", endpoint = "alarms/settings")]
pub async fn get_alarm_settings() -> Result<AlarmSettings, AppError> {
    let viewer = viewer(Action::ManageAlertSettings)?;
    settings::alarm_settings(&mut *conn().await?, &viewer)
        .await
        .map_err(to_app_error)
}

/// One block of a thresholds form, named `backups[…]` or `copies[…]`; the checkbox sends "on"
/// when ticked.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ThresholdFields {
    pub enabled: Option<String>,
    pub days: i64,
    pub hours: i64,
}

#[cfg(feature = "ssr")]
fn thresholds(backups: ThresholdFields, copies: ThresholdFields) -> Thresholds {
    let block = |f: ThresholdFields| ThresholdBlock::new(f.enabled.is_some(), f.days, f.hours);
    Thresholds {
        backups: block(backups),
        copies: block(copies),
    }
}

/// Superuser: save the global thresholds.
#[server(prefix = "/api", endpoint = "alarms/global")]
pub async fn save_global_thresholds(
    backups: ThresholdFields,
    copies: ThresholdFields,
) -> Result<(), AppError> {
    let viewer = viewer(Action::ManageAlertSettings)?;
    settings::save_global(&portal(), &viewer, &thresholds(backups, copies), &client_info())
        .await
        .map_err(to_app_error)
}

/// Superuser: create (no id) or change a custom threshold.
#[server(prefix = "/api", endpoint = "alarms/custom/save")]
pub async fn save_custom_threshold(
    id: Option<i64>,
    title: String,
    backups: ThresholdFields,
    copies: ThresholdFields,
    organization_ids: Option<Vec<i64>>,
) -> Result<i64, AppError> {
    let viewer = viewer(Action::ManageAlertSettings)?;
    let request = CustomRequest {
        id,
        title,
        thresholds: thresholds(backups, copies),
        organization_ids: organization_ids.unwrap_or_default(),
    };
    settings::save_custom(&portal(), &viewer, &request, &client_info())
        .await
        .map_err(to_app_error)
}

/// Superuser: delete a custom threshold.
#[server(prefix = "/api", endpoint = "alarms/custom/delete")]
pub async fn delete_custom_threshold(id: i64) -> Result<(), AppError> {
    let viewer = viewer(Action::ManageAlertSettings)?;
    settings::delete_custom(&portal(), &viewer, id, &client_info())
        .await
        .map_err(to_app_error)
}
