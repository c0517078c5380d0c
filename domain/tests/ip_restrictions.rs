//! IP restrictions per instance: only Superusers change them, a change that would lock the
//! Superuser making it out is refused, sign-in from outside the list is refused while other
//! instances are unaffected, and every change is audited and mailed to the Superusers.

// Tests: a failed step should stop the test, loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use domain::access::Viewer;
use domain::testkit::{TestDb, add_user};
use domain::{ClientInfo, DomainError, Portal, audit, auth, ip_restrictions, on_both_databases, setup};
use model::{AppError, Role};

const PASSWORD: &str = "Correct-Horse-9";

fn from(address: &str) -> ClientInfo {
    ClientInfo {
        ip: Some(address.into()),
        user_agent: Some("test".into()),
    }
}

fn refusal<T: std::fmt::Debug>(result: Result<T, DomainError>) -> AppError {
    match result {
        Err(DomainError::Rejected(error)) => error,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

async fn superuser_of(portal: &Portal, homerealm: &str) -> Viewer {
    let email = format!("owner@{homerealm}.example");
    let created = setup::create_instance_headless(portal, homerealm, homerealm, &email, PASSWORD)
        .await
        .unwrap();
    let user_id: i64 = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(&email)
        .fetch_one(&portal.db.pool)
        .await
        .unwrap();
    Viewer {
        instance_id: created.instance.id,
        user_id,
        email,
        role: Role::Superuser,
        global_scope: true,
    }
}

async fn sign_in(portal: &Portal, homerealm: &str, client: &ClientInfo) -> Result<(), DomainError> {
    let email = format!("owner@{homerealm}.example");
    auth::sign_in_with_password(portal, homerealm, &email, PASSWORD, client)
        .await
        .map(|_| ())
}

on_both_databases!(
    only_the_listed_addresses_sign_in_and_no_change_locks_its_maker_out,
    |db: TestDb| async move {
        let (portal, _clock) = db.portal();
        let root = superuser_of(&portal, "acme").await;
        let other = superuser_of(&portal, "globex").await;
        let office = from("198.51.100.7");
        let admin = {
            let mut conn = portal.db.pool.acquire().await.unwrap();
            add_user(
                &mut conn,
                root.instance_id,
                "admin@acme.example",
                Role::Admin,
                true,
            )
            .await
        };

        // Only Superusers.
        let forbidden = ip_restrictions::add_rule(&portal, &admin, "", "192.0.2.1", &office).await;
        assert_eq!(refusal(forbidden), AppError::Forbidden);

        // Bad entries are named and change nothing.
        let bad =
            ip_restrictions::add_rule(&portal, &root, "Office", "198.51.100.0/24, office-vpn", &office).await;
        let bad = refusal(bad);
        assert_eq!(bad.field(), Some("entries"));
        assert!(bad.to_string().contains("\"office-vpn\""), "{bad}");

        // A list without one's own address cannot be turned on.
        ip_restrictions::add_rule(&portal, &root, "Branch", "192.0.2.0/24", &office)
            .await
            .unwrap();
        let locked_out = refusal(ip_restrictions::set_enabled(&portal, &root, true, &office).await);
        assert!(locked_out.to_string().contains("198.51.100.7"), "{locked_out}");
        let mut conn = portal.db.pool.acquire().await.unwrap();
        assert_eq!(
            ip_restrictions::allow_list_of(&mut conn, root.instance_id)
                .await
                .unwrap(),
            None
        );
        drop(conn);

        let rule = ip_restrictions::add_rule(&portal, &root, "Office", "198.51.100.1-198.51.100.40", &office)
            .await
            .unwrap();
        ip_restrictions::set_enabled(&portal, &root, true, &office)
            .await
            .unwrap();
        let mut conn = portal.db.pool.acquire().await.unwrap();
        let view = ip_restrictions::view(&mut conn, &root, &office).await.unwrap();
        assert!(view.enabled && view.you_are_allowed);
        assert_eq!(
            ip_restrictions::allow_list_of(&mut conn, root.instance_id)
                .await
                .unwrap()
                .as_deref(),
            Some("192.0.2.0/24, 198.51.100.1-198.51.100.40")
        );
        drop(conn);

        // Sign-in: the listed addresses only; another instance is not restricted.
        sign_in(&portal, "acme", &office).await.unwrap();
        sign_in(&portal, "acme", &from("192.0.2.200")).await.unwrap();
        let outside = refusal(sign_in(&portal, "acme", &from("203.0.113.5")).await);
        assert!(matches!(outside, AppError::Denied { .. }));
        assert!(outside.to_string().contains("203.0.113.5"), "{outside}");
        sign_in(&portal, "globex", &from("203.0.113.5")).await.unwrap();

        // Deleting the rule that holds one's own address would lock one out.
        let kept = refusal(ip_restrictions::delete_rule(&portal, &root, rule.id, &office).await);
        assert_eq!(kept.field(), Some("entries"));
        // Another instance's rule is not found.
        let theirs = refusal(ip_restrictions::delete_rule(&portal, &other, rule.id, &office).await);
        assert!(matches!(theirs, AppError::NotFound { .. }));

        ip_restrictions::set_enabled(&portal, &root, false, &office)
            .await
            .unwrap();
        sign_in(&portal, "acme", &from("203.0.113.5")).await.unwrap();
        ip_restrictions::delete_rule(&portal, &root, rule.id, &office)
            .await
            .unwrap();

        // Audited, and mailed to the instance's Superusers only.
        let mut conn = portal.db.pool.acquire().await.unwrap();
        let actions = audit::actions(&mut conn, root.instance_id).await.unwrap();
        for action in [
            "security.ip_rule_add",
            "security.ip_restrictions",
            "security.ip_rule_delete",
        ] {
            assert!(actions.iter().any(|a| a == action), "{action} in {actions:?}");
        }
        let mailed: Vec<(String, String)> = sqlx::query_as(
            "SELECT recipient, subject FROM outbox WHERE subject LIKE '%IP restrictions changed' ORDER BY id",
        )
        .fetch_all(&mut *conn)
        .await
        .unwrap();
        assert_eq!(
            mailed.len(),
            5,
            "two rules added, on, off, one deleted: {mailed:?}"
        );
        assert!(mailed.iter().all(|(to, subject)| to == "owner@acme.example" && subject == "acme: IP restrictions changed"));
    }
);
