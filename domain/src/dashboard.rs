//! The Dashboard: counts and short lists over what the viewer may see, optionally narrowed to
//! one organization or scope (spec portal-a §2.9, §3.1).

use model::Action;
use model::alerts::{AlertFilter, DASHBOARD_DAYS, DashboardHint, DashboardView, DayCount};
use model::appliance::views::LOW_SPACE_PERCENT;
use model::jobs::JobSort;
use model::jobs::RecentJobFilter;
use sqlx::{AnyConnection, AssertSqlSafe};

use crate::DomainResult;
use crate::access::{Viewer, sees_whole_instance, visible_organization_ids};
use crate::alerts::{center, settings};
use crate::appliances::{jobs, recent_jobs};
use crate::clock::HOUR_MS;

const DAY_MS: i64 = 24 * HOUR_MS;
/// Rows in the Active jobs and Recent jobs tiles.
pub const TILE_ROWS: i64 = 3;

fn visible(viewer: &Viewer, filter: &AlertFilter) -> String {
    visible_organization_ids(viewer, filter.organization_id, filter.scope_id)
}

#[tracing::instrument(skip_all, fields(user_id = viewer.user_id))]
pub async fn dashboard(
    conn: &mut AnyConnection,
    viewer: &Viewer,
    filter: &AlertFilter,
    now: i64,
) -> DomainResult<DashboardView> {
    let (online, total, low_space, used, capacity) = appliance_counts(&mut *conn, viewer, filter).await?;
    let alerts = center::count(&mut *conn, viewer, filter).await?;
    let active_jobs = jobs::latest_active(
        &mut *conn,
        viewer,
        filter.organization_id,
        filter.scope_id,
        TILE_ROWS,
    )
    .await?;
    let completed = completed_per_day(&mut *conn, viewer, filter, now).await?;
    let recent = recent_jobs::page(
        &mut *conn,
        viewer,
        &RecentJobFilter {
            scope_id: filter.scope_id,
            organization_id: filter.organization_id,
            started_from: Some(now - DASHBOARD_DAYS * DAY_MS),
            ..RecentJobFilter::default()
        },
        (JobSort::Started, true),
        1,
        TILE_ROWS as u32,
        now,
    )
    .await?;
    Ok(DashboardView {
        appliances_online: online,
        appliances_offline: total - online,
        alerts,
        low_space,
        storage_used_bytes: u64::try_from(used).unwrap_or_default(),
        storage_total_bytes: u64::try_from(capacity).unwrap_or_default(),
        active_jobs,
        completed,
        recent_jobs: recent.items,
        hints: hints(&mut *conn, viewer, filter).await?,
    })
}

/// Set-up steps the viewer could take and has not: only those who may change the setting see
/// that it is missing.
async fn hints(
    conn: &mut AnyConnection,
    viewer: &Viewer,
    filter: &AlertFilter,
) -> DomainResult<Vec<DashboardHint>> {
    let mut hints = Vec::new();
    let alarm_settings = viewer.role.can(Action::ManageAlertSettings);
    if alarm_settings && !settings::backup_alarms_on(&mut *conn, viewer.instance_id).await? {
        hints.push(DashboardHint::BackupAlarmsOff);
    }
    let (protecting, copying, tested): (i64, i64, i64) = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT CAST(COUNT(DISTINCT s.appliance_id) AS BIGINT), CAST(COUNT(DISTINCT t.appliance_id) AS BIGINT),
                CAST(COUNT(s.last_verified_at) AS BIGINT)
         FROM appliances ap JOIN assets s ON s.appliance_id = ap.id
         LEFT JOIN copy_targets t ON t.appliance_id = ap.id
         WHERE ap.deleted_at IS NULL AND ap.organization_id IN ({})",
        visible(viewer, filter)
    )))
    .fetch_one(&mut *conn)
    .await?;
    if protecting > 0 && copying == 0 && viewer.role.can(Action::ManageAppliances) {
        hints.push(DashboardHint::NoOffsiteCopies);
    }
    if protecting > 0 && tested == 0 && viewer.role.can(Action::StartBackup) {
        hints.push(DashboardHint::NoRestoreTests);
    }
    if copying > 0 && alarm_settings && !settings::copy_alarms_on(&mut *conn, viewer.instance_id).await? {
        hints.push(DashboardHint::CopyAlarmsOff);
    }
    Ok(hints)
}

async fn appliance_counts(
    conn: &mut AnyConnection,
    viewer: &Viewer,
    filter: &AlertFilter,
) -> DomainResult<(i64, i64, i64, i64, i64)> {
    let sql = format!(
        "SELECT CAST(COALESCE(SUM(ap.online), 0) AS BIGINT), COUNT(ap.id),
                CAST(COALESCE(SUM(CASE WHEN ap.storage_total > 0
                                       AND ap.storage_free * 100 <= ap.storage_total * {LOW_SPACE_PERCENT} THEN 1 ELSE 0 END), 0) AS BIGINT),
                CAST(COALESCE(SUM(ap.storage_used), 0) AS BIGINT), CAST(COALESCE(SUM(ap.storage_total), 0) AS BIGINT)
         FROM appliances ap
         WHERE ap.deleted_at IS NULL AND ap.organization_id IN ({})",
        visible(viewer, filter)
    );
    Ok(sqlx::query_as(AssertSqlSafe(sql)).fetch_one(conn).await?)
}

/// Jobs that ended in each of the last 13 UTC days (today included): good ones (success or
/// warning) and missed ones (failed, or never started), from the daily counts: the instance's
/// when the viewer sees all of it, else summed over the visible organizations.
async fn completed_per_day(
    conn: &mut AnyConnection,
    viewer: &Viewer,
    filter: &AlertFilter,
    now: i64,
) -> DomainResult<Vec<DayCount>> {
    let first_day = first_chart_day(now);
    let sql = if sees_whole_instance(viewer, filter.organization_id, filter.scope_id) {
        format!(
            "SELECT day, good, missed FROM instance_job_days WHERE instance_id = {} AND day >= $1",
            viewer.instance_id
        )
    } else {
        format!(
            "SELECT day, CAST(SUM(good) AS BIGINT), CAST(SUM(missed) AS BIGINT) FROM job_days
             WHERE day >= $1 AND organization_id IN ({}) GROUP BY day",
            visible(viewer, filter)
        )
    };
    let rows: Vec<(i64, i64, i64)> = sqlx::query_as(AssertSqlSafe(sql))
        .bind(first_day)
        .fetch_all(conn)
        .await?;
    Ok(chart_days(first_day, &rows))
}

/// The first UTC day the chart shows at `now`.
fn first_chart_day(now: i64) -> i64 {
    now.div_euclid(DAY_MS) * DAY_MS - (DASHBOARD_DAYS - 1) * DAY_MS
}

/// Every day of the chart from `first_day`, with the (day, good, missed) counts found.
fn chart_days(first_day: i64, rows: &[(i64, i64, i64)]) -> Vec<DayCount> {
    (0..DASHBOARD_DAYS)
        .map(|index| {
            let day = first_day + index * DAY_MS;
            let (success, missed) = rows
                .iter()
                .find(|(d, _, _)| *d == day)
                .map_or((0, 0), |(_, s, m)| (*s, *m));
            DayCount { day, success, missed }
        })
        .collect()
}

/// The appliance page's Completed jobs tile: its jobs that ended in each of the last 13 UTC
/// days, counted as the Dashboard counts them; "not found" for an appliance the viewer may not
/// see.
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id, appliance_id = appliance_id))]
pub async fn appliance_completed_per_day(
    conn: &mut AnyConnection,
    viewer: &Viewer,
    appliance_id: i64,
    now: i64,
) -> DomainResult<Vec<DayCount>> {
    crate::appliances::views::get(&mut *conn, viewer, appliance_id).await?;
    let first_day = first_chart_day(now);
    let rows: Vec<(i64, i64, i64)> = sqlx::query_as(
        "SELECT (COALESCE(ended_at, updated_at) / 86400000) * 86400000 AS day,
                CAST(SUM(CASE WHEN state IN ('success', 'warning') THEN 1 ELSE 0 END) AS BIGINT),
                CAST(SUM(CASE WHEN state IN ('error', 'missed') THEN 1 ELSE 0 END) AS BIGINT)
         FROM jobs
         WHERE appliance_id = $1 AND state IN ('success', 'warning', 'error', 'missed', 'cancelled')
           AND COALESCE(ended_at, updated_at) >= $2
         GROUP BY (COALESCE(ended_at, updated_at) / 86400000) * 86400000",
    )
    .bind(appliance_id)
    .bind(first_day)
    .fetch_all(conn)
    .await?;
    Ok(chart_days(first_day, &rows))
}

/// Forgets daily counts the chart no longer shows.
#[tracing::instrument(skip_all)]
pub async fn purge_old_days(conn: &mut AnyConnection, now: i64) -> DomainResult<()> {
    let first_shown = first_chart_day(now);
    for table in ["job_days", "instance_job_days"] {
        sqlx::query(AssertSqlSafe(format!("DELETE FROM {table} WHERE day < $1")))
            .bind(first_shown)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
