//! The in-process hub of live events: numbered, kept for a while so a reconnecting browser can
//! resume, and routed to the browser sockets whose users may see them. Each socket registers
//! under its [`Audience`] (the whole instance, or its organizations); publishing an event looks
//! up the sockets of that one organization, so an event costs work only for those who get it.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use model::live::{LiveEvent, LiveFrame};
use sqlx::{AnyConnection, AssertSqlSafe};
use tokio::sync::mpsc;

use crate::access::{BindViewer, Viewer, visible_org};
use crate::{DomainResult, Portal};

/// Events kept for resuming; a browser away for longer gets a fresh snapshot.
const KEPT_EVENTS: usize = 4096;
/// Events queued for one socket; a socket further behind is told to start over from a snapshot.
const SOCKET_QUEUE: usize = 1024;

/// One published event, serialized once for every socket that receives it.
#[derive(Debug)]
pub struct Published {
    pub seq: u64,
    pub instance_id: i64,
    pub organization_id: i64,
    /// The JSON text of its [`LiveFrame::Event`].
    pub frame: String,
}

#[derive(Clone)]
pub struct Hub {
    inner: Arc<HubInner>,
}

struct HubInner {
    state: Mutex<HubState>,
    next_socket: AtomicU64,
    /// Each organization's instance, as read from the database (it never changes), so that
    /// [`Portal::publish`] checks an organization once.
    owners: Mutex<HashMap<i64, i64>>,
}

/// Who hears an event: every socket of an instance that sees all its organizations, or the
/// sockets that may see one organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Route {
    Instance(i64),
    Organization(i64),
}

struct Sink {
    sender: mpsc::Sender<Arc<Published>>,
    lagged: Arc<AtomicBool>,
}

struct HubState {
    /// The last published sequence number.
    seq: u64,
    kept: VecDeque<Arc<Published>>,
    routes: HashMap<Route, HashMap<u64, Sink>>,
    /// Each socket's routes, to move or drop it.
    sockets: HashMap<u64, Vec<Route>>,
}

impl HubState {
    fn route(
        &mut self,
        socket: u64,
        audience: &Audience,
        sender: mpsc::Sender<Arc<Published>>,
        lagged: Arc<AtomicBool>,
    ) {
        self.unroute(socket);
        let routes: Vec<Route> = if audience.all {
            vec![Route::Instance(audience.instance_id)]
        } else {
            audience
                .organizations
                .iter()
                .map(|o| Route::Organization(*o))
                .collect()
        };
        for route in &routes {
            let sink = Sink {
                sender: sender.clone(),
                lagged: lagged.clone(),
            };
            self.routes.entry(*route).or_default().insert(socket, sink);
        }
        self.sockets.insert(socket, routes);
    }

    fn unroute(&mut self, socket: u64) {
        for route in self.sockets.remove(&socket).unwrap_or_default() {
            if let Some(sinks) = self.routes.get_mut(&route) {
                sinks.remove(&socket);
                if sinks.is_empty() {
                    self.routes.remove(&route);
                }
            }
        }
    }

    fn deliver(&self, published: &Arc<Published>) {
        let routes = [
            Route::Instance(published.instance_id),
            Route::Organization(published.organization_id),
        ];
        for sinks in routes.iter().filter_map(|r| self.routes.get(r)) {
            for sink in sinks.values() {
                if let Err(mpsc::error::TrySendError::Full(_)) = sink.sender.try_send(published.clone()) {
                    sink.lagged.store(true, Ordering::Relaxed);
                }
            }
        }
    }
}

/// A browser socket's place in the hub; leaving it (drop) stops its deliveries.
pub struct Subscription {
    pub receiver: mpsc::Receiver<Arc<Published>>,
    /// The sequence number the socket is up to once it has sent `missed` (or a snapshot).
    pub seq: u64,
    /// The events after `since`, if the hub still holds all of them; `None` means send a snapshot.
    pub missed: Option<Vec<Arc<Published>>>,
    socket: u64,
    sender: mpsc::Sender<Arc<Published>>,
    lagged: Arc<AtomicBool>,
    hub: Hub,
}

impl Subscription {
    /// Whether events were dropped because the socket fell behind (and clears the mark): the
    /// socket should start over from a snapshot.
    pub fn take_lagged(&self) -> bool {
        self.lagged.swap(false, Ordering::Relaxed)
    }

    /// The user's organizations changed: deliver by the new audience from now on.
    pub fn set_audience(&self, audience: &Audience) {
        self.hub
            .lock()
            .route(self.socket, audience, self.sender.clone(), self.lagged.clone());
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.lock().unroute(self.socket);
    }
}

impl Default for Hub {
    fn default() -> Self {
        Self::new(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64 * 1000)
                .unwrap_or(0),
        )
    }
}

impl Hub {
    /// A hub numbering from `first_seq` + 1. Starting from the clock keeps numbers growing across
    /// restarts, so a browser's `since` from before a restart never looks resumable.
    pub fn new(first_seq: u64) -> Hub {
        Hub {
            inner: Arc::new(HubInner {
                state: Mutex::new(HubState {
                    seq: first_seq,
                    kept: VecDeque::with_capacity(KEPT_EVENTS),
                    routes: HashMap::new(),
                    sockets: HashMap::new(),
                }),
                next_socket: AtomicU64::new(1),
                owners: Mutex::new(HashMap::new()),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HubState> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Publishes without checking that the organization belongs to the instance: the domain
    /// publishes through [`Portal::publish`], which does.
    pub fn publish(&self, instance_id: i64, organization_id: i64, event: LiveEvent) {
        let mut state = self.lock();
        let seq = state.seq + 1;
        let frame = match serde_json::to_string(&LiveFrame::Event {
            seq,
            event: Box::new(event),
        }) {
            Ok(frame) => frame,
            Err(error) => {
                tracing::error!(%error, "a live event could not be serialized");
                return;
            }
        };
        let published = Arc::new(Published {
            seq,
            instance_id,
            organization_id,
            frame,
        });
        state.seq = seq;
        if state.kept.len() == KEPT_EVENTS {
            state.kept.pop_front();
        }
        state.kept.push_back(published.clone());
        state.deliver(&published);
    }

    /// The last sequence number issued.
    pub fn current_seq(&self) -> u64 {
        self.lock().seq
    }

    /// Subscribes a socket of `audience` that has seen everything up to `since` (if given).
    pub fn subscribe(&self, since: Option<u64>, audience: &Audience) -> Subscription {
        let (sender, receiver) = mpsc::channel(SOCKET_QUEUE);
        let lagged = Arc::new(AtomicBool::new(false));
        let socket = self.inner.next_socket.fetch_add(1, Ordering::Relaxed);
        let mut state = self.lock();
        state.route(socket, audience, sender.clone(), lagged.clone());
        let current = state.seq;
        let oldest_kept = state.kept.front().map_or(current + 1, |p| p.seq);
        let missed = since
            .filter(|since| *since <= current && *since + 1 >= oldest_kept)
            .map(|since| {
                state
                    .kept
                    .iter()
                    .filter(|p| p.seq > since && audience.admits(p))
                    .cloned()
                    .collect()
            });
        drop(state);
        Subscription {
            receiver,
            seq: current,
            missed,
            socket,
            sender,
            lagged,
            hub: self.clone(),
        }
    }

    /// Sockets subscribed now (for tests and measurements).
    pub fn sockets(&self) -> usize {
        self.lock().sockets.len()
    }
}

impl Portal {
    /// Publishes an event of an organization to the browsers of its instance that may see it.
    /// An event whose organization is not of `instance_id` (or no longer exists) is dropped and
    /// logged: whatever made it, it must never reach another instance's sockets.
    pub async fn publish(&self, instance_id: i64, organization_id: i64, event: LiveEvent) {
        match self.owner_of(organization_id).await {
            Ok(Some(owner)) if owner == instance_id => self.live.publish(instance_id, organization_id, event),
            Ok(Some(owner)) => tracing::error!(
                instance_id,
                organization_id,
                owner,
                "dropped a live event naming an organization of another instance"
            ),
            Ok(None) => tracing::debug!(organization_id, "dropped a live event of a deleted organization"),
            Err(error) => tracing::warn!(%error, "dropped a live event: its organization could not be read"),
        }
    }

    /// Tells the browsers of each `(instance, organization)` that its alerts changed.
    pub async fn publish_alerts_changed(&self, organizations: impl IntoIterator<Item = (i64, i64)>) {
        for (instance_id, organization_id) in organizations {
            self.publish(
                instance_id,
                organization_id,
                LiveEvent::Alerts { organization_id },
            )
            .await;
        }
    }

    async fn owner_of(&self, organization_id: i64) -> DomainResult<Option<i64>> {
        let owners = &self.live.inner.owners;
        if let Some(owner) = owners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&organization_id)
        {
            return Ok(Some(*owner));
        }
        let owner: Option<i64> = sqlx::query_scalar("SELECT instance_id FROM organizations WHERE id = $1")
            .bind(organization_id)
            .fetch_optional(&self.db.pool)
            .await?;
        if let Some(owner) = owner {
            owners
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(organization_id, owner);
        }
        Ok(owner)
    }
}

/// The organizations a socket's user may see, read when the socket opens and refreshed while
/// it lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audience {
    pub instance_id: i64,
    pub all: bool,
    pub organizations: HashSet<i64>,
}

impl Audience {
    pub async fn of(conn: &mut AnyConnection, viewer: &Viewer) -> DomainResult<Audience> {
        let organizations = if viewer.sees_all_scopes() {
            HashSet::new()
        } else {
            let sql = format!(
                "SELECT o.id FROM organizations o WHERE o.instance_id = $1 AND {}",
                visible_org(2, 3)
            );
            sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql))
                .bind_viewer(viewer)
                .fetch_all(conn)
                .await?
                .into_iter()
                .collect()
        };
        Ok(Audience {
            instance_id: viewer.instance_id,
            all: viewer.sees_all_scopes(),
            organizations,
        })
    }

    pub fn admits(&self, event: &Published) -> bool {
        event.instance_id == self.instance_id
            && (self.all || self.organizations.contains(&event.organization_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn removed(id: i64) -> LiveEvent {
        LiveEvent::ApplianceRemoved { appliance_id: id }
    }

    fn everything(instance_id: i64) -> Audience {
        Audience {
            instance_id,
            all: true,
            organizations: HashSet::new(),
        }
    }

    fn only(instance_id: i64, organizations: &[i64]) -> Audience {
        Audience {
            instance_id,
            all: false,
            organizations: organizations.iter().copied().collect(),
        }
    }

    fn drain(sub: &mut Subscription) -> Vec<i64> {
        let mut organizations = Vec::new();
        while let Ok(published) = sub.receiver.try_recv() {
            organizations.push(published.organization_id);
        }
        organizations
    }

    #[test]
    fn a_socket_resumes_after_its_last_event_or_gets_a_snapshot() {
        let hub = Hub::new(100);
        hub.publish(1, 1, removed(1));
        hub.publish(1, 1, removed(2));
        let mut resumed = hub.subscribe(Some(101), &everything(1));
        assert_eq!(resumed.seq, 102);
        let missed = resumed.missed.take().expect("resumable");
        assert_eq!(missed.iter().map(|p| p.seq).collect::<Vec<_>>(), vec![102]);
        assert!(missed[0].frame.contains(r#""appliance_id":2"#));
        assert!(
            hub.subscribe(None, &everything(1)).missed.is_none(),
            "fresh sockets get a snapshot"
        );
        assert!(
            hub.subscribe(Some(500), &everything(1)).missed.is_none(),
            "a number from another process"
        );
        assert_eq!(
            hub.subscribe(Some(102), &everything(1))
                .missed
                .take()
                .map(|m| m.len()),
            Some(0)
        );
    }

    #[test]
    fn events_older_than_the_kept_window_force_a_snapshot() {
        let hub = Hub::new(0);
        for i in 0..(KEPT_EVENTS as i64 + 10) {
            hub.publish(1, 1, removed(i));
        }
        assert!(hub.subscribe(Some(5), &everything(1)).missed.is_none());
        let recent = hub
            .subscribe(Some(KEPT_EVENTS as u64), &everything(1))
            .missed
            .take()
            .unwrap();
        assert_eq!(recent.len(), 10);
    }

    #[tokio::test]
    async fn subscribers_receive_published_events_in_order() {
        let hub = Hub::new(0);
        let mut sub = hub.subscribe(None, &everything(1));
        hub.publish(1, 7, removed(1));
        hub.publish(1, 8, removed(2));
        assert_eq!(sub.receiver.recv().await.unwrap().seq, 1);
        assert_eq!(sub.receiver.recv().await.unwrap().organization_id, 8);
    }

    #[test]
    fn events_reach_only_the_sockets_of_their_organization_or_instance() {
        let hub = Hub::new(0);
        let mut root = hub.subscribe(None, &everything(1));
        let mut seven = hub.subscribe(None, &only(1, &[7]));
        let mut eight_and_nine = hub.subscribe(None, &only(1, &[8, 9]));
        let mut other_instance = hub.subscribe(None, &everything(2));
        for organization in [7, 8, 9, 7] {
            hub.publish(1, organization, removed(organization));
        }
        assert_eq!(drain(&mut root), [7, 8, 9, 7]);
        assert_eq!(drain(&mut seven), [7, 7]);
        assert_eq!(drain(&mut eight_and_nine), [8, 9]);
        assert_eq!(drain(&mut other_instance), Vec::<i64>::new());

        seven.set_audience(&only(1, &[9]));
        hub.publish(1, 7, removed(1));
        hub.publish(1, 9, removed(2));
        assert_eq!(drain(&mut seven), [9], "the new audience applies at once");
        drop(eight_and_nine);
        assert_eq!(hub.sockets(), 3, "a closed socket leaves the hub");
    }

    #[test]
    fn a_socket_that_falls_behind_is_told_to_start_over() {
        let hub = Hub::new(0);
        let mut slow = hub.subscribe(None, &only(1, &[7]));
        for i in 0..(SOCKET_QUEUE as i64 + 5) {
            hub.publish(1, 7, removed(i));
        }
        assert!(slow.take_lagged());
        assert!(!slow.take_lagged(), "the mark is cleared once read");
        assert_eq!(drain(&mut slow).len(), SOCKET_QUEUE, "the queue is bounded");
    }

    #[test]
    fn resuming_hands_over_only_what_the_audience_may_see() {
        let hub = Hub::new(0);
        hub.publish(1, 7, removed(1));
        hub.publish(1, 8, removed(2));
        let missed = hub.subscribe(Some(0), &only(1, &[8])).missed.take().unwrap();
        assert_eq!(missed.iter().map(|p| p.organization_id).collect::<Vec<_>>(), [8]);
    }

    #[test]
    fn an_audience_admits_only_its_instance_and_organizations() {
        let event = |instance_id, organization_id| Published {
            seq: 1,
            instance_id,
            organization_id,
            frame: String::new(),
        };
        let scoped = Audience {
            instance_id: 1,
            all: false,
            organizations: HashSet::from([10]),
        };
        assert!(scoped.admits(&event(1, 10)));
        assert!(!scoped.admits(&event(1, 11)));
        assert!(!scoped.admits(&event(2, 10)));
        let all = Audience { all: true, ..scoped };
        assert!(all.admits(&event(1, 11)));
        assert!(!all.admits(&event(2, 11)), "never another instance");
    }
}
