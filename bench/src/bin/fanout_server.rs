//! Live fan-out benchmark, server side: the real portal (router, live sockets, hub) on SQLite,
//! with organizations and signed-in users made up front, publishing job progress for many
//! concurrent jobs at a fixed rate once the load client's sockets are all connected. Each event
//! carries its publish time (µs) in its message, for the client to measure latency. Prints one
//! JSON line: memory before and after the sockets connected, and CPU time while publishing.
//! Run by `scripts/bench-fanout.sh`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bench::{cpu_time, now_micros, resident_bytes};
use clap::Parser;
use domain::access::Viewer;
use domain::users::{self, NewUser, UserStatus};
use domain::{ClientInfo, Db, Portal, instances, organizations, scopes, sessions};
use model::Role;
use model::appliance::views::JobView;
use model::appliance::{JobKind, JobProgress, JobState};
use model::live::LiveEvent;

#[derive(Debug, Parser)]
struct Args {
    #[arg(long, default_value = "127.0.0.1:3390")]
    listen: SocketAddr,
    /// Where the session cookies go, one per line, for the client.
    #[arg(long)]
    cookies: PathBuf,
    #[arg(long, default_value_t = 10_000)]
    sockets: usize,
    #[arg(long, default_value_t = 100)]
    organizations: usize,
    /// Sockets of users who see every organization; the rest see one organization each.
    #[arg(long, default_value_t = 10)]
    all_scope_sockets: usize,
    #[arg(long, default_value_t = 100)]
    jobs: usize,
    /// Progress events per job per second.
    #[arg(long, default_value_t = 2)]
    rate: u32,
    #[arg(long, default_value_t = 30)]
    seconds: u64,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let dir = std::env::temp_dir().join(format!("backplane-fanout-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    let db = Db::connect(&format!("sqlite://{}?mode=rwc", dir.join("bench.db").display()))
        .await
        .expect("database");
    let portal = Portal::new(db, format!("http://{}", args.listen));
    let organization_ids = setup(&portal, &args).await;
    serve(&portal, args.listen);

    let baseline = resident_bytes();
    eprintln!("ready: waiting for {} sockets", args.sockets);
    let waited = Instant::now();
    while portal.live.sockets() < args.sockets {
        if waited.elapsed() > Duration::from_secs(600) {
            panic!("only {} sockets connected", portal.live.sockets());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Let the snapshots go out before measuring.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let connected = resident_bytes();
    eprintln!("all connected; publishing for {} s", args.seconds);
    let cpu_before = cpu_time();
    let published = publish(&portal, &organization_ids, &args).await;
    let cpu = cpu_time() - cpu_before;
    println!(
        "{}",
        serde_json::json!({
            "sockets": portal.live.sockets(),
            "events_published": published,
            "rss_before_bytes": baseline,
            "rss_connected_bytes": connected,
            "rss_per_socket_bytes": connected.saturating_sub(baseline) / args.sockets.max(1) as u64,
            "cpu_seconds": cpu.as_secs_f64(),
            "wall_seconds": args.seconds,
        })
    );
    // Leave time for the client to read the last frames and report.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// An instance, one scope per organization, users and one session per socket; writes the
/// cookies. Returns the organization ids.
async fn setup(portal: &Portal, args: &Args) -> Vec<i64> {
    let mut conn = portal.db.pool.acquire().await.unwrap();
    let instance = instances::insert(&mut conn, "bench", "Bench", 0).await.unwrap();
    let root_id = add_user(
        &mut conn,
        instance.id,
        "root@bench.example",
        Role::Superuser,
        true,
    )
    .await;
    drop(conn);
    let root = Viewer {
        instance_id: instance.id,
        user_id: root_id,
        email: "root@bench.example".into(),
        role: Role::Superuser,
        global_scope: true,
    };
    let client = ClientInfo::default();
    let mut organization_ids = Vec::new();
    let mut watchers = Vec::new();
    for i in 0..args.organizations {
        let scope = scopes::create(portal, &root, &format!("Scope {i}"), &client)
            .await
            .unwrap();
        let id = organizations::create(portal, &root, &format!("Customer {i}"), Some(scope.id), &client)
            .await
            .unwrap();
        organization_ids.push(id);
        let mut conn = portal.db.pool.acquire().await.unwrap();
        let user = add_user(
            &mut conn,
            instance.id,
            &format!("tech{i}@bench.example"),
            Role::Monitor,
            false,
        )
        .await;
        sqlx::query("INSERT INTO user_scopes (user_id, scope_id) VALUES ($1, $2)")
            .bind(user)
            .bind(scope.id)
            .execute(&mut *conn)
            .await
            .unwrap();
        watchers.push(user);
    }
    let mut tx = portal.db.begin().await.unwrap();
    let mut cookies = String::new();
    for socket in 0..args.sockets {
        let user = if socket < args.all_scope_sockets {
            root_id
        } else {
            watchers[socket % watchers.len()]
        };
        let token = sessions::create(
            &mut tx,
            user,
            sessions::Stage::Full,
            &client,
            portal.now(),
            &portal.sessions,
        )
        .await
        .unwrap();
        cookies.push_str(&format!("{}={token}\n", app::server::SESSION_COOKIE));
    }
    tx.commit().await.unwrap();
    std::fs::write(&args.cookies, cookies).expect("write the cookies");
    organization_ids
}

async fn add_user(
    conn: &mut sqlx::AnyConnection,
    instance_id: i64,
    email: &str,
    role: Role,
    global: bool,
) -> i64 {
    let user = NewUser {
        instance_id,
        email,
        role,
        status: UserStatus::Active,
        password_hash: None,
        global_scope: global,
    };
    users::insert(conn, user, 0).await.unwrap()
}

fn serve(portal: &Portal, listen: SocketAddr) {
    let state = server::AppState::plain(portal.clone());
    let router = server::router::build(state, server::router::built_site_options());
    tokio::spawn(async move {
        let listener = tokio::net::TcpListener::bind(listen).await.expect("listen");
        let _ = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });
}

/// Publishes progress of `jobs` jobs (spread over the organizations) at `rate` per job per
/// second, evenly spaced; returns how many events went out.
async fn publish(portal: &Portal, organizations: &[i64], args: &Args) -> u64 {
    let per_second = args.jobs as u64 * u64::from(args.rate);
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / per_second.max(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let total = per_second * args.seconds;
    for n in 0..total {
        tick.tick().await;
        let job = (n % args.jobs as u64) as i64;
        let organization_id = organizations[job as usize % organizations.len()];
        let view = job_view(job, organization_id, n);
        portal
            .live
            .publish(1, organization_id, LiveEvent::Job { job: view });
    }
    total
}

/// A realistic progress update whose message is its publish time in µs.
fn job_view(job: i64, organization_id: i64, n: u64) -> JobView {
    JobView {
        id: job + 1,
        appliance_id: job + 1,
        appliance_name: format!("nas-{job:03}"),
        organization_id,
        organization_name: format!("Customer {organization_id}"),
        scope_id: None,
        asset_id: Some(job + 1),
        asset_name: "Documents".into(),
        external_id: format!("job-{job:016x}"),
        kind: JobKind::Backup,
        state: JobState::Running,
        started_at: 1_790_000_000_000,
        ended_at: None,
        progress: JobProgress {
            percent: (n % 100) as f64,
            bytes_done: n * 1_048_576,
            bytes_total: 100 * 1_073_741_824,
            files_done: n,
            files_total: 1_000_000,
            bytes_per_sec: 52_428_800,
            eta_secs: Some(600),
            message: now_micros().to_string(),
        },
        error: None,
        mode: None,
        size_bytes: None,
        scheduled_for: None,
    }
}
