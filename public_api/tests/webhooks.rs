//! Webhooks end to end on SQLite and PostgreSQL: events become signed deliveries to the
//! endpoints that want them, a receiver that is down delays them without losing or doubling
//! any, and only Superusers of the instance manage endpoints.

// Tests: a failed step should stop the test, loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use domain::appliances::gateway;
use domain::testkit::{self, TestDb, add_user};
use domain::webhooks::{self, EndpointRequest};
use domain::{ClientInfo, DomainError, instances, on_both_databases, organizations};
use model::appliance::{JobInfo, JobKind, JobProgress, JobState, Storage};
use model::webhooks::{DeliveryState, WebhookEvent};
use model::{AppError, Role};
use serde_json::Value;

/// One request a receiver got: its `webhook-id`, timestamp, whether it was accepted, payload.
type Received = (String, i64, String, Value);

/// What a receiver was sent, and whether it is up.
#[derive(Clone, Default)]
struct Receiver {
    received: Arc<Mutex<Vec<Received>>>,
    down: Arc<Mutex<bool>>,
    secret: Arc<Mutex<String>>,
}

impl Receiver {
    async fn start(&self) -> String {
        let me = self.clone();
        let app = Router::new().route(
            "/hook",
            post(move |headers: HeaderMap, body: String| {
                let me = me.clone();
                async move {
                    let header = |name: &str| headers[name].to_str().unwrap().to_owned();
                    let (id, timestamp) = (
                        header("webhook-id"),
                        header("webhook-timestamp").parse::<i64>().unwrap(),
                    );
                    let secret = me.secret.lock().unwrap().clone();
                    let expected = public_api::webhooks::signature(&secret, &id, timestamp, &body).unwrap();
                    assert_eq!(
                        header("webhook-signature"),
                        expected,
                        "signed with the endpoint's secret"
                    );
                    let down = *me.down.lock().unwrap();
                    let payload: Value = serde_json::from_str(&body).unwrap();
                    me.received.lock().unwrap().push((
                        id,
                        timestamp,
                        if down { "refused".into() } else { "ok".into() },
                        payload,
                    ));
                    if down {
                        StatusCode::SERVICE_UNAVAILABLE
                    } else {
                        StatusCode::NO_CONTENT
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        url
    }

    /// The deliveries it accepted: (message id, event type).
    fn accepted(&self) -> Vec<(String, String)> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, _, outcome, _)| outcome == "ok")
            .map(|(id, _, _, payload)| (id.clone(), payload["type"].as_str().unwrap().to_owned()))
            .collect()
    }
}

fn refusal<T: std::fmt::Debug>(result: Result<T, DomainError>) -> AppError {
    match result {
        Err(DomainError::Rejected(e)) => e,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn job(id: &str) -> JobInfo {
    JobInfo {
        id: id.into(),
        asset_id: "a1".into(),
        kind: JobKind::Backup,
        state: JobState::Success,
        started_at: testkit::START_MS - 60_000,
        ended_at: Some(testkit::START_MS - 1_000),
        progress: JobProgress::default(),
        error: None,
        mode: None,
        size_bytes: Some(10),
        scheduled_for: None,
    }
}

on_both_databases!(
    events_reach_subscribed_endpoints_signed_once_each_through_an_outage,
    |db: TestDb| async move {
        let (portal, clock) = db.portal();
        let client = ClientInfo::default();
        let mut conn = portal.db.pool.acquire().await.unwrap();
        let acme = instances::insert(&mut conn, "acme", "Acme", 0).await.unwrap();
        let other = instances::insert(&mut conn, "other", "Other", 0).await.unwrap();
        let root = add_user(&mut conn, acme.id, "root@acme.example", Role::Superuser, false).await;
        let admin = add_user(&mut conn, acme.id, "admin@acme.example", Role::Admin, true).await;
        let stranger = add_user(&mut conn, other.id, "root@other.example", Role::Superuser, false).await;
        drop(conn);
        let globex = organizations::create(&portal, &root, "Globex", None, &client)
            .await
            .unwrap();
        let initech = organizations::create(&portal, &root, "Initech", None, &client)
            .await
            .unwrap();
        let elsewhere = organizations::create(&portal, &stranger, "Elsewhere", None, &client)
            .await
            .unwrap();

        let (all, initech_only, foreign) = (Receiver::default(), Receiver::default(), Receiver::default());
        let request = |url: String, events: Vec<WebhookEvent>, organization_id| EndpointRequest {
            url,
            events,
            organization_id,
        };
        let everything = request(all.start().await, WebhookEvent::ALL.to_vec(), None);
        // Who may: only Superusers of the instance, with a URL that is https or on this machine.
        assert_eq!(
            refusal(webhooks::create(&portal, &admin, &everything, &client).await),
            AppError::Forbidden
        );
        let mut conn = portal.db.pool.acquire().await.unwrap();
        assert_eq!(
            refusal(webhooks::list(&mut conn, &admin).await),
            AppError::Forbidden
        );
        drop(conn);
        let plain = request(
            "http://hooks.example.com/in".into(),
            vec![WebhookEvent::JobFinished],
            None,
        );
        assert_eq!(
            refusal(webhooks::create(&portal, &root, &plain, &client).await).field(),
            Some("url")
        );
        let nothing = request("https://hooks.example.com/in".into(), vec![], None);
        assert_eq!(
            refusal(webhooks::create(&portal, &root, &nothing, &client).await).field(),
            Some("events")
        );
        let foreign_org = request(
            "https://hooks.example.com/in".into(),
            vec![WebhookEvent::JobFinished],
            Some(elsewhere),
        );
        assert!(matches!(
            refusal(webhooks::create(&portal, &root, &foreign_org, &client).await),
            AppError::NotFound { .. }
        ));

        let made = webhooks::create(&portal, &root, &everything, &client)
            .await
            .unwrap();
        *all.secret.lock().unwrap() = made.secret.clone();
        assert!(made.secret.starts_with("whsec_"));
        let narrow = request(
            initech_only.start().await,
            vec![WebhookEvent::ApplianceOnline],
            Some(initech),
        );
        *initech_only.secret.lock().unwrap() = webhooks::create(&portal, &root, &narrow, &client)
            .await
            .unwrap()
            .secret;
        let theirs = request(foreign.start().await, WebhookEvent::ALL.to_vec(), None);
        *foreign.secret.lock().unwrap() = webhooks::create(&portal, &stranger, &theirs, &client)
            .await
            .unwrap()
            .secret;
        for refused in [
            refusal(webhooks::set_enabled(&portal, &stranger, made.endpoint.id, false, &client).await),
            refusal(webhooks::delete(&portal, &stranger, made.endpoint.id, &client).await),
        ] {
            assert!(matches!(refused, AppError::NotFound { .. }), "{refused:?}");
        }
        let mut conn = portal.db.pool.acquire().await.unwrap();
        assert!(
            webhooks::deliveries(&mut conn, &stranger, made.endpoint.id)
                .await
                .is_err()
        );
        let listed = webhooks::list(&mut conn, &root).await.unwrap();
        assert_eq!(listed.len(), 2);
        assert!(
            !format!("{listed:?}").contains(&made.secret),
            "the secret is never listed"
        );
        drop(conn);

        // Globex's appliance comes online and finishes a job (reported twice); then goes offline.
        let (_, who) = testkit::register_appliance(&portal, &root, globex, "nas-globex").await;
        gateway::heartbeat(&portal, &who, &Storage::default())
            .await
            .unwrap();
        gateway::job(&portal, &who, &job("b1")).await.unwrap();
        gateway::job(&portal, &who, &job("b1")).await.unwrap();
        let webhook_client = public_api::webhooks::client().unwrap();

        // The receiver is down: nothing is lost, and nothing is sent twice once it is back.
        *all.down.lock().unwrap() = true;
        public_api::webhooks::deliver_due(&portal, &webhook_client)
            .await
            .unwrap();
        assert!(all.accepted().is_empty());
        let first_try: Vec<String> = all.received.lock().unwrap().iter().map(|r| r.0.clone()).collect();
        assert_eq!(first_try.len(), 2, "online and job.finished, tried once");
        public_api::webhooks::deliver_due(&portal, &webhook_client)
            .await
            .unwrap();
        assert_eq!(
            all.received.lock().unwrap().len(),
            2,
            "not retried before its backoff"
        );
        clock.advance(6 * 60_000);
        gateway::mark_stale_offline(&portal, 5 * 60_000).await.unwrap();
        *all.down.lock().unwrap() = false;
        public_api::webhooks::deliver_due(&portal, &webhook_client)
            .await
            .unwrap();
        let accepted = all.accepted();
        let mut kinds: Vec<&str> = accepted.iter().map(|(_, kind)| kind.as_str()).collect();
        kinds.sort_unstable();
        assert_eq!(
            kinds,
            vec!["appliance.offline", "appliance.online", "job.finished"]
        );
        for id in &first_try {
            assert_eq!(
                accepted.iter().filter(|(a, _)| a == id).count(),
                1,
                "{id} once, with its first id"
            );
        }
        public_api::webhooks::deliver_due(&portal, &webhook_client)
            .await
            .unwrap();
        assert_eq!(all.accepted().len(), 3, "each exactly once");
        let job_payload = all
            .received
            .lock()
            .unwrap()
            .iter()
            .find(|r| r.3["type"] == "job.finished")
            .unwrap()
            .3
            .clone();
        assert_eq!(job_payload["data"]["status"], "success");
        assert_eq!(job_payload["data"]["organizationId"], globex);

        // Initech's endpoint heard nothing of Globex; the other instance's heard nothing at all.
        assert!(initech_only.received.lock().unwrap().is_empty());
        assert!(foreign.received.lock().unwrap().is_empty());
        let (_, initech_nas) = testkit::register_appliance(&portal, &root, initech, "nas-initech").await;
        gateway::heartbeat(&portal, &initech_nas, &Storage::default())
            .await
            .unwrap();
        public_api::webhooks::deliver_due(&portal, &webhook_client)
            .await
            .unwrap();
        assert_eq!(initech_only.accepted().len(), 1);
        assert!(foreign.received.lock().unwrap().is_empty());

        // The log, and Resend (same message id).
        let mut conn = portal.db.pool.acquire().await.unwrap();
        let log = webhooks::deliveries(&mut conn, &root, made.endpoint.id)
            .await
            .unwrap();
        drop(conn);
        assert_eq!(log.len(), 4);
        let job_delivery = log.iter().find(|d| d.event == WebhookEvent::JobFinished).unwrap();
        assert_eq!(
            (job_delivery.state, job_delivery.attempts),
            (DeliveryState::Delivered, 2)
        );
        webhooks::resend(&portal, &root, job_delivery.id, &client)
            .await
            .unwrap();
        assert!(matches!(
            refusal(webhooks::resend(&portal, &stranger, job_delivery.id, &client).await),
            AppError::NotFound { .. }
        ));
        public_api::webhooks::deliver_due(&portal, &webhook_client)
            .await
            .unwrap();
        let again = all.accepted();
        assert_eq!(again.last().unwrap().0, job_delivery.message_id);

        // A disabled endpoint gets no new deliveries.
        webhooks::set_enabled(&portal, &root, made.endpoint.id, false, &client)
            .await
            .unwrap();
        gateway::job(&portal, &who, &job("b2")).await.unwrap();
        public_api::webhooks::deliver_due(&portal, &webhook_client)
            .await
            .unwrap();
        assert_eq!(all.accepted().len(), again.len());
    }
);
