//! The appliance wire protocol, version 1.
//!
//! An appliance only ever connects out. It registers once over HTTP
//! (`POST /appliance/register` with a [`RegisterRequest`]) and then keeps one WebSocket open
//! (`GET /appliance/connect`, `Authorization: Bearer <credential>`), on which both sides send
//! JSON text frames: [`FromAppliance`] upstream, [`ToAppliance`] downstream. Every
//! [`Command`] the portal sends is answered by one [`FromAppliance::CommandResult`].

pub mod copies;
pub mod views;

use serde::{Deserialize, Serialize};

use crate::policy::Policy;

pub use copies::{CopyLocation, CopyTarget, CopyTargetRequest, CopyTargetView};

pub const PROTOCOL_VERSION: u32 = 1;
/// Frames larger than this are refused with an error frame.
pub const MAX_FRAME_BYTES: usize = 1 << 20;
/// Appliances send a heartbeat this often.
pub const HEARTBEAT_SECS: u64 = 30;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegisterRequest {
    /// The one-time ID from the portal's Add appliance wizard.
    pub registration_id: String,
    pub name: String,
    pub model: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegisterResponse {
    pub appliance_id: i64,
    /// The appliance's own secret from now on; the portal keeps only its hash.
    pub credential: String,
}

/// Space on the volume that holds the appliance's repository.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Storage {
    pub total_bytes: u64,
    pub free_bytes: u64,
    pub used_bytes: u64,
}

impl Storage {
    /// Free space in percent; 100 when the total is unknown.
    pub fn free_percent(&self) -> f64 {
        if self.total_bytes == 0 {
            100.0
        } else {
            self.free_bytes as f64 * 100.0 / self.total_bytes as f64
        }
    }
}

/// A protected directory on the appliance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssetInfo {
    /// Chosen by the appliance, stable for the asset's life.
    pub id: String,
    pub name: String,
    pub path: String,
    /// The backup policy the appliance runs for this asset, if any.
    #[serde(default)]
    pub policy: Option<Policy>,
}

/// A snapshot of an asset in the appliance's restic repository.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecoveryPointInfo {
    /// The restic snapshot id.
    pub id: String,
    pub asset_id: String,
    /// Unix milliseconds, UTC.
    pub time: i64,
    pub size_bytes: u64,
    pub files: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    Backup,
    Restore,
    /// A backup copy: new recovery points copied to the appliance's copy target.
    Copy,
    /// A restore test: a sample of the newest recovery point restored to scratch space and
    /// compared with the repository, plus a partial data check.
    Verify,
}

impl JobKind {
    pub const ALL: [JobKind; 4] = [JobKind::Backup, JobKind::Restore, JobKind::Copy, JobKind::Verify];

    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Backup => "backup",
            JobKind::Restore => "restore",
            JobKind::Copy => "copy",
            JobKind::Verify => "verify",
        }
    }

    pub fn parse(text: &str) -> Option<JobKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }

    pub fn label(self) -> &'static str {
        match self {
            JobKind::Backup => "Backup",
            JobKind::Restore => "Restore",
            JobKind::Copy => "Backup Copy",
            JobKind::Verify => "Restore test",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Queued,
    Running,
    Success,
    /// Finished, but some files could not be read (listed in the job log).
    Warning,
    Error,
    Cancelled,
    /// A scheduled run that did not start within its window (appliance down or asset busy).
    Missed,
}

impl JobState {
    pub const ALL: [JobState; 7] = [
        JobState::Queued,
        JobState::Running,
        JobState::Success,
        JobState::Warning,
        JobState::Error,
        JobState::Cancelled,
        JobState::Missed,
    ];

    pub fn is_finished(self) -> bool {
        !matches!(self, JobState::Queued | JobState::Running)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Success => "success",
            JobState::Warning => "warning",
            JobState::Error => "error",
            JobState::Cancelled => "cancelled",
            JobState::Missed => "missed",
        }
    }

    pub fn parse(text: &str) -> Option<JobState> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    pub fn label(self) -> &'static str {
        match self {
            JobState::Queued => "Queued",
            JobState::Running => "Running",
            JobState::Success => "Success",
            JobState::Warning => "Warning",
            JobState::Error => "Error",
            JobState::Cancelled => "Cancelled",
            JobState::Missed => "Missed",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JobProgress {
    pub percent: f64,
    pub bytes_done: u64,
    pub bytes_total: u64,
    pub files_done: u64,
    pub files_total: u64,
    pub bytes_per_sec: u64,
    pub eta_secs: Option<u64>,
    pub message: String,
}

/// Whether a backup stored everything or only what changed since its parent recovery point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobMode {
    Full,
    Incremental,
}

impl JobMode {
    pub fn as_str(self) -> &'static str {
        match self {
            JobMode::Full => "full",
            JobMode::Incremental => "incremental",
        }
    }

    pub fn parse(text: &str) -> Option<JobMode> {
        [JobMode::Full, JobMode::Incremental]
            .into_iter()
            .find(|m| m.as_str() == text)
    }

    pub fn label(self) -> &'static str {
        match self {
            JobMode::Full => "Full",
            JobMode::Incremental => "Incremental",
        }
    }
}

/// A job's state as the appliance reports it (also every progress update).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobInfo {
    /// Chosen by the appliance.
    pub id: String,
    pub asset_id: String,
    pub kind: JobKind,
    pub state: JobState,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    pub progress: JobProgress,
    /// Why it failed, for `Error`.
    pub error: Option<String>,
    /// Known once a backup has finished.
    #[serde(default)]
    pub mode: Option<JobMode>,
    /// What a finished backup added to the repository, in bytes.
    #[serde(default)]
    pub size_bytes: Option<u64>,
    /// The run of the asset's policy this job is (Unix ms); `None` when started by hand.
    #[serde(default)]
    pub scheduled_for: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Command {
    AddAsset {
        path: String,
    },
    RemoveAsset {
        asset_id: String,
    },
    BackupNow {
        asset_id: String,
    },
    /// Restores a recovery point (all of it, or `paths` inside it) into `target_dir` on the
    /// appliance; existing files are left alone unless `overwrite`.
    Restore {
        asset_id: String,
        recovery_point_id: String,
        paths: Vec<String>,
        target_dir: String,
        overwrite: bool,
    },
    CancelJob {
        job_id: String,
    },
    /// Creates or replaces the asset's backup policy (also how a schedule is paused: a policy
    /// with `enabled: false`).
    SetPolicy {
        asset_id: String,
        policy: Policy,
    },
    RemovePolicy {
        asset_id: String,
    },
    /// Sets (or, with `None`, removes) where the appliance copies its recovery points; it then
    /// copies after each good backup.
    SetCopyTarget {
        target: Option<CopyTarget>,
    },
    /// Copies the asset's recovery points that the copy target lacks, now.
    CopyNow {
        asset_id: String,
    },
    /// Tests a restore of the asset's newest recovery point now (otherwise weekly, after a
    /// backup).
    VerifyNow {
        asset_id: String,
    },
    Unregister,
}

impl Command {
    /// What the command does, for people (command lists, the audit log).
    pub fn describe(&self) -> String {
        match self {
            Command::AddAsset { path } => format!("Add asset {path}"),
            Command::RemoveAsset { asset_id } => format!("Remove asset {asset_id}"),
            Command::BackupNow { asset_id } => format!("Back up asset {asset_id} now"),
            Command::Restore {
                recovery_point_id,
                target_dir,
                ..
            } => format!("Restore recovery point {recovery_point_id} to {target_dir}"),
            Command::CancelJob { job_id } => format!("Cancel job {job_id}"),
            Command::SetPolicy { asset_id, policy } => {
                format!("Set policy {} on asset {asset_id}", policy.schedule.describe())
            }
            Command::RemovePolicy { asset_id } => format!("Remove the policy of asset {asset_id}"),
            Command::SetCopyTarget { target: Some(target) } => {
                format!("Copy recovery points to {}", target.describe())
            }
            Command::SetCopyTarget { target: None } => "Stop backup copies".into(),
            Command::CopyNow { asset_id } => format!("Copy asset {asset_id} now"),
            Command::VerifyNow { asset_id } => format!("Test a restore of asset {asset_id} now"),
            Command::Unregister => "Unregister".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum CommandOutcome {
    Done { message: String },
    Error { message: String },
}

fn utc() -> String {
    "UTC".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FromAppliance {
    /// First frame after connecting.
    Hello {
        protocol: u32,
        name: String,
        model: String,
        version: String,
        /// IANA name of the zone the appliance's policies run in.
        #[serde(default = "utc")]
        time_zone: String,
        /// The directories the appliance restores into (besides an asset's own directory).
        #[serde(default)]
        restore_roots: Vec<String>,
    },
    Heartbeat {
        storage: Storage,
    },
    /// Everything the appliance has, at connect, on change and hourly.
    Inventory {
        assets: Vec<AssetInfo>,
        recovery_points: Vec<RecoveryPointInfo>,
        jobs: Vec<JobInfo>,
    },
    Job {
        job: JobInfo,
    },
    JobLog {
        job_id: String,
        lines: Vec<String>,
    },
    CommandResult {
        command_id: i64,
        result: CommandOutcome,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToAppliance {
    Welcome {
        appliance_id: i64,
    },
    Command {
        command_id: i64,
        /// Boxed: a copy target makes a command much larger than the other frames.
        command: Box<Command>,
    },
    /// The portal could not use a frame; the connection stays open.
    Error {
        message: String,
    },
}

/// The components of an absolute path written as the appliance will take it, or `None` if it
/// is relative or steps through `.` or `..`.
fn plain_components(path: &str) -> Option<Vec<&str>> {
    let rest = path.strip_prefix('/')?;
    let parts: Vec<&str> = rest.split('/').filter(|part| !part.is_empty()).collect();
    if parts.iter().any(|part| *part == "." || *part == "..") {
        return None;
    }
    Some(parts)
}

/// Whether a restore may write into `target`: an absolute directory without `.` or `..` inside
/// one of the appliance's restore roots, or in place (the asset's own directory or below it).
/// The appliance checks the same again on disk, where symbolic links are seen.
pub fn check_restore_target(target: &str, roots: &[String], asset_path: &str) -> Result<(), String> {
    let Some(target_parts) = plain_components(target) else {
        return Err(format!(
            "{target:?} is not a plain absolute directory (no \".\" or \"..\"), such as /srv/restore."
        ));
    };
    let contains = |base: &str| plain_components(base).is_some_and(|base| target_parts.starts_with(&base));
    if roots.iter().any(|root| contains(root)) || contains(asset_path) {
        return Ok(());
    }
    let allowed = roots
        .iter()
        .map(String::as_str)
        .chain([asset_path])
        .collect::<Vec<_>>()
        .join(", ");
    Err(format!(
        "The appliance restores only into its restore folders or over the asset's own folder: {allowed}."
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_tagged_json() {
        let frame = FromAppliance::CommandResult {
            command_id: 7,
            result: CommandOutcome::Done { message: "ok".into() },
        };
        let json = serde_json::to_string(&frame).unwrap();
        assert_eq!(
            json,
            r#"{"type":"command_result","command_id":7,"result":{"outcome":"done","message":"ok"}}"#
        );
        assert_eq!(serde_json::from_str::<FromAppliance>(&json).unwrap(), frame);
        let command = ToAppliance::Command {
            command_id: 1,
            command: Box::new(Command::BackupNow {
                asset_id: "a1".into(),
            }),
        };
        let json = serde_json::to_string(&command).unwrap();
        assert!(
            json.contains(r#""command":{"type":"backup_now","asset_id":"a1"}"#),
            "{json}"
        );
    }

    #[test]
    fn free_space_is_a_percentage() {
        assert_eq!(
            Storage {
                total_bytes: 200,
                free_bytes: 50,
                used_bytes: 150
            }
            .free_percent(),
            25.0
        );
        assert_eq!(Storage::default().free_percent(), 100.0);
    }

    #[test]
    fn restores_stay_in_the_restore_roots_or_the_asset_itself() {
        let roots = vec![
            "/var/lib/backplane/restores".to_owned(),
            "/mnt/restore/".to_owned(),
        ];
        let asset = "/srv/data";
        for allowed in [
            "/var/lib/backplane/restores",
            "/var/lib/backplane/restores/q3",
            "/mnt/restore/x/y",
            "/srv/data",
            "/srv/data/reports/",
            "//srv//data",
        ] {
            assert!(check_restore_target(allowed, &roots, asset).is_ok(), "{allowed}");
        }
        for refused in [
            "/root/.ssh",
            "/var/lib/backplane/restores/../../../../root/.ssh",
            "/srv/data/../etc",
            "/srv/./data",
            "/srv/database",
            "/var/lib/backplane/restores-other",
            "srv/data",
            "",
            "/",
        ] {
            let refusal = check_restore_target(refused, &roots, asset).unwrap_err();
            assert!(refusal.contains('/'), "{refused}: {refusal}");
        }
        let named = check_restore_target("/etc", &roots, asset).unwrap_err();
        assert!(
            named.contains("/mnt/restore/") && named.contains("/srv/data"),
            "{named}"
        );
    }
}
