//! Public API credentials: who manages them, what authenticates, and whom a token acts as, on
//! SQLite and PostgreSQL.

// Tests: a failed step should stop the test, loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use domain::access::Viewer;
use domain::testkit::{TestDb, add_user};
use domain::{ClientInfo, DomainError, Portal, api_access, instances, on_both_databases};
use model::{AppError, Role};

fn refusal<T: std::fmt::Debug>(result: Result<T, DomainError>) -> AppError {
    match result {
        Err(DomainError::Rejected(e)) => e,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

struct World {
    portal: Portal,
    root: Viewer,
    admin: Viewer,
    stranger: Viewer,
}

async fn world(db: &TestDb) -> World {
    let (portal, _) = db.portal();
    let mut conn = portal.db.pool.acquire().await.unwrap();
    let acme = instances::insert(&mut conn, "acme", "Acme", 0).await.unwrap();
    let other = instances::insert(&mut conn, "other", "Other", 0).await.unwrap();
    let root = add_user(&mut conn, acme.id, "root@acme.example", Role::Superuser, false).await;
    let admin = add_user(&mut conn, acme.id, "admin@acme.example", Role::Admin, true).await;
    let stranger = add_user(&mut conn, other.id, "root@other.example", Role::Superuser, false).await;
    drop(conn);
    World {
        portal,
        root,
        admin,
        stranger,
    }
}

async fn set_user(w: &World, user_id: i64, column: &str, value: &str) {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE users SET {column} = $1 WHERE id = $2"
    )))
    .bind(value.to_owned())
    .bind(user_id)
    .execute(&w.portal.db.pool)
    .await
    .unwrap();
}

on_both_databases!(
    superusers_manage_credentials_admins_read_them_and_other_instances_see_nothing,
    |db: TestDb| async move {
        let w = world(&db).await;
        let client = ClientInfo::default();
        let created = api_access::create(&w.portal, &w.root, "  Billing sync ", &client)
            .await
            .unwrap();
        assert_eq!(created.credential.name, "Billing sync");
        assert_eq!(created.credential.creator, "root@acme.example");
        assert!(created.credential.enabled && created.credential.last_used_at.is_none());

        let duplicate = refusal(api_access::create(&w.portal, &w.root, "billing SYNC", &client).await);
        assert_eq!(duplicate.field(), Some("name"));
        assert_eq!(
            refusal(api_access::create(&w.portal, &w.root, "", &client).await).field(),
            Some("name")
        );
        assert_eq!(
            refusal(api_access::create(&w.portal, &w.admin, "Mine", &client).await),
            AppError::Forbidden
        );
        let id = created.credential.id;
        assert_eq!(
            refusal(api_access::set_enabled(&w.portal, &w.admin, id, false, &client).await),
            AppError::Forbidden
        );
        assert_eq!(
            refusal(api_access::delete(&w.portal, &w.admin, id, &client).await),
            AppError::Forbidden
        );

        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        let listed = api_access::list(&mut conn, &w.admin).await.unwrap();
        assert_eq!(listed, vec![created.credential.clone()]);
        let text = format!("{listed:?}");
        assert!(
            !text.contains(&created.client_secret),
            "the secret is never listed"
        );
        let stored: String = sqlx::query_scalar("SELECT secret_hash FROM api_credentials")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        assert_ne!(stored, created.client_secret, "stored only as a hash");
        assert!(api_access::list(&mut conn, &w.stranger).await.unwrap().is_empty());
        drop(conn);
        for refused in [
            refusal(api_access::set_enabled(&w.portal, &w.stranger, id, false, &client).await),
            refusal(api_access::delete(&w.portal, &w.stranger, id, &client).await),
        ] {
            assert!(matches!(refused, AppError::NotFound { .. }), "{refused:?}");
        }

        let disabled = api_access::set_enabled(&w.portal, &w.root, id, false, &client)
            .await
            .unwrap();
        assert!(!disabled.enabled);
        api_access::delete(&w.portal, &w.root, id, &client).await.unwrap();
        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        assert!(api_access::list(&mut conn, &w.root).await.unwrap().is_empty());
    }
);

on_both_databases!(
    a_credential_authenticates_only_while_enabled_and_acts_as_its_creator_does_now,
    |db: TestDb| async move {
        let w = world(&db).await;
        let client = ClientInfo::default();
        let created = api_access::create(&w.portal, &w.root, "RMM", &client)
            .await
            .unwrap();
        let (id, client_id, secret) = (
            created.credential.id,
            created.credential.client_id.clone(),
            created.client_secret.clone(),
        );
        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        let authenticated = api_access::authenticate(&mut conn, &client_id, &secret)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (authenticated.instance_id, authenticated.homerealm.as_str()),
            (w.root.instance_id, "acme")
        );
        for (id, secret) in [
            (client_id.as_str(), "wrong"),
            ("0123456789abcdef0123456789abcdef", secret.as_str()),
        ] {
            assert_eq!(
                api_access::authenticate(&mut conn, id, secret).await.unwrap(),
                None
            );
        }
        drop(conn);

        let acting = api_access::acting_viewer(&w.portal, &client_id, "acme")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(acting, w.root);
        assert_eq!(
            api_access::acting_viewer(&w.portal, &client_id, "other")
                .await
                .unwrap(),
            None,
            "never in another instance"
        );
        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        let used = api_access::list(&mut conn, &w.root).await.unwrap();
        assert_eq!(used[0].last_used_at, Some(w.portal.now()));
        drop(conn);

        // The creator demoted and scoped: the credential follows at once.
        set_user(&w, w.root.user_id, "role", "monitor").await;
        let demoted = api_access::acting_viewer(&w.portal, &client_id, "acme")
            .await
            .unwrap()
            .unwrap();
        assert_eq!((demoted.role, demoted.global_scope), (Role::Monitor, false));
        set_user(&w, w.root.user_id, "role", "superuser").await;

        // The creator disabled: neither a new token nor an issued one works.
        set_user(&w, w.root.user_id, "status", "disabled").await;
        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        assert_eq!(
            api_access::authenticate(&mut conn, &client_id, &secret)
                .await
                .unwrap(),
            None
        );
        drop(conn);
        assert_eq!(
            api_access::acting_viewer(&w.portal, &client_id, "acme")
                .await
                .unwrap(),
            None
        );
        set_user(&w, w.root.user_id, "status", "active").await;

        // Disabled, then enabled, then deleted.
        api_access::set_enabled(&w.portal, &w.root, id, false, &client)
            .await
            .unwrap();
        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        assert_eq!(
            api_access::authenticate(&mut conn, &client_id, &secret)
                .await
                .unwrap(),
            None
        );
        drop(conn);
        assert_eq!(
            api_access::acting_viewer(&w.portal, &client_id, "acme")
                .await
                .unwrap(),
            None
        );
        api_access::set_enabled(&w.portal, &w.root, id, true, &client)
            .await
            .unwrap();
        assert!(
            api_access::acting_viewer(&w.portal, &client_id, "acme")
                .await
                .unwrap()
                .is_some()
        );
        api_access::delete(&w.portal, &w.root, id, &client).await.unwrap();
        assert_eq!(
            api_access::acting_viewer(&w.portal, &client_id, "acme")
                .await
                .unwrap(),
            None
        );
    }
);
