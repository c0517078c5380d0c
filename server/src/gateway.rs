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
        due.iter()
            .filter_map(|id| self.held.remove(id))
            .inspect(|job| {
                self.last_write.insert(job.id.clone(), Instant::now());
            })
            .collect()
    }
}

async fn send(socket: &mut futures_util::stream::SplitSink<WebSocket, Message>, frame: &ToAppliance) -> bool {
    match serde_json::to_string(frame) {
        Ok(text) => socket.send(Message::Text(text.into())).await.is_ok(),
        Err(_) => false,
    }
}

async fn serve(state: AppState, who: ApplianceIdentity, socket: WebSocket) {
    tracing::info!(appliance = who.id, name = %who.name, "appliance connected");
    let (mut outgoing, mut incoming) = socket.split();
    if !send(&mut outgoing, &ToAppliance::Welcome { appliance_id: who.id }).await {
        return;
    }
    if let Err(error) = gateway::settle_unanswered(&state.portal, &who).await {
        tracing::error!(appliance = who.id, %error, "settling unanswered commands failed");
    }
    let mut throttle = JobThrottle::default();
    let mut tick = tokio::time::interval(COMMAND_POLL);
    loop {
        tokio::select! {
            frame = incoming.next() => {
                let Some(Ok(frame)) = frame else { break };
                let reply = match frame {
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
                            if !send(&mut outgoing, &ToAppliance::Command { command_id, command }).await {
                                break;
                            }
                        }
                    }
                    Err(error) => tracing::error!(appliance = who.id, %error, "reading the command queue failed"),
                }
                if gateway::deleted_and_settled(&state.portal, &who).await.unwrap_or(false) {
                    tracing::info!(appliance = who.id, "appliance deleted in the portal; closing its connection");
                    break;
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
            ..
        } => gateway::hello(portal, who, name, model, version, time_zone).await,
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
