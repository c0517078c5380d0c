//! The Jobs pages: Recent (filters, sort order) and Scheduled (spec portal-b §2.9).

use serde::{Deserialize, Serialize};

use crate::appliance::views::PolicyChange;
use crate::appliance::{JobKind, JobState};
use crate::policy::Policy;

/// Recent jobs are kept, and listed, for this long; older ones are purged.
pub const RECENT_JOB_DAYS: i64 = 90;
/// Jobs → Recent counts matching jobs up to this many; beyond, it says "more than".
pub const RECENT_COUNT_CAP: i64 = 1_000;

/// Jobs stay under Active this long after they end (spec portal-b W-J4: "the last few minutes").
pub const RECENTLY_ENDED_MS: i64 = 5 * 60 * 1000;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RecentJobFilter {
    pub scope_id: Option<i64>,
    pub organization_id: Option<i64>,
    /// Case-insensitive "contains" on the appliance name.
    pub appliance: Option<String>,
    /// Case-insensitive "contains" on the asset name.
    pub asset: Option<String>,
    pub state: Option<JobState>,
    pub kind: Option<JobKind>,
    /// Started at or after (Unix ms); clamped to the 90-day window.
    pub started_from: Option<i64>,
    /// Started before (Unix ms).
    pub started_before: Option<i64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobSort {
    #[default]
    Started,
    Appliance,
    Asset,
    Status,
    Type,
    Duration,
}

impl JobSort {
    pub fn parse(text: &str) -> JobSort {
        match text {
            "appliance" => JobSort::Appliance,
            "asset" => JobSort::Asset,
            "status" => JobSort::Status,
            "type" => JobSort::Type,
            "duration" => JobSort::Duration,
            _ => JobSort::Started,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            JobSort::Started => "started",
            JobSort::Appliance => "appliance",
            JobSort::Asset => "asset",
            JobSort::Status => "status",
            JobSort::Type => "type",
            JobSort::Duration => "duration",
        }
    }
}

/// Jobs → Scheduled: one row per asset with a backup policy (spec portal-b §1.17, W-J8).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleView {
    pub asset_id: i64,
    pub asset_name: String,
    pub appliance_id: i64,
    pub appliance_name: String,
    pub organization_id: i64,
    pub organization_name: String,
    /// `Backplane-<asset>` (policy jobs are named after their asset).
    pub job_name: String,
    /// What the schedule runs.
    pub kind: JobKind,
    pub policy: Policy,
    /// The appliance's zone, which the schedule's times are in.
    pub time_zone: String,
    /// A job is running on the asset.
    pub running: bool,
    pub last_run_at: Option<i64>,
    pub last_run_state: Option<JobState>,
    /// `None` while the schedule is disabled.
    pub next_run_at: Option<i64>,
    pub change: Option<PolicyChange>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScheduleFilter {
    pub scope_id: Option<i64>,
    pub organization_id: Option<i64>,
    /// Only this appliance's (its page's Scheduled tab).
    pub appliance_id: Option<i64>,
    /// Case-insensitive "contains" on the appliance name.
    pub appliance: Option<String>,
    /// Case-insensitive "contains" on the job name.
    pub job_name: Option<String>,
    /// `Some(true)`: running only; `Some(false)`: idle only.
    pub running: Option<bool>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleSort {
    #[default]
    NextRun,
    Appliance,
    Organization,
    JobName,
    LastRun,
}

impl ScheduleSort {
    pub fn parse(text: &str) -> ScheduleSort {
        match text {
            "appliance" => ScheduleSort::Appliance,
            "organization" => ScheduleSort::Organization,
            "job_name" => ScheduleSort::JobName,
            "last_run" => ScheduleSort::LastRun,
            _ => ScheduleSort::NextRun,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ScheduleSort::NextRun => "next_run",
            ScheduleSort::Appliance => "appliance",
            ScheduleSort::Organization => "organization",
            ScheduleSort::JobName => "job_name",
            ScheduleSort::LastRun => "last_run",
        }
    }
}

/// What a bulk policy action did: how many requests went to appliances, and each asset it
/// refused with the reason.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BulkOutcome {
    pub queued: u32,
    pub refused: Vec<String>,
}
