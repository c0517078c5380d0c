//! Upgrading: migrations run forward at start-up, so today's code must work on a database the
//! previous release created and filled. The database is brought to the previous release's
//! schema with its own migrations, filled through plain SQL of that schema, then opened by
//! today's `Db::connect`, and read through today's domain functions.

// Tests: a failed step should stop the test, loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use domain::access::Viewer;
use domain::appliances::{assets, registration, views};
use domain::testkit::{START_MS, TestDb};
use domain::{Backend, ClientInfo, auth, organizations, secrets};
use model::Role;
use model::auth::LoginStep;
use model::tenancy::OrgQuery;
use sqlx::migrate::Migrator;

/// The newest migration of the previous release: raise it to the newest migration of each
/// release when it ships (docs/upgrading.md).
const PREVIOUS_RELEASE: i64 = 20261122000007;

const PASSWORD: &str = "Correct-Horse-9";
const CREDENTIAL: &str = "appliance-credential-from-the-previous-release";

/// The previous release's migrations, from this checkout's migration folder.
async fn previous_release(backend: Backend) -> Migrator {
    let folder = match backend {
        Backend::Sqlite => "../migrations/sqlite",
        Backend::Postgres => "../migrations/postgres",
    };
    let all = Migrator::new(Path::new(folder)).await.unwrap();
    let older = all
        .iter()
        .filter(|m| m.version <= PREVIOUS_RELEASE)
        .cloned()
        .collect::<Vec<_>>();
    assert!(
        older.len() < all.iter().count(),
        "today adds migrations to upgrade through"
    );
    Migrator::with_migrations(older)
}

/// An instance with a Superuser, an organization in a scope, an appliance with one asset and
/// one recovery point, and a queued mail, written as the previous release stored them.
async fn fill_the_previous_schema(pool: &sqlx::AnyPool) {
    let statements = [
        "INSERT INTO instances (id, homerealm, display_name, created_at) VALUES (1, 'acme', 'Acme IT', $1)",
        "INSERT INTO users (id, instance_id, email, role, status, password_hash, created_at)
         VALUES (1, 1, 'owner@acme.example', 'Superuser', 'active', $2, $1)",
        "INSERT INTO scopes (id, instance_id, name, name_key, created_at) VALUES (1, 1, 'North', 'north', $1)",
        "INSERT INTO organizations (id, instance_id, name, name_key, scope_id, created_at)
         VALUES (1, 1, 'Initech', 'initech', 1, $1)",
        "INSERT INTO appliances (id, instance_id, organization_id, name, model, version, credential_hash, registered_at)
         VALUES (1, 1, 1, 'nas-1', 'reference', '0.1.0', $3, $1)",
        "INSERT INTO assets (id, appliance_id, external_id, name, path) VALUES (1, 1, 'a1', 'Documents', '/srv/documents')",
        "INSERT INTO recovery_points (asset_id, external_id, taken_at, size_bytes, files) VALUES (1, 'snap-1', $1, 4096, 3)",
        "INSERT INTO outbox (instance_id, recipient, subject, body, status, next_attempt_at, created_at)
         VALUES (1, 'noc@acme.example', 'Queued before the upgrade', 'body', 'queued', $1, $1)",
    ];
    let hash = secrets::hash_password(PASSWORD).unwrap();
    for sql in statements {
        sqlx::query(sql)
            .bind(START_MS)
            .bind(hash.clone())
            .bind(secrets::token_hash(CREDENTIAL))
            .execute(pool)
            .await
            .unwrap_or_else(|e| panic!("{e}: {sql}"));
    }
}

async fn upgrade_keeps_everything(backend: Backend) {
    let migrator = previous_release(backend).await;
    let Some(db) = TestDb::upgraded_from(backend, async |pool: &sqlx::AnyPool| {
        migrator.run(pool).await.unwrap();
        fill_the_previous_schema(pool).await;
    })
    .await
    else {
        return;
    };
    let (portal, _clock) = db.portal();
    db.db.readiness().await.expect("every migration applied");

    let (_, step) = auth::sign_in_with_password(
        &portal,
        "acme",
        "owner@acme.example",
        PASSWORD,
        &ClientInfo::default(),
    )
    .await
    .expect("the old password still signs in");
    assert_eq!(
        step,
        LoginStep::EnrolTotp {
            email: "owner@acme.example".into()
        },
        "no authenticator yet: enrolment comes next"
    );

    let root = Viewer {
        instance_id: 1,
        user_id: 1,
        email: "owner@acme.example".into(),
        role: Role::Superuser,
        global_scope: true,
    };
    let mut conn = portal.db.pool.acquire().await.unwrap();
    let orgs = organizations::list(&mut conn, &root, &OrgQuery::default())
        .await
        .unwrap();
    assert_eq!(orgs.items.len(), 1);
    assert_eq!(orgs.items[0].name, "Initech");
    let appliance = views::get(&mut conn, &root, 1).await.unwrap();
    assert_eq!((appliance.name.as_str(), appliance.assets), ("nas-1", 1));
    let asset = assets::get(&mut conn, &root, 1).await.unwrap();
    assert_eq!(asset.recovery_points, 1);
    assert!(
        asset.restore_roots.is_empty(),
        "restore folders arrive with the appliance's next hello"
    );
    let who = registration::authenticate(&mut conn, CREDENTIAL)
        .await
        .unwrap()
        .expect("the appliance's credential still works");
    assert_eq!(who.id, 1);
    drop(conn);
    let backlog = domain::ops::backlog(&portal).await.unwrap();
    assert_eq!(
        backlog.outbox_pending, 1,
        "mail queued before the upgrade is still sent"
    );
}

#[test]
fn the_previous_release_upgrades_on_sqlite() {
    tokio_test(upgrade_keeps_everything(Backend::Sqlite));
}

#[test]
fn the_previous_release_upgrades_on_postgres() {
    tokio_test(upgrade_keeps_everything(Backend::Postgres));
}

fn tokio_test(body: impl Future<Output = ()>) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(body);
}
