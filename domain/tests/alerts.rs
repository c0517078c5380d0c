//! Alerts on SQLite and PostgreSQL with a controllable clock: conditional alarms (global vs
//! custom thresholds, good = success or warning, counted from the scheduled start, clearing),
//! appliance alerts, dismissal and its return, categories, racing evaluators, the mail they
//! enqueue and the Dashboard's counts.

// Tests: a failed step should stop the test, loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use domain::access::Viewer;
use domain::alerts::center::{self, Dismissal};
use domain::alerts::engine;
use domain::alerts::settings::{self, CustomRequest};
use domain::appliances::{ApplianceIdentity, copies, gateway};
use domain::clock::{HOUR_MS, MINUTE_MS};
use domain::outbox::{self, Mailer};
use domain::testkit::{self, START_MS, SmtpSink, TestDb};
use domain::{
    ClientInfo, DomainError, ManualClock, Portal, dashboard, instances, on_both_databases, organizations,
    scopes,
};
use model::alerts::{
    AlertCategory, AlertFilter, AlertKind, DASHBOARD_DAYS, DashboardHint, DashboardView, ThresholdBlock,
    Thresholds,
};
use model::appliance::{
    AssetInfo, CopyLocation, CopyTargetRequest, JobInfo, JobKind, JobProgress, JobState, Storage,
};
use model::policy::Retention;
use model::{AppError, Role};

const DAY_MS: i64 = 24 * HOUR_MS;
const GB: u64 = 1 << 30;

struct World {
    portal: Portal,
    clock: Arc<ManualClock>,
    root: Viewer,
    /// Initech (scope East) and Globex (no scope), one appliance each with one scheduled asset.
    orgs: [i64; 2],
    appliances: [ApplianceIdentity; 2],
    assets: [i64; 2],
    east: i64,
}

async fn viewer(portal: &Portal, instance_id: i64, email: &str, role: Role, global: bool) -> Viewer {
    let mut conn = portal.db.pool.acquire().await.unwrap();
    testkit::add_user(&mut conn, instance_id, email, role, global).await
}

/// A Monitor whose one scope is East (Initech).
async fn east_monitor(w: &World) -> Viewer {
    let monitor = viewer(
        &w.portal,
        w.root.instance_id,
        "m@acme.example",
        Role::Monitor,
        false,
    )
    .await;
    sqlx::query("INSERT INTO user_scopes (user_id, scope_id) VALUES ($1, $2)")
        .bind(monitor.user_id)
        .bind(w.east)
        .execute(&w.portal.db.pool)
        .await
        .unwrap();
    monitor
}

fn storage(free_gb: u64) -> Storage {
    Storage {
        total_bytes: 100 * GB,
        free_bytes: free_gb * GB,
        used_bytes: (100 - free_gb) * GB,
    }
}

async fn world(db: &TestDb) -> World {
    let (mut portal, clock) = db.portal();
    portal.alerting.offline_after_ms = 60 * MINUTE_MS;
    let mut conn = portal.db.pool.acquire().await.unwrap();
    let instance = instances::insert(&mut conn, "acme", "Acme IT", 0).await.unwrap();
    drop(conn);
    let root = viewer(&portal, instance.id, "root@acme.example", Role::Superuser, true).await;
    let client = ClientInfo::default();
    let east = scopes::create(&portal, &root, "East", &client).await.unwrap().id;
    let initech = organizations::create(&portal, &root, "Initech", Some(east), &client)
        .await
        .unwrap();
    let globex = organizations::create(&portal, &root, "Globex", None, &client)
        .await
        .unwrap();
    let mut appliances = Vec::new();
    let mut assets = Vec::new();
    for (org, name) in [(initech, "nas-east"), (globex, "nas-globex")] {
        let (_, who) = testkit::register_appliance(&portal, &root, org, name).await;
        gateway::heartbeat(&portal, &who, &storage(50)).await.unwrap();
        let asset = AssetInfo {
            id: "a1".into(),
            name: format!("{name}-docs"),
            path: "/srv/docs".into(),
            policy: Some(testkit::daily_at_one()),
        };
        gateway::inventory(&portal, &who, &[asset], &[], &[])
            .await
            .unwrap();
        let mut conn = portal.db.pool.acquire().await.unwrap();
        let id: i64 = sqlx::query_scalar("SELECT id FROM assets WHERE appliance_id = $1")
            .bind(who.id)
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        appliances.push(who);
        assets.push(id);
    }
    settings::add_recipient(&portal, &root, "Ops@Acme.example", &client)
        .await
        .unwrap();
    World {
        portal,
        clock,
        root,
        orgs: [initech, globex],
        appliances: appliances.try_into().ok().unwrap(),
        assets: assets.try_into().unwrap(),
        east,
    }
}

/// A finished backup of the appliance's asset that a schedule started at `scheduled_for`.
fn backup(id: &str, state: JobState, scheduled_for: i64, started_at: i64) -> JobInfo {
    JobInfo {
        id: id.into(),
        asset_id: "a1".into(),
        kind: JobKind::Backup,
        state,
        started_at,
        ended_at: Some(started_at + 10 * MINUTE_MS),
        progress: JobProgress::default(),
        error: (state == JobState::Error).then(|| "disk full".into()),
        mode: None,
        size_bytes: None,
        scheduled_for: Some(scheduled_for),
    }
}

/// Active alerts as (kind, asset or appliance id), sorted.
async fn active(w: &World) -> Vec<(String, Option<i64>, Option<i64>)> {
    let mut conn = w.portal.db.pool.acquire().await.unwrap();
    sqlx::query_as(
        "SELECT kind, asset_id, appliance_id FROM alerts WHERE state = 'active' ORDER BY kind, asset_id, appliance_id",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap()
}

/// Queued mail as (subject, reply_to), oldest first.
async fn mail(w: &World) -> Vec<(String, Option<i64>, i64)> {
    let mut conn = w.portal.db.pool.acquire().await.unwrap();
    sqlx::query_as("SELECT subject, reply_to, id FROM outbox WHERE alert_id IS NOT NULL ORDER BY id")
        .fetch_all(&mut *conn)
        .await
        .unwrap()
}

fn kinds(list: &[(String, Option<i64>, Option<i64>)]) -> Vec<String> {
    list.iter().map(|(k, ..)| k.clone()).collect()
}

async fn heartbeats(w: &World) {
    for who in &w.appliances {
        gateway::heartbeat(&w.portal, who, &storage(50)).await.unwrap();
    }
}

/// Moves the clock, keeps both appliances seen, and runs the evaluator.
async fn at(w: &World, now: i64) -> engine::PassReport {
    let step = now - w.clock.now_ms_for_tests();
    w.clock.advance(step);
    heartbeats(w).await;
    engine::run_due(&w.portal).await.unwrap()
}

trait Now {
    fn now_ms_for_tests(&self) -> i64;
}

impl Now for ManualClock {
    fn now_ms_for_tests(&self) -> i64 {
        domain::Clock::now_ms(self)
    }
}

fn thresholds(backup_hours: i64) -> Thresholds {
    Thresholds {
        backups: ThresholdBlock::new(true, backup_hours / 24, backup_hours % 24),
        copies: ThresholdBlock::new(false, 1, 0),
    }
}

fn rejected<T: std::fmt::Debug>(result: Result<T, DomainError>) -> AppError {
    match result {
        Err(DomainError::Rejected(e)) => e,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

on_both_databases!(
    conditional_alarms_follow_thresholds_good_backups_and_scheduled_starts,
    |db: TestDb| async move {
        let w = world(&db).await;
        let client = ClientInfo::default();
        // 2026-01-06 01:00 UTC, the policies' first scheduled run after they arrived.
        let t0 = START_MS + 16 * HOUR_MS;
        at(&w, t0).await;
        for (n, who) in w.appliances.iter().enumerate() {
            gateway::job(
                &w.portal,
                who,
                &backup(&format!("j0-{n}"), JobState::Success, t0, t0),
            )
            .await
            .unwrap();
        }
        assert_eq!(
            at(&w, t0 + 3 * HOUR_MS).await.raised,
            0,
            "no alarm within the new instance's default day"
        );

        settings::save_global(&w.portal, &w.root, &thresholds(24), &client)
            .await
            .unwrap();
        let custom = CustomRequest {
            id: None,
            title: "Tight".into(),
            thresholds: thresholds(4),
            organization_ids: vec![w.orgs[1]],
        };
        let custom_id = settings::save_custom(&w.portal, &w.root, &custom, &client)
            .await
            .unwrap();

        at(&w, t0 + 4 * HOUR_MS - 1).await;
        assert!(active(&w).await.is_empty());
        at(&w, t0 + 4 * HOUR_MS).await;
        let alarms = active(&w).await;
        assert_eq!(
            alarms,
            vec![(
                "backup_threshold".into(),
                Some(w.assets[1]),
                Some(w.appliances[1].id)
            )]
        );
        let sent = mail(&w).await;
        assert_eq!(sent.len(), 1);
        assert_eq!(
            sent[0].0,
            "Acme IT Alert Center: Conditional Alarm - Backup of nas-globex-docs on appliance nas-globex not completed within 4 hour(s)"
        );

        // Deleting the custom threshold falls back to the global 24 hours: the alarm clears.
        settings::delete_custom(&w.portal, &w.root, custom_id, &client)
            .await
            .unwrap();
        at(&w, t0 + 5 * HOUR_MS).await;
        assert!(active(&w).await.is_empty());
        let sent = mail(&w).await;
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[1].0, format!("Re: {}", sent[0].0));
        assert_eq!(
            sent[1].1,
            Some(sent[0].2),
            "the clear mail answers the raise mail"
        );

        at(&w, t0 + DAY_MS).await;
        assert_eq!(
            kinds(&active(&w).await),
            vec!["backup_threshold", "backup_threshold"]
        );

        // A warning is a good backup; a failure is not (and raises its own alert).
        let next = t0 + DAY_MS;
        gateway::job(
            &w.portal,
            &w.appliances[0],
            &backup("j1-0", JobState::Warning, next, next),
        )
        .await
        .unwrap();
        gateway::job(
            &w.portal,
            &w.appliances[1],
            &backup("j1-1", JobState::Error, next, next),
        )
        .await
        .unwrap();
        at(&w, next + HOUR_MS).await;
        assert_eq!(
            active(&w).await,
            vec![
                (
                    "backup_failed".into(),
                    Some(w.assets[1]),
                    Some(w.appliances[1].id)
                ),
                (
                    "backup_threshold".into(),
                    Some(w.assets[1]),
                    Some(w.appliances[1].id)
                ),
                (
                    "backup_warning".into(),
                    Some(w.assets[0]),
                    Some(w.appliances[0].id)
                ),
            ]
        );

        // A backup scheduled for 01:00 that ran at 03:00: the next alarm counts from 01:00.
        gateway::job(
            &w.portal,
            &w.appliances[1],
            &backup("j2-1", JobState::Success, next, next + 2 * HOUR_MS),
        )
        .await
        .unwrap();
        at(&w, next + 3 * HOUR_MS).await;
        let alarms = active(&w).await;
        assert!(
            !alarms.iter().any(|(_, asset, _)| *asset == Some(w.assets[1])),
            "{alarms:?}"
        );
        at(&w, next + DAY_MS - 1).await;
        assert!(
            !active(&w)
                .await
                .iter()
                .any(|(k, a, _)| k == "backup_threshold" && *a == Some(w.assets[1]))
        );
        at(&w, next + DAY_MS).await;
        assert!(
            active(&w)
                .await
                .iter()
                .any(|(k, a, _)| k == "backup_threshold" && *a == Some(w.assets[1]))
        );
    }
);

on_both_databases!(
    thresholds_and_recipients_are_validated_and_superuser_only,
    |db: TestDb| async move {
        let w = world(&db).await;
        let client = ClientInfo::default();
        let admin = viewer(
            &w.portal,
            w.root.instance_id,
            "admin@acme.example",
            Role::Admin,
            true,
        )
        .await;
        assert_eq!(
            rejected(settings::save_global(&w.portal, &admin, &thresholds(4), &client).await),
            AppError::Forbidden
        );
        let zero = Thresholds {
            backups: ThresholdBlock::new(true, 0, 0),
            copies: ThresholdBlock::new(false, 1, 0),
        };
        let error = rejected(settings::save_global(&w.portal, &w.root, &zero, &client).await);
        assert_eq!(error.field(), Some("backups"));
        let hours = Thresholds {
            backups: ThresholdBlock::new(true, 1, 0),
            copies: ThresholdBlock::new(true, 0, 30),
        };
        assert_eq!(
            rejected(settings::save_global(&w.portal, &w.root, &hours, &client).await).field(),
            Some("copies")
        );
        let first = CustomRequest {
            id: None,
            title: "Gold".into(),
            thresholds: thresholds(8),
            organization_ids: vec![w.orgs[0], w.orgs[1]],
        };
        settings::save_custom(&w.portal, &w.root, &first, &client)
            .await
            .unwrap();
        let clash = CustomRequest {
            organization_ids: vec![w.orgs[0]],
            ..first.clone()
        };
        assert_eq!(
            rejected(settings::save_custom(&w.portal, &w.root, &clash, &client).await).field(),
            Some("title")
        );
        let none = CustomRequest {
            title: "Silver".into(),
            organization_ids: vec![],
            ..first.clone()
        };
        assert_eq!(
            rejected(settings::save_custom(&w.portal, &w.root, &none, &client).await).field(),
            Some("organizations")
        );
        // An organization holds one custom threshold: adding it to another moves it.
        let silver = CustomRequest {
            title: "Silver".into(),
            organization_ids: vec![w.orgs[1]],
            ..first.clone()
        };
        settings::save_custom(&w.portal, &w.root, &silver, &client)
            .await
            .unwrap();
        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        let saved = settings::alarm_settings(&mut conn, &w.root).await.unwrap();
        let members: Vec<(String, usize)> = saved
            .custom
            .iter()
            .map(|c| (c.title.clone(), c.organizations.len()))
            .collect();
        assert_eq!(members, vec![("Gold".into(), 1), ("Silver".into(), 1)]);

        assert_eq!(
            rejected(settings::add_recipient(&w.portal, &w.root, "ops@acme.example", &client).await).field(),
            Some("email"),
            "duplicates are refused, whatever their case"
        );
        assert_eq!(
            rejected(settings::add_recipient(&w.portal, &w.root, "not an address", &client).await).field(),
            Some("email")
        );
        let listed = settings::alert_settings(&mut conn, w.root.instance_id)
            .await
            .unwrap();
        assert_eq!(listed.recipients, vec!["ops@acme.example".to_string()]);
    }
);

on_both_databases!(
    appliance_alerts_dismissal_roles_and_categories,
    |db: TestDb| async move {
        let w = world(&db).await;
        let client = ClientInfo::default();
        // Offline: nas-globex stops reporting; nas-east runs critically low on space.
        gateway::heartbeat(&w.portal, &w.appliances[0], &storage(5))
            .await
            .unwrap();
        w.clock.advance(59 * MINUTE_MS);
        gateway::heartbeat(&w.portal, &w.appliances[0], &storage(5))
            .await
            .unwrap();
        engine::run_due(&w.portal).await.unwrap();
        assert_eq!(kinds(&active(&w).await), vec!["low_space"]);
        w.clock.advance(MINUTE_MS);
        gateway::heartbeat(&w.portal, &w.appliances[0], &storage(5))
            .await
            .unwrap();
        gateway::mark_stale_offline(&w.portal, 5 * MINUTE_MS)
            .await
            .unwrap();
        engine::run_due(&w.portal).await.unwrap();
        assert_eq!(kinds(&active(&w).await), vec!["appliance_offline", "low_space"]);
        let subjects: Vec<String> = mail(&w).await.into_iter().map(|m| m.0).collect();
        assert!(subjects.contains(
            &"Acme IT Alert Center: Conditional Alarm - Appliance nas-globex is offline".to_string()
        ));

        // Who sees and dismisses what.
        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        let monitor_east = east_monitor(&w).await;
        assert_eq!(
            center::count(&mut conn, &w.root, &AlertFilter::default())
                .await
                .unwrap(),
            2
        );
        assert_eq!(
            center::count(&mut conn, &monitor_east, &AlertFilter::default())
                .await
                .unwrap(),
            1,
            "the East Monitor sees only Initech's"
        );
        let groups = center::groups(&mut conn, &monitor_east, &AlertFilter::default(), HOUR_MS)
            .await
            .unwrap();
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].kind, AlertKind::LowSpace);
        let offline_id: i64 = sqlx::query_scalar("SELECT id FROM alerts WHERE kind = 'appliance_offline'")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        drop(conn);
        assert_eq!(
            rejected(center::dismiss(&w.portal, &monitor_east, &Dismissal::One(offline_id), &client).await),
            AppError::Forbidden
        );
        let manage = viewer(
            &w.portal,
            w.root.instance_id,
            "mg@acme.example",
            Role::Manage,
            true,
        )
        .await;
        assert_eq!(
            rejected(center::dismiss(&w.portal, &manage, &Dismissal::All, &client).await),
            AppError::Forbidden
        );
        let admin = viewer(
            &w.portal,
            w.root.instance_id,
            "ad@acme.example",
            Role::Admin,
            true,
        )
        .await;
        assert_eq!(
            rejected(
                center::dismiss(
                    &w.portal,
                    &admin,
                    &Dismissal::Matching(AlertFilter::default()),
                    &client
                )
                .await
            ),
            AppError::Forbidden
        );
        assert_eq!(
            rejected(
                center::dismiss(
                    &w.portal,
                    &w.root,
                    &Dismissal::Matching(AlertFilter::default()),
                    &client
                )
                .await
            )
            .field(),
            Some("filter")
        );
        assert_eq!(
            center::dismiss(&w.portal, &manage, &Dismissal::One(offline_id), &client)
                .await
                .unwrap(),
            1
        );
        assert_eq!(kinds(&active(&w).await), vec!["low_space"]);
        let audited: Vec<(String, String)> = sqlx::query_as(
            "SELECT actor, target FROM audit_log WHERE action = 'alert.dismissed' ORDER BY id",
        )
        .fetch_all(&w.portal.db.pool)
        .await
        .unwrap();
        assert_eq!(
            audited,
            vec![(manage.email.clone(), format!("alert {offline_id}"))],
            "a single dismissal is audited like every change"
        );

        // Still offline five minutes later: a new alert (and a new mail).
        let mails_before = mail(&w).await.len();
        w.clock.advance(5 * MINUTE_MS);
        gateway::heartbeat(&w.portal, &w.appliances[0], &storage(5))
            .await
            .unwrap();
        engine::run_due(&w.portal).await.unwrap();
        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        let offline: Vec<(i64, String)> =
            sqlx::query_as("SELECT id, state FROM alerts WHERE kind = 'appliance_offline' ORDER BY id")
                .fetch_all(&mut *conn)
                .await
                .unwrap();
        assert_eq!(offline.len(), 2);
        assert_eq!(
            (offline[0].1.as_str(), offline[1].1.as_str()),
            ("dismissed", "active")
        );
        assert_eq!(mail(&w).await.len(), mails_before + 1);

        // A group dismissed by an Admin stays away once its condition clears first.
        let dismissed = center::dismiss(
            &w.portal,
            &admin,
            &Dismissal::Group {
                kind: AlertKind::LowSpace,
                organization_id: w.orgs[0],
            },
            &client,
        )
        .await
        .unwrap();
        assert_eq!(dismissed, 1);
        gateway::heartbeat(&w.portal, &w.appliances[0], &storage(40))
            .await
            .unwrap();
        w.clock.advance(5 * MINUTE_MS);
        gateway::heartbeat(&w.portal, &w.appliances[0], &storage(40))
            .await
            .unwrap();
        engine::run_due(&w.portal).await.unwrap();
        assert_eq!(kinds(&active(&w).await), vec!["appliance_offline"]);

        // The appliance returns: its alarm resolves with a threaded mail.
        gateway::heartbeat(&w.portal, &w.appliances[1], &storage(50))
            .await
            .unwrap();
        engine::run_due(&w.portal).await.unwrap();
        assert!(active(&w).await.is_empty());
        let last = mail(&w).await.pop().unwrap();
        assert_eq!(
            last.0,
            "Re: Acme IT Alert Center: Conditional Alarm - Appliance nas-globex is offline"
        );

        // A category that is off raises nothing new; turning it on raises what holds.
        settings::set_category(&w.portal, &w.root, AlertCategory::Storage, false, &client)
            .await
            .unwrap();
        gateway::heartbeat(&w.portal, &w.appliances[0], &storage(3))
            .await
            .unwrap();
        engine::run_due(&w.portal).await.unwrap();
        assert!(active(&w).await.is_empty());
        settings::set_category(&w.portal, &w.root, AlertCategory::Storage, true, &client)
            .await
            .unwrap();
        engine::run_due(&w.portal).await.unwrap();
        assert_eq!(kinds(&active(&w).await), vec!["low_space"]);

        // Settled alerts are purged after 90 days; the active one stays.
        w.clock.advance(91 * DAY_MS);
        let now = domain::Clock::now_ms(&*w.clock);
        assert_eq!(center::purge_settled(&mut conn, now).await.unwrap(), 3);
        assert_eq!(kinds(&active(&w).await), vec!["low_space"]);
    }
);

on_both_databases!(
    two_evaluators_racing_record_each_flip_and_mail_once,
    |db: TestDb| async move {
        let w = world(&db).await;
        let client = ClientInfo::default();
        settings::save_global(&w.portal, &w.root, &thresholds(4), &client)
            .await
            .unwrap();
        // More assets, so that the two evaluators overlap on many of them.
        let mut names = Vec::new();
        for n in 0..40 {
            names.push(AssetInfo {
                id: format!("r{n}"),
                name: format!("r{n}"),
                path: "/srv".into(),
                policy: Some(testkit::daily_at_one()),
            });
        }
        gateway::inventory(&w.portal, &w.appliances[0], &names, &[], &[])
            .await
            .unwrap();
        let t0 = START_MS + 16 * HOUR_MS;
        let second = Portal {
            clock: w.portal.clock.clone(),
            ..Portal::new(w.portal.db.clone(), "http://portal.test")
        };
        let mut expected_mails = 0;
        for round in 0..3i64 {
            let day = t0 + round * DAY_MS;
            for n in 0..40 {
                let job = JobInfo {
                    asset_id: format!("r{n}"),
                    ..backup(&format!("r{n}-{round}"), JobState::Success, day, day)
                };
                gateway::job(&w.portal, &w.appliances[0], &job).await.unwrap();
            }
            w.clock.advance(day + HOUR_MS - domain::Clock::now_ms(&*w.clock));
            heartbeats(&w).await;
            let (a, b) = tokio::join!(engine::run_due(&w.portal), engine::run_due(&second));
            let (a, b) = (a.unwrap(), b.unwrap());
            assert_eq!(a.raised + b.raised, 0);
            assert_eq!(
                a.resolved + b.resolved,
                if round == 0 { 0 } else { 40 },
                "round {round}"
            );
            expected_mails += if round == 0 { 0 } else { 40 };
            w.clock.advance(4 * HOUR_MS);
            heartbeats(&w).await;
            // Touch everything again so both evaluators race over the same due objects.
            let mut conn = w.portal.db.pool.acquire().await.unwrap();
            engine::touch_instance(&mut conn, w.root.instance_id, domain::Clock::now_ms(&*w.clock))
                .await
                .unwrap();
            drop(conn);
            let (a, b) = tokio::join!(engine::run_due(&w.portal), engine::run_due(&second));
            let (a, b) = (a.unwrap(), b.unwrap());
            let (c, d) = tokio::join!(engine::run_due(&w.portal), engine::run_due(&second));
            let raised = a.raised + b.raised + c.unwrap().raised + d.unwrap().raised;
            // The 40 assets that replaced nas-east's, and nas-globex's (never backed up).
            let expected = if round == 0 { 41 } else { 40 };
            assert_eq!(raised, expected, "round {round}");
            expected_mails += expected;
            let alarms = active(&w).await;
            assert_eq!(alarms.len(), 41, "one active alarm per asset");
        }
        assert_eq!(mail(&w).await.len(), expected_mails, "one mail per flip");
    }
);

on_both_databases!(alert_mail_threads_over_smtp, |db: TestDb| async move {
    let w = world(&db).await;
    w.clock.advance(61 * MINUTE_MS);
    gateway::heartbeat(&w.portal, &w.appliances[0], &storage(50))
        .await
        .unwrap();
    gateway::mark_stale_offline(&w.portal, 5 * MINUTE_MS)
        .await
        .unwrap();
    engine::run_due(&w.portal).await.unwrap();
    gateway::heartbeat(&w.portal, &w.appliances[1], &storage(50))
        .await
        .unwrap();
    engine::run_due(&w.portal).await.unwrap();
    let sink = SmtpSink::start().await;
    let mailer = Mailer::new(&sink.url(), "Backplane <no-reply@portal.test>").unwrap();
    let now = domain::Clock::now_ms(&*w.clock);
    assert_eq!(outbox::deliver_due(&w.portal.db, &mailer, now).await.unwrap(), 2);
    let messages = sink.messages();
    let raise = messages.iter().find(|m| !m.contains("Subject: Re:")).unwrap();
    let clear = messages.iter().find(|m| m.contains("Subject: Re:")).unwrap();
    let raise_id = raise
        .lines()
        .find_map(|l| l.strip_prefix("Message-ID: "))
        .unwrap()
        .trim();
    assert!(clear.contains(&format!("In-Reply-To: {raise_id}")), "{clear}");
    assert!(
        raise.contains("Appliance has not been seen in over 60 minutes."),
        "{raise}"
    );
    assert!(
        raise.contains("Organization: Globex") && raise.contains("Instance: Acme IT"),
        "{raise}"
    );
    assert!(
        raise.contains("http://portal.test/protect/appliances/"),
        "{raise}"
    );
    assert!(clear.contains("Appliance nas-globex is online."), "{clear}");
});

on_both_databases!(
    dashboard_counts_what_the_viewer_sees_and_each_finished_job_once,
    |db: TestDb| async move {
        let w = world(&db).await;
        let today = w.clock.now_ms_for_tests().div_euclid(DAY_MS) * DAY_MS;
        let [east, globex] = &w.appliances;
        let warning_yesterday = backup(
            "j-1",
            JobState::Warning,
            today - 23 * HOUR_MS,
            today - 23 * HOUR_MS,
        );
        let success_today = backup("j-2", JobState::Success, today + HOUR_MS, today + HOUR_MS);
        let failed_today = backup("j-3", JobState::Error, today + 2 * HOUR_MS, today + 2 * HOUR_MS);
        let running = JobInfo {
            state: JobState::Running,
            ended_at: None,
            ..backup("j-4", JobState::Running, today + 3 * HOUR_MS, today + 3 * HOUR_MS)
        };
        let east_jobs = [warning_yesterday, success_today, failed_today, running.clone()];
        for job in &east_jobs {
            gateway::job(&w.portal, east, job).await.unwrap();
        }
        let missed = backup("g-1", JobState::Missed, today + HOUR_MS, today + HOUR_MS);
        gateway::job(&w.portal, globex, &missed).await.unwrap();
        // Every inventory reports the finished jobs again: still counted once.
        let asset = AssetInfo {
            id: "a1".into(),
            name: "nas-east-docs".into(),
            path: "/srv/docs".into(),
            policy: Some(testkit::daily_at_one()),
        };
        for _ in 0..2 {
            gateway::inventory(&w.portal, east, std::slice::from_ref(&asset), &[], &east_jobs)
                .await
                .unwrap();
        }
        gateway::heartbeat(&w.portal, east, &storage(20)).await.unwrap();

        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        let now = w.clock.now_ms_for_tests();
        let all = AlertFilter::default();
        let view = dashboard::dashboard(&mut conn, &w.root, &all, now).await.unwrap();
        assert_eq!((view.appliances_online, view.appliances_offline), (2, 0));
        assert_eq!(view.low_space, 1, "20 % free is low, 50 % is not");
        assert_eq!(view.storage_used_bytes, 130 * GB);
        assert_eq!(view.storage_total_bytes, 200 * GB);
        assert_eq!(view.active_jobs.len(), 1);
        assert_eq!(view.recent_jobs.len(), 3);
        assert_eq!(view.completed.len(), DASHBOARD_DAYS as usize);
        let last_two = |v: &DashboardView| {
            let days = &v.completed[v.completed.len() - 2..];
            assert_eq!(days[1].day, today, "today is last");
            [
                (days[0].success, days[0].missed),
                (days[1].success, days[1].missed),
            ]
        };
        assert_eq!(
            last_two(&view),
            [(1, 0), (1, 2)],
            "warning counts as good; error and missed as missed"
        );
        assert!(
            view.completed[..DASHBOARD_DAYS as usize - 2]
                .iter()
                .all(|d| d.success == 0 && d.missed == 0)
        );

        let monitor_east = east_monitor(&w).await;
        let scoped = dashboard::dashboard(&mut conn, &monitor_east, &all, now)
            .await
            .unwrap();
        assert_eq!(
            (scoped.appliances_online, scoped.storage_used_bytes),
            (1, 80 * GB)
        );
        assert_eq!(
            last_two(&scoped),
            [(1, 0), (1, 1)],
            "Globex's missed run is not the East Monitor's"
        );
        let scope_filter = AlertFilter {
            scope_id: Some(w.east),
            ..AlertFilter::default()
        };
        let by_scope = dashboard::dashboard(&mut conn, &w.root, &scope_filter, now)
            .await
            .unwrap();
        assert_eq!(last_two(&by_scope), last_two(&scoped));
        let globex_only = AlertFilter {
            organization_id: Some(w.orgs[1]),
            ..AlertFilter::default()
        };
        let globex_view = dashboard::dashboard(&mut conn, &w.root, &globex_only, now)
            .await
            .unwrap();
        assert_eq!(last_two(&globex_view), [(0, 0), (0, 1)]);
        assert!(globex_view.active_jobs.is_empty());
        drop(conn);

        // The running job finishes: counted on the day it ended.
        let finished = JobInfo {
            state: JobState::Success,
            ended_at: Some(now),
            ..running
        };
        gateway::job(&w.portal, east, &finished).await.unwrap();
        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        let view = dashboard::dashboard(&mut conn, &w.root, &all, now).await.unwrap();
        assert_eq!(last_two(&view), [(1, 0), (2, 2)]);
        assert!(view.active_jobs.is_empty());

        // Thirteen days on, today's counts have left the chart and the purge forgets them.
        let later = now + DASHBOARD_DAYS * DAY_MS;
        let view = dashboard::dashboard(&mut conn, &w.root, &all, later)
            .await
            .unwrap();
        assert!(view.completed.iter().all(|d| d.success == 0 && d.missed == 0));
        dashboard::purge_old_days(&mut conn, later).await.unwrap();
        let kept: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM job_days) + (SELECT COUNT(*) FROM instance_job_days)",
        )
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        assert_eq!(kept, 0);
    }
);

on_both_databases!(
    a_new_instance_alarms_on_backups_and_the_dashboard_says_when_alarms_are_off,
    |db: TestDb| async move {
        let w = world(&db).await;
        let client = ClientInfo::default();
        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        let settings_now = settings::alarm_settings(&mut conn, &w.root).await.unwrap();
        assert_eq!(
            settings_now.global,
            Some(Thresholds::DEFAULT),
            "a new instance starts with the default thresholds"
        );
        let global = settings_now.global.unwrap();
        assert!(
            global.backups.enabled && global.backups.total_hours() == 24 && !global.copies.enabled,
            "backups alarm after a day; copies off"
        );
        let all = AlertFilter::default();
        let now = w.clock.now_ms_for_tests();
        let hints = |view: DashboardView| view.hints;
        assert_eq!(
            hints(dashboard::dashboard(&mut conn, &w.root, &all, now).await.unwrap()),
            vec![DashboardHint::NoOffsiteCopies, DashboardHint::NoRestoreTests],
            "assets are protected, but nothing is copied offsite or restore-tested"
        );
        drop(conn);

        let off = Thresholds {
            backups: ThresholdBlock::new(false, 1, 0),
            ..Thresholds::DEFAULT
        };
        settings::save_global(&w.portal, &w.root, &off, &client)
            .await
            .unwrap();
        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        assert_eq!(
            hints(dashboard::dashboard(&mut conn, &w.root, &all, now).await.unwrap()),
            vec![
                DashboardHint::BackupAlarmsOff,
                DashboardHint::NoOffsiteCopies,
                DashboardHint::NoRestoreTests
            ],
            "the Superuser, who can turn them on, is told"
        );
        let monitor = east_monitor(&w).await;
        assert_eq!(
            hints(
                dashboard::dashboard(&mut conn, &monitor, &all, now)
                    .await
                    .unwrap()
            ),
            vec![],
            "a Monitor, who cannot, is not"
        );
        drop(conn);

        // Copies offsite: now the Replication offsite alarm is what is missing, until it is on.
        let target = CopyTargetRequest {
            location: CopyLocation::Path {
                path: "/mnt/offsite".into(),
            },
            bandwidth_kib: None,
            retention: Retention::default(),
            schedule: None,
        };
        copies::set_copy_target(&w.portal, &w.root, w.appliances[0].id, target, &client)
            .await
            .unwrap();
        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        assert_eq!(
            hints(dashboard::dashboard(&mut conn, &w.root, &all, now).await.unwrap()),
            vec![
                DashboardHint::BackupAlarmsOff,
                DashboardHint::NoRestoreTests,
                DashboardHint::CopyAlarmsOff
            ]
        );
        drop(conn);
        // A restore test anywhere in view answers the question.
        let tested = JobInfo {
            kind: JobKind::Verify,
            ..backup("t1", JobState::Success, now, now)
        };
        gateway::job(&w.portal, &w.appliances[0], &tested).await.unwrap();
        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        assert_eq!(
            hints(dashboard::dashboard(&mut conn, &w.root, &all, now).await.unwrap()),
            vec![DashboardHint::BackupAlarmsOff, DashboardHint::CopyAlarmsOff]
        );
        drop(conn);
        let copies_on = Thresholds {
            copies: ThresholdBlock::new(true, 1, 0),
            ..off
        };
        settings::save_global(&w.portal, &w.root, &copies_on, &client)
            .await
            .unwrap();
        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        assert_eq!(
            hints(dashboard::dashboard(&mut conn, &w.root, &all, now).await.unwrap()),
            vec![DashboardHint::BackupAlarmsOff]
        );
    }
);

on_both_databases!(
    a_pass_over_several_batches_reschedules_each_object_and_drops_deleted_ones,
    |db: TestDb| async move {
        let w = world(&db).await;
        let client = ClientInfo::default();
        settings::save_global(&w.portal, &w.root, &thresholds(48), &client)
            .await
            .unwrap();
        let now = w.clock.now_ms_for_tests();
        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        // More assets than one batch holds, each backed up well a day ago.
        let policy = serde_json::to_string(&testkit::daily_at_one()).unwrap();
        sqlx::query(
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 2499)
             INSERT INTO assets (appliance_id, external_id, name, path, policy, policy_since, last_good_start,
                                 last_result, last_result_started)
             SELECT $1, 'bulk-' || i, 'bulk-' || i, '/srv', $2, 0, $3 + i, 'success', $3 + i FROM n",
        )
        .bind(w.appliances[0].id)
        .bind(&policy)
        .bind(now - DAY_MS)
        .execute(&mut *conn)
        .await
        .unwrap();
        let gone = &w.appliances[1];
        sqlx::query("UPDATE appliances SET deleted_at = $1 WHERE id = $2")
            .bind(now)
            .bind(gone.id)
            .execute(&mut *conn)
            .await
            .unwrap();
        engine::touch_instance(&mut conn, w.root.instance_id, now)
            .await
            .unwrap();
        engine::touch(&mut conn, engine::Object::Appliance(gone.id), now)
            .await
            .unwrap();
        engine::touch(&mut conn, engine::Object::Asset(w.assets[1]), now)
            .await
            .unwrap();
        drop(conn);

        let report = engine::run_due(&w.portal).await.unwrap();
        assert_eq!(
            report.evaluated,
            2 + 2 + 2_500,
            "every check taken once, across batches"
        );
        assert_eq!(
            report.raised,
            0,
            "nothing is past its threshold: {:?}",
            active(&w).await
        );

        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        let left: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT object_kind, object_id, due_at FROM alert_checks ORDER BY object_kind, object_id",
        )
        .fetch_all(&mut *conn)
        .await
        .unwrap();
        assert!(
            !left
                .iter()
                .any(|(kind, id, _)| (kind == "appliance" && *id == gone.id)
                    || (kind == "asset" && *id == w.assets[1])),
            "the deleted appliance and its asset are no longer scheduled"
        );
        let goods: Vec<(i64, i64)> =
            sqlx::query_as("SELECT id, last_good_start FROM assets WHERE external_id LIKE 'bulk-%'")
                .fetch_all(&mut *conn)
                .await
                .unwrap();
        assert_eq!(goods.len(), 2_500);
        for (id, good_start) in goods {
            let due = left
                .iter()
                .find(|(kind, i, _)| kind == "asset" && *i == id)
                .map(|c| c.2);
            assert_eq!(
                due,
                Some(good_start + 48 * HOUR_MS),
                "asset {id} is due when its threshold passes"
            );
        }
        let appliance_due = left
            .iter()
            .find(|(kind, id, _)| kind == "appliance" && *id == w.appliances[0].id)
            .map(|c| c.2);
        assert_eq!(
            appliance_due,
            Some(now + 60 * MINUTE_MS),
            "due when it would count as offline"
        );
        assert!(
            engine::next_due(&w.portal).await.unwrap() > Some(now),
            "nothing is left due"
        );
    }
);

on_both_databases!(
    an_appliance_page_shows_its_own_alerts_and_completed_jobs_within_reach,
    |db: TestDb| async move {
        let w = world(&db).await;
        let t0 = START_MS + 16 * HOUR_MS;
        at(&w, t0).await;
        let [east_nas, globex_nas] = &w.appliances;
        gateway::job(&w.portal, east_nas, &backup("ok", JobState::Success, t0, t0))
            .await
            .unwrap();
        gateway::job(&w.portal, globex_nas, &backup("bad", JobState::Error, t0, t0))
            .await
            .unwrap();
        at(&w, t0 + HOUR_MS).await;

        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        let globex_alerts = center::of_appliance(&mut conn, &w.root, globex_nas.id)
            .await
            .unwrap();
        assert_eq!(
            globex_alerts
                .iter()
                .map(|a| (a.kind, a.asset_id))
                .collect::<Vec<_>>(),
            vec![(AlertKind::BackupFailed, Some(w.assets[1]))]
        );
        assert!(
            center::of_appliance(&mut conn, &w.root, east_nas.id)
                .await
                .unwrap()
                .is_empty(),
            "another appliance's alert is not listed"
        );

        let now = w.portal.now();
        let days = |list: Vec<model::alerts::DayCount>| {
            assert_eq!(list.len(), DASHBOARD_DAYS as usize);
            list.iter()
                .fold((0, 0), |(s, m), d| (s + d.success, m + d.missed))
        };
        let globex = dashboard::appliance_completed_per_day(&mut conn, &w.root, globex_nas.id, now)
            .await
            .unwrap();
        assert_eq!(days(globex), (0, 1));
        let east = dashboard::appliance_completed_per_day(&mut conn, &w.root, east_nas.id, now)
            .await
            .unwrap();
        assert_eq!(days(east), (1, 0));

        // East's Monitor reaches East's appliance only; a user of another instance neither.
        drop(conn);
        let monitor = east_monitor(&w).await;
        let mut other_conn = w.portal.db.pool.acquire().await.unwrap();
        let other = instances::insert(&mut other_conn, "other", "Other", 0)
            .await
            .unwrap();
        drop(other_conn);
        let stranger = viewer(&w.portal, other.id, "root@other.example", Role::Superuser, true).await;
        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        assert!(
            center::of_appliance(&mut conn, &monitor, east_nas.id)
                .await
                .is_ok()
        );
        for (who, appliance) in [(&monitor, globex_nas.id), (&stranger, east_nas.id)] {
            assert_eq!(
                rejected(center::of_appliance(&mut conn, who, appliance).await),
                AppError::not_found("Appliance")
            );
            assert_eq!(
                rejected(dashboard::appliance_completed_per_day(&mut conn, who, appliance, now).await),
                AppError::not_found("Appliance")
            );
        }
    }
);
