//! Registration, the connection to the portal (kept open with jittered exponential backoff)
//! and the handling of the portal's commands.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use model::appliance::{
    AssetInfo, Command, CommandOutcome, FromAppliance, PROTOCOL_VERSION, RegisterRequest, RegisterResponse,
    Storage, ToAppliance,
};
use rand::RngExt;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use std::sync::Arc;

use model::appliance::JobKind;
use tokio::sync::mpsc;

use crate::jobs::{JobRequest, Jobs};
use crate::repository::Repo;
use crate::scheduler::{Scheduler, backup_request, copy_request, verify_request};
use crate::state::{Credential, DataDir};
use crate::transport::{Proxies, Transport};
use model::policy::{Policy, parse_schedule};
use rustic_core::jiff;

pub const MODEL: &str = "Backplane reference appliance";
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Debug, Clone)]
pub struct Settings {
    pub portal: String,
    pub name: String,
    pub heartbeat: Duration,
    /// IANA name of the zone policies run in.
    pub time_zone: String,
    /// Directories restores may write into (besides an asset's own directory).
    pub restore_roots: Vec<PathBuf>,
    /// Certificate authorities trusted besides the public web roots (PEM).
    pub ca_file: Option<PathBuf>,
}

/// How a connection ended.
enum Ended {
    /// The portal told the appliance to unregister: stop for good.
    Unregistered,
    /// An established connection broke: reconnecting starts again from the shortest pause.
    Dropped(String),
    /// Lost or refused; try again after a pause.
    Lost(String),
}

pub async fn run(
    settings: Settings,
    data_dir: PathBuf,
    registration_id: Option<String>,
) -> Result<(), String> {
    let data = DataDir::open(data_dir)?;
    let transport = Transport::new(settings.ca_file.as_deref(), Proxies::from_env())?;
    let credential =
        match (data.credential()?, registration_id) {
            (Some(credential), _) => credential,
            (None, Some(id)) => register(&settings, &transport, &data, &id).await?,
            (None, None) => return Err(
                "not registered: start once with --registration-id from the portal's Add appliance wizard"
                    .into(),
            ),
        };
    let (events, mut pending_events) = mpsc::unbounded_channel();
    let jobs = Jobs::new(events);
    let scheduler = Scheduler::new(
        DataDir::open(data.root().to_path_buf())?,
        jobs.clone(),
        settings.name.clone(),
        settings.time_zone.clone(),
    );
    tokio::spawn(scheduler.clone().run());
    let appliance = Appliance {
        jobs,
        data,
        host: settings.name.clone(),
        scheduler,
        restore_roots: settings.restore_roots.clone(),
    };
    let mut failures: u32 = 0;
    loop {
        let ended = connect_once(
            &settings,
            &transport,
            &appliance,
            &credential,
            &mut pending_events,
        )
        .await;
        match &ended {
            Ended::Unregistered => {
                appliance.data.forget_credential()?;
                tracing::info!("unregistered by the portal; credential removed");
                return Ok(());
            }
            Ended::Dropped(reason) | Ended::Lost(reason) => {
                if matches!(ended, Ended::Dropped(_)) {
                    failures = 0;
                }
                failures = failures.saturating_add(1);
                let pause = backoff(failures);
                tracing::warn!(%reason, retry_in = ?pause, "connection to the portal lost");
                tokio::time::sleep(pause).await;
            }
        }
    }
}

/// An error with what caused it ("error sending request: … invalid peer certificate: …"): the
/// top line alone rarely says what an operator must fix.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

/// 1 s doubling to at most 60 s, with ±20 % jitter so a fleet does not reconnect in step.
fn backoff(failures: u32) -> Duration {
    let base = 1u64 << failures.saturating_sub(1).min(6);
    let secs = base.min(60) as f64 * rand::rng().random_range(0.8..1.2);
    Duration::from_secs_f64(secs)
}

/// Exchanges the one-time registration ID for the appliance's own credential. A refusal (the
/// ID is unknown, used or expired) ends the appliance with the portal's reason; an unreachable
/// or failing portal is retried with backoff, as a fresh install may start before the portal.
async fn register(
    settings: &Settings,
    transport: &Transport,
    data: &DataDir,
    registration_id: &str,
) -> Result<Credential, String> {
    let request = RegisterRequest {
        registration_id: registration_id.trim().to_owned(),
        name: settings.name.clone(),
        model: MODEL.into(),
        version: VERSION.into(),
    };
    let url = format!("{}/appliance/register", settings.portal);
    let client = transport.http_client(&url)?;
    let mut failures: u32 = 0;
    let registered = loop {
        match try_register(&client, &url, &request).await {
            Ok(registered) => break registered,
            Err(Attempt::Refused(reason)) => return Err(reason),
            Err(Attempt::Failed(reason)) => {
                failures = failures.saturating_add(1);
                let pause = backoff(failures);
                tracing::warn!(%reason, retry_in = ?pause, "registration did not reach the portal");
                tokio::time::sleep(pause).await;
            }
        }
    };
    let credential = Credential {
        portal: settings.portal.clone(),
        appliance_id: registered.appliance_id,
        credential: registered.credential,
    };
    data.save_credential(&credential)?;
    tracing::info!(appliance = credential.appliance_id, "registered with the portal");
    Ok(credential)
}

/// Why one registration attempt did not succeed.
enum Attempt {
    /// The portal answered and said no: retrying cannot help.
    Refused(String),
    /// The portal could not be reached or failed: worth another try.
    Failed(String),
}

async fn try_register(
    client: &reqwest::Client,
    url: &str,
    request: &RegisterRequest,
) -> Result<RegisterResponse, Attempt> {
    let response = client
        .post(url)
        .json(request)
        .send()
        .await
        .map_err(|e| Attempt::Failed(format!("registering at {url}: {}", with_causes(&e))))?;
    let status = response.status();
    if status.is_success() {
        return response
            .json()
            .await
            .map_err(|e| Attempt::Failed(format!("registration answer: {e}")));
    }
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    let message = body
        .get("message")
        .and_then(|m| m.as_str())
        .unwrap_or("no reason given");
    let reason = format!("registration refused ({status}): {message}");
    Err(if status.is_server_error() {
        Attempt::Failed(reason)
    } else {
        Attempt::Refused(reason)
    })
}

fn websocket_url(portal: &str) -> String {
    let rest = portal.strip_prefix("https://").map(|r| format!("wss://{r}"));
    let url = rest.unwrap_or_else(|| portal.replacen("http://", "ws://", 1));
    format!("{url}/appliance/connect")
}

/// Space on the volume holding `path`.
fn storage(path: &Path) -> Storage {
    let total = fs4::total_space(path).unwrap_or(0);
    let free = fs4::available_space(path).unwrap_or(0);
    Storage {
        total_bytes: total,
        free_bytes: free,
        used_bytes: total.saturating_sub(free),
    }
}

/// What the appliance is and does, across connections.
struct Appliance {
    data: DataDir,
    jobs: Arc<Jobs>,
    host: String,
    scheduler: Arc<Scheduler>,
    restore_roots: Vec<PathBuf>,
}

impl Appliance {
    async fn inventory(&self) -> FromAppliance {
        let repository = Repo::locate(&self.data);
        let points = tokio::task::spawn_blocking(move || repository.and_then(|r| r.recovery_points())).await;
        let recovery_points = match points {
            Ok(Ok(points)) => points,
            Ok(Err(message)) => {
                tracing::error!(%message, "listing recovery points failed");
                Vec::new()
            }
            Err(e) => {
                tracing::error!(error = %e, "listing recovery points failed");
                Vec::new()
            }
        };
        FromAppliance::Inventory {
            assets: self.data.assets(),
            recovery_points,
            jobs: self.jobs.all(),
        }
    }
}

async fn connect_once(
    settings: &Settings,
    transport: &Transport,
    appliance: &Appliance,
    credential: &Credential,
    pending_events: &mut mpsc::UnboundedReceiver<FromAppliance>,
) -> Ended {
    let mut request = match websocket_url(&settings.portal).into_client_request() {
        Ok(request) => request,
        Err(e) => return Ended::Lost(format!("bad portal URL: {e}")),
    };
    let Ok(bearer) = format!("Bearer {}", credential.credential).parse() else {
        return Ended::Lost("credential is not a valid header".into());
    };
    request.headers_mut().insert("authorization", bearer);
    let socket = match transport.websocket(request).await {
        Ok(socket) => socket,
        Err(e) => return Ended::Lost(e),
    };
    tracing::info!("connected to the portal");
    let (mut outgoing, mut incoming) = socket.split();
    let hello = FromAppliance::Hello {
        protocol: PROTOCOL_VERSION,
        name: settings.name.clone(),
        model: MODEL.into(),
        version: VERSION.into(),
        time_zone: settings.time_zone.clone(),
        restore_roots: settings
            .restore_roots
            .iter()
            .map(|root| root.display().to_string())
            .collect(),
    };
    let mut heartbeat = tokio::time::interval(settings.heartbeat);
    let hourly = Duration::from_secs(3600);
    let mut full_inventory = tokio::time::interval_at(tokio::time::Instant::now() + hourly, hourly);
    // Progress from while the connection was down is stale and the inventory carries every
    // job's state; only the logs of jobs that ended meanwhile are still news.
    let mut logs = Vec::new();
    while let Ok(event) = pending_events.try_recv() {
        if matches!(event, FromAppliance::JobLog { .. }) {
            logs.push(event);
        }
    }
    let opening = [hello, appliance.inventory().await].into_iter().chain(logs);
    for frame in opening {
        if let Err(e) = send(&mut outgoing, &frame).await {
            return Ended::Dropped(e);
        }
    }
    loop {
        let outbound: Vec<FromAppliance> = tokio::select! {
            _ = heartbeat.tick() => vec![FromAppliance::Heartbeat { storage: storage(appliance.data.root()) }],
            _ = full_inventory.tick() => vec![appliance.inventory().await],
            Some(event) = pending_events.recv() => {
                let finished = matches!(&event, FromAppliance::JobLog { .. });
                let mut frames = vec![event];
                if finished {
                    frames.push(appliance.inventory().await);
                }
                frames
            }
            frame = incoming.next() => match frame {
                Some(Ok(Message::Text(text))) => match serde_json::from_str::<ToAppliance>(text.as_str()) {
                    Ok(ToAppliance::Command { command_id, command }) => {
                        let unregister = *command == Command::Unregister;
                        let (result, changed) = execute(appliance, *command);
                        let mut frames = vec![FromAppliance::CommandResult { command_id, result }];
                        if changed {
                            frames.push(appliance.inventory().await);
                        }
                        if unregister {
                            for frame in &frames {
                                let _ = send(&mut outgoing, frame).await;
                            }
                            let _ = outgoing.close().await;
                            return Ended::Unregistered;
                        }
                        frames
                    }
                    Ok(ToAppliance::Welcome { appliance_id }) => {
                        tracing::debug!(appliance_id, "welcomed");
                        Vec::new()
                    }
                    Ok(ToAppliance::Error { message }) => {
                        tracing::warn!(%message, "the portal refused a frame");
                        Vec::new()
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "unreadable frame from the portal");
                        Vec::new()
                    }
                },
                Some(Ok(Message::Close(_))) | None => return Ended::Dropped("the portal closed the connection".into()),
                Some(Ok(_)) => Vec::new(),
                Some(Err(e)) => return Ended::Dropped(e.to_string()),
            },
        };
        for frame in &outbound {
            if let Err(e) = send(&mut outgoing, frame).await {
                return Ended::Dropped(e);
            }
        }
    }
}

async fn send<S>(outgoing: &mut S, frame: &FromAppliance) -> Result<(), String>
where
    S: SinkExt<Message> + Unpin,
    S::Error: std::fmt::Display,
{
    let text = serde_json::to_string(frame).map_err(|e| e.to_string())?;
    outgoing
        .send(Message::Text(text.into()))
        .await
        .map_err(|e| e.to_string())
}

/// Runs a command (jobs start in the background); returns its outcome and whether the
/// inventory changed.
fn execute(appliance: &Appliance, command: Command) -> (CommandOutcome, bool) {
    let data = &appliance.data;
    let done = |message: String| CommandOutcome::Done { message };
    let error = |message: String| CommandOutcome::Error { message };
    match command {
        Command::AddAsset { path } => match add_asset(data, &path) {
            Ok(asset) => (done(format!("Added {} ({}).", asset.name, asset.path)), true),
            Err(message) => (error(message), false),
        },
        Command::RemoveAsset { asset_id } => {
            if appliance.jobs.running_on(&asset_id) {
                return (
                    error("A job is running on this asset; cancel it or wait for it to finish.".into()),
                    false,
                );
            }
            let mut assets = data.assets();
            let before = assets.len();
            assets.retain(|a| a.id != asset_id);
            if assets.len() == before {
                return (error("No such asset on this appliance.".into()), false);
            }
            match data.save_assets(&assets) {
                Ok(()) => (done("Asset removed.".into()), true),
                Err(message) => (error(message), false),
            }
        }
        Command::Unregister => (done("Unregistered.".into()), false),
        Command::BackupNow { asset_id } => {
            let started = data.asset(&asset_id).and_then(|asset| {
                let scheduler = &appliance.scheduler;
                let request = backup_request(data, &appliance.host, scheduler.time_zone(), &asset, None);
                appliance.jobs.start(request)
            });
            match started {
                Ok(job_id) => (done(format!("Backup started as {job_id}.")), false),
                Err(message) => (error(message), false),
            }
        }
        Command::SetPolicy { asset_id, policy } => match set_policy(appliance, &asset_id, Some(policy)) {
            Ok(message) => (done(message), true),
            Err(message) => (error(message), false),
        },
        Command::RemovePolicy { asset_id } => match set_policy(appliance, &asset_id, None) {
            Ok(message) => (done(message), true),
            Err(message) => (error(message), false),
        },
        Command::Restore {
            asset_id,
            recovery_point_id,
            paths,
            target_dir,
            overwrite,
        } => {
            let roots = &appliance.restore_roots;
            let started = data.asset(&asset_id).and_then(|asset| {
                let target = Path::new(&target_dir);
                crate::containment::check_target(target, roots, Path::new(&asset.path))?;
                let mut worker_args = vec![
                    "restore".into(),
                    "--data-dir".into(),
                    data.root().display().to_string(),
                    "--asset-id".into(),
                    asset.id.clone(),
                    "--snapshot".into(),
                    recovery_point_id,
                    "--target".into(),
                    target_dir,
                ];
                if overwrite {
                    worker_args.push("--overwrite".into());
                }
                for root in roots {
                    worker_args.push(format!("--restore-root={}", root.display()));
                }
                worker_args.extend(paths.into_iter().map(|path| format!("--path={path}")));
                appliance.jobs.start(JobRequest {
                    kind: JobKind::Restore,
                    asset,
                    worker_args,
                    scheduled_for: None,
                    then: None,
                })
            });
            match started {
                Ok(job_id) => (done(format!("Restore started as {job_id}.")), false),
                Err(message) => (error(message), false),
            }
        }
        Command::SetCopyTarget { target } => {
            let described = target.as_ref().map(|t| t.describe());
            let saved = data.save_copy_target(target.as_ref());
            appliance.scheduler.copy_target_changed();
            match saved {
                Ok(()) => match described {
                    Some(described) => (done(format!("Recovery points are copied to {described}.")), false),
                    None => (done("Backup copies stopped.".into()), false),
                },
                Err(message) => (error(message), false),
            }
        }
        Command::CopyNow { asset_id } => {
            let started = data.copy_target().and_then(|target| {
                target.ok_or_else(|| "No copy target is set on this appliance.".to_owned())?;
                let asset = data.asset(&asset_id)?;
                appliance.jobs.start(copy_request(data, &asset))
            });
            match started {
                Ok(job_id) => (done(format!("Copy started as {job_id}.")), false),
                Err(message) => (error(message), false),
            }
        }
        Command::VerifyNow { asset_id } => {
            let started = data
                .asset(&asset_id)
                .and_then(|asset| appliance.jobs.start(verify_request(data, &asset)));
            match started {
                Ok(job_id) => (done(format!("Restore test started as {job_id}.")), false),
                Err(message) => (error(message), false),
            }
        }
        Command::CancelJob { job_id } => match appliance.jobs.cancel(&job_id) {
            Ok(()) => (done("Cancelling.".into()), false),
            Err(message) => (error(message), false),
        },
    }
}

/// Gives the asset `policy` (or none) and reschedules it; returns what happened, in words.
fn set_policy(appliance: &Appliance, asset_id: &str, policy: Option<Policy>) -> Result<String, String> {
    if let Some(policy) = &policy {
        parse_schedule(&policy.schedule).map_err(|e| e.to_string())?;
    }
    let mut assets = appliance.data.assets();
    let asset = assets
        .iter_mut()
        .find(|a| a.id == asset_id)
        .ok_or_else(|| "No such asset on this appliance.".to_owned())?;
    let had_policy = asset.policy.is_some();
    asset.policy = policy;
    let asset = asset.clone();
    appliance.data.save_assets(&assets)?;
    let next = appliance.scheduler.policy_changed(&asset)?;
    let zone = appliance.scheduler.time_zone();
    Ok(match (&asset.policy, next) {
        (None, _) if had_policy => format!("Policy of {} removed.", asset.name),
        (None, _) => format!("{} had no policy.", asset.name),
        (Some(_), None) => format!("Schedule of {} disabled.", asset.name),
        (Some(policy), Some(next)) => format!(
            "{}: {}, keeping {}; next backup {} ({zone}).",
            asset.name,
            policy.schedule.describe(),
            policy.retention.describe(),
            local_time(next, zone)
        ),
    })
}

/// Unix ms as a wall-clock reading in `zone`.
fn local_time(unix_ms: i64, zone: &str) -> String {
    let zone = jiff::tz::TimeZone::get(zone).unwrap_or(jiff::tz::TimeZone::UTC);
    jiff::Timestamp::from_millisecond(unix_ms)
        .map(|t| t.to_zoned(zone).strftime("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

/// Adds a readable directory as an asset.
fn add_asset(data: &DataDir, path: &str) -> Result<AssetInfo, String> {
    let path = path.trim();
    let canonical = std::fs::canonicalize(path).map_err(|e| format!("{path}: {e}"))?;
    if !canonical.is_dir() {
        return Err(format!("{path} is not a directory."));
    }
    std::fs::read_dir(&canonical).map_err(|e| format!("{path} cannot be read: {e}"))?;
    let path = canonical.display().to_string();
    let mut assets = data.assets();
    if assets.iter().any(|a| a.path == path) {
        return Err(format!("{path} is already an asset."));
    }
    let name = canonical
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.clone());
    let asset = AssetInfo {
        id: format!("asset-{:016x}", rand::random::<u64>()),
        name,
        path,
        policy: None,
    };
    assets.push(asset.clone());
    data.save_assets(&assets)?;
    Ok(asset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_a_minute_with_jitter() {
        assert!(backoff(1) >= Duration::from_millis(800) && backoff(1) <= Duration::from_millis(1200));
        assert!(backoff(3) >= Duration::from_millis(3200) && backoff(3) <= Duration::from_millis(4800));
        assert!(backoff(50) <= Duration::from_secs(72));
    }

    #[test]
    fn websocket_url_follows_the_portal_scheme() {
        assert_eq!(
            websocket_url("https://backup.example.com"),
            "wss://backup.example.com/appliance/connect"
        );
        assert_eq!(
            websocket_url("http://127.0.0.1:3000"),
            "ws://127.0.0.1:3000/appliance/connect"
        );
    }
}
