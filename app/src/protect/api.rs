//! Server functions of Protect: appliances, assets, jobs and the commands users send them.

use leptos::prelude::*;
use model::AppError;
use model::alerts::DayCount;
use model::appliance::views::{ApplianceSummary, AssetDetail, AssetView, CommandView, RecoveryPointView};
use model::jobs::BulkOutcome;
use model::lists::{AppliancesQuery, AssetsQuery};
use model::tenancy::Page;
use serde::{Deserialize, Serialize};
#[cfg(feature = "ssr")]
use {
    crate::server::*,
    domain::appliances::{assets, commands, views},
    model::Action,
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

/// Signed in (View): the appliances the user may see, filtered and sorted.
#[server(prefix = "/api", endpoint = "appliances/list")]
pub async fn list_appliances(
    #[server(default)] query: AppliancesQuery,
) -> Result<Page<ApplianceSummary>, AppError> {
    let viewer = viewer(Action::View)?;
    let per_page = query.page_size()?;
    views::list_page(&mut *conn().await?, &viewer, &query.filter, query.page, per_page)
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

/// Signed in (View): assets across appliances, a page at a time.
#[server(prefix = "/api", endpoint = "assets/list")]
pub async fn list_assets(#[server(default)] query: AssetsQuery) -> Result<Page<AssetView>, AppError> {
    let viewer = viewer(Action::View)?;
    let query = assets::AssetQuery {
        per_page: query.page_size()?,
        scope_id: query.scope_id,
        appliance_id: query.appliance_id,
        organization_id: query.organization_id,
        name_contains: query.name,
        appliance_contains: query.appliance_name,
        recent_failures: query.recent_failures,
        sort: query.sort,
        descending: query.descending,
        page: query.page,
    };
    // Contexts are read before the first await: afterwards the render has moved on.
    let now = portal().now();
    assets::list(&mut *conn().await?, &viewer, &query, now)
        .await
        .map_err(to_app_error)
}

/// Signed in (View): an asset's drawer: the asset, its jobs running or just ended, its
/// recovery points.
#[server(prefix = "/api", endpoint = "assets/detail")]
pub async fn get_asset_detail(asset_id: i64) -> Result<AssetDetail, AppError> {
    let viewer = viewer(Action::View)?;
    let now = portal().now();
    assets::detail(&mut *conn().await?, &viewer, asset_id, now)
        .await
        .map_err(to_app_error)
}

/// Signed in (View): an asset's recovery points, newest first.
#[server(prefix = "/api", endpoint = "assets/recovery-points")]
pub async fn list_recovery_points(asset_id: i64) -> Result<Vec<RecoveryPointView>, AppError> {
    let viewer = viewer(Action::View)?;
    assets::recovery_points(&mut *conn().await?, &viewer, asset_id)
        .await
        .map_err(to_app_error)
}

/// Signed in (View): the appliance's latest commands and how they ended.
#[server(prefix = "/api", endpoint = "appliances/commands")]
pub async fn list_commands(appliance_id: i64) -> Result<Vec<CommandView>, AppError> {
    let viewer = viewer(Action::View)?;
    commands::latest(&mut *conn().await?, &viewer, appliance_id, 20)
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

/// Signed in (StartBackup): test a restore of the asset's newest recovery point now.
#[server(prefix = "/api", endpoint = "assets/verify-now")]
pub async fn verify_now(asset_id: i64) -> Result<CommandView, AppError> {
    let viewer = viewer(Action::StartBackup)?;
    let (portal, client) = (portal(), client_info());
    commands::verify_now(&portal, &viewer, asset_id, &client)
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

/// Signed in (ManageAppliances): stop protecting the selected assets, on one appliance or many
/// (typed DELETE); each refusal names its asset.
#[server(prefix = "/api", endpoint = "assets/remove-many")]
pub async fn remove_assets(asset_ids: String, confirmation: String) -> Result<BulkOutcome, AppError> {
    let viewer = viewer(Action::ManageAppliances)?;
    let ids = super::policy_api::parse_ids(&asset_ids)?;
    commands::remove_assets(&portal(), &viewer, &ids, &confirmation, &client_info())
        .await
        .map_err(to_app_error)
}

/// Signed in (View): an appliance's finished jobs per UTC day, the last 13 days.
#[server(prefix = "/api", endpoint = "appliances/completed-jobs")]
pub async fn completed_jobs(appliance_id: i64) -> Result<Vec<DayCount>, AppError> {
    let viewer = viewer(Action::View)?;
    let now = portal().now();
    domain::dashboard::appliance_completed_per_day(&mut *conn().await?, &viewer, appliance_id, now)
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
