//! Jobs → Recent: its filters and sort order (spec portal-b §2.9 W-J1/W-J2).

use serde::{Deserialize, Serialize};

use crate::appliance::{JobKind, JobState};

/// Recent jobs are kept, and listed, for this long; older ones are purged.
pub const RECENT_JOB_DAYS: i64 = 90;

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
