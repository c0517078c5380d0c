//! The appliance gateway: registration over HTTP and one WebSocket per appliance.
//!
//! A malformed or oversized frame gets an error frame and a log line; it never ends the
//! connection or affects another appliance. Commands are read from the database queue, so any
//! server replica can deliver a command queued through any other.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use domain::appliances::{ApplianceIdentity, gateway, registration};
use domain::{DomainError, DomainResult};
use futures_util::{SinkExt, StreamExt};
use model::AppError;
use model::appliance::{
    FromAppliance, JobInfo, MAX_FRAME_BYTES, PROTOCOL_VERSION, RegisterRequest, ToAppliance,
};

use crate::AppState;

pub const REGISTER_PATH: &str = "/appliance/register";
pub const CONNECT_PATH: &str = "/appliance/connect";

/// Progress of one job is written at most this often (finished states always at once).
const JOB_WRITE_INTERVAL: Duration = Duration::from_secs(1);
const COMMAND_POLL: Duration = Duration::from_secs(1);
/// Frames one connection may send per second on average, and in a burst (a reconnecting
/// appliance sends its inventory and the logs of every job that ended meanwhile at once).
const FRAMES_PER_SECOND: f64 = 50.0;
const FRAME_BURST: f64 = 500.0;
/// How long a deleted appliance has to answer Unregister before its connection is closed.
const UNREGISTER_GRACE: Duration = Duration::from_secs(5);
/// Frames over [`MAX_FRAME_BYTES`] get an error frame; only beyond this does the WebSocket layer
/// itself refuse a message and end the connection.
const TRANSPORT_LIMIT_BYTES: usize = 4 * MAX_FRAME_BYTES;

fn refusal(error: DomainError) -> Response {
    match error {
        DomainError::Rejected(app) => {
            let status = match app {
                AppError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
                _ => StatusCode::CONFLICT,
            };
            (status, Json(app)).into_response()
        }
        internal => {
            tracing::error!(error = %internal, "appliance registration failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(AppError::Internal {
                    request_id: String::new(),
                }),
            )
                .into_response()
        }
    }
}

/// `POST /appliance/register`: a registration ID for a credential.
pub async fn register(State(state): State<AppState>, Json(request): Json<RegisterRequest>) -> Response {
    match registration::register(&state.portal, &request).await {
        Ok(response) => Json(response).into_response(),
        Err(error) => refusal(error),
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

/// `GET /appliance/connect`: the appliance's WebSocket, authenticated by its credential.
pub async fn connect(
    State(state): State<AppState>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let Some(credential) = bearer(&headers) else {
        return (StatusCode::UNAUTHORIZED, "missing appliance credential").into_response();
    };
    let who = async {
        let mut conn = state.portal.db.pool.acquire().await?;
        registration::authenticate(&mut conn, credential).await
    };
    match who.await {
        Ok(Some(who)) => upgrade
            .max_message_size(TRANSPORT_LIMIT_BYTES)
            .max_frame_size(TRANSPORT_LIMIT_BYTES)
            .on_upgrade(move |socket| serve(state, who, socket)),
        Ok(None) => (
            StatusCode::UNAUTHORIZED,
            "unknown or revoked appliance credential",
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "appliance authentication failed");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

/// Job updates held back by the write throttle, per job.
#[derive(Default)]
struct JobThrottle {
    last_write: HashMap<String, Instant>,
    held: HashMap<String, JobInfo>,
}

impl JobThrottle {
    /// Whether to write this update now; otherwise it is held for the next flush.
    fn admit(&mut self, job: &JobInfo) -> bool {
        let due = self
            .last_write
            .get(&job.id)
            .is_none_or(|t| t.elapsed() >= JOB_WRITE_INTERVAL);
        if due || job.state.is_finished() {
            self.last_write.insert(job.id.clone(), Instant::now());
            self.held.remove(&job.id);
            true
        } else {
            self.held.insert(job.id.clone(), job.clone());
            false
        }
    }

    /// Forgets the write times that no longer hold anything back, so the map stays as small
    /// as the jobs of the last interval.
    fn prune(&mut self) {
        let held = &self.held;
        self.last_write
            .retain(|id, at| held.contains_key(id) || at.elapsed() < JOB_WRITE_INTERVAL);
    }

    fn take_due(&mut self) -> Vec<JobInfo> {
        let due: Vec<String> = self
            .held
            .keys()
            .filter(|id| {
                self.last_write
                    .get(*id)
                    .is_none_or(|t| t.elapsed() >= JOB_WRITE_INTERVAL)
            })
            .cloned()
            .collect();
        let taken = due
            .iter()
            .filter_map(|id| self.held.remove(id))
            .inspect(|job| {
                self.last_write.insert(job.id.clone(), Instant::now());
            })
            .collect();
        self.prune();
        taken
    }
}

/// A token bucket over one connection's frames: [`FRAMES_PER_SECOND`] on average, bursts up to
/// [`FRAME_BURST`]. Frames beyond it are answered with an error and not stored, so one
/// appliance cannot fill the database or starve the others.
struct FrameBudget {
    tokens: f64,
    refilled_at: Instant,
}

impl Default for FrameBudget {
    fn default() -> Self {
        FrameBudget {
            tokens: FRAME_BURST,
            refilled_at: Instant::now(),
        }
    }
}

impl FrameBudget {
    fn admit(&mut self) -> bool {
        self.admit_at(Instant::now())
    }

    fn admit_at(&mut self, now: Instant) -> bool {
        let earned = now.duration_since(self.refilled_at).as_secs_f64() * FRAMES_PER_SECOND;
        self.tokens = (self.tokens + earned).min(FRAME_BURST);
        self.refilled_at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// A deleted appliance's connection ends once it has answered Unregister, or after
/// [`UNREGISTER_GRACE`] if it does not. An appliance gone with its organization has no command
/// queue left: it is told to unregister in passing, and its connection ends at once.
#[derive(Default)]
struct Deletion {
    noticed_at: Option<Instant>,
}

#[derive(Debug, PartialEq)]
enum Verdict {
    Stay,
    Close,
    UnregisterAndClose,
}

impl Deletion {
    fn verdict(&mut self, standing: DomainResult<gateway::Standing>) -> Verdict {
        match standing {
            Ok(gateway::Standing::Registered) => Verdict::Stay,
            Ok(gateway::Standing::Gone) => Verdict::UnregisterAndClose,
            Ok(gateway::Standing::Deleted { settled: true }) => Verdict::Close,
            Ok(gateway::Standing::Deleted { settled: false }) => {
                if self.noticed_at.get_or_insert_with(Instant::now).elapsed() >= UNREGISTER_GRACE {
                    Verdict::Close
                } else {
                    Verdict::Stay
                }
            }
            Err(error) => {
                tracing::error!(%error, "reading an appliance's registration failed");
                Verdict::Stay
            }
        }
    }
}

/// The id of the Unregister sent to an appliance whose organization was deleted: no stored
/// command has it (ids start at 1), and its answer is not waited for.
const UNSTORED_COMMAND_ID: i64 = 0;

async fn send(socket: &mut futures_util::stream::SplitSink<WebSocket, Message>, frame: &ToAppliance) -> bool {
    match serde_json::to_string(frame) {
        Ok(text) => socket.send(Message::Text(text.into())).await.is_ok(),
        Err(_) => false,
    }
}

async fn serve(state: AppState, who: ApplianceIdentity, socket: WebSocket) {
    tracing::info!(appliance = who.id, name = %who.name, "appliance connected");
    let _counted = crate::ops::ConnectedAppliance::open();
    let (mut outgoing, mut incoming) = socket.split();
    if !send(&mut outgoing, &ToAppliance::Welcome { appliance_id: who.id }).await {
        return;
    }
    if let Err(error) = gateway::settle_unanswered(&state.portal, &who).await {
        tracing::error!(appliance = who.id, %error, "settling unanswered commands failed");
    }
    let mut throttle = JobThrottle::default();
    let mut deletion = Deletion::default();
    let mut budget = FrameBudget::default();
    let mut tick = tokio::time::interval(COMMAND_POLL);
    loop {
        tokio::select! {
            frame = incoming.next() => {
                let Some(Ok(frame)) = frame else { break };
                let reply = match frame {
                    Message::Text(_) | Message::Binary(_) if !budget.admit() => Some(format!(
                        "too many frames: at most {FRAMES_PER_SECOND} a second; this one was not stored"
                    )),
                    Message::Text(text) => handle(&state, &who, &mut throttle, text.as_str()).await,
                    Message::Binary(_) => Some("binary frames are not part of the protocol".to_owned()),
                    Message::Close(_) => break,
                    _ => None,
                };
                if let Some(message) = reply {
                    tracing::warn!(appliance = who.id, %message, "bad frame from appliance");
                    if !send(&mut outgoing, &ToAppliance::Error { message }).await {
                        break;
                    }
                }
            }
            _ = tick.tick() => {
                for job in throttle.take_due() {
                    if let Err(error) = gateway::job(&state.portal, &who, &job).await {
                        tracing::error!(appliance = who.id, %error, "storing job progress failed");
                    }
                }
                match gateway::take_pending(&state.portal, &who).await {
                    Ok(commands) => {
                        for (command_id, command) in commands {
                            let command = Box::new(command);
                            if !send(&mut outgoing, &ToAppliance::Command { command_id, command }).await {
                                break;
                            }
                        }
                    }
                    Err(error) => tracing::error!(appliance = who.id, %error, "reading the command queue failed"),
                }
                match deletion.verdict(gateway::standing(&state.portal, &who).await) {
                    Verdict::Stay => {}
                    Verdict::Close => {
                        tracing::info!(appliance = who.id, "appliance deleted in the portal; closing its connection");
                        break;
                    }
                    Verdict::UnregisterAndClose => {
                        tracing::info!(appliance = who.id, "organization deleted; telling its appliance to unregister");
                        let unregister = ToAppliance::Command {
                            command_id: UNSTORED_COMMAND_ID,
                            command: Box::new(model::appliance::Command::Unregister),
                        };
                        let _ = send(&mut outgoing, &unregister).await;
                        let _ = outgoing.close().await;
                        break;
                    }
                }
            }
        }
    }
    tracing::info!(appliance = who.id, "appliance disconnected");
}

/// Stores one frame; returns the message of an error frame to send back, if any.
async fn handle(
    state: &AppState,
    who: &ApplianceIdentity,
    throttle: &mut JobThrottle,
    text: &str,
) -> Option<String> {
    if text.len() > MAX_FRAME_BYTES {
        return Some(format!(
            "frame of {} bytes refused: frames are limited to {MAX_FRAME_BYTES} bytes",
            text.len()
        ));
    }
    let frame: FromAppliance = match serde_json::from_str(text) {
        Ok(frame) => frame,
        Err(e) => return Some(format!("unreadable frame: {e}")),
    };
    let portal = &state.portal;
    let stored: DomainResult<()> = match &frame {
        FromAppliance::Hello { protocol, .. } if *protocol != PROTOCOL_VERSION => {
            return Some(format!(
                "protocol {protocol} is not supported; this portal speaks {PROTOCOL_VERSION}"
            ));
        }
        FromAppliance::Hello {
            name,
            model,
            version,
            time_zone,
            restore_roots,
            ..
        } => gateway::hello(portal, who, name, model, version, time_zone, restore_roots).await,
        FromAppliance::Heartbeat { storage } => gateway::heartbeat(portal, who, storage).await.map(|_| ()),
        FromAppliance::Inventory {
            assets,
            recovery_points,
            jobs,
        } => gateway::inventory(portal, who, assets, recovery_points, jobs).await,
        FromAppliance::Job { job } if throttle.admit(job) => gateway::job(portal, who, job).await,
        FromAppliance::Job { .. } => Ok(()),
        FromAppliance::JobLog { job_id, lines } => gateway::job_log(portal, who, job_id, lines).await,
        FromAppliance::CommandResult { command_id, result } => {
            gateway::finish(portal, who, *command_id, result).await
        }
    };
    match stored {
        Ok(()) => None,
        Err(DomainError::Rejected(e)) => Some(e.to_string()),
        Err(internal) => {
            tracing::error!(appliance = who.id, error = %internal, "storing an appliance frame failed");
            Some("the portal could not store this frame; it will be retried with the next inventory".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_gets_a_burst_then_its_rate() {
        let start = Instant::now();
        let mut budget = FrameBudget {
            tokens: FRAME_BURST,
            refilled_at: start,
        };
        let admitted = (0..(FRAME_BURST as usize + 100))
            .filter(|_| budget.admit_at(start))
            .count();
        assert_eq!(admitted, FRAME_BURST as usize);
        let later = start + Duration::from_secs(2);
        let refilled = (0..1000).filter(|_| budget.admit_at(later)).count();
        assert_eq!(
            refilled,
            2 * FRAMES_PER_SECOND as usize,
            "two seconds earn two seconds' frames"
        );
        let much_later = later + Duration::from_secs(3600);
        let capped = (0..1000).filter(|_| budget.admit_at(much_later)).count();
        assert_eq!(capped, FRAME_BURST as usize, "never more than a burst");
    }

    #[test]
    fn the_job_throttle_forgets_jobs_it_no_longer_holds_back() {
        let mut throttle = JobThrottle::default();
        for i in 0..1000 {
            let job = JobInfo {
                id: format!("job-{i}"),
                asset_id: "a".into(),
                kind: model::appliance::JobKind::Backup,
                state: model::appliance::JobState::Running,
                started_at: 0,
                ended_at: None,
                progress: Default::default(),
                error: None,
                mode: None,
                size_bytes: None,
                scheduled_for: None,
            };
            assert!(throttle.admit(&job));
        }
        assert_eq!(throttle.last_write.len(), 1000);
        std::thread::sleep(JOB_WRITE_INTERVAL);
        assert!(throttle.take_due().is_empty());
        assert!(throttle.last_write.is_empty(), "pruned");
    }
}
