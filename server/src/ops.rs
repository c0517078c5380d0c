//! What operators and their monitoring see: `/healthz` (the process answers), `/readyz` (the
//! database is reachable and migrated, and every background loop is alive) and Prometheus
//! `/metrics`. Health answers carry no detail; the reason a check fails goes to the log.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::AppState;

pub const HEALTH_PATH: &str = "/healthz";
pub const READY_PATH: &str = "/readyz";
pub const METRICS_PATH: &str = "/metrics";
/// Paths for machines, never pages: no setup or login redirect applies to them.
pub const OPERATOR_PATHS: [&str; 3] = [HEALTH_PATH, READY_PATH, METRICS_PATH];

/// Request latency buckets, in seconds.
const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// The last time each background loop went round, and how long it may take at most.
#[derive(Clone, Default)]
pub struct Heartbeats {
    loops: Arc<Mutex<HashMap<&'static str, Heartbeat>>>,
}

#[derive(Clone, Copy)]
struct Heartbeat {
    last: Instant,
    allowed: Duration,
}

impl Heartbeats {
    /// Records that the loop `name` went round; it is stalled once `allowed` passes without
    /// another beat.
    pub fn beat(&self, name: &'static str, allowed: Duration) {
        if let Ok(mut loops) = self.loops.lock() {
            loops.insert(
                name,
                Heartbeat {
                    last: Instant::now(),
                    allowed,
                },
            );
        }
    }

    /// The loops that have not beaten within their allowance.
    pub fn stalled(&self) -> Vec<&'static str> {
        let Ok(loops) = self.loops.lock() else {
            return vec!["(heartbeat registry poisoned)"];
        };
        let mut stalled: Vec<_> = loops
            .iter()
            .filter(|(_, beat)| beat.last.elapsed() > beat.allowed)
            .map(|(name, _)| *name)
            .collect();
        stalled.sort_unstable();
        stalled
    }
}

/// Who may read `/metrics`.
#[derive(Clone, Debug, Default)]
pub enum MetricsAccess {
    /// Nobody: `/metrics` is not found.
    #[default]
    Off,
    /// Requests with `Authorization: Bearer <token>`; holds the token's hash.
    Token { hash: String },
    /// Anyone who reaches the separate listener it is served on; not on the main listener.
    SeparateListener,
}

impl MetricsAccess {
    /// Bearer-token access; only the token's hash is kept.
    pub fn token(token: &str) -> MetricsAccess {
        MetricsAccess::Token {
            hash: domain::secrets::token_hash(token),
        }
    }
}

/// `GET /healthz`: the process answers.
pub async fn healthz() -> Response {
    plain(StatusCode::OK, "ok")
}

/// `GET /readyz`: 200 when the database answers with every migration applied and no
/// background loop has stalled; 503 otherwise (the reason is logged, not shown).
pub async fn readyz(State(state): State<AppState>) -> Response {
    let mut problems = Vec::new();
    if let Err(problem) = state.portal.db.readiness().await {
        problems.push(problem);
    }
    let stalled = state.heartbeats.stalled();
    if !stalled.is_empty() {
        problems.push(format!("stalled background loops: {}", stalled.join(", ")));
    }
    if problems.is_empty() {
        plain(StatusCode::OK, "ready")
    } else {
        tracing::warn!(problems = %problems.join("; "), "not ready");
        plain(StatusCode::SERVICE_UNAVAILABLE, "not ready")
    }
}

/// `GET /metrics` on the main listener: only with the configured bearer token.
pub async fn metrics_with_token(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let MetricsAccess::Token { hash } = &state.metrics else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    // Hashes are compared, so the time taken says nothing about the token itself.
    if given.is_empty() || domain::secrets::token_hash(given) != *hash {
        return (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")]).into_response();
    }
    render(&state).await
}

/// `GET /metrics` on the separate metrics listener.
pub async fn metrics_open(State(state): State<AppState>) -> Response {
    render(&state).await
}

async fn render(state: &AppState) -> Response {
    let handle = recorder();
    record_gauges(state).await;
    handle.run_upkeep();
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle.render(),
    )
        .into_response()
}

/// The figures read at scrape time: from this process and from the database.
async fn record_gauges(state: &AppState) {
    let portal = &state.portal;
    metrics::gauge!("backplane_live_sockets").set(portal.live.sockets() as f64);
    metrics::gauge!("backplane_db_pool_connections").set(f64::from(portal.db.pool.size()));
    metrics::gauge!("backplane_db_pool_idle_connections").set(portal.db.pool.num_idle() as f64);
    match domain::ops::backlog(portal).await {
        Ok(backlog) => {
            metrics::gauge!("backplane_jobs_running").set(backlog.jobs_running as f64);
            metrics::gauge!("backplane_appliances_online").set(backlog.appliances_online as f64);
            metrics::gauge!("backplane_outbox_pending").set(backlog.outbox_pending as f64);
            metrics::gauge!("backplane_outbox_oldest_pending_seconds")
                .set(backlog.outbox_oldest_age_ms as f64 / 1000.0);
            metrics::gauge!("backplane_alert_evaluation_lag_seconds")
                .set(backlog.alert_evaluation_lag_ms as f64 / 1000.0);
        }
        Err(error) => tracing::warn!(%error, "reading the backlog for /metrics failed"),
    }
}

/// The process's Prometheus recorder, installed on first use (one per process: tests that
/// start several servers share it).
pub fn recorder() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new();
        let builder = builder.set_buckets(&LATENCY_BUCKETS).unwrap_or_else(|error| {
            tracing::warn!(%error, "latency buckets refused; latencies are summaries");
            PrometheusBuilder::new()
        });
        builder.install_recorder().unwrap_or_else(|error| {
            // Another recorder is global already: this one still renders what it records.
            tracing::warn!(%error, "a metrics recorder was installed before");
            PrometheusBuilder::new().build_recorder().handle()
        })
    })
}

/// Counts each request and times it, by method, route pattern and status class. Paths that
/// match no route count as `unmatched`, so strangers cannot mint label values.
pub async fn count_requests(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status();
    let route = match route {
        Some(route) if status != StatusCode::NOT_FOUND => route,
        _ => "unmatched".to_owned(),
    };
    let class = format!("{}xx", status.as_u16() / 100);
    metrics::counter!("backplane_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => class)
        .increment(1);
    metrics::histogram!("backplane_http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

/// Counts an appliance socket of this process while it is open.
pub struct ConnectedAppliance;

impl ConnectedAppliance {
    pub fn open() -> ConnectedAppliance {
        metrics::gauge!("backplane_appliance_connections").increment(1.0);
        ConnectedAppliance
    }
}

impl Drop for ConnectedAppliance {
    fn drop(&mut self) {
        metrics::gauge!("backplane_appliance_connections").decrement(1.0);
    }
}

fn plain(status: StatusCode, body: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}
