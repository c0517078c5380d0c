//! The IT Glue integration against the IT Glue emulator, on SQLite and PostgreSQL: only
//! Superusers of the instance configure it; the key is tested and sealed; organizations are
//! imported and linked (never replacing a set link); the sync writes each linked organization's
//! appliances as configurations, once each, and records why a pass stopped.

// Tests: a failed step should stop the test, loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use domain::appliances::gateway;
use domain::testkit::{self, TestDb, add_user};
use domain::{ClientInfo, instances, on_both_databases, organizations, scopes};
use emulators::itglue::ItGlue;
use integrations::itglue::service;
use model::appliance::{AssetInfo, JobInfo, JobKind, JobProgress, JobState, Storage};
use model::{AppError, Role};

mod common;
use common::{refusal, serve};

const KEY: &str = "ITG.0123456789abcdef";

on_both_databases!(
    a_superuser_integrates_imports_links_and_syncs_backup_facts,
    |db: TestDb| async move {
        let (portal, _) = db.portal();
        let client = ClientInfo::default();
        let mut conn = portal.db.pool.acquire().await.unwrap();
        let acme = instances::insert(&mut conn, "acme", "Acme", 0).await.unwrap();
        let other = instances::insert(&mut conn, "other", "Other", 0).await.unwrap();
        let root = add_user(&mut conn, acme.id, "root@acme.example", Role::Superuser, false).await;
        let admin = add_user(&mut conn, acme.id, "admin@acme.example", Role::Admin, true).await;
        let stranger = add_user(&mut conn, other.id, "root@other.example", Role::Superuser, false).await;
        drop(conn);
        let itglue = ItGlue::new(KEY, 150, 3);
        let url = serve(itglue.router()).await;
        let names: Vec<(i64, String)> = itglue
            .organizations()
            .into_iter()
            .map(|o| (o.id, o.name))
            .collect();

        // Who may, and a key that does not work changes nothing.
        assert_eq!(
            refusal(service::integrate(&portal, &admin, (&url, KEY), &client).await),
            AppError::Forbidden
        );
        let wrong = refusal(service::integrate(&portal, &root, (&url, "ITG.wrong"), &client).await);
        assert_eq!(wrong.field(), Some("api_key"), "{wrong}");
        let nowhere = refusal(service::integrate(&portal, &root, ("http://127.0.0.1:9", KEY), &client).await);
        assert_eq!(nowhere.field(), Some("base_url"), "{nowhere}");
        let mut conn = portal.db.pool.acquire().await.unwrap();
        assert_eq!(service::settings(&mut conn, &root).await.unwrap(), None);
        drop(conn);

        let set = service::integrate(&portal, &root, (&url, KEY), &client)
            .await
            .unwrap();
        assert_eq!((set.base_url.as_str(), set.linked), (url.as_str(), 0));
        let stored: String = sqlx::query_scalar("SELECT api_key FROM itglue_integrations")
            .fetch_one(&portal.db.pool)
            .await
            .unwrap();
        assert!(!stored.contains(KEY), "sealed at rest");
        service::integrate(&portal, &root, (&url, ""), &client)
            .await
            .unwrap();
        let mut conn = portal.db.pool.acquire().await.unwrap();
        assert_eq!(
            service::settings(&mut conn, &stranger).await.unwrap(),
            None,
            "another instance's"
        );
        drop(conn);

        // Import two organizations into a scope; importing them again does nothing.
        let page = service::organizations_page(&portal, &root, 2).await.unwrap();
        assert_eq!((page.items.len(), page.total_pages, page.total), (50, 2, 150));
        let east = scopes::create(&portal, &root, "East", &client).await.unwrap().id;
        let chosen = [names[0].0, names[1].0];
        assert_eq!(
            service::import(&portal, &root, &chosen, Some(east), &client)
                .await
                .unwrap(),
            2
        );
        assert_eq!(
            service::import(&portal, &root, &chosen, Some(east), &client)
                .await
                .unwrap(),
            0
        );
        let mut listed = service::organizations_page(&portal, &root, 1)
            .await
            .unwrap()
            .items;
        listed.extend(page.items.iter().cloned());
        let listed = service::organizations_page(&portal, &root, 2)
            .await
            .unwrap()
            .items
            .into_iter()
            .chain(listed);
        let linked = listed
            .filter(|o| o.id == names[0].0)
            .find_map(|o| o.linked_to)
            .expect("linked to the new organization");
        assert_eq!(linked.name, names[0].1);

        // Link by name: a case-insensitive exact match is linked; a set link is kept.
        let by_name = organizations::create(&portal, &root, &names[2].1.to_uppercase(), None, &client)
            .await
            .unwrap();
        let manual = organizations::create(&portal, &root, &names[3].1, None, &client)
            .await
            .unwrap();
        service::link(&portal, &root, manual, Some(names[4].0), &client)
            .await
            .unwrap();
        assert_eq!(service::link_by_name(&portal, &root, &client).await.unwrap(), 1);
        let links: Vec<(i64, i64)> =
            sqlx::query_as("SELECT organization_id, itglue_id FROM itglue_links ORDER BY organization_id")
                .fetch_all(&portal.db.pool)
                .await
                .unwrap();
        assert!(links.contains(&(by_name, names[2].0)));
        assert!(
            links.contains(&(manual, names[4].0)),
            "the link someone set stays"
        );
        let taken = refusal(service::link(&portal, &root, by_name, Some(names[4].0), &client).await);
        assert!(matches!(taken, AppError::Conflict { .. }), "{taken:?}");
        assert!(matches!(
            refusal(service::link(&portal, &stranger, manual, None, &client).await),
            AppError::NotFound { .. }
        ));

        // The sync writes each appliance of a linked organization, once, and again on change.
        let (_, who) = testkit::register_appliance(&portal, &root, by_name, "nas-01").await;
        gateway::heartbeat(
            &portal,
            &who,
            &Storage {
                total_bytes: 4 << 40,
                free_bytes: 3 << 40,
                used_bytes: 1 << 40,
            },
        )
        .await
        .unwrap();
        let asset = AssetInfo {
            id: "a1".into(),
            name: "docs".into(),
            path: "/srv/docs".into(),
            policy: Some(testkit::daily_at_one()),
        };
        gateway::inventory(&portal, &who, &[asset], &[], &[])
            .await
            .unwrap();
        let report = service::sync_now(&portal, &root).await.unwrap();
        assert_eq!((report.written, report.problems.len()), (1, 0));
        let job = JobInfo {
            id: "b1".into(),
            asset_id: "a1".into(),
            kind: JobKind::Backup,
            state: JobState::Error,
            started_at: testkit::START_MS - 60_000,
            ended_at: Some(testkit::START_MS - 1_000),
            progress: JobProgress::default(),
            error: Some("disk full".into()),
            mode: None,
            size_bytes: None,
            scheduled_for: None,
        };
        gateway::job(&portal, &who, &job).await.unwrap();
        service::sync_now(&portal, &root).await.unwrap();
        let configurations = itglue.configurations();
        assert_eq!(configurations.len(), 1, "upserted by name");
        assert_eq!(configurations[0].organization_id, names[2].0);
        let notes = configurations[0].attributes["notes"].as_str().unwrap();
        assert!(notes.contains("Appliance: nas-01 (online)"), "{notes}");
        assert!(
            notes.contains("Storage used: 1024.0 GiB of 4096.0 GiB"),
            "{notes}"
        );
        assert!(notes.contains("- docs: last backup error"), "{notes}");

        // IT Glue down: the pass says why, and the next one recovers.
        itglue.outage(Duration::from_secs(60));
        assert!(service::sync_now(&portal, &root).await.is_err());
        let mut conn = portal.db.pool.acquire().await.unwrap();
        let after = service::settings(&mut conn, &root).await.unwrap().unwrap();
        drop(conn);
        assert!(!after.last_sync_ok);
        assert!(after.last_sync_result.unwrap().contains("unavailable"));
        itglue.outage(Duration::ZERO);
        assert_eq!(
            service::sync_due(&portal).await.unwrap(),
            0,
            "synced within the hour"
        );
        service::sync_now(&portal, &root).await.unwrap();

        // Removed: the links go, the organizations stay.
        service::remove(&portal, &root, &client).await.unwrap();
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM itglue_links")
            .fetch_one(&portal.db.pool)
            .await
            .unwrap();
        assert_eq!(left, 0);
        let mut conn = portal.db.pool.acquire().await.unwrap();
        assert!(organizations::get(&mut conn, &root, by_name).await.is_ok());
    }
);
