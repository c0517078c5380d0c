//! Live updates pushed to browsers over one WebSocket (`GET /api/live`).
//!
//! The server numbers every event. A browser that connects fresh gets a [`LiveFrame::Snapshot`]
//! of the jobs that matter now, then events; one that reconnects with `?since=<last seq>`
//! gets what it missed if the server still holds it, else a new snapshot. Each event belongs to
//! an organization and reaches only sockets whose user may see that organization.

use serde::{Deserialize, Serialize};

use crate::appliance::views::{ApplianceSummary, CommandView, JobView};

pub const LIVE_PATH: &str = "/api/live";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LiveEvent {
    /// An appliance's status, storage or identity changed.
    Appliance {
        appliance: ApplianceSummary,
    },
    /// A registration ID was used: the wizard that issued `reference` can show its appliance.
    ApplianceRegistered {
        reference: String,
        appliance_id: i64,
    },
    ApplianceRemoved {
        appliance_id: i64,
    },
    /// Assets or recovery points of the appliance changed.
    Inventory {
        appliance_id: i64,
    },
    Job {
        job: JobView,
    },
    /// New lines in a job's log.
    JobLog {
        job_id: i64,
    },
    Command {
        command: CommandView,
    },
    /// Alerts of the organization were raised, resolved or dismissed.
    Alerts {
        organization_id: i64,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "frame", rename_all = "snake_case")]
pub enum LiveFrame {
    /// The current state: running jobs and those finished in the last few minutes. Anything
    /// else a page shows should be fetched again.
    Snapshot {
        seq: u64,
        jobs: Vec<JobView>,
    },
    Event {
        seq: u64,
        event: Box<LiveEvent>,
    },
}
