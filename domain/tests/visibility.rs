//! Default deny, as a property: for random instances, scopes, organizations and users with
//! random roles and scopes, every user's lists, counts and lookups return exactly the
//! organizations and scopes the rules allow — nothing more, nothing less — and administers
//! exactly the users who see no more than they do.

// Tests: a failed step should stop the test, loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use domain::access::Viewer;
use domain::testkit::TestDb;
use domain::users::{self, NewUser, UserStatus};
use domain::{Backend, Portal, instances, organizations, scopes, user_admin};
use model::tenancy::OrgQuery;
use model::{Action, Role};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

#[derive(Debug, Clone)]
struct UserSpec {
    role: Role,
    global: bool,
    /// Indexes into the instance's scopes (taken modulo their number).
    scopes: Vec<usize>,
}

#[derive(Debug, Clone)]
struct InstanceSpec {
    scopes: usize,
    /// Each organization's scope index, or None for Unassigned.
    organizations: Vec<Option<usize>>,
    users: Vec<UserSpec>,
}

fn role() -> impl Strategy<Value = Role> {
    prop_oneof![
        Just(Role::Superuser),
        Just(Role::Admin),
        Just(Role::Manage),
        Just(Role::Monitor)
    ]
}

fn instance() -> impl Strategy<Value = InstanceSpec> {
    let user = (
        role(),
        prop::bool::weighted(0.2),
        prop::collection::vec(0usize..8, 0..3),
    )
        .prop_map(|(role, global, scopes)| UserSpec { role, global, scopes });
    (
        0usize..4,
        prop::collection::vec(prop::option::weighted(0.8, 0usize..8), 0..8),
        prop::collection::vec(user, 1..5),
    )
        .prop_map(|(scopes, organizations, users)| InstanceSpec {
            scopes,
            organizations,
            users,
        })
}

struct Built {
    instance_id: i64,
    viewers: Vec<(Viewer, BTreeSet<i64>, BTreeSet<i64>)>,
    all_orgs: Vec<i64>,
}

/// Creates one instance from its spec; returns each user's viewer with the organization and
/// scope ids the rules say they may see.
async fn build(portal: &Portal, n: usize, spec: &InstanceSpec) -> Built {
    let mut conn = portal.db.pool.acquire().await.unwrap();
    let instance = instances::insert(&mut conn, &format!("realm-{n}"), "Realm", 0)
        .await
        .unwrap();
    let mut scope_ids = Vec::new();
    for s in 0..spec.scopes {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO scopes (instance_id, name, name_key, created_at) VALUES ($1, $2, $2, 0) RETURNING id",
        )
        .bind(instance.id)
        .bind(format!("scope {s}"))
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        scope_ids.push(id);
    }
    let mut orgs = Vec::new();
    for (o, scope) in spec.organizations.iter().enumerate() {
        let scope_id = scope
            .filter(|_| !scope_ids.is_empty())
            .map(|i| scope_ids[i % scope_ids.len()]);
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO organizations (instance_id, name, name_key, scope_id, created_at) VALUES ($1, $2, $2, $3, 0) RETURNING id",
        )
        .bind(instance.id)
        .bind(format!("org {o}"))
        .bind(scope_id)
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        orgs.push((id, scope_id));
    }
    let mut viewers = Vec::new();
    for (u, user) in spec.users.iter().enumerate() {
        let email = format!("user{u}@realm{n}.example");
        let new = NewUser {
            instance_id: instance.id,
            email: &email,
            role: user.role,
            status: UserStatus::Active,
            password_hash: None,
            global_scope: user.global,
        };
        let id = users::insert(&mut conn, new, 0).await.unwrap();
        let held: BTreeSet<i64> = if scope_ids.is_empty() {
            BTreeSet::new()
        } else {
            user.scopes
                .iter()
                .map(|i| scope_ids[i % scope_ids.len()])
                .collect()
        };
        users::set_scopes(&mut conn, id, &held.iter().copied().collect::<Vec<_>>())
            .await
            .unwrap();
        let sees_all = user.role == Role::Superuser || user.global;
        let visible_orgs = orgs
            .iter()
            .filter(|(_, scope)| sees_all || scope.is_some_and(|s| held.contains(&s)))
            .map(|(id, _)| *id)
            .collect();
        let visible_scopes = if sees_all {
            scope_ids.iter().copied().collect()
        } else {
            held.clone()
        };
        let viewer = Viewer {
            instance_id: instance.id,
            user_id: id,
            email,
            role: user.role,
            global_scope: user.global,
        };
        viewers.push((viewer, visible_orgs, visible_scopes));
    }
    Built {
        instance_id: instance.id,
        viewers,
        all_orgs: orgs.iter().map(|(id, _)| *id).collect(),
    }
}

async fn check_world(portal: &Portal, round: usize, world: &[InstanceSpec]) -> Result<(), TestCaseError> {
    let mut built = Vec::new();
    for (n, spec) in world.iter().enumerate() {
        built.push(build(portal, round * 10 + n, spec).await);
    }
    let every_org: Vec<i64> = built.iter().flat_map(|b| b.all_orgs.clone()).collect();
    let mut conn = portal.db.pool.acquire().await.unwrap();
    for b in &built {
        for (viewer, orgs, scope_set) in &b.viewers {
            prop_assert_eq!(viewer.instance_id, b.instance_id);
            let query = OrgQuery {
                per_page: 500,
                ..OrgQuery::default()
            };
            let page = organizations::list(&mut conn, viewer, &query).await.unwrap();
            let listed: BTreeSet<i64> = page.items.iter().map(|o| o.id).collect();
            prop_assert_eq!(&listed, orgs, "list of {:?}", viewer);
            prop_assert_eq!(page.total, orgs.len() as i64, "count of {:?}", viewer);
            for id in &every_org {
                let found = organizations::get(&mut conn, viewer, *id).await.is_ok();
                prop_assert_eq!(found, orgs.contains(id), "get {} as {:?}", id, viewer);
            }
            let listed: BTreeSet<i64> = scopes::list(&mut conn, viewer)
                .await
                .unwrap()
                .iter()
                .map(|s| s.id)
                .collect();
            prop_assert_eq!(&listed, scope_set, "scopes of {:?}", viewer);
        }
        check_user_administration(&mut conn, b).await?;
    }
    Ok(())
}

/// Settings → Users contains each administrator: they reach exactly the users of their
/// instance with no higher role who see no more than they do.
async fn check_user_administration(conn: &mut sqlx::AnyConnection, b: &Built) -> Result<(), TestCaseError> {
    let sees_all = |v: &Viewer| v.role == Role::Superuser || v.global_scope;
    for (viewer, viewer_orgs, viewer_scopes) in &b.viewers {
        let Ok(listed) = user_admin::list(conn, viewer).await else {
            prop_assert!(
                !viewer.role.can(Action::ManageUsers),
                "{:?} may manage users",
                viewer
            );
            continue;
        };
        let listed: BTreeSet<i64> = listed.iter().map(|u| u.id).collect();
        let mut expected = BTreeSet::new();
        for (target, target_orgs, target_scopes) in &b.viewers {
            let reach = sees_all(viewer) || (!sees_all(target) && target_scopes.is_subset(viewer_scopes));
            if target.role <= viewer.role && reach {
                expected.insert(target.user_id);
                prop_assert!(
                    target_orgs.is_subset(viewer_orgs),
                    "{:?} over {:?}",
                    viewer,
                    target
                );
            }
        }
        prop_assert_eq!(listed, expected, "users administered by {:?}", viewer);
    }
    Ok(())
}

fn run(backend: Backend, cases: u32) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let Some(db) = runtime.block_on(TestDb::new(backend)) else {
        return;
    };
    let (portal, _) = db.portal();
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let round = std::sync::atomic::AtomicUsize::new(0);
    let result = runner.run(&prop::collection::vec(instance(), 1..3), |world| {
        let n = round.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        runtime.block_on(check_world(&portal, n, &world))
    });
    drop(db);
    if let Err(failure) = result {
        panic!("{failure}");
    }
}

#[test]
fn every_user_sees_exactly_what_their_scopes_allow_sqlite() {
    run(Backend::Sqlite, 48);
}

#[test]
fn every_user_sees_exactly_what_their_scopes_allow_postgres() {
    run(Backend::Postgres, 24);
}
