//! Backup policies (spec portal-b §2.1, §3.1) and Jobs → Scheduled (§2.9 W-J8–W-J13).
//!
//! A policy is the appliance's: the portal asks for a change with a command and shows it as
//! pending until the appliance answers, and the policy the appliance then reports in its
//! inventory is what the portal shows. Requests for an offline appliance wait in the queue.

use model::appliance::views::{AssetView, CommandView};
use model::appliance::{Command, JobKind, JobState};
use model::jobs::{BulkOutcome, ScheduleFilter, ScheduleSort, ScheduleView};
use model::policy::{
    Frequency, MAX_RESTORE_TEST_DAYS, NextRunError, Policy, Retention, Schedule, next_run, parse_schedule,
    policy_job_name,
};
use model::tenancy::Page;
use model::{Action, AppError};
use sqlx::{AnyConnection, AssertSqlSafe};

use super::assets::{self, PolicyCommandColumns};
use super::commands::{self, published, queue};
use crate::access::{BindViewer, Viewer, visible_org};
use crate::db::contains_pattern;
use crate::{ClientInfo, DomainResult, Portal};

/// At most this many assets in one bulk action.
pub const MAX_BULK: usize = 1000;
/// Retention counts above this are refused (restic accepts them, but they are typos).
pub const MAX_KEEP: u32 = 10_000;

/// The Set Backup Policy form.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyRequest {
    pub frequency: Frequency,
    pub exclude_weekends: bool,
    pub start_date: String,
    pub start_time: String,
    pub retention: Retention,
    /// Days between restore tests; 0: none.
    pub restore_test_days: u16,
}

impl PolicyRequest {
    /// The policy, checked; each problem names its field.
    fn policy(&self) -> Result<Policy, AppError> {
        let schedule = Schedule {
            frequency: self.frequency,
            exclude_weekends: self.exclude_weekends,
            start_date: self.start_date.trim().to_owned(),
            start_time: self.start_time.trim().to_owned(),
        };
        parse_schedule(&schedule).map_err(|e| match e {
            NextRunError::StartDate(_) => AppError::invalid("start_date", e.to_string()),
            NextRunError::StartTime(_) => AppError::invalid("start_time", e.to_string()),
            _ => AppError::invalid("exclude_weekends", e.to_string()),
        })?;
        check_retention(&self.retention)?;
        if self.restore_test_days > MAX_RESTORE_TEST_DAYS {
            return Err(AppError::invalid(
                "restore_test_days",
                format!("Test a restore at least every {MAX_RESTORE_TEST_DAYS} days, or 0 for never."),
            ));
        }
        Ok(Policy {
            schedule,
            retention: self.retention,
            enabled: true,
            restore_test_days: self.restore_test_days,
        })
    }
}

fn check_retention(retention: &Retention) -> Result<(), AppError> {
    let counts = [
        ("keep_last", retention.keep_last),
        ("keep_daily", retention.keep_daily),
        ("keep_weekly", retention.keep_weekly),
        ("keep_monthly", retention.keep_monthly),
        ("keep_yearly", retention.keep_yearly),
    ];
    for (field, count) in counts {
        if count.is_some_and(|n| n > MAX_KEEP) {
            return Err(AppError::invalid(
                field,
                format!("Keep at most {MAX_KEEP} recovery points per rule."),
            ));
        }
    }
    Ok(())
}

pub(crate) fn check_selection(asset_ids: &[i64]) -> Result<(), AppError> {
    if asset_ids.is_empty() {
        return Err(AppError::invalid("asset_ids", "Select at least one asset."));
    }
    if asset_ids.len() > MAX_BULK {
        return Err(AppError::invalid(
            "asset_ids",
            format!("Select at most {MAX_BULK} assets at a time."),
        ));
    }
    Ok(())
}

/// Asks each asset's appliance to run `request` as the asset's policy (creating or replacing
/// it). Assets the viewer cannot see, or with a change already pending, are refused by name.
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id))]
pub async fn set_policies(
    portal: &Portal,
    viewer: &Viewer,
    asset_ids: &[i64],
    request: &PolicyRequest,
    client: &ClientInfo,
) -> DomainResult<BulkOutcome> {
    viewer.require(Action::ConfigurePolicies)?;
    check_selection(asset_ids)?;
    let policy = request.policy()?;
    for_each_asset(portal, viewer, asset_ids, client, |_| Ok(Some(policy.clone()))).await
}

/// Asks each asset's appliance to drop the asset's policy.
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id))]
pub async fn remove_policies(
    portal: &Portal,
    viewer: &Viewer,
    asset_ids: &[i64],
    client: &ClientInfo,
) -> DomainResult<BulkOutcome> {
    viewer.require(Action::ConfigurePolicies)?;
    check_selection(asset_ids)?;
    for_each_asset(portal, viewer, asset_ids, client, |asset| match asset.policy {
        Some(_) => Ok(None),
        None => Err(format!("{} has no backup policy.", asset.name)),
    })
    .await
}

/// Changes which recovery points the assets' policies keep (Manage and above).
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id))]
pub async fn set_retention(
    portal: &Portal,
    viewer: &Viewer,
    asset_ids: &[i64],
    retention: &Retention,
    client: &ClientInfo,
) -> DomainResult<BulkOutcome> {
    viewer.require(Action::ChangeRetention)?;
    check_selection(asset_ids)?;
    check_retention(retention)?;
    for_each_asset(portal, viewer, asset_ids, client, |asset| match &asset.policy {
        Some(policy) => Ok(Some(Policy {
            retention: *retention,
            ..policy.clone()
        })),
        None => Err(format!("{} has no backup policy.", asset.name)),
    })
    .await
}

/// Pauses or resumes an asset's schedule (Jobs → Scheduled → Disable/Enable).
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id, asset_id = asset_id))]
pub async fn set_schedule_enabled(
    portal: &Portal,
    viewer: &Viewer,
    asset_id: i64,
    enabled: bool,
    client: &ClientInfo,
) -> DomainResult<CommandView> {
    viewer.require(Action::ConfigurePolicies)?;
    let outcome = for_each_asset(portal, viewer, &[asset_id], client, |asset| match &asset.policy {
        Some(policy) if policy.enabled == enabled => Err(format!(
            "The schedule of {} is already {}.",
            asset.name,
            if enabled { "enabled" } else { "disabled" }
        )),
        Some(policy) => Ok(Some(Policy {
            enabled,
            ..policy.clone()
        })),
        None => Err(format!("{} has no backup policy.", asset.name)),
    })
    .await?;
    single(portal, viewer, asset_id, outcome).await
}

/// Deletes an asset's schedule, which is its policy (Jobs → Scheduled → Delete).
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id, asset_id = asset_id))]
pub async fn delete_schedule(
    portal: &Portal,
    viewer: &Viewer,
    asset_id: i64,
    client: &ClientInfo,
) -> DomainResult<CommandView> {
    let outcome = remove_policies(portal, viewer, &[asset_id], client).await?;
    single(portal, viewer, asset_id, outcome).await
}

/// The command a one-asset action queued, or its refusal as an error.
async fn single(
    portal: &Portal,
    viewer: &Viewer,
    asset_id: i64,
    outcome: BulkOutcome,
) -> DomainResult<CommandView> {
    if let Some(reason) = outcome.refused.into_iter().next() {
        return Err(AppError::conflict(reason).into());
    }
    let mut conn = portal.db.pool.acquire().await?;
    let asset = assets::get(&mut conn, viewer, asset_id).await?;
    let change = asset
        .policy_change
        .ok_or_else(|| crate::DomainError::internal("a queued policy change vanished"))?;
    commands::view(&mut conn, change.command_id)
        .await?
        .ok_or_else(|| crate::DomainError::internal("a queued policy change vanished"))
}

/// Queues, for each asset, the policy `wanted` gives it (`Ok(None)` removes it), or refuses
/// the asset with `wanted`'s reason.
async fn for_each_asset(
    portal: &Portal,
    viewer: &Viewer,
    asset_ids: &[i64],
    client: &ClientInfo,
    wanted: impl Fn(&AssetView) -> Result<Option<Policy>, String>,
) -> DomainResult<BulkOutcome> {
    let mut outcome = BulkOutcome::default();
    for &asset_id in asset_ids {
        let mut tx = portal.db.begin().await?;
        let asset = match assets::get(&mut tx, viewer, asset_id).await {
            Ok(asset) => asset,
            Err(crate::DomainError::Rejected(_)) => {
                outcome.refused.push(format!("Asset {asset_id} was not found."));
                continue;
            }
            Err(internal) => return Err(internal),
        };
        if asset.policy_pending() {
            outcome.refused.push(format!(
                "{}: a policy change is already on its way to the appliance.",
                asset.name
            ));
            continue;
        }
        let command = match wanted(&asset) {
            Ok(Some(policy)) => Command::SetPolicy {
                asset_id: asset.external_id.clone(),
                policy,
            },
            Ok(None) => Command::RemovePolicy {
                asset_id: asset.external_id.clone(),
            },
            Err(reason) => {
                outcome.refused.push(reason);
                continue;
            }
        };
        let view = queue(&mut tx, portal, viewer, asset.appliance_id, &command, client).await?;
        sqlx::query("UPDATE assets SET policy_command_id = $1 WHERE id = $2")
            .bind(view.id)
            .bind(asset.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        published(portal, viewer, view).await?;
        outcome.queued += 1;
    }
    Ok(outcome)
}

#[derive(sqlx::FromRow)]
struct ScheduleRow {
    asset_id: i64,
    asset_name: String,
    appliance_id: i64,
    appliance_name: String,
    organization_id: i64,
    organization_name: String,
    time_zone: String,
    policy: Option<String>,
    #[sqlx(flatten)]
    policy_command: PolicyCommandColumns,
    running: i64,
    last_run_at: Option<i64>,
    last_run_state: Option<String>,
}

/// Jobs → Scheduled: the policies of the assets the viewer may see, filtered, sorted and paged.
/// Next runs are computed from each policy in its appliance's zone at `now`.
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id))]
pub async fn schedules(
    conn: &mut AnyConnection,
    viewer: &Viewer,
    filter: &ScheduleFilter,
    (sort, descending): (ScheduleSort, bool),
    page: u32,
    per_page: u32,
    now: i64,
) -> DomainResult<Page<ScheduleView>> {
    let per_page = per_page.clamp(1, 200);
    let page = page.max(1);
    let sql = format!(
        "SELECT s.id AS asset_id, s.name AS asset_name, a.id AS appliance_id, a.name AS appliance_name,
                o.id AS organization_id, o.name AS organization_name, a.time_zone, s.policy,
                s.policy_command_id, c.description AS policy_command, c.status AS policy_command_status,
                c.message AS policy_command_message,
                (SELECT COUNT(*) FROM jobs j WHERE j.appliance_id = a.id AND j.asset_external_id = s.external_id
                    AND j.state IN ('queued', 'running')) AS running,
                (SELECT MAX(j.started_at) FROM jobs j WHERE j.appliance_id = a.id AND j.asset_external_id = s.external_id
                    AND j.kind = 'backup' AND j.state <> 'missed') AS last_run_at,
                (SELECT j.state FROM jobs j WHERE j.appliance_id = a.id AND j.asset_external_id = s.external_id
                    AND j.kind = 'backup' AND j.state <> 'missed' ORDER BY j.started_at DESC, j.id DESC LIMIT 1) AS last_run_state
         FROM assets s JOIN appliances a ON a.id = s.appliance_id JOIN organizations o ON o.id = a.organization_id
         LEFT JOIN appliance_commands c ON c.id = s.policy_command_id
         WHERE a.deleted_at IS NULL AND o.instance_id = $1 AND {}
           AND s.policy IS NOT NULL
           AND ($4 IS NULL OR o.scope_id = $4) AND ($5 IS NULL OR o.id = $5)
           AND ($6 IS NULL OR LOWER(a.name) LIKE $6 ESCAPE '\\') AND ($7 IS NULL OR a.id = $7)",
        visible_org(2, 3)
    );
    let rows: Vec<ScheduleRow> = sqlx::query_as(AssertSqlSafe(sql))
        .bind_viewer(viewer)
        .bind(filter.scope_id)
        .bind(filter.organization_id)
        .bind(contains_pattern(filter.appliance.as_deref()))
        .bind(filter.appliance_id)
        .fetch_all(&mut *conn)
        .await?;
    let job_name = filter
        .job_name
        .as_deref()
        .map(|n| n.trim().to_lowercase())
        .filter(|n| !n.is_empty());
    let mut items: Vec<ScheduleView> = rows
        .into_iter()
        .filter_map(|row| schedule_view(row, now))
        .filter(|s| filter.running.is_none_or(|r| s.running == r))
        .filter(|s| {
            job_name
                .as_deref()
                .is_none_or(|n| s.job_name.to_lowercase().contains(n))
        })
        .collect();
    sort_schedules(&mut items, sort, descending);
    let total = items.len() as i64;
    let start = (page as usize - 1) * per_page as usize;
    let items = items.into_iter().skip(start).take(per_page as usize).collect();
    Ok(Page {
        items,
        total,
        page,
        per_page,
    })
}

fn schedule_view(row: ScheduleRow, now: i64) -> Option<ScheduleView> {
    let policy = assets::parse_policy(row.policy.as_deref())?;
    let next_run_at = policy
        .enabled
        .then(|| next_run(&policy.schedule, &row.time_zone, now).ok())
        .flatten();
    let change = row.policy_command.pending_change();
    Some(ScheduleView {
        job_name: policy_job_name(&row.asset_name),
        // A policy schedules backups of its asset.
        kind: JobKind::Backup,
        asset_id: row.asset_id,
        asset_name: row.asset_name,
        appliance_id: row.appliance_id,
        appliance_name: row.appliance_name,
        organization_id: row.organization_id,
        organization_name: row.organization_name,
        policy,
        time_zone: row.time_zone,
        running: row.running > 0,
        last_run_at: row.last_run_at,
        last_run_state: row.last_run_state.as_deref().and_then(JobState::parse),
        next_run_at,
        change,
    })
}

fn sort_schedules(items: &mut [ScheduleView], sort: ScheduleSort, descending: bool) {
    let text = |s: &str| s.to_lowercase();
    items.sort_by(|a, b| {
        let order = match sort {
            // Disabled schedules (no next run) last.
            ScheduleSort::NextRun => a
                .next_run_at
                .unwrap_or(i64::MAX)
                .cmp(&b.next_run_at.unwrap_or(i64::MAX)),
            ScheduleSort::LastRun => a.last_run_at.cmp(&b.last_run_at),
            ScheduleSort::Appliance => text(&a.appliance_name).cmp(&text(&b.appliance_name)),
            ScheduleSort::Organization => text(&a.organization_name).cmp(&text(&b.organization_name)),
            ScheduleSort::JobName => text(&a.job_name).cmp(&text(&b.job_name)),
        };
        let order = order.then_with(|| a.asset_id.cmp(&b.asset_id));
        if descending { order.reverse() } else { order }
    });
}
