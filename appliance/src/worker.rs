//! The worker process: runs one backup, copy or restore and reports on standard output, one JSON
//! event per line. The agent starts it and kills it to cancel (rustic has no cancel hook; the
//! repository format tolerates an interrupted backup, and its orphaned data is pruned later).

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

use clap::Subcommand;
use model::appliance::JobMode;
use model::policy::Retention;
use rustic_core::jiff;
use serde::{Deserialize, Serialize};

use crate::repository::{Counters, Repo};
use crate::state::DataDir;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum WorkerEvent {
    Progress {
        bytes_done: u64,
        bytes_total: u64,
    },
    /// Something was skipped (an unreadable file); the job ends as a warning.
    Warning {
        message: String,
    },
    /// A line for the job log.
    Note {
        message: String,
    },
    Finished {
        message: String,
        /// For a backup: full or incremental, and the bytes it added to the repository.
        #[serde(default)]
        mode: Option<JobMode>,
        #[serde(default)]
        size_bytes: Option<u64>,
    },
    Failed {
        message: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum WorkerCommand {
    /// Back up one asset.
    Backup {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long)]
        asset_id: String,
        #[arg(long)]
        host: String,
        /// The zone whose days, weeks and months retention counts in.
        #[arg(long, default_value = "UTC")]
        time_zone: String,
        /// Recovery points to keep afterwards (JSON of `model::policy::Retention`); all when absent.
        #[arg(long)]
        retention: Option<String>,
    },
    /// Copy an asset's new recovery points to the copy target.
    Copy {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long)]
        asset_id: String,
    },
    /// Test a restore of an asset's newest recovery point.
    Verify {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long)]
        asset_id: String,
        /// How much to restore and to read for the data check, in MiB.
        #[arg(long, default_value_t = 64)]
        budget_mib: u64,
    },
    /// Restore (part of) a recovery point into a directory.
    Restore {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long)]
        asset_id: String,
        #[arg(long)]
        snapshot: String,
        #[arg(long)]
        target: PathBuf,
        #[arg(long)]
        overwrite: bool,
        /// The appliance's restore roots; the target must be inside one or in the asset itself.
        #[arg(long = "restore-root")]
        restore_roots: Vec<PathBuf>,
        /// Paths inside the asset; all of it when none is given.
        #[arg(long = "path")]
        paths: Vec<String>,
    },
}

fn emit(event: &WorkerEvent) {
    if let Ok(line) = serde_json::to_string(event) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}

/// Forwards rustic's warnings (files it could not read and skipped) as events.
struct WarningLog;

impl log::Log for WarningLog {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::Level::Warn
    }
    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) {
            emit(&WorkerEvent::Warning {
                message: record.args().to_string(),
            });
        }
    }
    fn flush(&self) {}
}

static WARNING_LOG: WarningLog = WarningLog;

/// Runs the worker; returns the process exit code.
pub fn run(command: WorkerCommand) -> i32 {
    let _ = log::set_logger(&WARNING_LOG).map(|()| log::set_max_level(log::LevelFilter::Warn));
    let counters = Arc::new(Counters::default());
    // Dropping `finished` ends the reporter at once, not after its next pause (which held every
    // job up to a quarter of a second after its work was done).
    let (finished, stop) = std::sync::mpsc::channel::<()>();
    let reporter = {
        let counters = counters.clone();
        std::thread::spawn(move || {
            loop {
                emit(&WorkerEvent::Progress {
                    bytes_done: counters.done.load(Ordering::Relaxed),
                    bytes_total: counters.total.load(Ordering::Relaxed),
                });
                if stop.recv_timeout(Duration::from_millis(250)) != Err(RecvTimeoutError::Timeout) {
                    break;
                }
            }
        })
    };
    let result = execute(command, counters);
    drop(finished);
    let _ = reporter.join();
    match result {
        Ok((message, backup)) => {
            emit(&WorkerEvent::Finished {
                message,
                mode: backup.map(|b| b.0),
                size_bytes: backup.map(|b| b.1),
            });
            0
        }
        Err(message) => {
            emit(&WorkerEvent::Failed { message });
            1
        }
    }
}

/// A passed restore test in words, or why it failed.
fn restore_test_outcome(summary: crate::repository::VerifySummary) -> Result<String, String> {
    let point = &summary.snapshot_id[..8.min(summary.snapshot_id.len())];
    if !summary.differing.is_empty() {
        let shown: Vec<&str> = summary.differing.iter().take(10).map(String::as_str).collect();
        return Err(format!(
            "Restore test of recovery point {point} failed: {} of {} files differ from the repository: {}.",
            summary.differing.len(),
            summary.files,
            shown.join(", ")
        ));
    }
    if !summary.check_errors.is_empty() {
        return Err(format!(
            "Restore test of recovery point {point} failed the data check: {}",
            summary.check_errors.join("; ")
        ));
    }
    Ok(format!(
        "Restore test of recovery point {point}: {} file(s), {} bytes restored and identical to the repository; data check passed.",
        summary.files, summary.bytes
    ))
}

/// A finished job's message, and for a backup its mode and size.
type Finished = (String, Option<(JobMode, u64)>);

fn execute(command: WorkerCommand, counters: Arc<Counters>) -> Result<Finished, String> {
    match command {
        WorkerCommand::Backup {
            data_dir,
            asset_id,
            host,
            time_zone,
            retention,
        } => {
            let data = DataDir::open(data_dir)?;
            let asset = data.asset(&asset_id)?;
            let retention: Option<Retention> = retention
                .map(|json| serde_json::from_str(&json).map_err(|e| format!("retention: {e}")))
                .transpose()?;
            let repo = Repo::locate(&data)?;
            let zone = jiff::tz::TimeZone::get(&time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
            let time = jiff::Zoned::now().with_time_zone(zone);
            let summary = repo.backup_at(&asset, &host, time, counters.clone())?;
            let mode = if summary.incremental {
                JobMode::Incremental
            } else {
                JobMode::Full
            };
            emit(&WorkerEvent::Note {
                message: format!(
                    "{} backup of {}: {} files, {} bytes read, {} bytes new.",
                    mode.label(),
                    asset.path,
                    summary.files,
                    summary.bytes,
                    summary.bytes_added
                ),
            });
            if let Some(retention) = retention.filter(|r| !r.keeps_everything()) {
                // One prune at a time in a repository: backups of other assets may run alongside.
                let lock_path = data.root().join("prune.lock");
                let lock = std::fs::File::create(&lock_path)
                    .and_then(|file| file.lock().map(|()| file))
                    .map_err(|e| format!("{}: {e}", lock_path.display()))?;
                let removed = repo.apply_retention(&asset, &retention, counters)?;
                drop(lock);
                emit(&WorkerEvent::Note {
                    message: format!(
                        "Retention ({}): {} recovery point(s) removed and their data pruned.",
                        retention.describe(),
                        removed
                    ),
                });
            }
            let message = format!(
                "Recovery point {} of {}.",
                &summary.snapshot_id[..8.min(summary.snapshot_id.len())],
                asset.path
            );
            Ok((message, Some((mode, summary.bytes_added))))
        }
        WorkerCommand::Copy { data_dir, asset_id } => {
            let data = DataDir::open(data_dir)?;
            let asset = data.asset(&asset_id)?;
            let target = data
                .copy_target()?
                .ok_or_else(|| "No copy target is set on this appliance.".to_owned())?;
            let summary = Repo::locate(&data)?.copy_to(&asset, &target, counters)?;
            if summary.removed > 0 {
                emit(&WorkerEvent::Note {
                    message: format!(
                        "Target retention ({}): {} copy(ies) removed and their data pruned.",
                        target.retention.describe(),
                        summary.removed
                    ),
                });
            }
            Ok((
                format!(
                    "Copied {} recovery point(s) of {} to {} ({} already there).",
                    summary.copied,
                    asset.path,
                    target.location.describe(),
                    summary.already_there
                ),
                None,
            ))
        }
        WorkerCommand::Verify {
            data_dir,
            asset_id,
            budget_mib,
        } => {
            let data = DataDir::open(data_dir)?;
            let asset = data.asset(&asset_id)?;
            let scratch = data
                .restore_tests()
                .join(format!("{asset_id}-{:08x}", rand::random::<u32>()));
            let tested = Repo::locate(&data)?.verify(&asset, budget_mib << 20, &scratch, counters);
            data.save_restore_tested_at(&asset_id, crate::jobs::now_ms())?;
            Ok((restore_test_outcome(tested?)?, None))
        }
        WorkerCommand::Restore {
            data_dir,
            asset_id,
            snapshot,
            target,
            overwrite,
            restore_roots,
            paths,
        } => {
            let data = DataDir::open(data_dir)?;
            let asset = data.asset(&asset_id)?;
            crate::containment::check_target(&target, &restore_roots, std::path::Path::new(&asset.path))?;
            let bytes =
                Repo::locate(&data)?.restore(&asset, &snapshot, &paths, &target, overwrite, counters)?;
            Ok((format!("Restored {bytes} bytes into {}.", target.display()), None))
        }
    }
}
