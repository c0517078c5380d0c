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
