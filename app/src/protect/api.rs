//! Server functions of Protect: appliances, assets, jobs and the commands users send them.

// List filters arrive as flat form fields, one argument each; `#[server]` copies the arguments
// to the generated client function, where an item-level allow does not reach.
#![allow(clippy::too_many_arguments)]

use leptos::prelude::*;
use model::AppError;
use model::appliance::{ApplianceSummary, AssetView, CommandView, JobLogLine, JobView, RecoveryPointView};
use model::tenancy::Page;
use serde::{Deserialize, Serialize};
#[cfg(feature = "ssr")]
use {
    crate::server::*,
    domain::appliances::{commands, views},
    model::Action,
    model::appliance::{ApplianceFilter, ApplianceSort},
};

/// A fresh registration ID with the command line that starts an appliance with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewRegistration {
    pub registration_id: String,
    /// Names the registration in live events, so the wizard sees its appliance connect.
    pub reference: String,
    pub organization_id: i64,
    pub expires_at: i64,
    pub command_line: String,
}

/// Rows shown per page in asset lists (spec portal-a §2.28).
pub const ASSETS_PER_PAGE: u32 = 50;

/// Signed in (View): the appliances the user may see, filtered and sorted.
#[server(prefix = "/api", endpoint = "appliances/list")]
pub async fn list_appliances(
    scope_id: Option<i64>,
    organization_id: Option<i64>,
    status: Option<String>,
    name: Option<String>,
    low_space: Option<bool>,
    sort: Option<String>,
) -> Result<Vec<ApplianceSummary>, AppError> {
    let viewer = viewer(Action::View)?;
    let filter = ApplianceFilter {
        scope_id,
        organization_id,
        online: match status.as_deref() {
            Some("online") => Some(true),
            Some("offline") => Some(false),
            _ => None,
        },
        name_contains: name,
        low_space: low_space.unwrap_or(false),
        sort: sort.as_deref().map(ApplianceSort::parse).unwrap_or_default(),
    };
    views::list(&mut *conn().await?, &viewer, &filter)
        .await
        .map_err(to_app_error)
}

/// Signed in (View): one appliance.
#[server(prefix = "/api", endpoint = "appliances/get")]
pub async fn get_appliance(id: i64) -> Result<ApplianceSummary, AppError> {
    let viewer = viewer(Action::View)?;
    views::get(&mut *conn().await?, &viewer, id)
        .await
        .map_err(to_app_error)
}

/// Signed in (ManageAppliances): a single-use registration ID, 24 hours, for an existing
/// organization or for a new one created on the way (named, in `scope`; empty = Unassigned).
#[server(prefix = "/api", endpoint = "appliances/registration")]
pub async fn create_registration(
    organization_id: Option<String>,
    new_organization: Option<String>,
    scope: Option<String>,
) -> Result<NewRegistration, AppError> {
    let viewer = viewer(Action::ManageAppliances)?;
    let portal = portal();
    let organization_id = match new_organization.filter(|n| !n.trim().is_empty()) {
        Some(name) => {
            let scope_id = match scope.filter(|s| !s.is_empty()) {
                Some(s) => Some(
                    s.parse()
                        .map_err(|_| AppError::invalid("scope", "Choose a scope from the list."))?,
                ),
                None => None,
            };
            domain::organizations::create(&portal, &viewer, &name, scope_id, &client_info())
                .await
                .map_err(to_app_error)?
        }
        None => organization_id.and_then(|id| id.parse().ok()).ok_or_else(|| {
            AppError::invalid("organization_id", "Choose an organization or name a new one.")
        })?,
    };
    let registration =
        domain::appliances::registration::create(&portal, &viewer, organization_id, &client_info())
            .await
            .map_err(to_app_error)?;
    let command_line = format!(
        "backplane-appliance --portal {} --registration-id {} --data-dir /var/lib/backplane-appliance",
        portal.public_url, registration.id
    );
    Ok(NewRegistration {
        registration_id: registration.id,
        reference: registration.reference,
        organization_id,
        expires_at: registration.expires_at,
        command_line,
    })
}

/// Signed in (View): assets across appliances, 50 per page.
#[server(prefix = "/api", endpoint = "assets/list")]
pub async fn list_assets(
    appliance_id: Option<i64>,
    organization_id: Option<i64>,
    name: Option<String>,
    page: Option<u32>,
) -> Result<Page<AssetView>, AppError> {
    let viewer = viewer(Action::View)?;
    let query = views::AssetQuery {
        appliance_id,
        organization_id,
        name_contains: name,
        page: page.unwrap_or(1),
        per_page: ASSETS_PER_PAGE,
    };
    views::assets(&mut *conn().await?, &viewer, &query)
        .await
        .map_err(to_app_error)
}

/// Signed in (View): an asset's recovery points, newest first.
#[server(prefix = "/api", endpoint = "assets/recovery-points")]
pub async fn list_recovery_points(asset_id: i64) -> Result<Vec<RecoveryPointView>, AppError> {
    let viewer = viewer(Action::View)?;
    views::recovery_points(&mut *conn().await?, &viewer, asset_id)
        .await
        .map_err(to_app_error)
}

/// Signed in (View): the latest jobs, of one appliance or all.
#[server(prefix = "/api", endpoint = "jobs/list")]
pub async fn list_jobs(appliance_id: Option<i64>) -> Result<Vec<JobView>, AppError> {
    let viewer = viewer(Action::View)?;
    let query = views::JobQuery {
        appliance_id,
        active_or_ended_after: None,
        limit: 50,
    };
    views::jobs(&mut *conn().await?, &viewer, query)
        .await
        .map_err(to_app_error)
}

/// Signed in (View): a job's log.
#[server(prefix = "/api", endpoint = "jobs/log")]
pub async fn job_log(job_id: i64) -> Result<Vec<JobLogLine>, AppError> {
    let viewer = viewer(Action::View)?;
    views::job_log(&mut *conn().await?, &viewer, job_id)
        .await
        .map_err(to_app_error)
}

/// Signed in (View): the appliance's latest commands and how they ended.
#[server(prefix = "/api", endpoint = "appliances/commands")]
pub async fn list_commands(appliance_id: i64) -> Result<Vec<CommandView>, AppError> {
    let viewer = viewer(Action::View)?;
    views::commands(&mut *conn().await?, &viewer, appliance_id, 20)
        .await
        .map_err(to_app_error)
}

/// Signed in (StartBackup): back an asset up now.
#[server(prefix = "/api", endpoint = "assets/backup-now")]
pub async fn backup_now(asset_id: i64) -> Result<CommandView, AppError> {
    let viewer = viewer(Action::StartBackup)?;
    commands::backup_now(&portal(), &viewer, asset_id, &client_info())
        .await
        .map_err(to_app_error)
}

/// Signed in (StartBackup): restore a recovery point (or paths in it) to a directory on the
/// appliance.
#[server(prefix = "/api", endpoint = "assets/restore")]
pub async fn restore(
    asset_id: i64,
    recovery_point_id: String,
    paths: Option<String>,
    target_dir: String,
    overwrite: Option<String>,
) -> Result<CommandView, AppError> {
    let viewer = viewer(Action::StartBackup)?;
    let request = commands::RestoreRequest {
        asset_id,
        recovery_point_id,
        paths: paths.unwrap_or_default(),
        target_dir,
        overwrite: overwrite.is_some(),
    };
    commands::restore(&portal(), &viewer, &request, &client_info())
        .await
        .map_err(to_app_error)
}

/// Signed in (CancelJob): cancel a running job.
#[server(prefix = "/api", endpoint = "jobs/cancel")]
pub async fn cancel_job(job_id: i64) -> Result<CommandView, AppError> {
    let viewer = viewer(Action::CancelJob)?;
    commands::cancel_job(&portal(), &viewer, job_id, &client_info())
        .await
        .map_err(to_app_error)
}

/// Signed in (ManageAppliances): protect another directory of the appliance.
#[server(prefix = "/api", endpoint = "assets/add")]
pub async fn add_asset(appliance_id: i64, path: String) -> Result<CommandView, AppError> {
    let viewer = viewer(Action::ManageAppliances)?;
    commands::add_asset(&portal(), &viewer, appliance_id, &path, &client_info())
        .await
        .map_err(to_app_error)
}

/// Signed in (ManageAppliances): stop protecting an asset (typed DELETE).
#[server(prefix = "/api", endpoint = "assets/remove")]
pub async fn remove_asset(asset_id: i64, confirmation: String) -> Result<CommandView, AppError> {
    let viewer = viewer(Action::ManageAppliances)?;
    commands::remove_asset(&portal(), &viewer, asset_id, &confirmation, &client_info())
        .await
        .map_err(to_app_error)
}

/// Signed in (ManageAppliances): delete an appliance (typed DELETE); its credential is revoked.
#[server(prefix = "/api", endpoint = "appliances/delete")]
pub async fn delete_appliance(appliance_id: i64, confirmation: String) -> Result<(), AppError> {
    let viewer = viewer(Action::ManageAppliances)?;
    commands::delete_appliance(&portal(), &viewer, appliance_id, &confirmation, &client_info())
        .await
        .map_err(to_app_error)
}

/// Signed in (View): Jobs → Recent, the last 90 days, filtered, sorted and paged. Dates are
/// `YYYY-MM-DD` in UTC; `to` is inclusive.
#[server(prefix = "/api", endpoint = "jobs/recent")]
pub async fn list_recent_jobs(
    scope_id: Option<i64>,
    organization_id: Option<i64>,
    appliance: Option<String>,
    asset: Option<String>,
    status: Option<String>,
    kind: Option<String>,
    from: Option<String>,
    to: Option<String>,
    sort: Option<String>,
    desc: Option<bool>,
    page: Option<u32>,
) -> Result<Page<JobView>, AppError> {
    use model::appliance::{JobKind, JobState};
    use model::jobs::{JobSort, RecentJobFilter};
    let viewer = viewer(Action::View)?;
    let day = |field: &str, text: Option<String>, extra_days: i64| -> Result<Option<i64>, AppError> {
        let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
            return Ok(None);
        };
        let date = chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
            .map_err(|_| AppError::invalid(field, format!("{text} is not a date (YYYY-MM-DD).")))?;
        let midnight = date.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp_millis());
        Ok(midnight.map(|ms| ms + extra_days * 86_400_000))
    };
    let filter = RecentJobFilter {
        scope_id,
        organization_id,
        appliance,
        asset,
        state: status.as_deref().and_then(JobState::parse),
        kind: kind.as_deref().and_then(JobKind::parse),
        started_from: day("from", from, 0)?,
        started_before: day("to", to, 1)?,
    };
    let order = (
        sort.as_deref().map(JobSort::parse).unwrap_or_default(),
        desc.unwrap_or(sort.is_none()),
    );
    let portal = portal();
    domain::appliances::views::recent_jobs(
        &mut *conn().await?,
        &viewer,
        &filter,
        order,
        page.unwrap_or(1),
        50,
        portal.now(),
    )
    .await
    .map_err(to_app_error)
}

/// Signed in (View): Jobs → Active, running jobs and those that ended in the last 5 minutes.
#[server(prefix = "/api", endpoint = "jobs/active")]
pub async fn list_active_jobs() -> Result<Vec<JobView>, AppError> {
    let viewer = viewer(Action::View)?;
    let portal = portal();
    let query = views::JobQuery {
        appliance_id: None,
        active_or_ended_after: Some(portal.now() - ACTIVE_AFTER_END_MS),
        limit: 500,
    };
    views::jobs(&mut *conn().await?, &viewer, query)
        .await
        .map_err(to_app_error)
}

/// Jobs stay under Active this long after they end (spec portal-b W-J4: "the last few minutes").
pub const ACTIVE_AFTER_END_MS: i64 = 5 * 60 * 1000;
