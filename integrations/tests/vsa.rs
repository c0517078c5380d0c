//! Kaseya VSA 9 against its emulator, on SQLite and PostgreSQL: the integration signs in before
//! it stores anything and seals the token; conditional alarms reach VSA through the durable
//! queue exactly once — through an outage, a lost answer and an ended session — with the VSA
//! e-mails of the users who see the organization, and close when their alert resolves; a
//! refused token pauses the queue until a working one is saved; e-mail actions belong to their
//! creator alone, and mail only about what their creator sees.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{refusal, serve};
use domain::access::Viewer;
use domain::alerts::engine;
use domain::appliances::{ApplianceIdentity, gateway};
use domain::clock::{HOUR_MS, MINUTE_MS};
use domain::testkit::{self, START_MS, TestDb, add_user};
use domain::{ClientInfo, ManualClock, Portal, instances, on_both_databases, organizations, scopes};
use emulators::vsa::Vsa;
use integrations::vsa::{manifest, service};
use model::appliance::{AssetInfo, JobInfo, JobKind, JobProgress, JobState, Storage};
use model::vsa::{AlarmCategory, VsaForm};
use model::{AppError, Role};

const USER: &str = "backplane-api";
const TOKEN: &str = "8c1f3d2e-5b7a-4e21-9d0c-a1b2c3d4e5f6";
const DAY_MS: i64 = 24 * HOUR_MS;
const GB: u64 = 1 << 30;

struct World {
    portal: Portal,
    clock: Arc<ManualClock>,
    root: Viewer,
    /// A Monitor whose one scope (East) holds Initech, not Globex.
    east: Viewer,
    /// A second Superuser.
    lead: Viewer,
    vsa: Vsa,
    url: String,
    /// Initech's and Globex's appliances, one scheduled asset each.
    appliances: [ApplianceIdentity; 2],
}

fn form(url: &str, token: &str) -> VsaForm {
    VsaForm {
        server_url: url.into(),
        username: USER.into(),
        token: token.into(),
        forward_backups: true,
        forward_copies: true,
    }
}

fn storage() -> Storage {
    Storage {
        total_bytes: 100 * GB,
        free_bytes: 50 * GB,
        used_bytes: 50 * GB,
    }
}

async fn world(db: &TestDb) -> World {
    let (portal, clock) = db.portal();
    let client = ClientInfo::default();
    let mut conn = portal.db.pool.acquire().await.unwrap();
    let acme = instances::insert(&mut conn, "acme", "Acme IT", 0).await.unwrap();
    let root = add_user(&mut conn, acme.id, "root@acme.example", Role::Superuser, false).await;
    let east = add_user(&mut conn, acme.id, "east@acme.example", Role::Monitor, false).await;
    let lead = add_user(&mut conn, acme.id, "lead@acme.example", Role::Superuser, false).await;
    drop(conn);
    let east_scope = scopes::create(&portal, &root, "East", &client).await.unwrap().id;
    sqlx::query("INSERT INTO user_scopes (user_id, scope_id) VALUES ($1, $2)")
        .bind(east.user_id)
        .bind(east_scope)
        .execute(&portal.db.pool)
        .await
        .unwrap();
    let initech = organizations::create(&portal, &root, "Initech", Some(east_scope), &client)
        .await
        .unwrap();
    let globex = organizations::create(&portal, &root, "Globex", None, &client)
        .await
        .unwrap();
    let mut appliances = Vec::new();
    for (org, name) in [(initech, "nas-initech"), (globex, "nas-globex")] {
        let (_, who) = testkit::register_appliance(&portal, &root, org, name).await;
        gateway::heartbeat(&portal, &who, &storage()).await.unwrap();
        let asset = AssetInfo {
            id: "a1".into(),
            name: format!("{name}-docs"),
            path: "/srv/docs".into(),
            policy: Some(testkit::daily_at_one()),
        };
        gateway::inventory(&portal, &who, &[asset], &[], &[])
            .await
            .unwrap();
        appliances.push(who);
    }
    let vsa = Vsa::new(USER, TOKEN);
    let url = serve(vsa.router()).await;
    World {
        portal,
        clock,
        root,
        east,
        lead,
        vsa,
        url,
        appliances: appliances.try_into().ok().unwrap(),
    }
}

impl World {
    /// Moves the clock to `now`, keeps the appliances seen, and runs the alert engine.
    async fn at(&self, now: i64) {
        let step = now - domain::Clock::now_ms(&*self.clock);
        self.clock.advance(step);
        for who in &self.appliances {
            gateway::heartbeat(&self.portal, who, &storage()).await.unwrap();
        }
        engine::run_due(&self.portal).await.unwrap();
    }

    async fn backed_up(&self, appliance: usize, id: &str, at: i64) {
        let job = JobInfo {
            id: id.into(),
            asset_id: "a1".into(),
            kind: JobKind::Backup,
            state: JobState::Success,
            started_at: at,
            ended_at: Some(at + 10 * MINUTE_MS),
            progress: JobProgress::default(),
            error: None,
            mode: None,
            size_bytes: None,
            scheduled_for: Some(at),
        };
        gateway::job(&self.portal, &self.appliances[appliance], &job)
            .await
            .unwrap();
    }

    async fn demote_lead_to_east(&self) {
        sqlx::query("UPDATE users SET role = 'monitor' WHERE id = $1")
            .bind(self.lead.user_id)
            .execute(&self.portal.db.pool)
            .await
            .unwrap();
        sqlx::query("INSERT INTO user_scopes (user_id, scope_id) SELECT $1, scope_id FROM user_scopes WHERE user_id = $2")
            .bind(self.lead.user_id)
            .bind(self.east.user_id)
            .execute(&self.portal.db.pool)
            .await
            .unwrap();
    }

    async fn deliver(&self) -> usize {
        integrations::vsa::deliver_due(&self.portal).await.unwrap()
    }

    async fn later(&self, ms: i64) {
        self.at(domain::Clock::now_ms(&*self.clock) + ms).await;
    }

    async fn pending(&self) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM vsa_alarm_writes WHERE state = 'pending'")
            .fetch_one(&self.portal.db.pool)
            .await
            .unwrap()
    }

    /// Both assets' backups are good at the first scheduled run, then a day passes without one:
    /// both conditional alarms are raised.
    async fn raise_both_alarms(&self) -> i64 {
        let t0 = START_MS + 16 * HOUR_MS;
        self.at(t0).await;
        self.backed_up(0, "j0-0", t0).await;
        self.backed_up(1, "j0-1", t0).await;
        self.at(t0 + DAY_MS + HOUR_MS).await;
        let raised: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM alerts WHERE state = 'active' AND kind = 'backup_threshold'",
        )
        .fetch_one(&self.portal.db.pool)
        .await
        .unwrap();
        assert_eq!(raised, 2, "both assets missed their backup");
        t0
    }
}

on_both_databases!(
    the_integration_signs_in_before_it_stores_and_seals_the_token,
    |db: TestDb| async move {
        let w = world(&db).await;
        let client = ClientInfo::default();

        let wrong = service::integrate(&w.portal, &w.root, &form(&w.url, "not-the-token"), &client).await;
        assert_eq!(refusal(wrong).field(), Some("token"));
        let cdn = service::integrate(
            &w.portal,
            &w.root,
            &form("https://msp-cdn.kaseya.net", TOKEN),
            &client,
        )
        .await;
        assert_eq!(refusal(cdn).field(), Some("server_url"));
        let unreachable =
            service::integrate(&w.portal, &w.root, &form("http://127.0.0.1:9", TOKEN), &client).await;
        assert_eq!(refusal(unreachable).field(), Some("server_url"));
        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        assert_eq!(
            service::settings(&mut conn, &w.root).await.unwrap(),
            None,
            "nothing stored"
        );
        drop(conn);

        let saved = service::integrate(
            &w.portal,
            &w.root,
            &form(&format!("{}/api/v1.0/", w.url), TOKEN),
            &client,
        )
        .await
        .unwrap();
        assert_eq!(saved.server_url, w.url);
        assert!(saved.forward_backups && saved.forward_copies && !saved.paused);
        let stored: String = sqlx::query_scalar("SELECT token FROM vsa_integrations")
            .fetch_one(&w.portal.db.pool)
            .await
            .unwrap();
        assert!(!stored.contains(TOKEN), "the token is sealed at rest");
        assert!(
            w.vsa
                .calls()
                .iter()
                .all(|c| c.path != "/api/v1.0/auth" || c.status == 200 || c.status == 401),
            "the sign-in is the only call a save makes"
        );

        // An empty token keeps the stored one; the toggles change.
        let mut kept = form(&w.url, "");
        kept.forward_copies = false;
        let saved = service::integrate(&w.portal, &w.root, &kept, &client)
            .await
            .unwrap();
        assert!(saved.forward_backups && !saved.forward_copies);

        // Superusers only; another instance sees none of it.
        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        let admin = add_user(
            &mut conn,
            w.root.instance_id,
            "admin@acme.example",
            Role::Admin,
            true,
        )
        .await;
        let other = instances::insert(&mut conn, "umbrella", "Umbrella", 0)
            .await
            .unwrap();
        let stranger = add_user(
            &mut conn,
            other.id,
            "root@umbrella.example",
            Role::Superuser,
            false,
        )
        .await;
        assert_eq!(
            refusal(service::settings(&mut conn, &admin).await),
            AppError::Forbidden
        );
        assert_eq!(service::settings(&mut conn, &stranger).await.unwrap(), None);
        drop(conn);
        assert_eq!(
            refusal(service::integrate(&w.portal, &admin, &form(&w.url, TOKEN), &client).await),
            AppError::Forbidden
        );
        assert_eq!(
            refusal(manifest::download(&w.portal, &admin)),
            AppError::Forbidden
        );
        assert!(!manifest::download(&w.portal, &w.root).unwrap().is_empty());
        assert!(matches!(
            refusal(service::remove(&w.portal, &stranger, &client).await),
            AppError::Conflict { .. }
        ));
        service::remove(&w.portal, &w.root, &client).await.unwrap();
        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        assert_eq!(service::settings(&mut conn, &w.root).await.unwrap(), None);
    }
);

on_both_databases!(
    conditional_alarms_reach_vsa_exactly_once_through_an_outage,
    |db: TestDb| async move {
        let w = world(&db).await;
        let client = ClientInfo::default();
        service::integrate(&w.portal, &w.root, &form(&w.url, TOKEN), &client)
            .await
            .unwrap();
        service::save_email_action(
            &w.portal,
            &w.root,
            (None, AlarmCategory::Backups),
            "noc@acme.example",
            &client,
        )
        .await
        .unwrap();
        service::save_email_action(
            &w.portal,
            &w.lead,
            (None, AlarmCategory::Backups),
            "east@acme.example, NOC@acme.example",
            &client,
        )
        .await
        .unwrap();
        service::save_email_action(
            &w.portal,
            &w.lead,
            (None, AlarmCategory::Copies),
            "copies@acme.example",
            &client,
        )
        .await
        .unwrap();
        // The lead steps down to East's Monitor: their actions stay, within their new reach.
        w.demote_lead_to_east().await;

        // VSA is down when the alarms happen: they wait in the queue.
        w.vsa.outage(Duration::from_secs(3600));
        let t0 = w.raise_both_alarms().await;
        assert_eq!(w.pending().await, 2);
        assert_eq!(w.deliver().await, 2);
        assert!(w.vsa.alarms().is_empty());
        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        let card = service::settings(&mut conn, &w.root).await.unwrap().unwrap();
        drop(conn);
        assert!(card.failing_since.is_some() && card.last_error.unwrap().contains("503"));
        assert_eq!(card.pending, 2);
        assert_eq!(w.deliver().await, 0, "nothing is due before the backoff");

        // VSA is back but its first answer is lost on the way: the alarm exists all the same, and
        // the retry finds it by its marker instead of raising it again.
        w.vsa.recover();
        w.vsa.lose_answers(1);
        w.later(MINUTE_MS).await;
        assert_eq!(w.deliver().await, 2);
        assert_eq!(w.vsa.alarms().len(), 2);
        assert_eq!(w.pending().await, 1);
        w.vsa.expire_sessions();
        w.later(5 * MINUTE_MS).await;
        assert_eq!(w.deliver().await, 1);
        assert_eq!(w.pending().await, 0);
        let alarms = w.vsa.alarms();
        assert_eq!(alarms.len(), 2, "exactly one alarm per alert: {alarms:?}");
        assert!(w.vsa.tokens_issued() >= 2, "an ended session signs in again");
        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        let card = service::settings(&mut conn, &w.root).await.unwrap().unwrap();
        drop(conn);
        assert_eq!((card.failing_since, card.last_error), (None, None));

        // The e-mails: every action of users who see the organization, each address once.
        let initech = alarms
            .iter()
            .find(|a| a.machine_name == "nas-initech-docs")
            .unwrap();
        let globex = alarms
            .iter()
            .find(|a| a.machine_name == "nas-globex-docs")
            .unwrap();
        assert!(initech.message.contains("[Backplane alarm ") && initech.open);
        assert_eq!(initech.organization, "Initech");
        let mails = w.vsa.emails();
        assert_eq!(mails.len(), 2, "{mails:?}");
        let to = |machine: &str| {
            mails
                .iter()
                .find(|m| m.subject.contains(machine))
                .map(|m| m.to.clone())
                .unwrap()
        };
        assert_eq!(
            to("nas-initech-docs"),
            vec!["noc@acme.example", "east@acme.example"]
        );
        assert_eq!(
            to("nas-globex-docs"),
            vec!["noc@acme.example"],
            "the lead, now East's Monitor, does not see Globex, so their action does not mail about it"
        );

        // Initech's backup succeeds: its alert resolves and the VSA alarm closes with a note.
        w.backed_up(0, "j1-0", t0 + DAY_MS + 2 * HOUR_MS).await;
        w.later(MINUTE_MS).await;
        assert_eq!(w.pending().await, 1);
        assert_eq!(w.deliver().await, 1);
        let closed = w.vsa.alarms().into_iter().find(|a| a.id == initech.id).unwrap();
        assert!(!closed.open);
        assert!(closed.close_notes.unwrap().contains("resolved"));
        assert!(w.vsa.alarms().iter().any(|a| a.id == globex.id && a.open));
    }
);

on_both_databases!(
    a_refused_token_pauses_the_queue_until_a_working_one_is_saved,
    |db: TestDb| async move {
        let w = world(&db).await;
        let client = ClientInfo::default();
        service::integrate(&w.portal, &w.root, &form(&w.url, TOKEN), &client)
            .await
            .unwrap();
        // Someone revoked the token in VSA: a server that knows another one stands in for it.
        let revoked = Vsa::new(USER, "a-newer-token");
        let revoked_url = serve(revoked.router()).await;
        sqlx::query("UPDATE vsa_integrations SET server_url = $1")
            .bind(&revoked_url)
            .execute(&w.portal.db.pool)
            .await
            .unwrap();
        w.raise_both_alarms().await;
        assert_eq!(w.deliver().await, 2);
        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        let card = service::settings(&mut conn, &w.root).await.unwrap().unwrap();
        drop(conn);
        assert!(card.paused && card.last_error.unwrap().contains("personal access token"));
        w.later(DAY_MS + HOUR_MS).await;
        assert_eq!(w.deliver().await, 0, "a paused queue waits, however long");
        assert_eq!(w.pending().await, 2);

        // Saving a working token resumes it, with nothing lost.
        service::integrate(&w.portal, &w.root, &form(&w.url, TOKEN), &client)
            .await
            .unwrap();
        assert_eq!(w.deliver().await, 2);
        assert_eq!(w.vsa.alarms().len(), 2);
    }
);

on_both_databases!(
    e_mail_actions_belong_to_their_creator_and_unforwarded_alarms_stay_home,
    |db: TestDb| async move {
        let w = world(&db).await;
        let client = ClientInfo::default();
        let early = service::save_email_action(
            &w.portal,
            &w.lead,
            (None, AlarmCategory::Backups),
            "a@acme.example",
            &client,
        )
        .await;
        assert!(
            matches!(refusal(early), AppError::Conflict { .. }),
            "VSA is not integrated yet"
        );
        service::integrate(&w.portal, &w.root, &form(&w.url, TOKEN), &client)
            .await
            .unwrap();
        let bad = service::save_email_action(
            &w.portal,
            &w.lead,
            (None, AlarmCategory::Backups),
            "a@acme.example nope",
            &client,
        )
        .await;
        assert_eq!(refusal(bad).field(), Some("recipients"));
        assert_eq!(
            refusal(
                service::save_email_action(
                    &w.portal,
                    &w.east,
                    (None, AlarmCategory::Backups),
                    "a@acme.example",
                    &client
                )
                .await
            ),
            AppError::Forbidden,
            "Superusers only, as the VSA card"
        );
        let mine = service::save_email_action(
            &w.portal,
            &w.lead,
            (None, AlarmCategory::Backups),
            "a@acme.example",
            &client,
        )
        .await
        .unwrap();

        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        assert_eq!(
            service::email_actions(&mut conn, &w.lead).await.unwrap(),
            vec![mine.clone()]
        );
        assert!(
            service::email_actions(&mut conn, &w.root)
                .await
                .unwrap()
                .is_empty(),
            "not even a Superuser sees them"
        );
        drop(conn);
        let theirs = service::save_email_action(
            &w.portal,
            &w.root,
            (Some(mine.id), AlarmCategory::Copies),
            "evil@example.com",
            &client,
        )
        .await;
        assert!(matches!(refusal(theirs), AppError::NotFound { .. }));
        assert!(matches!(
            refusal(service::delete_email_action(&w.portal, &w.root, mine.id, &client).await),
            AppError::NotFound { .. }
        ));
        // Nor a Superuser of another instance, even one integrated with a VSA of its own.
        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        let umbrella = instances::insert(&mut conn, "umbrella", "Umbrella", 0)
            .await
            .unwrap();
        let stranger = add_user(
            &mut conn,
            umbrella.id,
            "root@umbrella.example",
            Role::Superuser,
            false,
        )
        .await;
        drop(conn);
        service::integrate(&w.portal, &stranger, &form(&w.url, TOKEN), &client)
            .await
            .unwrap();
        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        assert!(
            service::email_actions(&mut conn, &stranger)
                .await
                .unwrap()
                .is_empty()
        );
        drop(conn);
        let across = service::save_email_action(
            &w.portal,
            &stranger,
            (Some(mine.id), AlarmCategory::Backups),
            "evil@example.com",
            &client,
        )
        .await;
        assert!(matches!(refusal(across), AppError::NotFound { .. }));
        assert!(matches!(
            refusal(service::delete_email_action(&w.portal, &stranger, mine.id, &client).await),
            AppError::NotFound { .. }
        ));
        let changed = service::save_email_action(
            &w.portal,
            &w.lead,
            (Some(mine.id), AlarmCategory::Copies),
            "b@acme.example; c@acme.example",
            &client,
        )
        .await
        .unwrap();
        assert_eq!(changed.recipients, vec!["b@acme.example", "c@acme.example"]);
        service::delete_email_action(&w.portal, &w.lead, mine.id, &client)
            .await
            .unwrap();
        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        assert!(
            service::email_actions(&mut conn, &w.lead)
                .await
                .unwrap()
                .is_empty()
        );
        drop(conn);

        // With Backups not forwarded, backup alarms stay in the portal.
        let mut off = form(&w.url, "");
        off.forward_backups = false;
        service::integrate(&w.portal, &w.root, &off, &client)
            .await
            .unwrap();
        w.raise_both_alarms().await;
        assert_eq!(
            w.pending().await,
            0,
            "nothing queued for VSA, not even for Umbrella's, which forwards backups"
        );
    }
);
