//! Jobs → Recent benchmark: fills a fresh database (SQLite file or a new PostgreSQL database)
//! with organizations, appliances, assets and jobs spread over the 90-day window, then times the
//! Recent queries (the page and its count, as the portal runs them) for a Superuser and for a
//! user whose scope holds 1 % of the organizations. Prints one JSON line per viewer.
//! Run by `scripts/bench-recent-jobs.sh`.

use std::time::Instant;

use bench::QueryTimes;
use bench::seed::Target;
use clap::Parser;
use domain::Db;
use domain::access::Viewer;
use domain::appliances::recent_jobs;
use model::appliance::JobState;
use model::jobs::{JobSort, RecentJobFilter};

/// Times every Jobs → Recent query over a seeded database, for a Superuser and a one-scope user.
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
    for (who, viewer) in [("superuser", root), ("one_scope", scoped)] {
        let mut conn = db.pool.acquire().await.unwrap();
        let mut times = QueryTimes::default();
        for (name, filter, sort, page) in queries(db, scoped).await {
            let mut runs = Vec::with_capacity(args.target.runs);
            for _ in 0..args.target.runs {
                let t = Instant::now();
                let listed = recent_jobs::page(&mut conn, viewer, &filter, sort, page, 50, now)
                    .await
                    .expect("query");
                std::hint::black_box(listed);
                runs.push(t.elapsed().as_micros() as u64);
            }
            times.record(who, name, runs, "");
        }
        let mut line = times.summary();
        line.insert("database".into(), args.target.database.clone().into());
        line.insert("viewer".into(), who.into());
        line.insert("jobs".into(), args.target.scale.jobs.into());
        line.insert("organizations".into(), args.target.scale.organizations.into());
        println!("{}", serde_json::Value::Object(line));
    }
    filled.db.pool.close().await;
    filled.cleanup.await;
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
