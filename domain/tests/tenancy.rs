//! Scopes, organizations and user administration under each role, on SQLite and PostgreSQL.

// Tests: a failed step should stop the test, loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use domain::access::Viewer;
use domain::testkit::TestDb;
use domain::users::{self, NewUser, UserStatus};
use domain::{
    ClientInfo, DomainError, Portal, audit, instances, on_both_databases, organizations, scopes, sessions,
    user_admin,
};
use model::lists::UserSort;
use model::tenancy::{AuditQuery, OrgQuery, UserAccess};
use model::{AppError, Role};

fn rejected<T: std::fmt::Debug>(result: Result<T, DomainError>) -> AppError {
    match result {
        Err(DomainError::Rejected(e)) => e,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn client() -> ClientInfo {
    ClientInfo {
        ip: Some("198.51.100.4".into()),
        user_agent: None,
    }
}

struct World {
    portal: Portal,
    root: Viewer,
    scope_a: i64,
    scope_b: i64,
}

async fn user(portal: &Portal, instance_id: i64, email: &str, role: Role, scope_ids: &[i64]) -> Viewer {
    let mut conn = portal.db.pool.acquire().await.unwrap();
    let new = NewUser {
        instance_id,
        email,
        role,
        status: UserStatus::Active,
        password_hash: Some("x".into()),
        global_scope: false,
    };
    let id = users::insert(&mut conn, new, portal.now()).await.unwrap();
    users::set_scopes(&mut conn, id, scope_ids).await.unwrap();
    Viewer {
        instance_id,
        user_id: id,
        email: email.into(),
        role,
        global_scope: false,
    }
}

async fn world(db: &TestDb) -> World {
    let (portal, _) = db.portal();
    let mut conn = portal.db.pool.acquire().await.unwrap();
    let instance = instances::insert(&mut conn, "acme", "Acme", 0).await.unwrap();
    drop(conn);
    let root = user(&portal, instance.id, "root@acme.example", Role::Superuser, &[]).await;
    let scope_a = scopes::create(&portal, &root, "East", &client())
        .await
        .unwrap()
        .id;
    let scope_b = scopes::create(&portal, &root, "West", &client())
        .await
        .unwrap()
        .id;
    World {
        portal,
        root,
        scope_a,
        scope_b,
    }
}

fn access(role: Role, scope_ids: Vec<i64>) -> UserAccess {
    UserAccess {
        role,
        global_scope: false,
        scope_ids,
    }
}

on_both_databases!(
    roles_may_do_exactly_what_the_matrix_says,
    |db: TestDb| async move {
        let w = world(&db).await;
        let p = &w.portal;
        for role in [Role::Admin, Role::Manage, Role::Monitor] {
            let me = user(
                p,
                w.root.instance_id,
                &format!("{}@acme.example", role.as_str()),
                role,
                &[w.scope_a],
            )
            .await;
            let org = organizations::create(
                p,
                &me,
                &format!("Org of {}", role.as_str()),
                Some(w.scope_a),
                &client(),
            )
            .await;
            assert_eq!(org.is_ok(), role == Role::Admin, "{role:?} creates organizations");
            let scope = scopes::create(p, &me, "North", &client()).await;
            assert_eq!(rejected(scope), AppError::Forbidden, "{role:?} creates scopes");
            let invite = user_admin::invite(
                p,
                &me,
                &format!("new-{}@acme.example", role.as_str()),
                &access(Role::Monitor, vec![w.scope_a]),
                &client(),
            )
            .await;
            assert_eq!(invite.is_ok(), role == Role::Admin, "{role:?} invites users");
            let mut conn = p.db.pool.acquire().await.unwrap();
            let log = audit::search(&mut conn, &me, &AuditQuery::default(), 10).await;
            assert_eq!(rejected(log), AppError::Forbidden, "{role:?} reads the audit log");
        }
    }
);

on_both_databases!(
    names_are_unique_and_scopes_in_use_cannot_be_deleted,
    |db: TestDb| async move {
        let w = world(&db).await;
        let p = &w.portal;
        organizations::create(p, &w.root, "Brown Brothers", Some(w.scope_a), &client())
            .await
            .unwrap();
        let duplicate =
            rejected(organizations::create(p, &w.root, " brown brothers ", None, &client()).await);
        assert_eq!(duplicate.field(), Some("name"));
        assert_eq!(
            rejected(scopes::create(p, &w.root, "east", &client()).await).field(),
            Some("name")
        );
        user(
            p,
            w.root.instance_id,
            "tech@acme.example",
            Role::Monitor,
            &[w.scope_a],
        )
        .await;
        let in_use = rejected(scopes::delete(p, &w.root, w.scope_a, &client()).await).to_string();
        assert!(in_use.contains("still has 1 user and 1 organization"), "{in_use}");
        scopes::delete(p, &w.root, w.scope_b, &client()).await.unwrap();
        let mut conn = p.db.pool.acquire().await.unwrap();
        let actions: Vec<String> = audit::actions(&mut conn, w.root.instance_id).await.unwrap();
        assert!(
            actions.contains(&"scope.deleted".to_owned())
                && actions.contains(&"organization.created".to_owned())
        );
    }
);

on_both_databases!(
    deleting_an_organization_needs_the_typed_word_and_visibility,
    |db: TestDb| async move {
        let w = world(&db).await;
        let p = &w.portal;
        let west = organizations::create(p, &w.root, "Westwind", Some(w.scope_b), &client())
            .await
            .unwrap();
        let admin_east = user(
            p,
            w.root.instance_id,
            "admin@acme.example",
            Role::Admin,
            &[w.scope_a],
        )
        .await;
        assert_eq!(
            rejected(organizations::delete(p, &admin_east, west, "DELETE", &client()).await),
            AppError::not_found("Organization")
        );
        assert_eq!(
            rejected(organizations::delete(p, &w.root, west, "delete", &client()).await).field(),
            Some("confirmation")
        );
        organizations::delete(p, &w.root, west, "DELETE", &client())
            .await
            .unwrap();
        let mut conn = p.db.pool.acquire().await.unwrap();
        assert_eq!(
            organizations::list(&mut conn, &w.root, &OrgQuery::default())
                .await
                .unwrap()
                .total,
            0
        );
    }
);

on_both_databases!(
    admins_cannot_touch_superusers_or_reach_outside_their_scopes,
    |db: TestDb| async move {
        let w = world(&db).await;
        let p = &w.portal;
        let admin = user(
            p,
            w.root.instance_id,
            "admin@acme.example",
            Role::Admin,
            &[w.scope_a],
        )
        .await;
        let superuser_role = user_admin::invite(
            p,
            &admin,
            "boss@acme.example",
            &access(Role::Superuser, vec![]),
            &client(),
        )
        .await;
        assert_eq!(rejected(superuser_role), AppError::Forbidden);
        let outside = user_admin::invite(
            p,
            &admin,
            "west@acme.example",
            &access(Role::Monitor, vec![w.scope_b]),
            &client(),
        )
        .await;
        assert_eq!(rejected(outside).field(), Some("scopes"));
        let nothing = user_admin::invite(
            p,
            &admin,
            "none@acme.example",
            &access(Role::Monitor, vec![]),
            &client(),
        )
        .await;
        assert_eq!(rejected(nothing).field(), Some("scopes"));
        let global = UserAccess {
            role: Role::Monitor,
            global_scope: true,
            scope_ids: vec![],
        };
        assert_eq!(
            rejected(user_admin::invite(p, &admin, "g@acme.example", &global, &client()).await).field(),
            Some("scopes")
        );
        let tech = user_admin::invite(
            p,
            &admin,
            "tech@acme.example",
            &access(Role::Manage, vec![w.scope_a]),
            &client(),
        )
        .await
        .unwrap();

        let mut conn = p.db.pool.acquire().await.unwrap();
        let seen: Vec<String> = user_admin::list(&mut conn, &admin)
            .await
            .unwrap()
            .into_iter()
            .map(|u| u.email)
            .collect();
        assert_eq!(
            seen,
            vec!["admin@acme.example", "tech@acme.example"],
            "Superusers are out of an Admin's reach"
        );
        assert_eq!(
            rejected(user_admin::reset_second_factor(p, &admin, w.root.user_id, &client()).await),
            AppError::not_found("User")
        );
        let west_user = user(
            p,
            w.root.instance_id,
            "westie@acme.example",
            Role::Monitor,
            &[w.scope_b],
        )
        .await;
        let hidden = rejected(user_admin::set_enabled(p, &admin, west_user.user_id, false, &client()).await);
        assert_eq!(hidden, AppError::not_found("User"));
        assert!(
            users::get(&mut conn, tech)
                .await
                .unwrap()
                .is_some_and(|u| u.status == UserStatus::PendingActivation)
        );
    }
);

on_both_databases!(
    the_last_active_superuser_stays_and_disabling_ends_sessions,
    |db: TestDb| async move {
        let w = world(&db).await;
        let p = &w.portal;
        let other = user(p, w.root.instance_id, "second@acme.example", Role::Superuser, &[]).await;
        let mut conn = p.db.pool.acquire().await.unwrap();
        let token = sessions::create(
            &mut conn,
            other.user_id,
            sessions::Stage::Full,
            &client(),
            p.now(),
            &p.sessions,
        )
        .await
        .unwrap();
        assert_eq!(
            rejected(user_admin::set_enabled(p, &w.root, w.root.user_id, false, &client()).await).to_string(),
            "You cannot disable your own account."
        );
        user_admin::set_enabled(p, &w.root, other.user_id, false, &client())
            .await
            .unwrap();
        assert!(
            sessions::resolve(&mut conn, &token, p.now(), &p.sessions)
                .await
                .unwrap()
                .is_none(),
            "sessions end at once"
        );
        let demote = user_admin::update_access(
            p,
            &w.root,
            w.root.user_id,
            &access(Role::Admin, vec![w.scope_a]),
            &client(),
        )
        .await;
        assert!(rejected(demote).to_string().contains("last active Superuser"));
        user_admin::set_enabled(p, &w.root, other.user_id, true, &client())
            .await
            .unwrap();
        user_admin::update_access(
            p,
            &w.root,
            w.root.user_id,
            &access(Role::Admin, vec![w.scope_a]),
            &client(),
        )
        .await
        .unwrap();
    }
);

// What each administrator may do to each kind of user: reach (list, password, 2FA, disable,
// access) only over users who see no more than they do and hold no higher role.
on_both_databases!(
    administrators_reach_only_users_who_see_no_more_than_they_do,
    |db: TestDb| async move {
        let w = world(&db).await;
        let p = &w.portal;
        let i = w.root.instance_id;
        let mut global_admin = user(p, i, "global-admin@acme.example", Role::Admin, &[]).await;
        set_global(p, &mut global_admin).await;
        let scoped_admin = user(p, i, "east-admin@acme.example", Role::Admin, &[w.scope_a]).await;
        let mut global_monitor = user(p, i, "global@acme.example", Role::Monitor, &[]).await;
        set_global(p, &mut global_monitor).await;
        let second_root = user(p, i, "root2@acme.example", Role::Superuser, &[]).await;
        let same = user(p, i, "east@acme.example", Role::Monitor, &[w.scope_a]).await;
        let east_peer = user(p, i, "east-peer@acme.example", Role::Admin, &[w.scope_a]).await;
        let wider = user(p, i, "both@acme.example", Role::Monitor, &[w.scope_a, w.scope_b]).await;
        let other = user(p, i, "west@acme.example", Role::Monitor, &[w.scope_b]).await;
        let targets = [
            &global_monitor,
            &second_root,
            &same,
            &east_peer,
            &wider,
            &other,
            &global_admin,
        ];
        // (administrator, the targets they reach)
        let matrix: [(&Viewer, Vec<&Viewer>); 3] = [
            (&w.root, targets.to_vec()),
            (
                &global_admin,
                vec![&global_monitor, &same, &east_peer, &wider, &other],
            ),
            (&scoped_admin, vec![&same, &east_peer]),
        ];
        for (admin, reached) in matrix {
            let mut conn = p.db.pool.acquire().await.unwrap();
            let listed: Vec<i64> = user_admin::list(&mut conn, admin)
                .await
                .unwrap()
                .iter()
                .map(|u| u.id)
                .collect();
            drop(conn);
            for target in targets.iter().filter(|t| t.user_id != admin.user_id) {
                let reaches = reached.iter().any(|r| r.user_id == target.user_id);
                let what = format!("{} over {}", admin.email, target.email);
                assert_eq!(listed.contains(&target.user_id), reaches, "list: {what}");
                let id = target.user_id;
                let outcomes = [
                    user_admin::set_password(
                        p,
                        admin,
                        id,
                        "Another-pass-1234",
                        "Another-pass-1234",
                        &client(),
                    )
                    .await,
                    user_admin::reset_second_factor(p, admin, id, &client()).await,
                    user_admin::set_enabled(p, admin, id, false, &client()).await,
                    user_admin::set_enabled(p, admin, id, true, &client()).await,
                ];
                for outcome in outcomes {
                    match reaches {
                        true => outcome.unwrap_or_else(|e| panic!("{what}: {e:?}")),
                        false => assert_eq!(rejected(outcome), AppError::not_found("User"), "{what}"),
                    }
                }
                if !reaches {
                    let narrower = access(Role::Monitor, vec![w.scope_a]);
                    let change = user_admin::update_access(p, admin, id, &narrower, &client()).await;
                    assert_eq!(rejected(change), AppError::not_found("User"), "access: {what}");
                }
            }
        }
        let promote = user_admin::invite(
            p,
            &scoped_admin,
            "new-admin@acme.example",
            &access(Role::Admin, vec![w.scope_a]),
            &client(),
        )
        .await;
        assert!(
            promote.is_ok(),
            "an Admin may invite an Admin into their own scopes"
        );
    }
);

async fn set_global(portal: &Portal, viewer: &mut Viewer) {
    sqlx::query("UPDATE users SET global_scope = 1 WHERE id = $1")
        .bind(viewer.user_id)
        .execute(&portal.db.pool)
        .await
        .unwrap();
    viewer.global_scope = true;
}

on_both_databases!(
    the_users_list_sorts_by_each_column_before_paging,
    |db: TestDb| async move {
        let w = world(&db).await;
        let p = &w.portal;
        let i = w.root.instance_id;
        user(p, i, "carol@acme.example", Role::Admin, &[w.scope_a]).await;
        user(p, i, "alice@acme.example", Role::Manage, &[w.scope_b]).await;
        user(p, i, "bob@acme.example", Role::Monitor, &[w.scope_a]).await;
        let mut conn = p.db.pool.acquire().await.unwrap();
        let mut emails = async |sort, descending, page, per_page| {
            user_admin::page(&mut conn, &w.root, (sort, descending), page, per_page)
                .await
                .unwrap()
                .items
                .into_iter()
                .map(|u| u.email.split('@').next().unwrap().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            emails(UserSort::Email, false, 1, 50).await,
            ["alice", "bob", "carol", "root"]
        );
        assert_eq!(emails(UserSort::Email, true, 2, 3).await, ["alice"]);
        assert_eq!(
            emails(UserSort::Role, false, 1, 50).await,
            ["bob", "alice", "carol", "root"]
        );
        assert_eq!(
            emails(UserSort::Role, true, 1, 2).await,
            ["root", "carol"],
            "sorted before the page is cut"
        );
    }
);
