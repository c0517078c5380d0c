//! `GET /api/live`: the browser's WebSocket for live updates (model::live).
//!
//! The socket belongs to the signed-in session that opened it: it is refused cross-site, it
//! re-checks the session (without extending it) and the user's organizations every
//! [`RECHECK`], and it closes when the session ends. Each event is serialized once by the hub,
//! which routes it only to the sockets whose [`Audience`] includes its organization.

use std::time::Duration;

use app::server::RequestSession;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use domain::access::Viewer;
use domain::appliances::jobs::{self, JobQuery};
use domain::live::{Audience, Published};
use domain::sessions::{self, Stage};
use domain::{DomainResult, Portal};
use futures_util::{SinkExt, StreamExt};
use model::live::LiveFrame;
use serde::Deserialize;

use crate::AppState;
use crate::middleware::{from_this_site, session_token};

const RECHECK: Duration = Duration::from_secs(15);
/// Jobs that ended this recently are still shown as active.

#[derive(Debug, Deserialize)]
pub struct LiveQuery {
    since: Option<u64>,
}

pub async fn socket(
    State(state): State<AppState>,
    Query(query): Query<LiveQuery>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    request: Request,
) -> Response {
    let session = request
        .extensions()
        .get::<RequestSession>()
        .and_then(|s| s.0.clone())
        .filter(|s| s.stage == Stage::Full);
    let (Some(session), Some(token)) = (session, session_token(&request, state.cookies.cookie_name())) else {
        return (StatusCode::UNAUTHORIZED, "Sign in to receive live updates.").into_response();
    };
    if !from_this_site(request.headers(), &state.portal.public_url) {
        return (StatusCode::FORBIDDEN, "Cross-site request refused.").into_response();
    }
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(_) => {
            return (StatusCode::UPGRADE_REQUIRED, "This address is a WebSocket.").into_response();
        }
    };
    let viewer = Viewer::of(&session);
    // Browsers only ever send a close frame: small buffers keep thousands of sockets cheap, and
    // frames go out as soon as they are written.
    upgrade
        .max_message_size(64 * 1024)
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .on_upgrade(move |socket| serve(state.portal, viewer, token, query.since, socket))
}

async fn snapshot(portal: &Portal, viewer: &Viewer, seq: u64) -> DomainResult<String> {
    let mut conn = portal.db.pool.acquire().await?;
    let query = JobQuery {
        asset_id: None,
        appliance_id: None,
        active_or_ended_after: Some(portal.now() - model::jobs::RECENTLY_ENDED_MS),
        limit: 200,
    };
    let jobs = jobs::list(&mut conn, viewer, query).await?;
    serde_json::to_string(&LiveFrame::Snapshot { seq, jobs })
        .map_err(|e| domain::DomainError::internal(e.to_string()))
}

async fn read_audience(portal: &Portal, viewer: &Viewer) -> DomainResult<Audience> {
    let mut conn = portal.db.pool.acquire().await?;
    Audience::of(&mut conn, viewer).await
}

/// The session is still signed in, with the same user; `None` if the database is unreachable.
async fn still_signed_in(portal: &Portal, token: &str, viewer: &Viewer) -> Option<bool> {
    let mut conn = portal.db.pool.acquire().await.ok()?;
    let session = sessions::check(&mut conn, token, portal.now(), &portal.sessions)
        .await
        .ok()?;
    Some(session.is_some_and(|s| s.stage == Stage::Full && Viewer::of(&s) == *viewer))
}

async fn serve(portal: Portal, viewer: Viewer, token: String, since: Option<u64>, socket: WebSocket) {
    let (mut outgoing, mut incoming) = socket.split();
    let Ok(mut audience) = read_audience(&portal, &viewer).await else {
        return;
    };
    let mut subscription = portal.live.subscribe(since, &audience);
    let mut seq = subscription.seq;
    let opening: Vec<String> = match subscription.missed.take() {
        Some(missed) => missed.iter().map(|p| p.frame.clone()).collect(),
        None => match snapshot(&portal, &viewer, seq).await {
            Ok(frame) => vec![frame],
            Err(error) => {
                tracing::error!(%error, "live snapshot failed");
                return;
            }
        },
    };
    for frame in opening {
        if outgoing.send(Message::Text(frame.into())).await.is_err() {
            return;
        }
    }
    let mut recheck = tokio::time::interval(RECHECK);
    recheck.tick().await;
    loop {
        tokio::select! {
            event = subscription.receiver.recv() => {
                let Some(event) = event else { break };
                let frame = if subscription.take_lagged() {
                    // Too slow to keep up: start over from a fresh snapshot.
                    seq = portal.live.current_seq();
                    match snapshot(&portal, &viewer, seq).await {
                        Ok(frame) => frame,
                        Err(_) => break,
                    }
                } else {
                    match admitted(&event, seq, &audience) {
                        Some(frame) => { seq = event.seq; frame }
                        None => continue,
                    }
                };
                if outgoing.send(Message::Text(frame.into())).await.is_err() {
                    break;
                }
            }
            message = incoming.next() => match message {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
            _ = recheck.tick() => {
                match still_signed_in(&portal, &token, &viewer).await {
                    Some(false) => {
                        let _ = outgoing.send(Message::Close(None)).await;
                        break;
                    }
                    Some(true) => {
                        if let Ok(fresh) = read_audience(&portal, &viewer).await
                            && fresh != audience
                        {
                            subscription.set_audience(&fresh);
                            audience = fresh;
                        }
                    }
                    None => {}
                }
            }
        }
    }
}

fn admitted(event: &Published, seq: u64, audience: &Audience) -> Option<String> {
    (event.seq > seq && audience.admits(event)).then(|| event.frame.clone())
}
