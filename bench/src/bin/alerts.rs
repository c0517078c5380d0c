//! Dashboard and alarm-evaluation benchmark. Fills a fresh database (SQLite or PostgreSQL) with
//! organizations, appliances, 10 scheduled assets each and jobs over 90 days, then measures:
//! - the Dashboard (every tile, as the portal computes them) for a Superuser and for a user whose
//!   scope holds 1 % of the organizations;
//! - a full alarm-evaluation pass over every asset and appliance, once with nothing flipping
//!   and once with most assets crossing their threshold (alerts and mail written);
//! - flip-to-enqueue latency: assets whose threshold passes during a real-time run of the
//!   evaluator loop the server runs, from the moment each crosses it to its mail in the outbox.
//!
//! Prints one JSON line per measurement. Run by `scripts/bench-alerts.sh`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bench::percentile;
use bench::seed::{self, DAY_MS, Target};
use clap::Parser;
use domain::access::Viewer;
use domain::alerts::{engine, settings};
use domain::clock::HOUR_MS;
use domain::{ClientInfo, Db, ManualClock, Portal, SystemClock};
use model::alerts::{AlertFilter, ThresholdBlock, Thresholds};
use model::policy::{Frequency, Policy, Retention, Schedule};
use serde_json::json;

/// Times the Dashboard, full alarm-evaluation passes and flip-to-enqueue latency over a seeded database.
#[derive(Debug, Parser)]
struct Args {
    #[command(flatten)]
    target: Target,
    /// Assets crossing their threshold during the latency run.
    #[arg(long, default_value_t = 1_000)]
    flips: i64,
}

/// A daily policy, as appliances report it.
fn policy() -> String {
    let policy = Policy {
        schedule: Schedule {
            frequency: Frequency::Daily,
            exclude_weekends: false,
            start_date: "2026-01-01".into(),
            start_time: "01:00".into(),
        },
        retention: Retention::default(),
        enabled: true,
        restore_test_days: model::policy::DEFAULT_RESTORE_TEST_DAYS,
    };
    serde_json::to_string(&policy).expect("a policy serializes")
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let now = 1_800_000_000_000;
    let seed::Filled {
        db,
        root,
        scoped,
        cleanup,
    } = args.target.fill(now).await;
    schedule_everything(&db, now).await;

    let mut portal = Portal::new(db.clone(), "http://bench.example");
    portal.clock = Arc::new(ManualClock::new(now));
    let client = ClientInfo::default();
    settings::add_recipient(&portal, &root, "noc@bench.example", &client)
        .await
        .unwrap();
    let assets = count(&db, "SELECT COUNT(*) FROM assets").await;
    let appliances = count(&db, "SELECT COUNT(*) FROM appliances").await;

    // Nothing flips: every asset had a good backup within 100 days.
    settings::save_global(&portal, &root, &thresholds(100 * 24), &client)
        .await
        .unwrap();
    let quiet = full_pass(&portal, root.instance_id, now).await;
    report(&args, "full pass, no flips", assets, appliances, quiet);
    // Most flip: few assets had a good backup in the last 3 days.
    settings::save_global(&portal, &root, &thresholds(3 * 24), &client)
        .await
        .unwrap();
    let busy = full_pass(&portal, root.instance_id, now).await;
    report(&args, "full pass, alarms raised", assets, appliances, busy);

    for (who, viewer) in [("superuser", &root), ("one_scope", &scoped)] {
        dashboard(&db, &args, who, viewer, now).await;
    }
    latency(&db, &args, &root).await;
    drop(db);
    cleanup.await;
}

fn thresholds(hours: i64) -> Thresholds {
    Thresholds {
        backups: ThresholdBlock::new(true, hours / 24, hours % 24),
        copies: ThresholdBlock::new(false, 1, 0),
    }
}

async fn count(db: &Db, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&db.pool).await.unwrap()
}

/// Every asset on a daily policy; every appliance seen just now with room to spare.
async fn schedule_everything(db: &Db, now: i64) {
    sqlx::query("UPDATE assets SET policy = $1, policy_since = $2")
        .bind(policy())
        .bind(now - 100 * DAY_MS)
        .execute(&db.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE appliances SET last_seen_at = $1, online = 1, storage_total = 1000, storage_free = 400, storage_used = 600")
        .bind(now)
        .execute(&db.pool)
        .await
        .unwrap();
}

/// Every object due now, then passes until none is due; (seconds, evaluated, raised).
async fn full_pass(portal: &Portal, instance_id: i64, now: i64) -> (f64, usize, usize) {
    let mut conn = portal.db.pool.acquire().await.unwrap();
    engine::touch_instance(&mut conn, instance_id, now).await.unwrap();
    drop(conn);
    let started = Instant::now();
    let report = engine::run_due(&portal.clone()).await.unwrap();
    (started.elapsed().as_secs_f64(), report.evaluated, report.raised)
}

fn report(
    args: &Args,
    what: &str,
    assets: i64,
    appliances: i64,
    (secs, evaluated, raised): (f64, usize, usize),
) {
    println!(
        "{}",
        json!({
            "database": args.target.database,
            "measure": what,
            "assets": assets,
            "appliances": appliances,
            "evaluated": evaluated,
            "raised": raised,
            "seconds": (secs * 1000.0).round() / 1000.0,
        })
    );
}

async fn dashboard(db: &Db, args: &Args, who: &str, viewer: &Viewer, now: i64) {
    let mut conn = db.pool.acquire().await.unwrap();
    let mut times = Vec::with_capacity(args.target.runs);
    let mut tiles = None;
    for _ in 0..args.target.runs {
        let t = Instant::now();
        let view = domain::dashboard::dashboard(&mut conn, viewer, &AlertFilter::default(), now)
            .await
            .expect("dashboard");
        times.push(t.elapsed().as_micros() as u64);
        tiles = Some(view);
    }
    let tiles = tiles.unwrap();
    let ms = |us: u64| us as f64 / 1000.0;
    println!(
        "{}",
        json!({
            "database": args.target.database,
            "measure": "dashboard",
            "viewer": who,
            "jobs": args.target.scale.jobs,
            "organizations": args.target.scale.organizations,
            "appliances_online": tiles.appliances_online,
            "alerts": tiles.alerts,
            "completed_13_days": tiles.completed.iter().map(|d| d.success + d.missed).sum::<i64>(),
            "p50_ms": ms(percentile(&mut times, 50.0)),
            "p99_ms": ms(percentile(&mut times, 99.0)),
        })
    );
}

/// New assets whose 3-day threshold passes over the next five seconds of real time, spread
/// evenly; the evaluator loop the server runs picks each up; latency is from the threshold
/// passing to the alert (and its mail, same transaction) being committed.
async fn latency(db: &Db, args: &Args, root: &Viewer) {
    let mut portal = Portal::new(db.clone(), "http://bench.example");
    portal.clock = Arc::new(SystemClock);
    let real_now = domain::Clock::now_ms(&SystemClock);
    let organization: i64 = sqlx::query_scalar("SELECT MIN(id) FROM organizations")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let appliance: i64 = sqlx::query_scalar(
        "INSERT INTO appliances (instance_id, organization_id, name, model, version, credential_hash, registered_at,
                                 last_seen_at, online)
         VALUES ($1, $2, 'nas-latency', 'reference', '1.0', 'bench-latency', $3, $3, 1) RETURNING id",
    )
    .bind(root.instance_id)
    .bind(organization)
    .bind(real_now + DAY_MS)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let start = real_now + 2_000;
    let spread = 5_000 / args.flips.max(1);
    for i in 0..args.flips {
        let due = start + i * spread;
        // Its newest good backup was scheduled three days before `due`.
        sqlx::query(
            "INSERT INTO assets (appliance_id, external_id, name, path, policy, policy_since, last_good_start,
                                 last_result, last_result_started)
             VALUES ($1, $2, $2, '/srv', $3, 0, $4, 'success', $4)",
        )
        .bind(appliance)
        .bind(format!("flip-{i}"))
        .bind(policy())
        .bind(due - 3 * 24 * HOUR_MS)
        .execute(&db.pool)
        .await
        .unwrap();
    }
    sqlx::query(
        "INSERT INTO alert_checks (object_kind, object_id, due_at)
         SELECT 'asset', id, $1 FROM assets WHERE appliance_id = $2
         ON CONFLICT (object_kind, object_id) DO UPDATE SET due_at = excluded.due_at",
    )
    .bind(real_now)
    .bind(appliance)
    .execute(&db.pool)
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(12);
    while Instant::now() < deadline {
        engine::run_due(&portal).await.unwrap();
        let next = engine::next_due(&portal).await.unwrap();
        let wait = next.map_or(15_000, |due| {
            (due - domain::Clock::now_ms(&SystemClock)).clamp(0, 15_000)
        });
        tokio::time::sleep(Duration::from_millis(wait as u64).min(deadline - Instant::now())).await;
    }
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT o.created_at, s.last_good_start FROM alerts a
         JOIN outbox o ON o.alert_id = a.id JOIN assets s ON s.id = a.asset_id
         WHERE s.appliance_id = $1",
    )
    .bind(appliance)
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let mut latencies: Vec<u64> = rows
        .iter()
        .map(|(enqueued, good_start)| {
            let latency = enqueued - (good_start + 3 * 24 * HOUR_MS);
            assert!(
                latency >= 0,
                "an alarm was raised {} ms before its threshold passed",
                -latency
            );
            latency as u64
        })
        .collect();
    println!(
        "{}",
        json!({
            "database": args.target.database,
            "measure": "flip to enqueue",
            "flips": args.flips,
            "mails": latencies.len(),
            "p50_ms": percentile(&mut latencies, 50.0),
            "p99_ms": percentile(&mut latencies, 99.0),
            "max_ms": latencies.iter().max().copied().unwrap_or(0),
        })
    );
}
