//! The appliance runs its assets' backup policies itself, so backups go on while the portal is
//! unreachable; their jobs reach the portal with the next connection. A run that cannot start
//! within [`START_WINDOW_MS`] of its time (the appliance was off, or a job was still running on
//! the asset) is recorded as a missed job.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use model::appliance::{AssetInfo, JobKind};
use model::policy::{DEFAULT_RESTORE_TEST_DAYS, NextRunError, Schedule, next_run, runs_between};
use tokio::sync::Notify;

use crate::jobs::{JobRequest, Jobs, now_ms};
use crate::state::DataDir;

/// How late a scheduled run may still start.
pub const START_WINDOW_MS: i64 = 30 * 60 * 1000;
/// Runs missed while the appliance was off are recorded up to this many per asset.
const MAX_MISSED: usize = 100;
const DAY_MS: i64 = 24 * 3600 * 1000;
/// Keys of the schedule file that hold an asset's next scheduled copy (`copy:<asset id>`),
/// beside the keys of its next backup (the asset's id).
const COPY_KEY: &str = "copy:";
/// The scheduler looks again at least this often (also catches clock changes).
const LOOK_AGAIN: Duration = Duration::from_secs(30);

/// What to do about one asset's schedule at `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Runs whose start window has passed, oldest first.
    pub missed: Vec<i64>,
    /// The run to start now.
    pub run: Option<i64>,
    /// When to look at this schedule next.
    pub next_due: i64,
}

/// Decides, for a schedule whose next run was `next_due`, what happens at `now`; `busy` when
/// a job is running on the asset (the run then waits, up to its start window).
pub fn plan(
    schedule: &Schedule,
    time_zone: &str,
    next_due: i64,
    now: i64,
    busy: bool,
) -> Result<Plan, NextRunError> {
    if now < next_due {
        return Ok(Plan {
            missed: Vec::new(),
            run: None,
            next_due,
        });
    }
    let mut missed = vec![next_due];
    missed.extend(runs_between(schedule, time_zone, next_due, now, MAX_MISSED)?);
    let latest = missed.pop().unwrap_or(next_due);
    if now - latest > START_WINDOW_MS {
        missed.push(latest);
        return Ok(Plan {
            missed,
            run: None,
            next_due: next_run(schedule, time_zone, now)?,
        });
    }
    if busy {
        return Ok(Plan {
            missed,
            run: None,
            next_due: latest,
        });
    }
    Ok(Plan {
        missed,
        run: Some(latest),
        next_due: next_run(schedule, time_zone, latest)?,
    })
}

pub struct Scheduler {
    data: DataDir,
    jobs: Arc<Jobs>,
    host: String,
    time_zone: String,
    wake: Notify,
    /// Held while the schedule file is read, changed and written.
    state: std::sync::Mutex<()>,
}

impl Scheduler {
    pub fn new(data: DataDir, jobs: Arc<Jobs>, host: String, time_zone: String) -> Arc<Scheduler> {
        Arc::new(Scheduler {
            data,
            jobs,
            host,
            time_zone,
            wake: Notify::new(),
            state: std::sync::Mutex::new(()),
        })
    }

    pub fn time_zone(&self) -> &str {
        &self.time_zone
    }

    /// Runs for the life of the appliance.
    pub async fn run(self: Arc<Self>) {
        loop {
            let now = now_ms();
            let earliest = self.check(now);
            let pause = earliest
                .map(|due| Duration::from_millis(u64::try_from(due - now).unwrap_or(0)))
                .unwrap_or(LOOK_AGAIN)
                .min(LOOK_AGAIN);
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = self.wake.notified() => {}
            }
        }
    }

    /// A policy changed: its next run is computed from now.
    pub fn policy_changed(&self, asset: &AssetInfo) -> Result<Option<i64>, String> {
        let _held = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut due = self.data.schedule_state();
        let next = match &asset.policy {
            Some(policy) if policy.enabled => {
                Some(next_run(&policy.schedule, &self.time_zone, now_ms()).map_err(|e| e.to_string())?)
            }
            _ => None,
        };
        match next {
            Some(next) => due.insert(asset.id.clone(), next),
            None => due.remove(&asset.id),
        };
        self.data.save_schedule_state(&due)?;
        self.wake.notify_one();
        Ok(next)
    }

    /// Starts and records what is due; returns the earliest next run.
    fn check(&self, now: i64) -> Option<i64> {
        let _held = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut due: HashMap<String, i64> = self.data.schedule_state();
        let before = due.clone();
        let assets = self.data.assets();
        let copy_schedule = self.copy_schedule();
        due.retain(|key, _| match key.strip_prefix(COPY_KEY) {
            Some(id) => copy_schedule.is_some() && assets.iter().any(|a| a.id == id),
            None => assets
                .iter()
                .any(|a| &a.id == key && a.policy.as_ref().is_some_and(|p| p.enabled)),
        });
        if let Some(schedule) = &copy_schedule {
            for asset in &assets {
                self.check_copy(schedule, asset, &mut due, now);
            }
        }
        for asset in &assets {
            let Some(policy) = asset.policy.as_ref().filter(|p| p.enabled) else {
                continue;
            };
            let next_due = match due.get(&asset.id) {
                Some(next_due) => *next_due,
                None => match next_run(&policy.schedule, &self.time_zone, now) {
                    Ok(next) => next,
                    Err(error) => {
                        tracing::error!(asset = %asset.name, %error, "policy cannot be scheduled");
                        continue;
                    }
                },
            };
            let busy = self.jobs.running_on(&asset.id);
            match plan(&policy.schedule, &self.time_zone, next_due, now, busy) {
                Ok(plan) => {
                    self.carry_out(asset, &plan);
                    due.insert(asset.id.clone(), plan.next_due);
                }
                Err(error) => tracing::error!(asset = %asset.name, %error, "policy cannot be scheduled"),
            }
        }
        if due != before
            && let Err(error) = self.data.save_schedule_state(&due)
        {
            tracing::error!(%error, "saving the schedule failed");
        }
        due.values().min().copied()
    }

    /// The copy target's own schedule, when it has one (else copies follow each backup).
    fn copy_schedule(&self) -> Option<Schedule> {
        match self.data.copy_target() {
            Ok(target) => target.and_then(|t| t.schedule),
            Err(error) => {
                tracing::error!(%error, "the copy target cannot be read; no scheduled copies");
                None
            }
        }
    }

    /// Starts the asset's scheduled copy when due. A copy that could not start in its window
    /// is not recorded as missed: the next one copies everything the target lacks.
    fn check_copy(&self, schedule: &Schedule, asset: &AssetInfo, due: &mut HashMap<String, i64>, now: i64) {
        let key = format!("{COPY_KEY}{}", asset.id);
        let next_due = match due.get(&key) {
            Some(next_due) => *next_due,
            None => match next_run(schedule, &self.time_zone, now) {
                Ok(next) => next,
                Err(error) => {
                    tracing::error!(%error, "the copy schedule cannot be followed");
                    return;
                }
            },
        };
        match plan(
            schedule,
            &self.time_zone,
            next_due,
            now,
            self.jobs.running_on(&asset.id),
        ) {
            Ok(plan) => {
                if plan.run.is_some() {
                    match self.jobs.start(copy_request(&self.data, asset)) {
                        Ok(job_id) => tracing::info!(asset = %asset.name, %job_id, "scheduled copy started"),
                        Err(error) => {
                            tracing::warn!(asset = %asset.name, %error, "scheduled copy did not start")
                        }
                    }
                }
                due.insert(key, plan.next_due);
            }
            Err(error) => tracing::error!(%error, "the copy schedule cannot be followed"),
        }
    }

    /// The copy target changed: scheduled copies count from now.
    pub fn copy_target_changed(&self) {
        let _held = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut due = self.data.schedule_state();
        due.retain(|key, _| !key.starts_with(COPY_KEY));
        if let Err(error) = self.data.save_schedule_state(&due) {
            tracing::error!(%error, "saving the schedule failed");
        }
        self.wake.notify_one();
    }

    fn carry_out(&self, asset: &AssetInfo, plan: &Plan) {
        for slot in &plan.missed {
            self.jobs.record_missed(
                asset,
                *slot,
                format!(
                    "Missed: the scheduled backup did not start within {} minutes (the appliance was off, or a job was still running on {}).",
                    START_WINDOW_MS / 60_000,
                    asset.name
                ),
            );
        }
        if let Some(slot) = plan.run {
            let request = backup_request(&self.data, &self.host, &self.time_zone, asset, Some(slot));
            match self.jobs.start(request) {
                Ok(job_id) => tracing::info!(asset = %asset.name, %job_id, "scheduled backup started"),
                Err(error) => tracing::warn!(asset = %asset.name, %error, "scheduled backup did not start"),
            }
        }
    }
}

/// A backup of `asset`; with its policy's retention applied afterwards.
pub fn backup_request(
    data: &DataDir,
    host: &str,
    time_zone: &str,
    asset: &AssetInfo,
    scheduled_for: Option<i64>,
) -> JobRequest {
    let mut worker_args = vec![
        "backup".into(),
        "--data-dir".into(),
        data.root().display().to_string(),
        "--asset-id".into(),
        asset.id.clone(),
        "--host".into(),
        host.to_owned(),
        "--time-zone".into(),
        time_zone.to_owned(),
    ];
    if let Some(policy) = &asset.policy
        && !policy.retention.keeps_everything()
        && let Ok(retention) = serde_json::to_string(&policy.retention)
    {
        worker_args.extend(["--retention".into(), retention]);
    }
    JobRequest {
        kind: JobKind::Backup,
        asset: asset.clone(),
        worker_args,
        scheduled_for,
        then: after_backup(data, asset, crate::jobs::now_ms()),
    }
}

/// What follows a good backup: a copy when there is a copy target without a schedule of its
/// own, and a restore test when the
/// asset's last one is as old as its policy's interval (weekly without a policy). The interval
/// of a new asset starts at its first backup.
fn after_backup(data: &DataDir, asset: &AssetInfo, now: i64) -> Option<Box<JobRequest>> {
    let every_days = asset
        .policy
        .as_ref()
        .map_or(DEFAULT_RESTORE_TEST_DAYS, |p| p.restore_test_days);
    let last = data.restore_tested_at(&asset.id);
    if last.is_none()
        && every_days > 0
        && let Err(error) = data.save_restore_tested_at(&asset.id, now)
    {
        tracing::warn!(%error, "the restore test schedule cannot be saved");
    }
    let test_due = restore_test_due(last, every_days, now);
    let test = test_due.then(|| Box::new(verify_request(data, asset)));
    let copy = match data.copy_target() {
        Ok(target) => target.is_some_and(|t| t.schedule.is_none()),
        Err(error) => {
            tracing::warn!(%error, "the copy target cannot be read; no copy after this backup");
            false
        }
    };
    if copy {
        let mut copy = copy_request(data, asset);
        copy.then = test;
        Some(Box::new(copy))
    } else {
        test
    }
}

/// Whether a restore test is due at `now`, the last having run at `last` (`None`: the interval
/// starts now), every `every_days` days (0: never).
fn restore_test_due(last: Option<i64>, every_days: u16, now: i64) -> bool {
    match last {
        Some(at) if every_days > 0 => now - at >= i64::from(every_days) * DAY_MS,
        _ => false,
    }
}

/// A restore test of `asset`'s newest recovery point.
pub fn verify_request(data: &DataDir, asset: &AssetInfo) -> JobRequest {
    asset_job(data, asset, JobKind::Verify, "verify")
}

/// A copy of `asset`'s new recovery points to the copy target (read by the worker, so its
/// secrets never appear in a process list).
pub fn copy_request(data: &DataDir, asset: &AssetInfo) -> JobRequest {
    asset_job(data, asset, JobKind::Copy, "copy")
}

/// A job of `kind` on `asset` whose worker runs `subcommand` with only the data directory and
/// the asset's id (it reads everything else itself).
fn asset_job(data: &DataDir, asset: &AssetInfo, kind: JobKind, subcommand: &str) -> JobRequest {
    JobRequest {
        kind,
        asset: asset.clone(),
        worker_args: vec![
            subcommand.into(),
            "--data-dir".into(),
            data.root().display().to_string(),
            "--asset-id".into(),
            asset.id.clone(),
        ],
        scheduled_for: None,
        then: None,
    }
}

#[cfg(test)]
mod tests {
    use model::policy::Frequency;

    use super::*;

    const HOUR: i64 = 3_600_000;
    /// 2026-01-05 00:00 UTC, a Monday.
    const MONDAY: i64 = 1_767_571_200_000;

    fn hourly() -> Schedule {
        Schedule {
            frequency: Frequency::Hourly,
            exclude_weekends: false,
            start_date: "2026-01-01".into(),
            start_time: "00:00".into(),
        }
    }

    #[test]
    fn restore_tests_follow_the_policy_interval() {
        let week = 7 * 24 * HOUR;
        assert!(
            !restore_test_due(None, 7, MONDAY),
            "the first interval starts at the first backup"
        );
        assert!(!restore_test_due(Some(MONDAY), 7, MONDAY + week - 1));
        assert!(restore_test_due(Some(MONDAY), 7, MONDAY + week));
        assert!(restore_test_due(Some(MONDAY), 1, MONDAY + 24 * HOUR));
        assert!(
            !restore_test_due(Some(MONDAY), 0, MONDAY + 100 * week),
            "0 turns them off"
        );
    }

    #[test]
    fn nothing_happens_before_the_next_run() {
        let p = plan(&hourly(), "UTC", MONDAY + HOUR, MONDAY + HOUR - 1, false).unwrap();
        assert_eq!((p.missed.len(), p.run, p.next_due), (0, None, MONDAY + HOUR));
    }

    #[test]
    fn a_due_run_starts_and_the_following_one_is_next() {
        let p = plan(&hourly(), "UTC", MONDAY, MONDAY + 5_000, false).unwrap();
        assert_eq!(
            p,
            Plan {
                missed: vec![],
                run: Some(MONDAY),
                next_due: MONDAY + HOUR
            }
        );
    }

    #[test]
    fn a_busy_asset_waits_within_the_window_then_the_run_is_missed() {
        let waiting = plan(&hourly(), "UTC", MONDAY, MONDAY + 10 * 60_000, true).unwrap();
        assert_eq!((waiting.run, waiting.next_due), (None, MONDAY));
        assert!(waiting.missed.is_empty());
        let late = plan(&hourly(), "UTC", MONDAY, MONDAY + 31 * 60_000, true).unwrap();
        assert_eq!(late.missed, vec![MONDAY]);
        assert_eq!(late.next_due, MONDAY + HOUR);
    }

    #[test]
    fn runs_passed_while_the_appliance_was_off_are_missed_and_the_latest_still_runs() {
        // Off from just before 00:00 to 03:10: 00:00, 01:00 and 02:00 are missed; 03:00 runs.
        let p = plan(&hourly(), "UTC", MONDAY, MONDAY + 3 * HOUR + 10 * 60_000, false).unwrap();
        assert_eq!(p.missed, vec![MONDAY, MONDAY + HOUR, MONDAY + 2 * HOUR]);
        assert_eq!(p.run, Some(MONDAY + 3 * HOUR));
        assert_eq!(p.next_due, MONDAY + 4 * HOUR);
    }

    #[test]
    fn a_long_outage_records_a_bounded_number_of_missed_runs() {
        let p = plan(
            &hourly(),
            "UTC",
            MONDAY,
            MONDAY + 1_000 * HOUR + 45 * 60_000,
            false,
        )
        .unwrap();
        assert_eq!(p.missed.len(), MAX_MISSED + 1);
        assert_eq!(p.run, None);
        assert_eq!(p.next_due, MONDAY + 1_001 * HOUR);
    }
}
