//! What the portal shows of appliances and what they run: its own views, built from what the
//! appliances report over the wire protocol (the parent module) and from what users asked.

use serde::{Deserialize, Serialize};

use super::{JobKind, JobMode, JobProgress, JobState, Storage};
use crate::policy::Policy;

/// A row of Protect → Appliances.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApplianceSummary {
    pub id: i64,
    pub name: String,
    pub organization_id: i64,
    pub organization_name: String,
    pub online: bool,
    /// Unix milliseconds of the last heartbeat.
    pub last_seen_at: Option<i64>,
    pub model: String,
    pub version: String,
    pub storage: Storage,
    pub assets: i64,
}

/// Filters of Protect → Appliances; every field optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ApplianceFilter {
    pub scope_id: Option<i64>,
    pub organization_id: Option<i64>,
    /// `Some(true)` only online, `Some(false)` only offline.
    pub online: Option<bool>,
    pub name_contains: Option<String>,
    /// Only appliances with at most [`LOW_SPACE_PERCENT`] free.
    pub low_space: bool,
    pub sort: ApplianceSort,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplianceSort {
    #[default]
    Name,
    LastSeen,
    FreeSpace,
    Organization,
    Model,
    Version,
}

impl ApplianceSort {
    pub fn parse(text: &str) -> ApplianceSort {
        match text {
            "last_seen" => ApplianceSort::LastSeen,
            "free_space" => ApplianceSort::FreeSpace,
            "organization" => ApplianceSort::Organization,
            "model" => ApplianceSort::Model,
            "version" => ApplianceSort::Version,
            _ => ApplianceSort::Name,
        }
    }
}

/// Free space at or below this share is low (spec portal-a §2.26: warning colour, filter).
pub const LOW_SPACE_PERCENT: f64 = 30.0;

/// A protected directory as the portal lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssetView {
    pub id: i64,
    /// The appliance's own id for it (what commands name).
    pub external_id: String,
    pub name: String,
    pub path: String,
    pub appliance_id: i64,
    pub appliance_name: String,
    pub organization_id: i64,
    pub organization_name: String,
    pub recovery_points: i64,
    pub last_recovery_point_at: Option<i64>,
    /// The zone the appliance runs policies in.
    pub time_zone: String,
    /// The policy as the appliance last reported it.
    pub policy: Option<Policy>,
    /// The latest policy change asked of the appliance, unless it was carried out.
    pub policy_change: Option<PolicyChange>,
    /// The directories its appliance restores into (besides the asset's own directory).
    pub restore_roots: Vec<String>,
    /// The newest finished backup's result and start (a cancelled or missed run is not a result).
    pub last_backup: Option<LastBackup>,
    /// The size of the newest recovery point.
    pub last_point_bytes: Option<u64>,
    /// A backup failed or was missed on a day the Recent backups strip shows.
    pub recent_failures: bool,
    /// Recent backups: the last seven days in the appliance's zone, oldest first. Filled by the
    /// lists; empty where one asset is read for a command.
    pub recent_backups: Vec<BackupDay>,
    /// When the newest good backup copy of it ended ("Last backup copy").
    pub last_copy_at: Option<i64>,
    /// The newest restore test: its result and when it ended ("Last verified").
    pub last_verified: Option<LastBackup>,
}

/// An asset's drawer (spec portal-a §2.43): the asset with its strip, its jobs running or
/// ended in the last few minutes, and its recovery points, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssetDetail {
    pub asset: AssetView,
    pub jobs: Vec<JobView>,
    pub recovery_points: Vec<RecoveryPointView>,
}

/// An asset's newest backup result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastBackup {
    pub state: JobState,
    pub started_at: i64,
}

/// One day of an asset's Recent backups strip (spec portal-a §1.7, §6.4): the backups that
/// started that day in the appliance's zone, by result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupDay {
    /// `YYYY-MM-DD` in the appliance's zone.
    pub date: String,
    pub succeeded: u32,
    pub warned: u32,
    pub failed: u32,
    pub missed: u32,
}

/// What a day of the strip shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DayHealth {
    /// Every backup succeeded.
    Success,
    /// Some backups had warnings, or some failed while others succeeded.
    Warning,
    /// Every backup that ran failed (missed runs may be among them).
    Failed,
    /// Backups were due and none ran.
    Missed,
    /// No backup that day.
    None,
}

impl DayHealth {
    pub const ALL: [DayHealth; 5] = [
        DayHealth::Success,
        DayHealth::Warning,
        DayHealth::Failed,
        DayHealth::Missed,
        DayHealth::None,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DayHealth::Success => "success",
            DayHealth::Warning => "warning",
            DayHealth::Failed => "failed",
            DayHealth::Missed => "missed",
            DayHealth::None => "none",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            DayHealth::Success => "All backups succeeded",
            DayHealth::Warning => "Warnings, or some backups failed",
            DayHealth::Failed => "All backups failed",
            DayHealth::Missed => "Backups missed",
            DayHealth::None => "No backup",
        }
    }
}

impl BackupDay {
    pub fn empty(date: String) -> BackupDay {
        BackupDay {
            date,
            succeeded: 0,
            warned: 0,
            failed: 0,
            missed: 0,
        }
    }

    /// Counts one finished backup; a cancelled one is no result.
    pub fn count(&mut self, state: JobState) {
        match state {
            JobState::Success => self.succeeded += 1,
            JobState::Warning => self.warned += 1,
            JobState::Error => self.failed += 1,
            JobState::Missed => self.missed += 1,
            JobState::Queued | JobState::Running | JobState::Cancelled => {}
        }
    }

    pub fn health(&self) -> DayHealth {
        let good = self.succeeded + self.warned;
        match (good, self.failed, self.missed) {
            (0, 0, 0) => DayHealth::None,
            (0, 0, _) => DayHealth::Missed,
            (0, _, _) => DayHealth::Failed,
            _ if self.warned > 0 || self.failed > 0 || self.missed > 0 => DayHealth::Warning,
            _ => DayHealth::Success,
        }
    }

    /// "3 succeeded, 1 failed" or "No backup".
    pub fn describe(&self) -> String {
        let parts: Vec<String> = [
            (self.succeeded, "succeeded"),
            (self.warned, "with warnings"),
            (self.failed, "failed"),
            (self.missed, "missed"),
        ]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
        if parts.is_empty() {
            "No backup".into()
        } else {
            parts.join(", ")
        }
    }
}

impl AssetView {
    /// A policy change is on its way to the appliance: the asset cannot be selected meanwhile.
    pub fn policy_pending(&self) -> bool {
        self.policy_change
            .as_ref()
            .is_some_and(|c| !c.status.is_finished())
    }
}

/// A policy change (set, remove, enable, disable) sent to an appliance and not yet carried out,
/// or one that failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyChange {
    pub command_id: i64,
    pub description: String,
    pub status: CommandStatus,
    pub message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecoveryPointView {
    /// The restic snapshot id.
    pub id: String,
    pub taken_at: i64,
    pub size_bytes: u64,
    pub files: u64,
}

/// A job as the portal shows it, live or in lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobView {
    pub id: i64,
    pub appliance_id: i64,
    pub appliance_name: String,
    pub organization_id: i64,
    pub organization_name: String,
    /// The organization's scope (none: Unassigned), for filtering live jobs by scope.
    pub scope_id: Option<i64>,
    /// The portal's asset, while the asset still exists.
    pub asset_id: Option<i64>,
    pub asset_name: String,
    /// The appliance's id for the job (what Cancel names).
    pub external_id: String,
    pub kind: JobKind,
    pub state: JobState,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    pub progress: JobProgress,
    pub error: Option<String>,
    pub mode: Option<JobMode>,
    pub size_bytes: Option<u64>,
    /// The policy run this job was, if any.
    pub scheduled_for: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobLogLine {
    pub at: i64,
    pub line: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandStatus {
    /// Queued in the portal; delivered when the appliance is connected.
    Pending,
    /// Handed to the appliance, not yet answered.
    Sent,
    Done,
    Error,
}

impl CommandStatus {
    pub fn parse(text: &str) -> CommandStatus {
        match text {
            "sent" => CommandStatus::Sent,
            "done" => CommandStatus::Done,
            "error" => CommandStatus::Error,
            _ => CommandStatus::Pending,
        }
    }

    pub fn is_finished(self) -> bool {
        matches!(self, CommandStatus::Done | CommandStatus::Error)
    }

    /// The stored and `data-status` form, as [`CommandStatus::parse`] reads it.
    pub fn as_str(self) -> &'static str {
        match self {
            CommandStatus::Pending => "pending",
            CommandStatus::Sent => "sent",
            CommandStatus::Done => "done",
            CommandStatus::Error => "error",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            CommandStatus::Pending => "Pending",
            CommandStatus::Sent => "Sent",
            CommandStatus::Done => "Done",
            CommandStatus::Error => "Error",
        }
    }
}

/// A command sent to an appliance and how it ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandView {
    pub id: i64,
    pub appliance_id: i64,
    pub organization_id: i64,
    pub description: String,
    pub status: CommandStatus,
    pub message: Option<String>,
    pub requested_by: String,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(results: &[JobState]) -> BackupDay {
        let mut day = BackupDay::empty("2026-11-30".into());
        for state in results {
            day.count(*state);
        }
        day
    }

    #[test]
    fn a_day_shows_the_worst_of_its_backups_without_hiding_successes() {
        use JobState::*;
        assert_eq!(day(&[]).health(), DayHealth::None);
        assert_eq!(
            day(&[Cancelled]).health(),
            DayHealth::None,
            "cancelled is no result"
        );
        assert_eq!(day(&[Success, Success]).health(), DayHealth::Success);
        assert_eq!(day(&[Success, Warning]).health(), DayHealth::Warning);
        assert_eq!(day(&[Success, Error]).health(), DayHealth::Warning);
        assert_eq!(day(&[Success, Missed]).health(), DayHealth::Warning);
        assert_eq!(day(&[Error, Missed]).health(), DayHealth::Failed);
        assert_eq!(day(&[Missed, Missed]).health(), DayHealth::Missed);
        assert_eq!(day(&[Success, Error, Error]).describe(), "1 succeeded, 2 failed");
        assert_eq!(day(&[]).describe(), "No backup");
    }
}
