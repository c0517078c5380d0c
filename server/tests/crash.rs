//! A crash between recording an alert and sending its mail: the real server binary raises an
//! offline alarm and commits its mail to the outbox, is killed with SIGKILL before the mail
//! goes out, and on restart sends it exactly once (an SMTP sink in the test receives it).

// Tests: a failed step should stop the test, loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command};
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

fn start_server(data: &DataDir, smtp: &str, mail_poll_secs: u64) -> Server {
    let child = Command::new(env!("CARGO_BIN_EXE_backplane"))
        .env("BACKPLANE_DATA_DIR", &data.0)
        .env("BACKPLANE_LISTEN", format!("127.0.0.1:{}", free_port()))
        .env("BACKPLANE_SMTP_URL", smtp)
        .env("BACKPLANE_SMTP_FROM", "Backplane <no-reply@backplane.test>")
        .env("BACKPLANE_MAIL_POLL_SECS", mail_poll_secs.to_string())
        .env("BACKPLANE_OFFLINE_AFTER_SECS", "60")
        .env("BACKPLANE_OFFLINE_ALARM_AFTER_SECS", "3600")
        .env("LEPTOS_SITE_ROOT", "target/site")
        .env_remove("DATABASE_URL")
        .env_remove("BACKPLANE_CONFIG")
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
