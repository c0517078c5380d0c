//! Offsite backup copies in the domain layer, on SQLite and PostgreSQL: copy targets are sealed
//! at rest, opened only for the appliance, validated, and reachable only within the viewer's
//! instance, scopes and role; Last backup copy and the Replication offsite alarm follow the
//! appliance's copy jobs.

// Tests: a failed step should stop the test, loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use domain::access::Viewer;
use domain::alerts::engine;
use domain::alerts::settings;
use domain::appliances::{ApplianceIdentity, assets, commands, copies, gateway, org_copies};
use domain::clock::{HOUR_MS, MINUTE_MS};
use domain::testkit::{self, START_MS, TestDb};
use domain::{ClientInfo, DomainError, Portal, instances, on_both_databases, organizations, scopes};
use model::alerts::{ThresholdBlock, Thresholds};
use model::appliance::{
    AssetInfo, Command, CopyLocation, CopyTarget, CopyTargetRequest, JobInfo, JobKind, JobProgress, JobState,
};
use model::policy::{Frequency, Retention, Schedule};
use model::{AppError, Role};

const SECRET: &str = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY";

struct World {
    portal: Portal,
    clock: std::sync::Arc<domain::ManualClock>,
    root: Viewer,
    east: i64,
    who: ApplianceIdentity,
}

/// Globex (no scope) with one appliance and one scheduled asset; scope East has no appliance.
async fn world(db: &TestDb) -> World {
    let (portal, clock) = db.portal();
    let mut conn = portal.db.pool.acquire().await.unwrap();
    let instance = instances::insert(&mut conn, "acme", "Acme IT", 0).await.unwrap();
    let root = testkit::add_user(&mut conn, instance.id, "root@acme.example", Role::Superuser, true).await;
    drop(conn);
    let client = ClientInfo::default();
    let east = scopes::create(&portal, &root, "East", &client).await.unwrap().id;
    let globex = organizations::create(&portal, &root, "Globex", None, &client)
        .await
        .unwrap();
    let (_, who) = testkit::register_appliance(&portal, &root, globex, "nas-globex").await;
    let asset = AssetInfo {
        id: "a1".into(),
        name: "docs".into(),
        path: "/srv/docs".into(),
        policy: Some(testkit::daily_at_one()),
    };
    gateway::inventory(&portal, &who, &[asset], &[], &[])
        .await
        .unwrap();
    World {
        portal,
        clock,
        root,
        east,
        who,
    }
}

/// Users who may not change copy targets, or may not even see Globex's.
struct Outsiders {
    /// Sees everything, changes nothing.
    monitor: Viewer,
    /// An Admin of scope East, which Globex is not in.
    east_admin: Viewer,
    /// The Superuser of another instance.
    outsider: Viewer,
}

async fn outsiders(w: &World) -> Outsiders {
    let mut conn = w.portal.db.pool.acquire().await.unwrap();
    let instance = w.root.instance_id;
    let monitor = testkit::add_user(&mut conn, instance, "m@acme.example", Role::Monitor, true).await;
    let east_admin = testkit::add_user(&mut conn, instance, "ea@acme.example", Role::Admin, false).await;
    sqlx::query("INSERT INTO user_scopes (user_id, scope_id) VALUES ($1, $2)")
        .bind(east_admin.user_id)
        .bind(w.east)
        .execute(&mut *conn)
        .await
        .unwrap();
    let other = instances::insert(&mut conn, "other", "Other MSP", 0)
        .await
        .unwrap();
    let outsider = testkit::add_user(&mut conn, other.id, "root@other.example", Role::Superuser, true).await;
    Outsiders {
        monitor,
        east_admin,
        outsider,
    }
}

fn s3_request(bucket: &str, secret: &str) -> CopyTargetRequest {
    CopyTargetRequest {
        location: CopyLocation::S3 {
            endpoint: "https://s3.example.com".into(),
            bucket: bucket.into(),
            prefix: "globex".into(),
            region: String::new(),
            access_key_id: "AKIAEXAMPLE".into(),
            secret_access_key: secret.into(),
        },
        bandwidth_kib: Some(4096),
        retention: Retention {
            keep_last: Some(30),
            ..Retention::default()
        },
        schedule: Some(Schedule {
            frequency: Frequency::Daily,
            exclude_weekends: false,
            start_date: "2026-01-05".into(),
            start_time: "23:30".into(),
        }),
    }
}

fn refusal<T: std::fmt::Debug>(result: Result<T, DomainError>) -> AppError {
    match result {
        Err(DomainError::Rejected(e)) => e,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// The copy target the appliance receives with its next commands.
async fn delivered(w: &World) -> Option<CopyTarget> {
    let pending = gateway::take_pending(&w.portal, &w.who).await.unwrap();
    match pending.into_iter().map(|(_, c)| c).next_back() {
        Some(Command::SetCopyTarget { target }) => target,
        other => panic!("expected a copy target, got {other:?}"),
    }
}

async fn stored_text(w: &World) -> String {
    let targets: Vec<String> = sqlx::query_scalar("SELECT target FROM copy_targets")
        .fetch_all(&w.portal.db.pool)
        .await
        .unwrap();
    let commands: Vec<String> = sqlx::query_scalar("SELECT command FROM appliance_commands")
        .fetch_all(&w.portal.db.pool)
        .await
        .unwrap();
    format!("{targets:?} {commands:?}")
}

on_both_databases!(
    copy_targets_are_sealed_validated_and_scoped,
    |db: TestDb| async move {
        let w = world(&db).await;
        let client = ClientInfo::default();
        let appliance = w.who.id;

        copies::set_copy_target(
            &w.portal,
            &w.root,
            appliance,
            s3_request("offsite-copies", SECRET),
            &client,
        )
        .await
        .unwrap();
        let first = delivered(&w).await.expect("a target");
        let CopyLocation::S3 {
            secret_access_key, ..
        } = &first.location
        else {
            panic!("an S3 target")
        };
        assert_eq!(secret_access_key, SECRET, "the appliance gets the secret");
        assert!(first.repository_password.len() >= 32, "a generated password");
        let at_rest = stored_text(&w).await;
        assert!(
            !at_rest.contains(SECRET) && !at_rest.contains(&first.repository_password),
            "no secret in the database: {at_rest}"
        );
        let view = copies::copy_target(&mut w.portal.db.pool.acquire().await.unwrap(), &w.root, appliance)
            .await
            .unwrap()
            .unwrap();
        assert!(!format!("{view:?}").contains(SECRET));
        assert_eq!(
            view.summary,
            "s3://offsite-copies/globex at https://s3.example.com, 4096 KiB/s, keeping last 30, Daily from 2026-01-05 23:30"
        );
        assert_eq!(
            first.schedule, view.schedule,
            "the appliance gets the copy schedule"
        );
        assert_eq!(first.schedule.unwrap().start_time, "23:30");

        // An empty secret keeps the stored one, and the repository keeps its password.
        copies::set_copy_target(
            &w.portal,
            &w.root,
            appliance,
            s3_request("offsite-copies", ""),
            &client,
        )
        .await
        .unwrap();
        let second = delivered(&w).await.unwrap();
        assert_eq!(second.location, first.location);
        assert_eq!(second.repository_password, first.repository_password);

        // Bad input names the problem and changes nothing.
        let before = stored_text(&w).await;
        let bad_bucket = refusal(
            copies::set_copy_target(
                &w.portal,
                &w.root,
                appliance,
                s3_request("Bad_Bucket", ""),
                &client,
            )
            .await,
        );
        assert!(bad_bucket.to_string().contains("Bucket"), "{bad_bucket}");
        let mut slow = s3_request("offsite-copies", "");
        slow.bandwidth_kib = Some(8);
        let too_slow = refusal(copies::set_copy_target(&w.portal, &w.root, appliance, slow, &client).await);
        assert!(too_slow.to_string().contains("bandwidth"), "{too_slow}");
        let mut at_no_time = s3_request("offsite-copies", "");
        if let Some(schedule) = at_no_time.schedule.as_mut() {
            schedule.start_time = "24:99".into();
        }
        let bad_time =
            refusal(copies::set_copy_target(&w.portal, &w.root, appliance, at_no_time, &client).await);
        assert_eq!(bad_time.field(), Some("copy_schedule"));
        let relative = CopyTargetRequest {
            location: CopyLocation::Path {
                path: "mnt/../etc".into(),
            },
            ..s3_request("offsite-copies", "")
        };
        let refused =
            refusal(copies::set_copy_target(&w.portal, &w.root, appliance, relative, &client).await);
        assert!(refused.to_string().contains("Path"), "{refused}");
        let path_target = CopyTargetRequest {
            location: CopyLocation::Path {
                path: "/mnt/offsite".into(),
            },
            ..s3_request("offsite-copies", "")
        };
        assert_eq!(stored_text(&w).await, before, "refusals change nothing");

        // Who may: a Monitor may look but not set; other scopes and instances see nothing.
        let Outsiders {
            monitor,
            east_admin,
            outsider,
        } = outsiders(&w).await;
        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        assert!(
            copies::copy_target(&mut conn, &monitor, appliance)
                .await
                .unwrap()
                .is_some()
        );
        for stranger in [&east_admin, &outsider] {
            let seen = refusal(copies::copy_target(&mut conn, stranger, appliance).await);
            assert!(matches!(seen, AppError::NotFound { .. }), "{seen:?}");
        }
        drop(conn);
        let forbidden = refusal(
            copies::set_copy_target(&w.portal, &monitor, appliance, path_target.clone(), &client).await,
        );
        assert!(matches!(forbidden, AppError::Forbidden), "{forbidden:?}");
        for stranger in [&east_admin, &outsider] {
            let set = refusal(
                copies::set_copy_target(&w.portal, stranger, appliance, path_target.clone(), &client).await,
            );
            assert!(matches!(set, AppError::NotFound { .. }), "{set:?}");
            let removed = refusal(copies::remove_copy_target(&w.portal, stranger, appliance, &client).await);
            assert!(matches!(removed, AppError::NotFound { .. }), "{removed:?}");
        }
        assert_eq!(stored_text(&w).await, before, "strangers change nothing");
        // Copy now and Test restore act on assets within reach only, for Manage and above.
        let asset = assets::list(
            &mut w.portal.db.pool.acquire().await.unwrap(),
            &w.root,
            &assets::AssetQuery {
                per_page: 10,
                ..Default::default()
            },
            w.portal.now(),
        )
        .await
        .unwrap()
        .items[0]
            .id;
        for stranger in [&east_admin, &outsider] {
            let copy = refusal(copies::copy_now(&w.portal, stranger, asset, &client).await);
            assert!(matches!(copy, AppError::NotFound { .. }), "{copy:?}");
            let test = refusal(commands::verify_now(&w.portal, stranger, asset, &client).await);
            assert!(matches!(test, AppError::NotFound { .. }), "{test:?}");
        }
        let copy = refusal(copies::copy_now(&w.portal, &monitor, asset, &client).await);
        assert!(matches!(copy, AppError::Forbidden), "{copy:?}");
        let test = refusal(commands::verify_now(&w.portal, &monitor, asset, &client).await);
        assert!(matches!(test, AppError::Forbidden), "{test:?}");
        let untested = refusal(commands::verify_now(&w.portal, &w.root, asset, &client).await);
        assert!(untested.to_string().contains("no recovery point"), "{untested}");
        assert!(gateway::take_pending(&w.portal, &w.who).await.unwrap().is_empty());

        // A path target needs no secret; stopping copies tells the appliance.
        copies::set_copy_target(&w.portal, &w.root, appliance, path_target, &client)
            .await
            .unwrap();
        let path = delivered(&w).await.unwrap();
        assert_eq!(
            path.location,
            CopyLocation::Path {
                path: "/mnt/offsite".into()
            }
        );
        assert_eq!(path.repository_password, first.repository_password);
        copies::remove_copy_target(&w.portal, &w.root, appliance, &client)
            .await
            .unwrap();
        assert_eq!(delivered(&w).await, None);
        let again = refusal(copies::remove_copy_target(&w.portal, &w.root, appliance, &client).await);
        assert!(matches!(again, AppError::Conflict { .. }), "{again:?}");
    }
);

fn job(id: &str, kind: JobKind, started_at: i64, ended_at: i64) -> JobInfo {
    JobInfo {
        id: id.into(),
        asset_id: "a1".into(),
        kind,
        state: JobState::Success,
        started_at,
        ended_at: Some(ended_at),
        progress: JobProgress::default(),
        error: None,
        mode: None,
        size_bytes: None,
        scheduled_for: None,
    }
}

async fn copy_alarms(w: &World) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM alerts WHERE state = 'active' AND kind = 'copy_threshold'")
        .fetch_one(&w.portal.db.pool)
        .await
        .unwrap()
}

async fn evaluate_at(w: &World, now: i64) {
    w.clock.advance(now - domain::Clock::now_ms(&*w.clock));
    gateway::heartbeat(&w.portal, &w.who, &Default::default())
        .await
        .unwrap();
    engine::run_due(&w.portal).await.unwrap();
}

async fn last_copy_at(w: &World) -> Option<i64> {
    let mut conn = w.portal.db.pool.acquire().await.unwrap();
    let query = assets::AssetQuery {
        per_page: 10,
        ..Default::default()
    };
    assets::list(&mut conn, &w.root, &query, w.portal.now())
        .await
        .unwrap()
        .items[0]
        .last_copy_at
}

on_both_databases!(
    the_replication_offsite_alarm_raises_and_clears_with_copies,
    |db: TestDb| async move {
        let w = world(&db).await;
        let client = ClientInfo::default();
        let thresholds = Thresholds {
            backups: ThresholdBlock::new(true, 2, 0),
            copies: ThresholdBlock::new(true, 0, 6),
        };
        settings::save_global(&w.portal, &w.root, &thresholds, &client)
            .await
            .unwrap();
        let t0 = START_MS + HOUR_MS;
        evaluate_at(&w, t0).await;

        // Without a copy target nothing waits for a copy.
        gateway::job(&w.portal, &w.who, &job("b0", JobKind::Backup, t0, t0 + MINUTE_MS))
            .await
            .unwrap();
        evaluate_at(&w, t0 + 12 * HOUR_MS).await;
        assert_eq!(copy_alarms(&w).await, 0);

        let target = CopyTargetRequest {
            location: CopyLocation::Path {
                path: "/mnt/offsite".into(),
            },
            bandwidth_kib: None,
            retention: Retention::default(),
            schedule: None,
        };
        copies::set_copy_target(&w.portal, &w.root, w.who.id, target, &client)
            .await
            .unwrap();
        let t1 = t0 + 13 * HOUR_MS;
        gateway::job(&w.portal, &w.who, &job("b1", JobKind::Backup, t1, t1 + MINUTE_MS))
            .await
            .unwrap();
        // A later backup does not restart the wait: the first uncopied one counts.
        gateway::job(
            &w.portal,
            &w.who,
            &job("b2", JobKind::Backup, t1 + 2 * HOUR_MS, t1 + 3 * HOUR_MS),
        )
        .await
        .unwrap();
        evaluate_at(&w, t1 + MINUTE_MS + 6 * HOUR_MS - 1).await;
        assert_eq!(copy_alarms(&w).await, 0, "within the threshold");
        evaluate_at(&w, t1 + MINUTE_MS + 6 * HOUR_MS).await;
        assert_eq!(copy_alarms(&w).await, 1, "six hours after the backup ended");
        assert_eq!(last_copy_at(&w).await, None);

        // A copy that started before b2 ended covers b1 only: the wait now counts from b2.
        let copy_start = t1 + 2 * HOUR_MS + 30 * MINUTE_MS;
        gateway::job(
            &w.portal,
            &w.who,
            &job("c1", JobKind::Copy, copy_start, copy_start + 10 * MINUTE_MS),
        )
        .await
        .unwrap();
        evaluate_at(&w, t1 + 8 * HOUR_MS).await;
        assert_eq!(copy_alarms(&w).await, 0, "cleared by the copy");
        assert_eq!(last_copy_at(&w).await, Some(copy_start + 10 * MINUTE_MS));
        evaluate_at(&w, t1 + 9 * HOUR_MS).await;
        assert_eq!(copy_alarms(&w).await, 1, "b2 has waited six hours since it ended");

        // A copy after b2 covers everything; removing the target leaves nothing waiting either.
        let late = t1 + 10 * HOUR_MS;
        gateway::job(
            &w.portal,
            &w.who,
            &job("c2", JobKind::Copy, late, late + MINUTE_MS),
        )
        .await
        .unwrap();
        evaluate_at(&w, late + 2 * MINUTE_MS).await;
        assert_eq!(copy_alarms(&w).await, 0);
        evaluate_at(&w, late + 48 * HOUR_MS).await;
        assert_eq!(copy_alarms(&w).await, 0, "nothing new to copy");
        gateway::job(
            &w.portal,
            &w.who,
            &job("b3", JobKind::Backup, late + 49 * HOUR_MS, late + 50 * HOUR_MS),
        )
        .await
        .unwrap();
        evaluate_at(&w, late + 57 * HOUR_MS).await;
        assert_eq!(copy_alarms(&w).await, 1);
        copies::remove_copy_target(&w.portal, &w.root, w.who.id, &client)
            .await
            .unwrap();
        evaluate_at(&w, late + 58 * HOUR_MS).await;
        assert_eq!(copy_alarms(&w).await, 0, "no target, no copy alarm");
    }
);

/// The copy target in the appliance's next commands, if it was sent one.
async fn delivered_to(w: &World, who: &ApplianceIdentity) -> Option<Option<CopyTarget>> {
    let pending = gateway::take_pending(&w.portal, who).await.unwrap();
    pending.into_iter().rev().find_map(|(_, c)| match c {
        Command::SetCopyTarget { target } => Some(target),
        _ => None,
    })
}

fn s3_prefix(target: &CopyTarget) -> (&str, &str) {
    match &target.location {
        CopyLocation::S3 {
            prefix,
            secret_access_key,
            ..
        } => (prefix, secret_access_key),
        other => panic!("an S3 target, got {other:?}"),
    }
}

on_both_databases!(
    an_organizations_copy_target_reaches_each_appliance_without_its_own_in_a_repository_of_its_own,
    |db: TestDb| async move {
        let w = world(&db).await;
        let client = ClientInfo::default();
        let globex: i64 = sqlx::query_scalar("SELECT organization_id FROM appliances WHERE id = $1")
            .bind(w.who.id)
            .fetch_one(&w.portal.db.pool)
            .await
            .unwrap();
        let (_, own) = testkit::register_appliance(&w.portal, &w.root, globex, "nas-own").await;
        let own_target = CopyTargetRequest {
            location: CopyLocation::Path {
                path: "/mnt/own".into(),
            },
            ..s3_request("unused", "")
        };
        copies::set_copy_target(&w.portal, &w.root, own.id, own_target, &client)
            .await
            .unwrap();
        gateway::take_pending(&w.portal, &own).await.unwrap();

        // Who may: not a Monitor, not another scope's Admin, not another instance.
        let Outsiders {
            monitor,
            east_admin,
            outsider: stranger,
        } = outsiders(&w).await;
        let request = || s3_request("offsite-copies", SECRET);
        assert_eq!(
            refusal(
                org_copies::set_organization_copy_target(&w.portal, &monitor, globex, request(), &client)
                    .await
            ),
            AppError::Forbidden
        );
        for outsider in [&east_admin, &stranger] {
            let refused = refusal(
                org_copies::set_organization_copy_target(&w.portal, outsider, globex, request(), &client)
                    .await,
            );
            assert!(matches!(refused, AppError::NotFound { .. }), "{refused:?}");
            let mut conn = w.portal.db.pool.acquire().await.unwrap();
            assert!(
                org_copies::organization_copy_target(&mut conn, outsider, globex)
                    .await
                    .is_err()
            );
        }
        let mut bad = request();
        bad.bandwidth_kib = Some(1);
        let refused =
            refusal(org_copies::set_organization_copy_target(&w.portal, &w.root, globex, bad, &client).await);
        assert_eq!(refused.field(), Some("bandwidth_kib"));

        // Set: the appliance without a target gets it under a prefix of its own.
        let sent = org_copies::set_organization_copy_target(&w.portal, &w.root, globex, request(), &client)
            .await
            .unwrap();
        assert_eq!(sent, 1, "the appliance with its own target keeps it");
        let first = delivered_to(&w, &w.who).await.unwrap().unwrap();
        assert_eq!(
            s3_prefix(&first),
            (format!("globex/appliance-{}", w.who.id).as_str(), SECRET)
        );
        assert!(first.repository_password.len() >= 32);
        assert_eq!(delivered_to(&w, &own).await, None);
        assert!(!stored_text(&w).await.contains(SECRET), "sealed at rest");
        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        let view = copies::copy_target(&mut conn, &w.root, w.who.id)
            .await
            .unwrap()
            .unwrap();
        assert!(view.from_organization);
        let template = org_copies::organization_copy_target(&mut conn, &monitor, globex)
            .await
            .unwrap()
            .unwrap();
        assert!(
            !format!("{template:?}").contains(SECRET),
            "Monitors read it without secrets"
        );
        drop(conn);
        let refused = refusal(copies::remove_copy_target(&w.portal, &w.root, w.who.id, &client).await);
        assert!(refused.to_string().contains("organization's target"), "{refused}");

        // An edit keeps the secret and each repository's password.
        org_copies::set_organization_copy_target(
            &w.portal,
            &w.root,
            globex,
            s3_request("offsite-copies", ""),
            &client,
        )
        .await
        .unwrap();
        let edited = delivered_to(&w, &w.who).await.unwrap().unwrap();
        assert_eq!(
            (edited.location.clone(), edited.repository_password.clone()),
            (first.location.clone(), first.repository_password.clone())
        );

        // The appliance that stops its own target follows the organization's; so does a new one.
        copies::remove_copy_target(&w.portal, &w.root, own.id, &client)
            .await
            .unwrap();
        let followed = delivered_to(&w, &own).await.unwrap().unwrap();
        assert_eq!(s3_prefix(&followed).0, format!("globex/appliance-{}", own.id));
        assert_ne!(followed.repository_password, first.repository_password);
        // Leaving the organization's target and coming back opens the same repository.
        let own_again = CopyTargetRequest {
            location: CopyLocation::Path {
                path: "/mnt/own".into(),
            },
            ..s3_request("unused", "")
        };
        copies::set_copy_target(&w.portal, &w.root, own.id, own_again, &client)
            .await
            .unwrap();
        copies::remove_copy_target(&w.portal, &w.root, own.id, &client)
            .await
            .unwrap();
        let returned = delivered_to(&w, &own).await.unwrap().unwrap();
        assert_eq!(
            (returned.location, returned.repository_password),
            (followed.location, followed.repository_password.clone()),
            "back in the repository it created, with its password"
        );
        let (_, late) = testkit::register_appliance(&w.portal, &w.root, globex, "nas-late").await;
        let inherited = delivered_to(&w, &late).await.unwrap().unwrap();
        assert_eq!(
            s3_prefix(&inherited),
            (format!("globex/appliance-{}", late.id).as_str(), SECRET)
        );

        // Removing it stops every appliance that followed it.
        let stopped = org_copies::remove_organization_copy_target(&w.portal, &w.root, globex, &client)
            .await
            .unwrap();
        assert_eq!(stopped, 3);
        for who in [&w.who, &own, &late] {
            assert_eq!(delivered_to(&w, who).await, Some(None));
        }
        let again =
            refusal(org_copies::remove_organization_copy_target(&w.portal, &w.root, globex, &client).await);
        assert!(matches!(again, AppError::Conflict { .. }));

        // A target set again later reaches the same repositories with the same passwords.
        org_copies::set_organization_copy_target(&w.portal, &w.root, globex, request(), &client)
            .await
            .unwrap();
        let restored = delivered_to(&w, &w.who).await.unwrap().unwrap();
        assert_eq!(
            (restored.location, restored.repository_password),
            (first.location, first.repository_password)
        );
    }
);
