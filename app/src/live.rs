//! The browser's end of live updates: one WebSocket per signed-in tab, reconnecting with
//! backoff and resuming from the last event it saw. Pages read the latest known state of jobs,
//! appliances and commands from [`Live`], and refetch their lists when [`Live::refetch`] moves.

use std::collections::HashMap;

use leptos::prelude::*;
use model::appliance::views::{ApplianceSummary, CommandView, JobView};
use model::live::{LiveEvent, LiveFrame};

#[derive(Clone, Copy)]
pub struct Live {
    /// The socket is open.
    pub connected: RwSignal<bool>,
    pub jobs: RwSignal<HashMap<i64, JobView>>,
    pub appliances: RwSignal<HashMap<i64, ApplianceSummary>>,
    pub commands: RwSignal<HashMap<i64, CommandView>>,
    /// Registration reference → the appliance that used it.
    pub registered: RwSignal<HashMap<String, i64>>,
    /// Moves whenever fetched lists may be out of date: after a snapshot (a reconnect that could
    /// not resume), when appliances come or go, and when an inventory changes.
    pub refetch: RwSignal<u64>,
    /// Moves when new job log lines arrive.
    pub log_lines: RwSignal<u64>,
    /// Moves when alerts were raised, resolved or dismissed (or may have been, after a
    /// snapshot).
    pub alerts: RwSignal<u64>,
    /// Moves when the Dashboard's counts may be out of date: an appliance went on- or offline,
    /// a job started or ended, alerts changed.
    pub summary: RwSignal<u64>,
}

impl Live {
    fn new() -> Live {
        Live {
            connected: RwSignal::new(false),
            jobs: RwSignal::new(HashMap::new()),
            appliances: RwSignal::new(HashMap::new()),
            commands: RwSignal::new(HashMap::new()),
            registered: RwSignal::new(HashMap::new()),
            refetch: RwSignal::new(0),
            log_lines: RwSignal::new(0),
            alerts: RwSignal::new(0),
            summary: RwSignal::new(0),
        }
    }

    /// Applies a frame; returns its sequence number.
    pub fn apply(&self, frame: LiveFrame) -> u64 {
        match frame {
            LiveFrame::Snapshot { seq, jobs } => {
                self.jobs.set(jobs.into_iter().map(|j| (j.id, j)).collect());
                self.refetch.update(|n| *n += 1);
                self.alerts.update(|n| *n += 1);
                self.summary.update(|n| *n += 1);
                seq
            }
            LiveFrame::Event { seq, event } => {
                self.apply_event(*event);
                seq
            }
        }
    }

    fn apply_event(&self, event: LiveEvent) {
        let bump = |signal: RwSignal<u64>| signal.update(|n| *n += 1);
        match event {
            LiveEvent::Appliance { appliance } => {
                let status_changed = self.appliances.with_untracked(|m| {
                    m.get(&appliance.id)
                        .is_none_or(|known| known.online != appliance.online)
                });
                self.appliances.update(|m| {
                    m.insert(appliance.id, appliance);
                });
                if status_changed {
                    bump(self.summary);
                }
            }
            LiveEvent::ApplianceRegistered {
                reference,
                appliance_id,
            } => {
                self.registered.update(|m| {
                    m.insert(reference, appliance_id);
                });
                bump(self.refetch);
            }
            LiveEvent::ApplianceRemoved { appliance_id } => {
                self.appliances.update(|m| {
                    m.remove(&appliance_id);
                });
                bump(self.refetch);
                bump(self.summary);
            }
            LiveEvent::Inventory { .. } => bump(self.refetch),
            LiveEvent::Job { job } => {
                let state_changed = self
                    .jobs
                    .with_untracked(|m| m.get(&job.id).is_none_or(|known| known.state != job.state));
                self.jobs.update(|m| {
                    m.insert(job.id, job);
                });
                if state_changed {
                    bump(self.summary);
                }
            }
            LiveEvent::JobLog { .. } => bump(self.log_lines),
            LiveEvent::Command { command } => self.commands.update(|m| {
                m.insert(command.id, command);
            }),
            LiveEvent::Alerts { .. } => {
                bump(self.alerts);
                bump(self.summary);
            }
        }
    }

    /// The newest state of `appliance`, as fetched or as pushed since.
    pub fn appliance(&self, fetched: &ApplianceSummary) -> ApplianceSummary {
        self.appliances
            .with(|m| m.get(&fetched.id).cloned())
            .unwrap_or_else(|| fetched.clone())
    }

    /// The fetched jobs overlaid with pushed ones (matching `keep`), newest first.
    pub fn merge_jobs(&self, fetched: Vec<JobView>, keep: impl Fn(&JobView) -> bool) -> Vec<JobView> {
        let mut jobs: HashMap<i64, JobView> = fetched.into_iter().map(|j| (j.id, j)).collect();
        self.jobs.with(|live| {
            for job in live.values().filter(|j| keep(j)) {
                jobs.insert(job.id, job.clone());
            }
        });
        let mut jobs: Vec<JobView> = jobs.into_values().collect();
        jobs.sort_by(|a, b| b.started_at.cmp(&a.started_at).then(b.id.cmp(&a.id)));
        jobs
    }
}

/// Starts live updates for the signed-in frame; pages find them with [`use_live`].
pub fn provide_live() -> Live {
    let live = Live::new();
    provide_context(live);
    #[cfg(feature = "hydrate")]
    socket::start(live);
    live
}

pub fn use_live() -> Live {
    use_context::<Live>().unwrap_or_else(Live::new)
}

#[cfg(feature = "hydrate")]
mod socket {
    use std::cell::Cell;
    use std::rc::Rc;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use leptos::prelude::*;
    use model::live::{LIVE_PATH, LiveFrame};
    use wasm_bindgen::JsCast;
    use wasm_bindgen::closure::Closure;
    use web_sys::{MessageEvent, WebSocket};

    use super::Live;

    struct Connection {
        live: Live,
        /// The last event seen, to resume from.
        seq: Cell<Option<u64>>,
        failures: Cell<u32>,
        stopped: Arc<AtomicBool>,
    }

    pub fn start(live: Live) {
        let stopped = Arc::new(AtomicBool::new(false));
        let on_leave = stopped.clone();
        on_cleanup(move || on_leave.store(true, Ordering::Relaxed));
        // A page being left closes its socket too; that close is no reason to act.
        let on_unload = stopped.clone();
        let page_hide = Closure::<dyn FnMut()>::new(move || on_unload.store(true, Ordering::Relaxed));
        let _ = window().add_event_listener_with_callback("pagehide", page_hide.as_ref().unchecked_ref());
        page_hide.forget();
        let connection = Rc::new(Connection {
            live,
            seq: Cell::new(None),
            failures: Cell::new(0),
            stopped,
        });
        open(connection);
    }

    fn url(since: Option<u64>) -> Option<String> {
        let location = window().location();
        let scheme = if location.protocol().ok()? == "https:" {
            "wss"
        } else {
            "ws"
        };
        let since = since.map(|s| format!("?since={s}")).unwrap_or_default();
        Some(format!("{scheme}://{}{LIVE_PATH}{since}", location.host().ok()?))
    }

    fn open(connection: Rc<Connection>) {
        if connection.stopped.load(Ordering::Relaxed) {
            return;
        }
        let Some(socket) = url(connection.seq.get()).and_then(|u| WebSocket::new(&u).ok()) else {
            retry(connection);
            return;
        };
        let on_open = {
            let connection = connection.clone();
            Closure::<dyn FnMut()>::new(move || {
                connection.failures.set(0);
                connection.live.connected.set(true);
            })
        };
        let on_message = {
            let connection = connection.clone();
            let socket = socket.clone();
            Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
                if connection.stopped.load(Ordering::Relaxed) {
                    let _ = socket.close();
                    return;
                }
                let Some(text) = event.data().as_string() else {
                    return;
                };
                match serde_json::from_str::<LiveFrame>(&text) {
                    Ok(frame) => connection.seq.set(Some(connection.live.apply(frame))),
                    Err(error) => leptos::logging::warn!("unreadable live frame: {error}"),
                }
            })
        };
        let on_close = {
            let connection = connection.clone();
            Closure::<dyn FnMut()>::new(move || {
                connection.live.connected.set(false);
                connection.failures.set(connection.failures.get() + 1);
                retry(connection.clone());
            })
        };
        socket.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        // The handlers live as long as the socket; a closed socket drops its last reference.
        on_open.forget();
        on_message.forget();
        on_close.forget();
    }

    /// A socket also closes when its session ends: then the tab goes to the login page instead
    /// of knocking with a dead cookie.
    async fn reconnect_if_signed_in(connection: Rc<Connection>) {
        if connection.stopped.load(Ordering::Relaxed) {
            return;
        }
        match crate::auth::api::whoami().await {
            Ok(None) if !connection.stopped.load(Ordering::Relaxed) => {
                connection.stopped.store(true, Ordering::Relaxed);
                crate::components::load_page("/login");
            }
            Ok(None) => {}
            Ok(Some(_)) => open(connection),
            // The server is unreachable for now: wait longer.
            Err(_) => {
                connection.failures.set(connection.failures.get() + 1);
                retry(connection);
            }
        }
    }

    /// Reconnects after 0.5 s, doubling per failure up to 30 s, with jitter so a restarted
    /// server is not hit by every tab at once. (A page being left never gets that far.)
    fn retry(connection: Rc<Connection>) {
        let failures = connection.failures.get().min(6);
        let base = 500u64 << failures;
        let jitter = (js_sys::Math::random() * base as f64 * 0.5) as u64;
        let delay = Duration::from_millis((base + jitter).min(30_000));
        set_timeout(
            move || leptos::task::spawn_local(reconnect_if_signed_in(connection)),
            delay,
        );
    }
}
