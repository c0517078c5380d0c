//! Protect → Assets benchmark: fills a fresh database (SQLite file or a new PostgreSQL
//! database) with organizations, one appliance of 10 assets each, recovery-point figures and
//! jobs over 90 days, then times the list as the portal runs it (count, page, and each page's
//! Recent backups strips) for a Superuser and for a user whose scope holds 1 % of the
//! organizations: the default order, each sort, the Recent failures filter and the others.
//! Prints one JSON line per viewer. Run by `scripts/bench-assets.sh`.

use std::time::Instant;

use bench::QueryTimes;
use bench::seed::{DAY_MS, Target};
use clap::Parser;
use domain::Db;
use domain::access::Viewer;
use domain::appliances::assets::{self, AssetQuery};
use model::lists::AssetSort;

/// Times every Protect → Assets query over a seeded database, for a Superuser and a one-scope user.
#[derive(Debug, Parser)]
struct Args {
    #[command(flatten)]
    target: Target,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let now = 1_800_000_000_000;
    let filled = args.target.fill(now).await;
    let (db, root, scoped) = (&filled.db, &filled.root, &filled.scoped);
    give_recovery_points(db, now).await;
    let assets_total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM assets")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    for (who, viewer) in [("superuser", root), ("one_scope", scoped)] {
        let mut conn = db.pool.acquire().await.unwrap();
        let mut times = QueryTimes::default();
        for (name, query) in queries(db, scoped).await {
            let mut runs = Vec::with_capacity(args.target.runs);
            let mut listed = 0;
            for _ in 0..args.target.runs {
                let t = Instant::now();
                let page = assets::list(&mut conn, viewer, &query, now).await.expect("query");
                runs.push(t.elapsed().as_micros() as u64);
                listed = page.total;
                std::hint::black_box(page);
            }
            times.record(who, &name, runs, &format!("  ({listed} match)"));
        }
        let mut line = times.summary();
        line.insert("database".into(), args.target.database.clone().into());
        line.insert("viewer".into(), who.into());
        line.insert("assets".into(), assets_total.into());
        line.insert("jobs".into(), args.target.scale.jobs.into());
        line.insert("organizations".into(), args.target.scale.organizations.into());
        println!("{}", serde_json::Value::Object(line));
    }
    filled.db.pool.close().await;
    filled.cleanup.await;
}

/// Recovery-point figures as the appliances' inventories leave them on the assets.
async fn give_recovery_points(db: &Db, now: i64) {
    sqlx::query(
        "UPDATE assets SET points = id % 30, last_point_at = $1 - (id * 7919) % $2,
                           last_point_bytes = (id * 104729) % 1000000000",
    )
    .bind(now)
    .bind(30 * DAY_MS)
    .execute(&db.pool)
    .await
    .unwrap();
    // Fresh statistics and visibility, as autovacuum keeps them in a running database.
    let maintenance = if db.backend == domain::Backend::Postgres {
        "VACUUM ANALYZE assets"
    } else {
        "ANALYZE"
    };
    sqlx::query(maintenance).execute(&db.pool).await.unwrap();
}

/// The query mix: the default page, a later page, each filter, each sort in both directions.
async fn queries(db: &Db, scoped: &Viewer) -> Vec<(String, AssetQuery)> {
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
    let plain = AssetQuery {
        per_page: 50,
        ..Default::default()
    };
    let failing = AssetQuery {
        recent_failures: true,
        ..plain.clone()
    };
    let mut mix = vec![
        ("default order".to_owned(), plain.clone()),
        (
            "page 20".to_owned(),
            AssetQuery {
                page: 20,
                ..plain.clone()
            },
        ),
        ("recent failures".to_owned(), failing.clone()),
        (
            "recent failures, last backup".to_owned(),
            AssetQuery {
                sort: AssetSort::LastBackup,
                ..failing
            },
        ),
        (
            "scope".to_owned(),
            AssetQuery {
                scope_id: Some(scope_id),
                ..plain.clone()
            },
        ),
        (
            "organization".to_owned(),
            AssetQuery {
                organization_id: Some(organization_id),
                ..plain.clone()
            },
        ),
        (
            "name contains".to_owned(),
            AssetQuery {
                name_contains: Some("nas-42".into()),
                ..plain.clone()
            },
        ),
    ];
    for sort in AssetSort::ALL {
        for descending in [false, true] {
            let direction = if descending { "desc" } else { "asc" };
            mix.push((
                format!("by {} {direction}", sort.as_str()),
                AssetQuery {
                    sort,
                    descending,
                    ..plain.clone()
                },
            ));
        }
    }
    mix
}
