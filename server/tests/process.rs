//! The real server binary as a process. A crash between recording an alert and sending its
//! mail: it raises an offline alarm and commits its mail to the outbox, is killed with SIGKILL
//! before the mail goes out, and on restart sends it exactly once (an SMTP sink in the test
//! receives it). And what operators see of it: health, readiness, metrics and JSON logs.

// Tests: a failed step should stop the test, loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use domain::alerts::settings;
use domain::appliances::gateway;
use domain::clock::HOUR_MS;
use domain::testkit::{self, SmtpSink};
use domain::{ClientInfo, Db, ManualClock, Portal, SystemClock, instances, organizations};
use model::Role;
use model::appliance::Storage;

struct DataDir(PathBuf);

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn database_url(data: &DataDir) -> String {
    format!("sqlite://{}?mode=rwc", data.0.join("backplane.db").display())
}

/// The server binary on a data directory, listening on `port`, with nothing from the
/// environment of the test run.
fn server_command(data: &std::path::Path, port: u16) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_backplane"));
    command
        .env("BACKPLANE_DATA_DIR", data)
        .env("BACKPLANE_LISTEN", format!("127.0.0.1:{port}"))
        .env("LEPTOS_SITE_ROOT", "target/site")
        .env_remove("DATABASE_URL")
        .env_remove("BACKPLANE_CONFIG");
    command
}

fn start_server(data: &DataDir, smtp: &str, mail_poll_secs: u64) -> Server {
    let child = server_command(&data.0, free_port())
        .env("BACKPLANE_SMTP_URL", smtp)
        .env("BACKPLANE_SMTP_FROM", "Backplane <no-reply@backplane.test>")
        .env("BACKPLANE_MAIL_POLL_SECS", mail_poll_secs.to_string())
        .env("BACKPLANE_OFFLINE_AFTER_SECS", "60")
        .env("BACKPLANE_OFFLINE_ALARM_AFTER_SECS", "3600")
        .spawn()
        .expect("start backplane");
    Server(child)
}

/// An instance with an alert recipient and an appliance last seen two hours ago.
async fn seed(db: &Db) {
    let mut portal = Portal::new(db.clone(), "http://127.0.0.1");
    let now = domain::Clock::now_ms(&SystemClock);
    portal.clock = Arc::new(ManualClock::new(now - 2 * HOUR_MS));
    let mut conn = db.pool.acquire().await.unwrap();
    let instance = instances::insert(&mut conn, "acme", "Acme IT", 0).await.unwrap();
    let root = testkit::add_user(&mut conn, instance.id, "root@acme.example", Role::Superuser, true).await;
    drop(conn);
    let client = ClientInfo::default();
    let org = organizations::create(&portal, &root, "Globex", None, &client)
        .await
        .unwrap();
    settings::add_recipient(&portal, &root, "ops@acme.example", &client)
        .await
        .unwrap();
    let (_, who) = testkit::register_appliance(&portal, &root, org, "nas-crash").await;
    let storage = Storage {
        total_bytes: 100,
        free_bytes: 50,
        used_bytes: 50,
    };
    gateway::heartbeat(&portal, &who, &storage).await.unwrap();
}

/// Outbox rows about alerts, as (status, subject).
async fn alert_mail(db: &Db) -> Vec<(String, String)> {
    sqlx::query_as("SELECT status, subject FROM outbox WHERE alert_id IS NOT NULL ORDER BY id")
        .fetch_all(&db.pool)
        .await
        .unwrap()
}

async fn wait_for<T>(what: &str, timeout: Duration, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mail_committed_before_a_crash_is_sent_exactly_once_after_restart() {
    let data = DataDir(std::env::temp_dir().join(format!("bp-crash-{}", std::process::id())));
    std::fs::create_dir_all(&data.0).unwrap();
    let db = Db::connect(&database_url(&data)).await.unwrap();
    seed(&db).await;
    let sink = SmtpSink::start().await;

    // Mail waits an hour between passes here: the alert's mail is committed but not sent.
    let mut first = start_server(&data, &sink.url(), 3600);
    let queued = wait_for(
        "the alert's mail in the outbox",
        Duration::from_secs(60),
        async || {
            let mail = alert_mail(&db).await;
            (!mail.is_empty()).then_some(mail)
        },
    )
    .await;
    first.0.kill().expect("SIGKILL the server");
    first.0.wait().unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].0, "queued");
    assert_eq!(
        queued[0].1,
        "Acme IT Alert Center: Conditional Alarm - Appliance nas-crash is offline"
    );
    assert!(sink.messages().is_empty(), "nothing was sent before the crash");

    let _second = start_server(&data, &sink.url(), 1);
    wait_for("the mail at the SMTP sink", Duration::from_secs(60), async || {
        (!sink.messages().is_empty()).then_some(())
    })
    .await;
    // Several more delivery and evaluation passes: nothing is sent or raised twice.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let messages = sink.messages();
    assert_eq!(messages.len(), 1, "{messages:?}");
    // Long headers are folded onto continuation lines.
    let unfolded = messages[0].replace("\n ", " ");
    assert!(
        unfolded
            .contains("Subject: Acme IT Alert Center: Conditional Alarm - Appliance nas-crash is offline"),
        "{unfolded}"
    );
    assert_eq!(
        alert_mail(&db).await,
        vec![("sent".to_string(), queued[0].1.clone())]
    );
    let alerts: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM alerts")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(alerts, 1);
}

/// A GET over plain HTTP/1.0: the status and the body (`None` while nothing listens).
async fn http_get(port: u16, path: &str, bearer: Option<&str>) -> Option<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    let authorization = bearer.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n{authorization}\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.ok()?;
    let status = answer.split(' ').nth(1)?.parse().ok()?;
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_owned();
    Some((status, body))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_see_health_readiness_and_metrics_and_get_json_logs() {
    let data = DataDir(std::env::temp_dir().join(format!("bp-ops-{}", std::process::id())));
    std::fs::create_dir_all(&data.0).unwrap();
    let (port, metrics_port) = (free_port(), free_port());
    let token = "metrics-token-for-the-scraper-0123";
    let mut server = Server(
        server_command(&data.0, port)
            .env("BACKPLANE_METRICS_TOKEN", token)
            .env("BACKPLANE_METRICS_LISTEN", format!("127.0.0.1:{metrics_port}"))
            .env("RUST_LOG", "info")
            .args(["--log-format", "json"])
            .stderr(Stdio::piped())
            .spawn()
            .expect("start backplane"),
    );
    let health = wait_for("/healthz", Duration::from_secs(60), async || {
        http_get(port, "/healthz", None).await
    })
    .await;
    assert_eq!(health, (200, "ok".into()), "no setup redirect, no detail");
    let ready = wait_for("/readyz", Duration::from_secs(30), async || {
        http_get(port, "/readyz", None)
            .await
            .filter(|(status, _)| *status == 200)
    })
    .await;
    assert_eq!(ready.1, "ready", "migrated, and every background loop went round");

    let _ = http_get(port, "/api/no-such-endpoint-abc", None).await;
    let refused = http_get(port, "/metrics", None).await.unwrap();
    assert_eq!(refused.0, 401, "the main listener wants the token");
    let wrong = http_get(port, "/metrics", Some("metrics-token-for-the-scraper-9999"))
        .await
        .unwrap();
    assert_eq!(wrong.0, 401);
    let (status, metrics) = http_get(port, "/metrics", Some(token)).await.unwrap();
    assert_eq!(status, 200);
    for name in [
        "backplane_http_requests_total{",
        "route=\"/healthz\"",
        "route=\"unmatched\"",
        "backplane_http_request_duration_seconds_bucket{",
        "backplane_live_sockets ",
        "backplane_appliances_online ",
        "backplane_jobs_running ",
        "backplane_outbox_pending 0",
        "backplane_outbox_oldest_pending_seconds ",
        "backplane_alert_evaluation_lag_seconds ",
        "backplane_db_pool_connections ",
    ] {
        assert!(metrics.contains(name), "{name} in\n{metrics}");
    }
    assert!(
        !metrics.contains("no-such-endpoint"),
        "unknown paths are not labels"
    );
    let (status, separate) = http_get(metrics_port, "/metrics", None).await.unwrap();
    assert!(
        status == 200 && separate.contains("backplane_jobs_running "),
        "{status}"
    );
    let other = http_get(metrics_port, "/healthz", None).await.unwrap();
    assert_eq!(other.0, 404, "the metrics listener serves nothing else");

    server.0.kill().unwrap();
    let _ = server.0.wait();
    let mut logs = String::new();
    server.0.stderr.take().unwrap().read_to_string(&mut logs).unwrap();
    let lines: Vec<&str> = logs.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty(), "the server logged");
    for line in lines {
        let entry: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            entry.get("level").is_some() && entry.get("timestamp").is_some(),
            "{line}"
        );
    }
}

/// `backplane admin …` on a data directory; its output.
fn admin(data: &std::path::Path, args: &[&str]) -> std::process::Output {
    server_command(data, free_port())
        .arg("admin")
        .args(args)
        .output()
        .expect("run backplane admin")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_under_load_restores_into_a_new_data_directory() {
    let base = std::env::temp_dir().join(format!("bp-backup-{}", std::process::id()));
    let (live, restored) = (DataDir(base.join("live")), DataDir(base.join("restored")));
    std::fs::create_dir_all(&live.0).unwrap();
    let _cleanup = DataDir(base.clone());
    let db = Db::connect(&database_url(&live)).await.unwrap();
    seed(&db).await;
    let port = free_port();
    let _running = Server(server_command(&live.0, port).spawn().expect("start backplane"));
    wait_for("the live portal", Duration::from_secs(60), async || {
        http_get(port, "/readyz", None)
            .await
            .filter(|(status, _)| *status == 200)
    })
    .await;

    // Writes go on while the backup is taken: audit records, one per transaction.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = tokio::spawn({
        let (db, stop) = (db.clone(), stop.clone());
        async move {
            let mut written = 0_i64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                sqlx::query(
                    "INSERT INTO audit_log (instance_id, actor, action, target, created_at)
                     VALUES (1, 'load', 'load.write', 'row', $1)",
                )
                .bind(written)
                .execute(&db.pool)
                .await
                .unwrap();
                written += 1;
            }
            written
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let file = base.join("portal.backup");
    let file_arg = file.display().to_string();
    let backup = tokio::task::spawn_blocking({
        let (live, file_arg) = (live.0.clone(), file_arg.clone());
        move || admin(&live, &["backup", "--to", &file_arg])
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written = writer.await.unwrap();
    assert!(backup.status.success(), "{backup:?}");
    let again = admin(&live.0, &["backup", "--to", &file_arg]);
    assert!(!again.status.success(), "an existing file is never overwritten");

    std::fs::create_dir_all(&restored.0).unwrap();
    let restore = admin(&restored.0, &["restore", "--from", &file_arg]);
    assert!(restore.status.success(), "{restore:?}");
    let twice = admin(&restored.0, &["restore", "--from", &file_arg]);
    let refusal = String::from_utf8_lossy(&twice.stderr).into_owned();
    assert!(
        !twice.status.success() && refusal.contains("already exists"),
        "{refusal}"
    );
    let text_file = base.join("notes.txt");
    std::fs::write(&text_file, "not a database").unwrap();
    let text_arg = text_file.display().to_string();
    let not_a_backup = admin(&base.join("other"), &["restore", "--from", &text_arg]);
    let refusal = String::from_utf8_lossy(&not_a_backup.stderr).into_owned();
    assert!(refusal.contains("is not a Backplane backup"), "{refusal}");

    let copy = Db::connect(&database_url(&restored)).await.unwrap();
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&copy.pool)
        .await
        .unwrap();
    assert_eq!(check, "ok");
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'load.write'")
        .fetch_one(&copy.pool)
        .await
        .unwrap();
    assert!(
        rows > 0 && rows < written,
        "a moment during the load: {rows} of {written}"
    );
    let appliances: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM appliances")
        .fetch_one(&copy.pool)
        .await
        .unwrap();
    assert_eq!(appliances, 1, "everything seeded before the backup is there");
    copy.pool.close().await;

    let restored_port = free_port();
    let _second = Server(
        server_command(&restored.0, restored_port)
            .spawn()
            .expect("start backplane"),
    );
    wait_for("the restored portal ready", Duration::from_secs(60), async || {
        http_get(restored_port, "/readyz", None)
            .await
            .filter(|(status, _)| *status == 200)
    })
    .await;
    let listed = admin(&restored.0, &["list-instances"]);
    assert_eq!(String::from_utf8_lossy(&listed.stdout), "acme\tAcme IT\n");
}
