//! Backups and restores as jobs: each runs in a worker process whose events become progress,
//! a log and an end state; cancelling kills the worker.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use model::appliance::{AssetInfo, FromAppliance, JobInfo, JobKind, JobMode, JobProgress, JobState};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{mpsc, oneshot};

use crate::worker::WorkerEvent;

/// Finished jobs kept for the inventory.
const KEEP_FINISHED: usize = 100;
/// Progress frames per job at most this often.
const REPORT_EVERY: Duration = Duration::from_millis(500);

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

struct Entry {
    info: JobInfo,
    cancel: Option<oneshot::Sender<()>>,
}

/// The appliance's jobs; frames about them go to `events` (sent whenever a connection is up).
pub struct Jobs {
    book: Mutex<HashMap<String, Entry>>,
    events: mpsc::UnboundedSender<FromAppliance>,
}

/// A job to start: what it is and the worker arguments that do it.
pub struct JobRequest {
    pub kind: JobKind,
    pub asset: AssetInfo,
    pub worker_args: Vec<String>,
    /// The policy run this job is, if any.
    pub scheduled_for: Option<i64>,
    /// The job to start on the same asset when this one ends well (a copy after a backup).
    pub then: Option<Box<JobRequest>>,
}

impl Jobs {
    pub fn new(events: mpsc::UnboundedSender<FromAppliance>) -> Arc<Jobs> {
        Arc::new(Jobs {
            book: Mutex::new(HashMap::new()),
            events,
        })
    }

    fn with_book<T>(&self, f: impl FnOnce(&mut HashMap<String, Entry>) -> T) -> T {
        let mut book = self.book.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut book)
    }

    /// Every job still known, for the inventory.
    pub fn all(&self) -> Vec<JobInfo> {
        self.with_book(|book| book.values().map(|e| e.info.clone()).collect())
    }

    pub fn running_on(&self, asset_id: &str) -> bool {
        self.with_book(|book| {
            book.values()
                .any(|e| e.info.asset_id == asset_id && !e.info.state.is_finished())
        })
    }

    pub fn cancel(&self, job_id: &str) -> Result<(), String> {
        self.with_book(|book| match book.get_mut(job_id) {
            Some(entry) if !entry.info.state.is_finished() => match entry.cancel.take() {
                Some(cancel) => {
                    let _ = cancel.send(());
                    Ok(())
                }
                None => Err("The job is already being cancelled.".to_owned()),
            },
            Some(_) => Err("The job has already finished.".to_owned()),
            None => Err("No such job on this appliance.".to_owned()),
        })
    }

    /// Starts a job unless one already runs on the asset; returns its id.
    pub fn start(self: &Arc<Self>, request: JobRequest) -> Result<String, String> {
        let id = format!("job-{:016x}", rand::random::<u64>());
        let (cancel, cancelled) = oneshot::channel();
        let info = JobInfo {
            id: id.clone(),
            asset_id: request.asset.id.clone(),
            kind: request.kind,
            state: JobState::Running,
            started_at: now_ms(),
            ended_at: None,
            progress: JobProgress {
                message: "Starting…".into(),
                ..JobProgress::default()
            },
            error: None,
            mode: None,
            size_bytes: None,
            scheduled_for: request.scheduled_for,
        };
        let admitted = self.with_book(|book| {
            if book
                .values()
                .any(|e| e.info.asset_id == info.asset_id && !e.info.state.is_finished())
            {
                return false;
            }
            book.insert(
                id.clone(),
                Entry {
                    info: info.clone(),
                    cancel: Some(cancel),
                },
            );
            true
        });
        if !admitted {
            return Err(format!("A job is already running on {}.", request.asset.name));
        }
        let _ = self.events.send(FromAppliance::Job { job: info });
        let jobs = self.clone();
        let job_id = id.clone();
        tokio::spawn(async move { jobs.run(id, request, cancelled).await });
        Ok(job_id)
    }

    /// Records a scheduled run that never started, as a finished job with its reason.
    pub fn record_missed(&self, asset: &AssetInfo, slot: i64, reason: String) {
        let info = JobInfo {
            id: format!("missed-{}-{slot}", asset.id),
            asset_id: asset.id.clone(),
            kind: JobKind::Backup,
            state: JobState::Missed,
            started_at: slot,
            ended_at: Some(slot),
            progress: JobProgress {
                message: reason.clone(),
                ..JobProgress::default()
            },
            error: None,
            mode: None,
            size_bytes: None,
            scheduled_for: Some(slot),
        };
        self.with_book(|book| {
            book.insert(
                info.id.clone(),
                Entry {
                    info: info.clone(),
                    cancel: None,
                },
            )
        });
        let job_id = info.id.clone();
        self.report(Some(info));
        let _ = self.events.send(FromAppliance::JobLog {
            job_id,
            lines: vec![reason],
        });
        self.forget_old();
    }

    fn update(&self, id: &str, change: impl FnOnce(&mut JobInfo)) -> Option<JobInfo> {
        self.with_book(|book| {
            let entry = book.get_mut(id)?;
            change(&mut entry.info);
            Some(entry.info.clone())
        })
    }

    fn report(&self, job: Option<JobInfo>) {
        if let Some(job) = job {
            let _ = self.events.send(FromAppliance::Job { job });
        }
    }

    async fn run(self: Arc<Self>, id: String, mut request: JobRequest, cancelled: oneshot::Receiver<()>) {
        let mut log = Vec::new();
        let outcome = self.supervise(&id, &request, cancelled, &mut log).await;
        let ended_well = matches!(outcome, Outcome::Finished(..));
        let mut result = None;
        let (state, error, message) = match outcome {
            Outcome::Finished(message, backup) if log.iter().any(|l| l.starts_with("warning:")) => {
                result = backup;
                (JobState::Warning, None, message)
            }
            Outcome::Finished(message, backup) => {
                result = backup;
                (JobState::Success, None, message)
            }
            Outcome::Failed(message) => (JobState::Error, Some(message.clone()), message),
            Outcome::Cancelled => (JobState::Cancelled, None, "Cancelled.".to_owned()),
        };
        log.push(message.clone());
        let done = self.update(&id, |job| {
            job.state = state;
            job.ended_at = Some(now_ms());
            job.error = error;
            job.progress.message = message;
            job.progress.eta_secs = None;
            if let Some((mode, size)) = result {
                job.mode = Some(mode);
                job.size_bytes = Some(size);
            }
            if state == JobState::Success || state == JobState::Warning {
                job.progress.percent = 100.0;
            }
        });
        self.report(done);
        let _ = self.events.send(FromAppliance::JobLog {
            job_id: id.clone(),
            lines: log,
        });
        self.forget_old();
        if let Some(next) = request.then.take().filter(|_| ended_well) {
            let asset = next.asset.name.clone();
            if let Err(error) = self.start(*next) {
                tracing::warn!(%asset, %error, "the follow-up job did not start");
            }
        }
    }

    async fn supervise(
        &self,
        id: &str,
        request: &JobRequest,
        mut cancelled: oneshot::Receiver<()>,
        log: &mut Vec<String>,
    ) -> Outcome {
        let exe = match std::env::current_exe() {
            Ok(exe) => exe,
            Err(e) => return Outcome::Failed(format!("cannot find the appliance program: {e}")),
        };
        let mut child = match tokio::process::Command::new(exe)
            .arg("worker")
            .args(&request.worker_args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
        {
            Ok(child) => child,
            Err(e) => return Outcome::Failed(format!("cannot start the worker: {e}")),
        };
        let Some(stdout) = child.stdout.take() else {
            return Outcome::Failed("worker has no output".into());
        };
        let mut lines = BufReader::new(stdout).lines();
        let started = Instant::now();
        let mut last_report = Instant::now() - REPORT_EVERY;
        let mut outcome = Outcome::Failed("The worker stopped without a result.".into());
        loop {
            tokio::select! {
                _ = &mut cancelled => {
                    let _ = child.kill().await;
                    return Outcome::Cancelled;
                }
                line = lines.next_line() => {
                    let Ok(Some(line)) = line else { break };
                    match serde_json::from_str::<WorkerEvent>(&line) {
                        Ok(WorkerEvent::Progress { bytes_done, bytes_total }) if last_report.elapsed() >= REPORT_EVERY => {
                            last_report = Instant::now();
                            let job = self.update(id, |job| job.progress = progress(request.kind, bytes_done, bytes_total, started.elapsed()));
                            self.report(job);
                        }
                        Ok(WorkerEvent::Progress { .. }) => {}
                        // Only a backup that skipped source files is a warning; rustic's notes
                        // while restoring (e.g. a destination file that does not exist yet) are not.
                        Ok(WorkerEvent::Warning { message }) if request.kind == JobKind::Backup => {
                            log.push(format!("warning: {message}"))
                        }
                        Ok(WorkerEvent::Warning { message }) => log.push(format!("note: {message}")),
                        Ok(WorkerEvent::Note { message }) => log.push(message),
                        Ok(WorkerEvent::Finished { message, mode, size_bytes }) => {
                            outcome = Outcome::Finished(message, mode.zip(size_bytes))
                        }
                        Ok(WorkerEvent::Failed { message }) => outcome = Outcome::Failed(message),
                        Err(_) => log.push(line),
                    }
                }
            }
        }
        let _ = child.wait().await;
        outcome
    }

    fn forget_old(&self) {
        self.with_book(|book| {
            let mut finished: Vec<(i64, String)> = book
                .values()
                .filter(|e| e.info.state.is_finished())
                .map(|e| (e.info.ended_at.unwrap_or(0), e.info.id.clone()))
                .collect();
            if finished.len() > KEEP_FINISHED {
                finished.sort();
                for (_, id) in finished.iter().take(finished.len() - KEEP_FINISHED) {
                    book.remove(id);
                }
            }
        });
    }
}

enum Outcome {
    /// With a backup's mode and size.
    Finished(String, Option<(JobMode, u64)>),
    Failed(String),
    Cancelled,
}

/// Percent, rate and ETA from bytes done and total.
fn progress(kind: JobKind, bytes_done: u64, bytes_total: u64, elapsed: Duration) -> JobProgress {
    let percent = if bytes_total == 0 {
        0.0
    } else {
        (bytes_done as f64 * 100.0 / bytes_total as f64).min(100.0)
    };
    let secs = elapsed.as_secs_f64().max(0.001);
    let rate = (bytes_done as f64 / secs) as u64;
    let eta_secs = (rate > 0 && bytes_total > bytes_done).then(|| (bytes_total - bytes_done) / rate);
    let verb = match kind {
        JobKind::Backup => "Backing up",
        JobKind::Restore => "Restoring",
        JobKind::Copy => "Copying",
        JobKind::Verify => "Testing a restore",
    };
    JobProgress {
        percent,
        bytes_done,
        bytes_total,
        files_done: 0,
        files_total: 0,
        bytes_per_sec: rate,
        eta_secs,
        message: format!("{verb}: {bytes_done} of {bytes_total} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_derives_percent_rate_and_eta() {
        let p = progress(JobKind::Backup, 50, 200, Duration::from_secs(5));
        assert_eq!((p.percent, p.bytes_per_sec, p.eta_secs), (25.0, 10, Some(15)));
        let unknown = progress(JobKind::Restore, 10, 0, Duration::from_secs(1));
        assert_eq!((unknown.percent, unknown.eta_secs), (0.0, None));
    }
}
