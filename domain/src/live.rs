//! The in-process hub of live events: numbered, kept for a while so a reconnecting browser can
//! resume, and broadcast to every browser socket of this server, each of which passes on only
//! what its user may see ([`Audience`]).

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use model::live::{LiveEvent, LiveFrame};
use sqlx::{AnyConnection, AssertSqlSafe};
use tokio::sync::broadcast;

use crate::DomainResult;
use crate::access::{Viewer, visible_org};

/// Events kept for resuming; a browser away for longer gets a fresh snapshot.
const KEPT_EVENTS: usize = 4096;

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
    sender: broadcast::Sender<Arc<Published>>,
    /// The last published sequence number and the events kept for resuming.
    state: Mutex<(u64, VecDeque<Arc<Published>>)>,
}

/// What a new browser socket starts from.
pub struct Subscription {
    pub receiver: broadcast::Receiver<Arc<Published>>,
    /// The sequence number the socket is up to once it has sent `missed` (or a snapshot).
    pub seq: u64,
    /// The events after `since`, if the hub still holds all of them; `None` means send a snapshot.
    pub missed: Option<Vec<Arc<Published>>>,
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
        let (sender, _) = broadcast::channel(KEPT_EVENTS);
        Hub {
            inner: Arc::new(HubInner {
                sender,
                state: Mutex::new((first_seq, VecDeque::with_capacity(KEPT_EVENTS))),
            }),
        }
    }

    pub fn publish(&self, instance_id: i64, organization_id: i64, event: LiveEvent) {
        let mut state = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
        let seq = state.0 + 1;
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
        state.0 = seq;
        if state.1.len() == KEPT_EVENTS {
            state.1.pop_front();
        }
        state.1.push_back(published.clone());
        // No receivers is fine: nobody is watching.
        let _ = self.inner.sender.send(published);
    }

    /// Subscribes a socket that has seen everything up to `since` (if given).
    pub fn subscribe(&self, since: Option<u64>) -> Subscription {
        let state = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
        let receiver = self.inner.sender.subscribe();
        let current = state.0;
        let oldest_kept = state.1.front().map_or(current + 1, |p| p.seq);
        let missed = since
            .filter(|since| *since <= current && *since + 1 >= oldest_kept)
            .map(|since| state.1.iter().filter(|p| p.seq > since).cloned().collect());
        Subscription {
            receiver,
            seq: current,
            missed,
        }
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
                .bind(viewer.instance_id)
                .bind(viewer.all_flag())
                .bind(viewer.user_id)
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

    #[test]
    fn a_socket_resumes_after_its_last_event_or_gets_a_snapshot() {
        let hub = Hub::new(100);
        hub.publish(1, 1, removed(1));
        hub.publish(1, 1, removed(2));
        let resumed = hub.subscribe(Some(101));
        assert_eq!(resumed.seq, 102);
        let missed = resumed.missed.expect("resumable");
        assert_eq!(missed.iter().map(|p| p.seq).collect::<Vec<_>>(), vec![102]);
        assert!(missed[0].frame.contains(r#""appliance_id":2"#));
        assert!(
            hub.subscribe(None).missed.is_none(),
            "fresh sockets get a snapshot"
        );
        assert!(
            hub.subscribe(Some(500)).missed.is_none(),
            "a number from another process"
        );
        assert_eq!(hub.subscribe(Some(102)).missed.map(|m| m.len()), Some(0));
    }

    #[test]
    fn events_older_than_the_kept_window_force_a_snapshot() {
        let hub = Hub::new(0);
        for i in 0..(KEPT_EVENTS as i64 + 10) {
            hub.publish(1, 1, removed(i));
        }
        assert!(hub.subscribe(Some(5)).missed.is_none());
        let recent = hub.subscribe(Some(KEPT_EVENTS as u64)).missed.unwrap();
        assert_eq!(recent.len(), 10);
    }

    #[tokio::test]
    async fn subscribers_receive_published_events_in_order() {
        let hub = Hub::new(0);
        let mut sub = hub.subscribe(None);
        hub.publish(1, 7, removed(1));
        hub.publish(1, 8, removed(2));
        assert_eq!(sub.receiver.recv().await.unwrap().seq, 1);
        assert_eq!(sub.receiver.recv().await.unwrap().organization_id, 8);
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
