//! Appliances in the domain layer, on SQLite and PostgreSQL: what users ask of them (roles,
//! typed DELETE, jobs in the way), deletion revoking the credential, the live events each change
//! publishes, list filters, Jobs → Recent and the 90-day purge, backup policies and schedules.

// Tests: a failed step should stop the test, loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use domain::access::Viewer;
use domain::appliances::{assets, commands, gateway, jobs, policies, recent_jobs, registration, views};
use domain::testkit::{self, TestDb};
use domain::{ClientInfo, DomainError, Portal, instances, on_both_databases, organizations};
use model::appliance::views::{ApplianceFilter, ApplianceSort, CommandStatus};
use model::appliance::{AssetInfo, Command, JobInfo, JobKind, JobProgress, JobState, Storage};
use model::jobs::{JobSort, RecentJobFilter, ScheduleSort};
use model::live::{LiveEvent, LiveFrame};
use model::policy::{Frequency, Policy, Retention, Schedule};
use model::tenancy::OrgQuery;
use model::{AppError, Role};

fn rejected<T: std::fmt::Debug>(result: Result<T, DomainError>) -> AppError {
    match result {
        Err(DomainError::Rejected(e)) => e,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

struct World {
    portal: Portal,
    root: Viewer,
    credential: String,
    who: domain::appliances::ApplianceIdentity,
}

async fn viewer(portal: &Portal, instance_id: i64, email: &str, role: Role) -> Viewer {
    let mut conn = portal.db.pool.acquire().await.unwrap();
    testkit::add_user(&mut conn, instance_id, email, role, true).await
}

/// An instance with one registered appliance that reports one asset.
async fn world(db: &TestDb) -> World {
    let (portal, _) = db.portal();
    let mut conn = portal.db.pool.acquire().await.unwrap();
    let instance = instances::insert(&mut conn, "acme", "Acme", 0).await.unwrap();
    drop(conn);
    let root = viewer(&portal, instance.id, "root@acme.example", Role::Superuser).await;
    let client = ClientInfo::default();
    let org = organizations::create(&portal, &root, "Initech", None, &client)
        .await
        .unwrap();
    let (credential, who) = register(&portal, &root, org, "nas-1").await;
    let asset = AssetInfo {
        id: "a1".into(),
        name: "Documents".into(),
        path: "/srv/documents".into(),
        policy: None,
    };
    gateway::inventory(&portal, &who, &[asset], &[], &[])
        .await
        .unwrap();
    World {
        portal,
        root,
        credential,
        who,
    }
}

/// Registers an appliance for `org`; returns its credential and identity.
async fn register(
    portal: &Portal,
    root: &Viewer,
    org: i64,
    name: &str,
) -> (String, domain::appliances::ApplianceIdentity) {
    testkit::register_appliance(portal, root, org, name).await
}

async fn asset_id(w: &World) -> i64 {
    let mut conn = w.portal.db.pool.acquire().await.unwrap();
    let query = assets::AssetQuery {
        per_page: 50,
        ..Default::default()
    };
    assets::list(&mut conn, &w.root, &query, w.portal.now())
        .await
        .unwrap()
        .items[0]
        .id
}

fn running_job() -> JobInfo {
    JobInfo {
        id: "job-1".into(),
        asset_id: "a1".into(),
        kind: JobKind::Backup,
        state: JobState::Running,
        started_at: 1,
        ended_at: None,
        progress: JobProgress {
            percent: 40.0,
            ..Default::default()
        },
        error: None,
        mode: None,
        size_bytes: None,
        scheduled_for: None,
    }
}

on_both_databases!(
    commands_check_roles_typed_delete_and_running_jobs,
    |db: TestDb| async move {
        let w = world(&db).await;
        let client = ClientInfo::default();
        let asset = asset_id(&w).await;
        let monitor = viewer(
            &w.portal,
            w.root.instance_id,
            "monitor@acme.example",
            Role::Monitor,
        )
        .await;
        let manage = viewer(&w.portal, w.root.instance_id, "manage@acme.example", Role::Manage).await;
        assert_eq!(
            rejected(commands::backup_now(&w.portal, &monitor, asset, &client).await),
            AppError::Forbidden
        );
        assert_eq!(
            rejected(commands::remove_asset(&w.portal, &manage, asset, "DELETE", &client).await),
            AppError::Forbidden,
            "Manage backs up but does not change what is protected"
        );
        let wrong_word = rejected(commands::remove_asset(&w.portal, &w.root, asset, "delete", &client).await);
        assert_eq!(wrong_word.field(), Some("confirmation"));
        let relative = rejected(commands::add_asset(&w.portal, &w.root, w.who.id, "srv/data", &client).await);
        assert_eq!(relative.field(), Some("path"));

        gateway::job(&w.portal, &w.who, &running_job()).await.unwrap();
        let busy = rejected(commands::remove_asset(&w.portal, &w.root, asset, "DELETE", &client).await);
        assert!(busy.to_string().contains("running"), "{busy}");
        assert!(matches!(
            rejected(commands::backup_now(&w.portal, &manage, asset, &client).await),
            AppError::Conflict { .. }
        ));
        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        let job = jobs::list(
            &mut conn,
            &w.root,
            jobs::JobQuery {
                asset_id: None,
                appliance_id: Some(w.who.id),
                active_or_ended_after: None,
                limit: 10,
            },
        )
        .await
        .unwrap()
        .remove(0);
        drop(conn);
        let cancel = commands::cancel_job(&w.portal, &manage, job.id, &client)
            .await
            .unwrap();
        assert_eq!(cancel.status, CommandStatus::Pending);
        assert_eq!(cancel.description, "Cancel the backup of Documents");

        let finished = JobInfo {
            state: JobState::Cancelled,
            ended_at: Some(2),
            ..running_job()
        };
        gateway::job(&w.portal, &w.who, &finished).await.unwrap();
        assert!(matches!(
            rejected(commands::cancel_job(&w.portal, &manage, job.id, &client).await),
            AppError::Conflict { .. }
        ));
        let queued = commands::remove_asset(&w.portal, &w.root, asset, "DELETE", &client)
            .await
            .unwrap();
        let taken = gateway::take_pending(&w.portal, &w.who).await.unwrap();
        assert_eq!(
            taken.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            vec![cancel.id, queued.id],
            "refused requests queued nothing"
        );
    }
);

on_both_databases!(
    deleting_an_appliance_revokes_its_credential_and_tells_browsers,
    |db: TestDb| async move {
        let w = world(&db).await;
        let client = ClientInfo::default();
        let everything = domain::live::Audience {
            instance_id: w.root.instance_id,
            all: true,
            organizations: Default::default(),
        };
        let mut live = w.portal.live.subscribe(None, &everything);
        let refused = rejected(commands::delete_appliance(&w.portal, &w.root, w.who.id, "", &client).await);
        assert_eq!(refused.field(), Some("confirmation"));
        commands::delete_appliance(&w.portal, &w.root, w.who.id, "DELETE", &client)
            .await
            .unwrap();

        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        assert!(
            registration::authenticate(&mut conn, &w.credential)
                .await
                .unwrap()
                .is_none(),
            "the credential no longer connects"
        );
        assert!(
            views::list(&mut conn, &w.root, &Default::default())
                .await
                .unwrap()
                .is_empty()
        );
        assert!(matches!(
            rejected(views::get(&mut conn, &w.root, w.who.id).await),
            AppError::NotFound { .. }
        ));
        drop(conn);
        let pending = gateway::take_pending(&w.portal, &w.who).await.unwrap();
        assert_eq!(pending.len(), 1, "the connected appliance is told to unregister");
        assert_eq!(
            gateway::standing(&w.portal, &w.who).await.unwrap(),
            gateway::Standing::Deleted { settled: false }
        );
        let storage = Storage {
            total_bytes: 100,
            free_bytes: 50,
            used_bytes: 50,
        };
        let refused = rejected(gateway::heartbeat(&w.portal, &w.who, &storage).await);
        assert!(refused.to_string().contains("deleted"), "{refused}");
        assert!(gateway::job(&w.portal, &w.who, &running_job()).await.is_err());
        let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs")
            .fetch_one(&w.portal.db.pool)
            .await
            .unwrap();
        assert_eq!(stored, 0, "a deleted appliance's frames change nothing");

        let mut events = Vec::new();
        while let Ok(published) = live.receiver.try_recv() {
            let frame: LiveFrame = serde_json::from_str(&published.frame).unwrap();
            if let LiveFrame::Event { event, .. } = frame {
                events.push(*event);
            }
        }
        assert!(
            events.iter().any(
                |e| matches!(e, LiveEvent::ApplianceRemoved { appliance_id } if *appliance_id == w.who.id)
            )
        );
        assert!(events.iter().any(|e| matches!(e, LiveEvent::Command { .. })));
    }
);

on_both_databases!(
    appliance_lists_filter_and_sort_and_organizations_sum_their_storage,
    |db: TestDb| async move {
        let w = world(&db).await;
        let (_, tight) = register(&w.portal, &w.root, w.who.organization_id, "tight-box").await;
        let storage = |free| Storage {
            total_bytes: 1000,
            free_bytes: free,
            used_bytes: 1000 - free,
        };
        gateway::heartbeat(&w.portal, &w.who, &storage(800))
            .await
            .unwrap();
        gateway::heartbeat(&w.portal, &tight, &storage(250))
            .await
            .unwrap();
        gateway::mark_stale_offline(&w.portal, -1).await.unwrap();
        gateway::heartbeat(&w.portal, &tight, &storage(250))
            .await
            .unwrap();

        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        let cases = [
            (
                ApplianceFilter {
                    low_space: true,
                    ..Default::default()
                },
                vec!["tight-box"],
                "25 % free is at or below 30 %",
            ),
            (
                ApplianceFilter {
                    online: Some(true),
                    ..Default::default()
                },
                vec!["tight-box"],
                "online",
            ),
            (
                ApplianceFilter {
                    online: Some(false),
                    ..Default::default()
                },
                vec!["nas-1"],
                "offline",
            ),
            (
                ApplianceFilter {
                    name_contains: Some("TIGHT".into()),
                    ..Default::default()
                },
                vec!["tight-box"],
                "name contains, any case",
            ),
            (
                ApplianceFilter {
                    sort: ApplianceSort::FreeSpace,
                    ..Default::default()
                },
                vec!["tight-box", "nas-1"],
                "least free first",
            ),
            (ApplianceFilter::default(), vec!["nas-1", "tight-box"], "by name"),
            (
                ApplianceFilter {
                    name_contains: Some("_".into()),
                    ..Default::default()
                },
                vec![],
                "'_' is a character to find, not LIKE's wildcard",
            ),
        ];
        for (filter, expected, why) in cases {
            let listed = views::list(&mut conn, &w.root, &filter).await.unwrap();
            let names: Vec<String> = listed.into_iter().map(|a| a.name).collect();
            assert_eq!(names, expected, "{why}");
        }
        let second = views::list_page(&mut conn, &w.root, &Default::default(), 2, 1)
            .await
            .unwrap();
        assert_eq!(
            (second.total, second.page_count()),
            (2, 2),
            "paged like the other lists"
        );
        assert_eq!(second.items[0].name, "tight-box");

        let orgs = organizations::list(&mut conn, &w.root, &OrgQuery::default())
            .await
            .unwrap();
        let initech = &orgs.items[0];
        assert_eq!(initech.appliances, 2);
        assert!(
            (initech.free_space_pct - 52.5).abs() < 1e-9,
            "{}",
            initech.free_space_pct
        );
    }
);

fn job_at(id: &str, kind: JobKind, state: JobState, started_at: i64, seconds: i64) -> JobInfo {
    JobInfo {
        id: id.into(),
        asset_id: "a1".into(),
        kind,
        state,
        started_at,
        ended_at: state.is_finished().then_some(started_at + seconds * 1000),
        progress: JobProgress::default(),
        error: (state == JobState::Error).then(|| "disk full".into()),
        mode: None,
        size_bytes: None,
        scheduled_for: None,
    }
}

on_both_databases!(
    recent_jobs_cover_ninety_days_with_filters_sorting_paging_and_a_purge,
    |db: TestDb| async move {
        let w = world(&db).await;
        let now = w.portal.now();
        let (hour, day) = (3_600_000, 86_400_000);
        for job in [
            job_at("j1", JobKind::Backup, JobState::Success, now - hour, 60),
            job_at("j2", JobKind::Backup, JobState::Error, now - 2 * day, 5),
            job_at("j3", JobKind::Restore, JobState::Success, now - day, 600),
            job_at("j4", JobKind::Backup, JobState::Running, now, 0),
            job_at("j5", JobKind::Backup, JobState::Success, now - 100 * day, 60),
        ] {
            gateway::job(&w.portal, &w.who, &job).await.unwrap();
        }
        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        let newest_first = (JobSort::Started, true);
        let ids = |page: model::tenancy::Page<model::appliance::views::JobView>| {
            page.items.into_iter().map(|j| j.external_id).collect::<Vec<_>>()
        };
        let recent = |filter: RecentJobFilter, order: (JobSort, bool), per_page: u32| {
            let (portal, root) = (w.portal.clone(), w.root.clone());
            async move {
                let mut conn = portal.db.pool.acquire().await.unwrap();
                recent_jobs::page(&mut conn, &root, &filter, order, 1, per_page, now)
                    .await
                    .unwrap()
            }
        };
        assert_eq!(
            ids(recent(RecentJobFilter::default(), newest_first, 50).await),
            vec!["j1", "j3", "j2"],
            "finished jobs of the last 90 days, newest first"
        );
        let only = |state| RecentJobFilter {
            state: Some(state),
            ..Default::default()
        };
        assert_eq!(
            ids(recent(only(JobState::Error), newest_first, 50).await),
            vec!["j2"]
        );
        let restores = RecentJobFilter {
            kind: Some(JobKind::Restore),
            ..Default::default()
        };
        assert_eq!(ids(recent(restores, newest_first, 50).await), vec!["j3"]);
        let since = RecentJobFilter {
            started_from: Some(now - day - hour),
            asset: Some("DOCU".into()),
            ..Default::default()
        };
        assert_eq!(ids(recent(since, newest_first, 50).await), vec!["j1", "j3"]);
        let elsewhere = RecentJobFilter {
            appliance: Some("nope".into()),
            ..Default::default()
        };
        assert_eq!(recent(elsewhere, newest_first, 50).await.total, 0);
        assert_eq!(
            ids(recent(RecentJobFilter::default(), (JobSort::Duration, false), 50).await),
            vec!["j2", "j1", "j3"]
        );
        let first_page = recent(RecentJobFilter::default(), newest_first, 2).await;
        assert_eq!((first_page.total, first_page.items.len()), (3, 2));

        let outsider = Viewer {
            global_scope: false,
            ..viewer(
                &w.portal,
                w.root.instance_id,
                "outsider@acme.example",
                Role::Monitor,
            )
            .await
        };
        let hidden = recent_jobs::page(
            &mut conn,
            &outsider,
            &RecentJobFilter::default(),
            newest_first,
            1,
            50,
            now,
        )
        .await
        .unwrap();
        assert_eq!(hidden.total, 0, "nothing outside the viewer's scopes");

        assert_eq!(jobs::purge_old(&mut conn, now).await.unwrap(), 1);
        let left: Vec<String> = sqlx::query_scalar("SELECT external_id FROM jobs ORDER BY external_id")
            .fetch_all(&mut *conn)
            .await
            .unwrap();
        assert_eq!(
            left,
            vec!["j1", "j2", "j3", "j4"],
            "only the 100-day-old job is gone"
        );
    }
);

fn daily_at_22() -> policies::PolicyRequest {
    policies::PolicyRequest {
        frequency: Frequency::Daily,
        exclude_weekends: false,
        start_date: "2030-01-07".into(),
        start_time: "22:00".into(),
        retention: Retention::default(),
        restore_test_days: 3,
    }
}

/// The appliance answers the command and reports `policy` for asset a1 in its inventory.
async fn appliance_applies(w: &World, command_id: i64, policy: Option<Policy>) {
    gateway::finish(
        &w.portal,
        &w.who,
        command_id,
        &model::appliance::CommandOutcome::Done { message: "ok".into() },
    )
    .await
    .unwrap();
    let asset = AssetInfo {
        id: "a1".into(),
        name: "Documents".into(),
        path: "/srv/documents".into(),
        policy,
    };
    gateway::inventory(&w.portal, &w.who, &[asset], &[], &[])
        .await
        .unwrap();
}

on_both_databases!(
    policies_follow_roles_validate_their_fields_and_show_pending_until_the_appliance_answers,
    |db: TestDb| async move {
        let w = world(&db).await;
        let client = ClientInfo::default();
        let asset = asset_id(&w).await;
        let instance = w.root.instance_id;
        let manager = viewer(&w.portal, instance, "manage@acme.example", Role::Manage).await;
        let monitor = viewer(&w.portal, instance, "monitor@acme.example", Role::Monitor).await;

        for who in [&manager, &monitor] {
            let refused = policies::set_policies(&w.portal, who, &[asset], &daily_at_22(), &client).await;
            assert!(
                matches!(refused, Err(DomainError::Rejected(AppError::Forbidden))),
                "{:?}",
                who.role
            );
        }
        let no_policy =
            policies::set_retention(&w.portal, &manager, &[asset], &Retention::default(), &client)
                .await
                .unwrap();
        assert_eq!(no_policy.refused, ["Documents has no backup policy."]);

        let mut bad_time = daily_at_22();
        bad_time.start_time = "25:61".into();
        let error = rejected(policies::set_policies(&w.portal, &w.root, &[asset], &bad_time, &client).await);
        assert_eq!(error.field(), Some("start_time"));
        let mut never = daily_at_22();
        (never.frequency, never.exclude_weekends, never.start_date) =
            (Frequency::Weekly, true, "2030-01-05".into());
        let error = rejected(policies::set_policies(&w.portal, &w.root, &[asset], &never, &client).await);
        assert!(error.to_string().contains("never runs"), "{error}");
        let mut greedy = daily_at_22();
        greedy.retention.keep_daily = Some(1_000_000);
        let error = rejected(policies::set_policies(&w.portal, &w.root, &[asset], &greedy, &client).await);
        assert_eq!(error.field(), Some("keep_daily"));
        let mut rarely_tested = daily_at_22();
        rarely_tested.restore_test_days = 366;
        let error =
            rejected(policies::set_policies(&w.portal, &w.root, &[asset], &rarely_tested, &client).await);
        assert_eq!(error.field(), Some("restore_test_days"));

        let outcome = policies::set_policies(&w.portal, &w.root, &[asset, 987_654], &daily_at_22(), &client)
            .await
            .unwrap();
        assert_eq!(outcome.queued, 1);
        assert_eq!(outcome.refused, ["Asset 987654 was not found."]);
        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        let pending = assets::get(&mut conn, &w.root, asset).await.unwrap();
        drop(conn);
        assert!(pending.policy_pending());
        let change = pending.policy_change.clone().unwrap();
        let sent: String = sqlx::query_scalar("SELECT command FROM appliance_commands WHERE id = $1")
            .bind(change.command_id)
            .fetch_one(&w.portal.db.pool)
            .await
            .unwrap();
        match serde_json::from_str(&sent).unwrap() {
            Command::SetPolicy { policy, .. } => assert_eq!(policy.restore_test_days, 3),
            other => panic!("expected a policy, got {other:?}"),
        }
        assert!(
            change
                .description
                .starts_with("Set Daily from 2030-01-07 22:00 on Documents"),
            "{}",
            change.description
        );
        let nothing = policies::schedules(
            &mut w.portal.db.pool.acquire().await.unwrap(),
            &w.root,
            &Default::default(),
            (ScheduleSort::NextRun, false),
            1,
            50,
            w.portal.now(),
        )
        .await
        .unwrap();
        assert_eq!(nothing.total, 0, "no schedule until the appliance confirms");

        let confirmed = Policy {
            schedule: Schedule {
                frequency: Frequency::Daily,
                exclude_weekends: false,
                start_date: "2030-01-07".into(),
                start_time: "22:00".into(),
            },
            retention: Retention::default(),
            enabled: true,
            restore_test_days: 3,
        };
        appliance_applies(&w, change.command_id, Some(confirmed.clone())).await;
        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        let applied = assets::get(&mut conn, &w.root, asset).await.unwrap();
        assert_eq!(
            (applied.policy.clone(), applied.policy_change.clone()),
            (Some(confirmed.clone()), None)
        );
        let schedules = policies::schedules(
            &mut conn,
            &w.root,
            &Default::default(),
            (ScheduleSort::NextRun, false),
            1,
            50,
            w.portal.now(),
        )
        .await
        .unwrap();
        drop(conn);
        assert_eq!(schedules.items.len(), 1);
        assert_eq!(schedules.items[0].job_name, "Backplane-Documents");
        assert_eq!(
            schedules.items[0].next_run_at,
            Some(model::policy::next_run(&confirmed.schedule, "UTC", w.portal.now()).unwrap())
        );

        // Manage may change what is kept, not when; the answer is shown when it fails.
        let keep = Retention {
            keep_last: Some(3),
            ..Retention::default()
        };
        let retained = policies::set_retention(&w.portal, &manager, &[asset], &keep, &client)
            .await
            .unwrap();
        assert_eq!(retained.queued, 1);
        let again = policies::set_retention(&w.portal, &manager, &[asset], &keep, &client)
            .await
            .unwrap();
        assert!(
            again.refused[0].contains("already on its way"),
            "{:?}",
            again.refused
        );
        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        let change = assets::get(&mut conn, &w.root, asset)
            .await
            .unwrap()
            .policy_change
            .unwrap();
        drop(conn);
        assert_eq!(change.description, "Keep last 3 of Documents");
        gateway::finish(
            &w.portal,
            &w.who,
            change.command_id,
            &model::appliance::CommandOutcome::Error {
                message: "disk full".into(),
            },
        )
        .await
        .unwrap();
        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        let failed = assets::get(&mut conn, &w.root, asset).await.unwrap();
        drop(conn);
        assert!(!failed.policy_pending());
        assert_eq!(
            failed.policy_change.unwrap().message.as_deref(),
            Some("disk full")
        );
        assert_eq!(
            failed.policy,
            Some(confirmed),
            "the appliance's policy still stands"
        );

        let disabled = policies::set_schedule_enabled(&w.portal, &w.root, asset, false, &client)
            .await
            .unwrap();
        assert_eq!(disabled.description, "Disable the schedule of Documents");
        let monitor_delete = policies::delete_schedule(&w.portal, &monitor, asset, &client).await;
        assert!(matches!(
            monitor_delete,
            Err(DomainError::Rejected(AppError::Forbidden))
        ));
    }
);

on_both_databases!(
    a_user_who_sees_few_organizations_gets_exactly_their_jobs_sorted_and_counted,
    |db: TestDb| async move {
        let w = world(&db).await;
        let client = ClientInfo::default();
        let now = w.portal.now();
        // Eleven other organizations, so the viewer's one is under a tenth of the instance.
        for i in 0..11 {
            organizations::create(&w.portal, &w.root, &format!("Other {i}"), None, &client)
                .await
                .unwrap();
        }
        let scope = domain::scopes::create(&w.portal, &w.root, "North", &client)
            .await
            .unwrap();
        let theirs = organizations::create(&w.portal, &w.root, "Theirs", Some(scope.id), &client)
            .await
            .unwrap();
        let (_, mine) = register(&w.portal, &w.root, theirs, "their-nas").await;
        for (i, seconds) in [30, 10, 20].into_iter().enumerate() {
            let job = job_at(
                &format!("t{i}"),
                JobKind::Backup,
                JobState::Success,
                now - (i as i64 + 1) * 60_000,
                seconds,
            );
            gateway::job(&w.portal, &mine, &job).await.unwrap();
        }
        gateway::job(
            &w.portal,
            &w.who,
            &job_at("other", JobKind::Backup, JobState::Success, now - 1000, 5),
        )
        .await
        .unwrap();
        let tech = viewer(&w.portal, w.root.instance_id, "tech@acme.example", Role::Monitor).await;
        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        sqlx::query("INSERT INTO user_scopes (user_id, scope_id) VALUES ($1, $2)")
            .bind(tech.user_id)
            .bind(scope.id)
            .execute(&mut *conn)
            .await
            .unwrap();
        let tech = Viewer {
            global_scope: false,
            ..tech
        };
        let list = |order: (JobSort, bool), page: u32, per_page: u32| {
            let (portal, tech) = (w.portal.clone(), tech.clone());
            async move {
                let mut conn = portal.db.pool.acquire().await.unwrap();
                recent_jobs::page(
                    &mut conn,
                    &tech,
                    &RecentJobFilter::default(),
                    order,
                    page,
                    per_page,
                    now,
                )
                .await
                .unwrap()
            }
        };
        let newest = list((JobSort::Started, true), 1, 50).await;
        let ids: Vec<String> = newest.items.iter().map(|j| j.external_id.clone()).collect();
        assert_eq!(
            (ids, newest.total),
            (vec!["t0".into(), "t1".into(), "t2".into()], 3)
        );
        let by_duration = list((JobSort::Duration, false), 1, 2).await;
        let ids: Vec<String> = by_duration.items.iter().map(|j| j.external_id.clone()).collect();
        assert_eq!((ids, by_duration.total), (vec!["t1".into(), "t2".into()], 3));
        let beyond = list((JobSort::Started, true), 5, 2).await;
        assert_eq!(
            (beyond.items.len(), beyond.total),
            (0, 3),
            "a page past the end still counts"
        );
    }
);

fn whole_instance(instance_id: i64) -> domain::live::Audience {
    domain::live::Audience {
        instance_id,
        all: true,
        organizations: Default::default(),
    }
}

// An Admin of another instance registers an appliance and answers every command id there is:
// nothing of this instance changes or reaches their sockets.
on_both_databases!(
    forged_command_results_change_and_reveal_nothing_of_another_instance,
    |db: TestDb| async move {
        let w = world(&db).await;
        let client = ClientInfo::default();
        let asset = asset_id(&w).await;
        for _ in 0..3 {
            commands::backup_now(&w.portal, &w.root, asset, &client)
                .await
                .unwrap();
        }
        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        let other = instances::insert(&mut conn, "globex", "Globex", 0).await.unwrap();
        drop(conn);
        let intruder = viewer(&w.portal, other.id, "root@globex.example", Role::Superuser).await;
        let their_org = organizations::create(&w.portal, &intruder, "Globex HQ", None, &client)
            .await
            .unwrap();
        let (_, hostile) = register(&w.portal, &intruder, their_org, "hostile").await;
        let mut intruder_socket = w.portal.live.subscribe(None, &whole_instance(other.id));
        let mut victim_socket = w.portal.live.subscribe(None, &whole_instance(w.root.instance_id));
        let before: Vec<(i64, String)> =
            sqlx::query_as("SELECT id, status FROM appliance_commands ORDER BY id")
                .fetch_all(&w.portal.db.pool)
                .await
                .unwrap();
        assert_eq!(before.len(), 3);

        for command_id in 0..=before.last().unwrap().0 + 5 {
            let outcome = model::appliance::CommandOutcome::Done {
                message: "forged".into(),
            };
            let refused = rejected(gateway::finish(&w.portal, &hostile, command_id, &outcome).await);
            assert!(matches!(refused, AppError::NotFound { .. }), "{refused:?}");
        }
        let after: Vec<(i64, String)> =
            sqlx::query_as("SELECT id, status FROM appliance_commands ORDER BY id")
                .fetch_all(&w.portal.db.pool)
                .await
                .unwrap();
        assert_eq!(after, before, "the victim's commands are unchanged");
        assert!(
            intruder_socket.receiver.try_recv().is_err(),
            "nothing reaches the intruder"
        );
        assert!(
            victim_socket.receiver.try_recv().is_err(),
            "nothing changed, nothing told"
        );

        // The hub's own check: an event naming an organization of another instance is dropped.
        let victim_org = w.who.organization_id;
        let event = || LiveEvent::Alerts {
            organization_id: victim_org,
        };
        w.portal.publish(other.id, victim_org, event()).await;
        assert!(intruder_socket.receiver.try_recv().is_err());
        assert!(victim_socket.receiver.try_recv().is_err());
        w.portal.publish(w.root.instance_id, victim_org, event()).await;
        assert_eq!(
            victim_socket.receiver.try_recv().unwrap().organization_id,
            victim_org
        );
        assert!(intruder_socket.receiver.try_recv().is_err());
    }
);

// The portal refuses a restore outside the appliance's restore roots before sending it.
on_both_databases!(
    restores_go_only_into_the_restore_roots_or_the_asset_itself,
    |db: TestDb| async move {
        let w = world(&db).await;
        let client = ClientInfo::default();
        let roots = vec!["/var/lib/backplane/restores".to_owned()];
        gateway::hello(&w.portal, &w.who, "nas-1", "m", "1", "UTC", &roots)
            .await
            .unwrap();
        let asset = AssetInfo {
            id: "a1".into(),
            name: "Documents".into(),
            path: "/srv/documents".into(),
            policy: None,
        };
        let point = model::appliance::RecoveryPointInfo {
            id: "snap-1".into(),
            asset_id: "a1".into(),
            time: 1,
            size_bytes: 10,
            files: 1,
        };
        gateway::inventory(&w.portal, &w.who, &[asset], &[point], &[])
            .await
            .unwrap();
        let asset_id = asset_id(&w).await;
        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        let view = assets::get(&mut conn, &w.root, asset_id).await.unwrap();
        drop(conn);
        assert_eq!(view.restore_roots, roots, "the dialog can show them");
        let restore = |target: &str| commands::RestoreRequest {
            asset_id,
            recovery_point_id: "snap-1".into(),
            paths: String::new(),
            target_dir: target.into(),
            overwrite: true,
        };
        for outside in [
            "/root/.ssh",
            "/var/lib/backplane/restores/../../../../root",
            "/srv/documents-2",
        ] {
            let refused = rejected(commands::restore(&w.portal, &w.root, &restore(outside), &client).await);
            assert_eq!(refused.field(), Some("target_dir"), "{outside}");
        }
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM appliance_commands")
            .fetch_one(&w.portal.db.pool)
            .await
            .unwrap();
        assert_eq!(count, 0, "nothing was sent");
        for inside in ["/var/lib/backplane/restores/q3", "/srv/documents"] {
            commands::restore(&w.portal, &w.root, &restore(inside), &client)
                .await
                .unwrap();
        }
    }
);

// One appliance cannot fill the database: long errors are cut, a job's log stops growing at
// its cap, and jobs dated in the future are ignored.
on_both_databases!(an_appliance_cannot_fill_the_database, |db: TestDb| async move {
    let w = world(&db).await;
    let mut failed = running_job();
    failed.state = JobState::Error;
    failed.ended_at = Some(2);
    failed.error = Some("x".repeat(100_000));
    gateway::job(&w.portal, &w.who, &failed).await.unwrap();
    let error: String = sqlx::query_scalar("SELECT error FROM jobs WHERE external_id = 'job-1'")
        .fetch_one(&w.portal.db.pool)
        .await
        .unwrap();
    assert_eq!(error.len(), 2000);

    let lines: Vec<String> = (0..1000).map(|i| format!("line {i}")).collect();
    for _ in 0..12 {
        gateway::job_log(&w.portal, &w.who, "job-1", &lines)
            .await
            .unwrap();
    }
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM job_log")
        .fetch_one(&w.portal.db.pool)
        .await
        .unwrap();
    assert_eq!(stored, 10_000);

    let mut future = running_job();
    future.id = "job-from-2099".into();
    future.started_at = 4_102_444_800_000; // 2100-01-01
    let refused = rejected(gateway::job(&w.portal, &w.who, &future).await);
    assert!(refused.to_string().contains("future"), "{refused}");
    let asset = AssetInfo {
        id: "a1".into(),
        name: "Documents".into(),
        path: "/srv/documents".into(),
        policy: None,
    };
    gateway::inventory(&w.portal, &w.who, &[asset], &[], &[future, failed])
        .await
        .unwrap();
    let jobs: Vec<String> = sqlx::query_scalar("SELECT external_id FROM jobs ORDER BY external_id")
        .fetch_all(&w.portal.db.pool)
        .await
        .unwrap();
    assert_eq!(jobs, vec!["job-1"], "the inventory's future job is ignored");
});

on_both_databases!(
    the_backlog_counts_running_jobs_waiting_mail_and_overdue_alert_checks,
    |db: TestDb| async move {
        let w = world(&db).await;
        let quiet = domain::ops::backlog(&w.portal).await.unwrap();
        assert_eq!(
            (
                quiet.jobs_running,
                quiet.outbox_pending,
                quiet.outbox_oldest_age_ms
            ),
            (0, 0, 0)
        );
        assert_eq!(quiet.appliances_online, 0, "nas-1 has not sent a heartbeat yet");

        gateway::heartbeat(&w.portal, &w.who, &Storage::default())
            .await
            .unwrap();
        gateway::job(&w.portal, &w.who, &running_job()).await.unwrap();
        let now = w.portal.now();
        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        domain::outbox::enqueue(&mut conn, None, "noc@acme.example", "older", "", now - 90_000)
            .await
            .unwrap();
        domain::outbox::enqueue(&mut conn, None, "noc@acme.example", "newer", "", now - 1_000)
            .await
            .unwrap();
        sqlx::query("DELETE FROM alert_checks")
            .execute(&mut *conn)
            .await
            .unwrap();
        sqlx::query("INSERT INTO alert_checks (object_kind, object_id, due_at) VALUES ('asset', 1, $1)")
            .bind(now - 30_000)
            .execute(&mut *conn)
            .await
            .unwrap();
        drop(conn);

        let busy = domain::ops::backlog(&w.portal).await.unwrap();
        assert_eq!((busy.jobs_running, busy.appliances_online), (1, 1));
        assert_eq!(busy.outbox_pending, 2);
        assert_eq!(busy.outbox_oldest_age_ms, 90_000, "the oldest mail waited 90 s");
        assert_eq!(busy.alert_evaluation_lag_ms, 30_000, "a check due 30 s ago");
    }
);

// Protect → Assets' health: the strip counts backups per day in the appliance's zone, a
// failure keeps its asset under "Recent failures" until its day leaves the strip, and the
// list sorts by the health columns, within the viewer's scopes.
on_both_databases!(
    asset_health_is_counted_per_local_day_and_recent_failures_filter,
    |db: TestDb| async move {
        let w = world(&db).await;
        gateway::hello(
            &w.portal,
            &w.who,
            "nas-1",
            "reference",
            "1.0",
            "America/New_York",
            &[],
        )
        .await
        .unwrap();
        let asset = |id: &str, name: &str| AssetInfo {
            id: id.into(),
            name: name.into(),
            path: format!("/srv/{id}"),
            policy: None,
        };
        let now = w.portal.now(); // Monday 2026-01-05 09:00 UTC, 04:00 in New York.
        let (hour, day) = (3_600_000, 86_400_000);
        let point = |id: &str, time: i64, size_bytes: u64| model::appliance::RecoveryPointInfo {
            id: id.into(),
            asset_id: "a1".into(),
            time,
            size_bytes,
            files: 3,
        };
        gateway::inventory(
            &w.portal,
            &w.who,
            &[asset("a1", "Documents"), asset("a2", "Photos")],
            &[
                point("p1", now - 3 * day, 1024),
                point("p2", now - 2 * hour, 2048),
            ],
            &[],
        )
        .await
        .unwrap();
        let on = |asset_id: &str, job: JobInfo| JobInfo {
            asset_id: asset_id.into(),
            ..job
        };
        for job in [
            // Monday 02:00 in New York.
            job_at("b1", JobKind::Backup, JobState::Success, now - 2 * hour, 60),
            // Monday 03:00 UTC is Sunday 22:00 in New York: Sunday's failure.
            job_at("b2", JobKind::Backup, JobState::Error, now - 6 * hour, 5),
            job_at("b3", JobKind::Backup, JobState::Warning, now - 3 * day, 60),
            job_at("b4", JobKind::Backup, JobState::Missed, now - 10 * day, 0),
            job_at("b5", JobKind::Backup, JobState::Cancelled, now - hour, 5),
            job_at("r1", JobKind::Restore, JobState::Error, now - hour, 5),
            on(
                "a2",
                job_at("c1", JobKind::Backup, JobState::Success, now - hour, 60),
            ),
        ] {
            gateway::job(&w.portal, &w.who, &job).await.unwrap();
        }
        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        let list = |query: assets::AssetQuery, at: i64| {
            let (portal, root) = (w.portal.clone(), w.root.clone());
            async move {
                let mut conn = portal.db.pool.acquire().await.unwrap();
                let query = assets::AssetQuery {
                    per_page: 50,
                    ..query
                };
                assets::list(&mut conn, &root, &query, at).await.unwrap()
            }
        };
        let names = |page: model::tenancy::Page<model::appliance::views::AssetView>| {
            page.items.into_iter().map(|a| a.name).collect::<Vec<_>>()
        };
        let names_of = names;

        let page = list(assets::AssetQuery::default(), now).await;
        let documents = page.items.iter().find(|a| a.name == "Documents").unwrap();
        let strip: Vec<(&str, &str)> = documents
            .recent_backups
            .iter()
            .map(|d| (d.date.as_str(), d.health().as_str()))
            .collect();
        assert_eq!(
            strip,
            [
                ("2025-12-30", "none"),
                ("2025-12-31", "none"),
                ("2026-01-01", "none"),
                ("2026-01-02", "warning"),
                ("2026-01-03", "none"),
                ("2026-01-04", "failed"),
                ("2026-01-05", "success"),
            ],
            "seven New York days; the cancelled run, the restore and the 10-day-old miss do not count"
        );
        let last = documents.last_backup.unwrap();
        assert_eq!((last.state, last.started_at), (JobState::Success, now - 2 * hour));
        assert_eq!(
            (documents.recovery_points, documents.last_point_bytes),
            (2, Some(2048))
        );
        assert_eq!(documents.last_recovery_point_at, Some(now - 2 * hour));
        assert!(documents.recent_failures);
        let photos = page.items.iter().find(|a| a.name == "Photos").unwrap();
        assert!(!photos.recent_failures);
        assert_eq!((photos.recovery_points, photos.last_point_bytes), (0, None));

        let failing = assets::AssetQuery {
            recent_failures: true,
            ..Default::default()
        };
        assert_eq!(names(list(failing.clone(), now).await), ["Documents"]);
        // Sunday's failure shows through Saturday; it leaves at the New York midnight that
        // starts the next Sunday, 2026-01-11 05:00 UTC.
        let leaves = 1_768_107_600_000;
        assert_eq!(names(list(failing.clone(), leaves - 1).await), ["Documents"]);
        assert_eq!(list(failing, leaves).await.total, 0);

        let sorted = |sort, descending| assets::AssetQuery {
            sort,
            descending,
            ..Default::default()
        };
        use model::lists::AssetSort;
        assert_eq!(
            names(list(sorted(AssetSort::LastBackup, true), now).await),
            ["Photos", "Documents"]
        );
        assert_eq!(
            names(list(sorted(AssetSort::RecentBackups, true), now).await),
            ["Documents", "Photos"]
        );
        assert_eq!(
            names(list(sorted(AssetSort::RecentBackups, false), now).await),
            ["Photos", "Documents"]
        );
        assert_eq!(
            names(list(sorted(AssetSort::LastSize, false), now).await),
            ["Photos", "Documents"],
            "no size first"
        );
        assert_eq!(
            names(list(sorted(AssetSort::Name, true), now).await),
            ["Photos", "Documents"]
        );

        let elsewhere = assets::AssetQuery {
            scope_id: Some(i64::MAX),
            ..Default::default()
        };
        assert_eq!(
            list(elsewhere, now).await.total,
            0,
            "another scope holds none of them"
        );
        let outsider = Viewer {
            global_scope: false,
            ..viewer(
                &w.portal,
                w.root.instance_id,
                "outsider@acme.example",
                Role::Monitor,
            )
            .await
        };
        let hidden = assets::list(
            &mut conn,
            &outsider,
            &assets::AssetQuery {
                per_page: 50,
                ..Default::default()
            },
            now,
        )
        .await
        .unwrap();
        assert_eq!(hidden.total, 0, "nothing outside the viewer's scopes");

        // The drawer: the strip, the jobs running or just ended, the recovery points.
        gateway::job(
            &w.portal,
            &w.who,
            &job_at("b6", JobKind::Backup, JobState::Running, now, 0),
        )
        .await
        .unwrap();
        let drawer = assets::detail(&mut conn, &w.root, documents.id, now)
            .await
            .unwrap();
        assert_eq!(drawer.asset.recent_backups, documents.recent_backups);
        assert!(drawer.asset.recent_failures);
        let jobs: Vec<&str> = drawer.jobs.iter().map(|j| j.external_id.as_str()).collect();
        assert_eq!(jobs, ["b6"], "the hour-old jobs have left the drawer");
        let points: Vec<&str> = drawer.recovery_points.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(points, ["p2", "p1"], "newest first");
        assert!(matches!(
            rejected(assets::detail(&mut conn, &outsider, documents.id, now).await),
            AppError::NotFound { .. }
        ));
        // A Superuser of another instance sees neither the list nor the drawer.
        let other = instances::insert(&mut conn, "globex", "Globex", 0).await.unwrap();
        let stranger = viewer(&w.portal, other.id, "root@globex.example", Role::Superuser).await;
        let foreign = assets::list(
            &mut conn,
            &stranger,
            &assets::AssetQuery {
                per_page: 50,
                ..Default::default()
            },
            now,
        )
        .await
        .unwrap();
        assert_eq!(foreign.total, 0, "nothing of another instance");
        assert!(matches!(
            rejected(assets::detail(&mut conn, &stranger, documents.id, now).await),
            AppError::NotFound { .. }
        ));

        // The names the list sorts by follow renames of the appliance and the organization.
        organizations::update(
            &w.portal,
            &w.root,
            w.who.organization_id,
            "Zeta Corp",
            None,
            &ClientInfo::default(),
        )
        .await
        .unwrap();
        gateway::hello(
            &w.portal,
            &w.who,
            "nas-renamed",
            "reference",
            "1.0",
            "America/New_York",
            &[],
        )
        .await
        .unwrap();
        let names: Vec<(String, String)> =
            sqlx::query_as("SELECT DISTINCT appliance_name, organization_name FROM assets")
                .fetch_all(&mut *conn)
                .await
                .unwrap();
        assert_eq!(names, [("nas-renamed".to_owned(), "Zeta Corp".to_owned())]);
        let containing = |text: &str| assets::AssetQuery {
            name_contains: Some(text.into()),
            ..Default::default()
        };
        assert_eq!(
            names_of(list(containing("PHOTO"), now).await),
            ["Photos"],
            "by name, any case"
        );
        assert_eq!(
            names_of(list(containing("srv/a1"), now).await),
            ["Documents"],
            "by path"
        );
        assert_eq!(
            list(containing("RENAMED"), now).await.total,
            2,
            "by the appliance's new name"
        );
        assert_eq!(
            list(containing("nas-1"), now).await.total,
            0,
            "not by its old one"
        );
    }
);

on_both_databases!(
    assets_are_removed_in_bulk_across_appliances_except_those_with_a_policy,
    |db: TestDb| async move {
        let w = world(&db).await;
        let client = ClientInfo::default();
        let docs = asset_id(&w).await;
        let org: i64 = sqlx::query_scalar("SELECT organization_id FROM appliances WHERE id = $1")
            .bind(w.who.id)
            .fetch_one(&w.portal.db.pool)
            .await
            .unwrap();
        let (_, nas2) = register(&w.portal, &w.root, org, "nas-2").await;
        let reported = [
            ("p1", "Photos", None),
            ("m1", "Mail", Some(testkit::daily_at_one())),
        ]
        .map(|(id, name, policy)| AssetInfo {
            id: id.into(),
            name: name.into(),
            path: format!("/srv/{id}"),
            policy,
        });
        gateway::inventory(&w.portal, &nas2, &reported, &[], &[])
            .await
            .unwrap();
        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        let on_nas2 = assets::AssetQuery {
            per_page: 50,
            appliance_contains: Some("S-2".into()),
            ..Default::default()
        };
        let listed = assets::list(&mut conn, &w.root, &on_nas2, w.portal.now())
            .await
            .unwrap();
        let id_of = |name: &str| listed.items.iter().find(|a| a.name == name).unwrap().id;
        assert_eq!(listed.total, 2, "the Appliance filter keeps nas-2's assets");
        let (photos, mail) = (id_of("Photos"), id_of("Mail"));
        let nas2_schedules = policies::schedules(
            &mut conn,
            &w.root,
            &model::jobs::ScheduleFilter {
                appliance_id: Some(nas2.id),
                ..Default::default()
            },
            (ScheduleSort::NextRun, false),
            1,
            50,
            w.portal.now(),
        )
        .await
        .unwrap();
        assert_eq!(
            nas2_schedules
                .items
                .iter()
                .map(|s| s.asset_name.as_str())
                .collect::<Vec<_>>(),
            ["Mail"]
        );
        drop(conn);

        let manage = viewer(&w.portal, w.root.instance_id, "manage@acme.example", Role::Manage).await;
        let everything = [docs, photos, mail, 999_999];
        assert_eq!(
            rejected(commands::remove_assets(&w.portal, &manage, &everything, "DELETE", &client).await),
            AppError::Forbidden
        );
        let wrong_word =
            rejected(commands::remove_assets(&w.portal, &w.root, &everything, "yes", &client).await);
        assert_eq!(wrong_word.field(), Some("confirmation"));
        let nothing = rejected(commands::remove_assets(&w.portal, &w.root, &[], "DELETE", &client).await);
        assert_eq!(nothing.field(), Some("asset_ids"));
        let mut other_conn = w.portal.db.pool.acquire().await.unwrap();
        let other = instances::insert(&mut other_conn, "other", "Other", 0)
            .await
            .unwrap();
        drop(other_conn);
        let stranger = viewer(&w.portal, other.id, "root@other.example", Role::Superuser).await;
        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        let scoped_admin = domain::testkit::add_user(
            &mut conn,
            w.root.instance_id,
            "scoped@acme.example",
            Role::Admin,
            false,
        )
        .await;
        drop(conn);
        for outsider in [&stranger, &scoped_admin] {
            let foreign = commands::remove_assets(&w.portal, outsider, &[docs], "DELETE", &client)
                .await
                .unwrap();
            assert_eq!(foreign.queued, 0);
            assert_eq!(foreign.refused, [format!("Asset {docs} was not found.")]);
        }

        let outcome = commands::remove_assets(&w.portal, &w.root, &everything, "DELETE", &client)
            .await
            .unwrap();
        assert_eq!(outcome.queued, 2);
        assert_eq!(outcome.refused.len(), 2, "{:?}", outcome.refused);
        assert!(
            outcome.refused[0].starts_with("Mail has a backup policy"),
            "{:?}",
            outcome.refused
        );
        assert_eq!(outcome.refused[1], "Asset 999999 was not found.");
        let single = rejected(commands::remove_asset(&w.portal, &w.root, mail, "DELETE", &client).await);
        assert!(matches!(single, AppError::Conflict { .. }), "{single:?}");

        let removed = |taken: Vec<(i64, Command)>| {
            taken
                .into_iter()
                .map(|(_, c)| match c {
                    Command::RemoveAsset { asset_id } => asset_id,
                    other => panic!("unexpected {other:?}"),
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            removed(gateway::take_pending(&w.portal, &w.who).await.unwrap()),
            ["a1"]
        );
        assert_eq!(
            removed(gateway::take_pending(&w.portal, &nas2).await.unwrap()),
            ["p1"]
        );
    }
);

on_both_databases!(
    asset_name_search_has_a_trigram_index_on_postgresql,
    |db: TestDb| async move {
        if db.db.backend != domain::Backend::Postgres {
            return;
        }
        let indexed: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM pg_indexes WHERE indexname = 'assets_search_trigrams'")
                .fetch_one(&db.db.pool)
                .await
                .unwrap();
        assert_eq!(
            indexed, 1,
            "pg_trgm is part of Debian's PostgreSQL, so the index exists here"
        );
    }
);
