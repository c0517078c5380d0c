//! Server functions of Jobs: the Recent, Active and Scheduled lists, a job's log, and starting
//! or stopping a job (Back up now, Cancel, a schedule's Disable/Enable and Delete).

use leptos::prelude::*;
use model::AppError;
use model::appliance::views::{CommandView, JobLogLine, JobView};
use model::jobs::ScheduleView;
use model::lists::{RecentJobsQuery, SchedulesQuery};
use model::tenancy::Page;
#[cfg(feature = "ssr")]
use {
    crate::server::*,
    domain::appliances::{commands, jobs, policies, recent_jobs},
    model::Action,
    model::jobs::RECENTLY_ENDED_MS,
};

/// Signed in (View): the latest jobs, of one appliance or all.
#[server(prefix = "/api", endpoint = "jobs/list")]
pub async fn list_jobs(appliance_id: Option<i64>) -> Result<Vec<JobView>, AppError> {
    let viewer = viewer(Action::View)?;
    let query = jobs::JobQuery {
        asset_id: None,
        appliance_id,
        active_or_ended_after: None,
        limit: 50,
    };
    jobs::list(&mut *conn().await?, &viewer, query)
        .await
        .map_err(to_app_error)
}

/// Signed in (View): Jobs → Recent, the last 90 days, filtered, sorted and paged.
#[server(prefix = "/api", endpoint = "jobs/recent")]
pub async fn list_recent_jobs(#[server(default)] query: RecentJobsQuery) -> Result<Page<JobView>, AppError> {
    let viewer = viewer(Action::View)?;
    let filter = query.filter()?;
    let per_page = query.page_size()?;
    let portal = portal();
    recent_jobs::page(
        &mut *conn().await?,
        &viewer,
        &filter,
        query.order(),
        query.page,
        per_page,
        portal.now(),
    )
    .await
    .map_err(to_app_error)
}

/// Signed in (View): Jobs → Active, running jobs and those that ended a moment ago.
#[server(prefix = "/api", endpoint = "jobs/active")]
pub async fn list_active_jobs() -> Result<Vec<JobView>, AppError> {
    let viewer = viewer(Action::View)?;
    let portal = portal();
    let query = jobs::JobQuery {
        asset_id: None,
        appliance_id: None,
        active_or_ended_after: Some(portal.now() - RECENTLY_ENDED_MS),
        limit: 500,
    };
    jobs::list(&mut *conn().await?, &viewer, query)
        .await
        .map_err(to_app_error)
}

/// Signed in (View): a job's log.
#[server(prefix = "/api", endpoint = "jobs/log")]
pub async fn job_log(job_id: i64) -> Result<Vec<JobLogLine>, AppError> {
    let viewer = viewer(Action::View)?;
    jobs::log(&mut *conn().await?, &viewer, job_id)
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

/// Signed in (CancelJob): cancel a running job.
#[server(prefix = "/api", endpoint = "jobs/cancel")]
pub async fn cancel_job(job_id: i64) -> Result<CommandView, AppError> {
    let viewer = viewer(Action::CancelJob)?;
    commands::cancel_job(&portal(), &viewer, job_id, &client_info())
        .await
        .map_err(to_app_error)
}

/// Signed in (View): Jobs → Scheduled, filtered, sorted and paged.
#[server(prefix = "/api", endpoint = "schedules/list")]
pub async fn list_schedules(
    #[server(default)] query: SchedulesQuery,
) -> Result<Page<ScheduleView>, AppError> {
    let viewer = viewer(Action::View)?;
    let per_page = query.page_size()?;
    let portal = portal();
    policies::schedules(
        &mut *conn().await?,
        &viewer,
        &query.filter(),
        (query.sort, query.descending),
        query.page,
        per_page,
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
