//! A benchmark database: a fresh SQLite file or PostgreSQL database filled with scopes,
//! organizations, one appliance with 10 assets each, and jobs over the last 90 days.

use std::future::Future;
use std::pin::Pin;

use domain::access::Viewer;
use domain::{Db, instances};
use model::Role;
use sqlx::Connection;

pub const DAY_MS: i64 = 86_400_000;

/// What removes the database afterwards.
pub type Cleanup = Pin<Box<dyn Future<Output = ()>>>;

/// How much to put in.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct Scale {
    #[arg(long, default_value_t = 1_000_000)]
    pub jobs: i64,
    #[arg(long, default_value_t = 10_000)]
    pub organizations: i64,
    /// Organizations are spread evenly over the scopes: with 100, one scope holds 1 %.
    #[arg(long, default_value_t = 100)]
    pub scopes: i64,
}

/// Which database to fill, and how much: the arguments the database benchmarks share.
#[derive(Debug, clap::Args)]
pub struct Target {
    /// `sqlite` or `postgres`.
    #[arg(long, default_value = "sqlite")]
    pub database: String,
    /// PostgreSQL server to create the benchmark database on.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pub postgres: String,
    #[command(flatten)]
    pub scale: Scale,
    /// Runs of each timed query.
    #[arg(long, default_value_t = 30)]
    pub runs: usize,
}

/// A filled benchmark database and who looks at it.
pub struct Filled {
    pub db: Db,
    /// A Superuser, who sees everything.
    pub root: Viewer,
    /// A user of one scope.
    pub scoped: Viewer,
    pub cleanup: Cleanup,
}

impl Target {
    /// A fresh database of this kind, migrated and filled as of `now`; says how long filling took.
    pub async fn fill(&self, now: i64) -> Filled {
        let (url, cleanup) = database(&self.database, &self.postgres).await;
        let db = Db::connect(&url).await.expect("connect and migrate");
        let started = std::time::Instant::now();
        let (root, scoped) = fill(&db, &self.scale, now).await;
        eprintln!(
            "{} jobs in {:.1} s",
            self.scale.jobs,
            started.elapsed().as_secs_f64()
        );
        Filled {
            db,
            root,
            scoped,
            cleanup,
        }
    }
}

/// A fresh database URL, and what removes it afterwards.
pub async fn database(kind: &str, postgres: &str) -> (String, Cleanup) {
    let name = format!("backplane_bench_{}", std::process::id());
    if kind == "postgres" {
        let mut admin = sqlx::PgConnection::connect(postgres).await.expect("PostgreSQL");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .unwrap();
        let base = postgres.rsplit_once('/').map_or(postgres, |(b, _)| b);
        let url = format!("{base}/{name}");
        let admin_url = postgres.to_owned();
        let cleanup = Box::pin(async move {
            if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await {
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE {name} WITH (FORCE)")))
                    .execute(&mut admin)
                    .await;
            }
        });
        (url, cleanup)
    } else {
        let path = std::env::temp_dir().join(format!("{name}.db"));
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let cleanup = Box::pin(async move {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
        });
        (url, cleanup)
    }
}

/// Scopes, organizations (spread over the scopes), one appliance with 10 assets each, and jobs
/// spread over organizations and the last 90 days; returns a Superuser and a one-scope user.
pub async fn fill(db: &Db, args: &Scale, now: i64) -> (Viewer, Viewer) {
    let mut conn = db.pool.acquire().await.unwrap();
    let instance = instances::insert(&mut conn, "bench", "Bench", 0).await.unwrap();
    let statements = [
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $2)
         INSERT INTO scopes (instance_id, name, name_key, created_at)
         SELECT $1, 'Scope ' || i, 'scope ' || i, 0 FROM n",
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $2)
         INSERT INTO organizations (instance_id, name, name_key, scope_id, created_at)
         SELECT $1, 'Customer ' || i, 'customer ' || i, (SELECT MIN(id) FROM scopes) + (i % $3), 0 FROM n",
        "INSERT INTO appliances (instance_id, organization_id, name, model, version, credential_hash, registered_at)
         SELECT $1, o.id, 'nas-' || o.id, 'reference', '1.0', 'bench-' || o.id, 0 FROM organizations o",
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 9)
         INSERT INTO assets (appliance_id, external_id, name, path, appliance_name, organization_name, search_text)
         SELECT a.id, 'asset-' || n.i, 'Share ' || n.i, '/srv/share' || n.i, a.name, o.name,
                LOWER('Share ' || n.i || ' /srv/share' || n.i || ' ' || a.name)
         FROM appliances a JOIN organizations o ON o.id = a.organization_id, n",
    ];
    for sql in statements {
        sqlx::query(sql)
            .bind(instance.id)
            .bind(if sql.contains("scopes (") {
                args.scopes
            } else {
                args.organizations
            })
            .bind(args.scopes)
            .execute(&mut *conn)
            .await
            .unwrap_or_else(|e| panic!("{e}: {sql}"));
    }
    // Jobs in batches, so neither engine builds one enormous statement.
    let batch = 100_000;
    let mut done = 0;
    while done < args.jobs {
        let count = batch.min(args.jobs - done);
        sqlx::query(
            "WITH RECURSIVE n(i) AS (SELECT $1 UNION ALL SELECT i + 1 FROM n WHERE i < $2)
             INSERT INTO jobs (appliance_id, organization_id, asset_external_id, external_id, kind, state,
                               started_at, ended_at, message, updated_at, mode, size_bytes, appliance_name, asset_name)
             SELECT a.id, a.organization_id, 'asset-' || (n.i % 10), 'job-' || n.i,
                    CASE WHEN n.i % 20 = 0 THEN 'restore' ELSE 'backup' END,
                    CASE WHEN n.i % 50 = 0 THEN 'error' WHEN n.i % 30 = 0 THEN 'warning'
                         WHEN n.i % 97 = 0 THEN 'missed' ELSE 'success' END,
                    $3 - (n.i * 7919) % $4, $3 - (n.i * 7919) % $4 + (n.i % 3600) * 1000, '', $3,
                    CASE WHEN n.i % 7 = 0 THEN 'full' ELSE 'incremental' END, n.i % 1000000,
                    a.name, 'Share ' || (n.i % 10)
             FROM n JOIN appliances a ON a.id = (SELECT MIN(id) FROM appliances) + (n.i % $5)",
        )
        .bind(done + 1)
        .bind(done + count)
        .bind(now)
        .bind(90 * DAY_MS)
        .bind(args.organizations)
        .execute(&mut *conn)
        .await
        .expect("insert jobs");
        done += count;
    }
    domain::appliances::finished::record_all_finished_jobs(&mut conn)
        .await
        .expect("record the finished jobs");
    // Fresh statistics and visibility, as a long-running database has them (autovacuum).
    let maintenance = if db.backend == domain::Backend::Postgres {
        "VACUUM ANALYZE"
    } else {
        "ANALYZE"
    };
    sqlx::query(maintenance).execute(&mut *conn).await.unwrap();
    let root = domain::testkit::add_user(
        &mut conn,
        instance.id,
        "root@bench.example",
        Role::Superuser,
        true,
    )
    .await;
    let scoped =
        domain::testkit::add_user(&mut conn, instance.id, "tech@bench.example", Role::Monitor, false).await;
    sqlx::query("INSERT INTO user_scopes (user_id, scope_id) SELECT $1, MIN(id) FROM scopes")
        .bind(scoped.user_id)
        .execute(&mut *conn)
        .await
        .unwrap();
    (root, scoped)
}
