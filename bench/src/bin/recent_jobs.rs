//! Jobs → Recent benchmark: fills a fresh database (SQLite file or a new PostgreSQL database)
//! with organizations, appliances, assets and jobs spread over the 90-day window, then times the
//! Recent queries (the page and its count, as the portal runs them) for a Superuser and for a
//! user whose scope holds 1 % of the organizations. Prints one JSON line per viewer.
//! Run by `scripts/bench-recent-jobs.sh`.

use std::time::Instant;

use bench::percentile;
use clap::Parser;
use domain::access::Viewer;
use domain::appliances::views;
use domain::{Db, instances};
use model::Role;
use model::appliance::JobState;
use model::jobs::{JobSort, RecentJobFilter};
use sqlx::Connection;

#[derive(Debug, Parser)]
struct Args {
    /// `sqlite` or `postgres`.
    #[arg(long, default_value = "sqlite")]
    database: String,
    /// PostgreSQL server to create the benchmark database on.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    postgres: String,
    #[arg(long, default_value_t = 1_000_000)]
    jobs: i64,
    #[arg(long, default_value_t = 10_000)]
    organizations: i64,
    /// Scopes; organizations are spread evenly over them, so one scope holds 1 % with 100.
    #[arg(long, default_value_t = 100)]
    scopes: i64,
    /// Runs of each query.
    #[arg(long, default_value_t = 30)]
    runs: usize,
}

const DAY_MS: i64 = 86_400_000;

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let (url, cleanup) = database(&args).await;
    let db = Db::connect(&url).await.expect("connect and migrate");
    let now = 1_800_000_000_000;
    let started = Instant::now();
    let (root, scoped) = fill(&db, &args, now).await;
    eprintln!("{} jobs in {:.1} s", args.jobs, started.elapsed().as_secs_f64());
    for (who, viewer) in [("superuser", &root), ("one_scope", &scoped)] {
        let mut conn = db.pool.acquire().await.unwrap();
        let mut all = Vec::new();
        let mut worst: (String, u64) = (String::new(), 0);
        for (name, filter, sort, page) in queries(&db, &scoped).await {
            let mut times = Vec::with_capacity(args.runs);
            for _ in 0..args.runs {
                let t = Instant::now();
                let listed = views::recent_jobs(&mut conn, viewer, &filter, sort, page, 50, now)
                    .await
                    .expect("query");
                std::hint::black_box(listed);
                times.push(t.elapsed().as_micros() as u64);
            }
            let p99 = percentile(&mut times, 99.0);
            eprintln!(
                "{who:>10} {name:<20} p50 {:>8.1} ms  p99 {:>8.1} ms",
                percentile(&mut times, 50.0) as f64 / 1000.0,
                p99 as f64 / 1000.0
            );
            if p99 > worst.1 {
                worst = (name.to_owned(), p99);
            }
            all.extend(times);
        }
        let ms = |us: u64| us as f64 / 1000.0;
        println!(
            "{}",
            serde_json::json!({
                "database": args.database,
                "viewer": who,
                "jobs": args.jobs,
                "organizations": args.organizations,
                "queries": all.len(),
                "p50_ms": ms(percentile(&mut all, 50.0)),
                "p99_ms": ms(percentile(&mut all, 99.0)),
                "slowest_query": worst.0,
                "slowest_query_p99_ms": ms(worst.1),
            })
        );
    }
    drop(db);
    cleanup.await;
}

/// The query mix: the default page, a later page, each filter, each sort order.
async fn queries(db: &Db, scoped: &Viewer) -> Vec<(&'static str, RecentJobFilter, (JobSort, bool), u32)> {
    let scope_id: i64 = sqlx::query_scalar("SELECT scope_id FROM user_scopes WHERE user_id = $1")
        .bind(scoped.user_id)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let organization_id: i64 = sqlx::query_scalar("SELECT MIN(id) FROM organizations WHERE scope_id = $1")
        .bind(scope_id)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let newest = (JobSort::Started, true);
    let none = RecentJobFilter::default();
    vec![
        ("newest first", none.clone(), newest, 1),
        ("page 10", none.clone(), newest, 10),
        (
            "scope",
            RecentJobFilter {
                scope_id: Some(scope_id),
                ..none.clone()
            },
            newest,
            1,
        ),
        (
            "organization",
            RecentJobFilter {
                organization_id: Some(organization_id),
                ..none.clone()
            },
            newest,
            1,
        ),
        (
            "status error",
            RecentJobFilter {
                state: Some(JobState::Error),
                ..none.clone()
            },
            newest,
            1,
        ),
        (
            "appliance contains",
            RecentJobFilter {
                appliance: Some("nas-0042".into()),
                ..none.clone()
            },
            newest,
            1,
        ),
        ("by appliance", none.clone(), (JobSort::Appliance, false), 1),
        ("by asset", none.clone(), (JobSort::Asset, false), 1),
        ("by status", none.clone(), (JobSort::Status, false), 1),
        ("by duration", none, (JobSort::Duration, true), 1),
    ]
}

/// A fresh database URL, and what removes it afterwards.
async fn database(args: &Args) -> (String, std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>) {
    let name = format!("backplane_bench_{}", std::process::id());
    if args.database == "postgres" {
        let mut admin = sqlx::PgConnection::connect(&args.postgres)
            .await
            .expect("PostgreSQL");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .unwrap();
        let base = args
            .postgres
            .rsplit_once('/')
            .map_or(args.postgres.as_str(), |(b, _)| b);
        let url = format!("{base}/{name}");
        let admin_url = args.postgres.clone();
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
async fn fill(db: &Db, args: &Args, now: i64) -> (Viewer, Viewer) {
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
         INSERT INTO assets (appliance_id, external_id, name, path)
         SELECT a.id, 'asset-' || n.i, 'Share ' || n.i, '/srv/share' || n.i FROM appliances a, n",
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
    // Fresh statistics and visibility, as a long-running database has them (autovacuum).
    let maintenance = if db.backend == domain::Backend::Postgres {
        "VACUUM ANALYZE"
    } else {
        "ANALYZE"
    };
    sqlx::query(maintenance).execute(&mut *conn).await.unwrap();
    let root = add_user(
        &mut conn,
        instance.id,
        "root@bench.example",
        Role::Superuser,
        true,
    )
    .await;
    let scoped = add_user(&mut conn, instance.id, "tech@bench.example", Role::Monitor, false).await;
    sqlx::query("INSERT INTO user_scopes (user_id, scope_id) SELECT $1, MIN(id) FROM scopes")
        .bind(scoped.user_id)
        .execute(&mut *conn)
        .await
        .unwrap();
    (root, scoped)
}

async fn add_user(
    conn: &mut sqlx::AnyConnection,
    instance_id: i64,
    email: &str,
    role: Role,
    global: bool,
) -> Viewer {
    let user = domain::users::NewUser {
        instance_id,
        email,
        role,
        status: domain::users::UserStatus::Active,
        password_hash: None,
        global_scope: global,
    };
    let user_id = domain::users::insert(conn, user, 0).await.unwrap();
    Viewer {
        instance_id,
        user_id,
        email: email.into(),
        role,
        global_scope: global,
    }
}
