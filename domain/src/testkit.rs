//! Test support shared by this crate's and the server's integration tests: a fresh database
//! per test on SQLite (a temporary file) or PostgreSQL (a new database, dropped afterwards),
//! and a portal on a manual clock.
//!
//! PostgreSQL is found at `BACKPLANE_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`); `BACKPLANE_SKIP_POSTGRES=1` skips those runs.

// Test support: a failed set-up step should stop the test that asked for it, loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use sqlx::Connection;

use crate::{Backend, Db, ManualClock, Portal};

/// 2026-01-05 09:00:00 UTC: a fixed, readable start for manual clocks.
pub const START_MS: i64 = 1_767_603_600_000;

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub struct TestDb {
    pub db: Db,
    /// The database's URL, for tests that open it their own way.
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    SqliteFile(PathBuf),
    PostgresDatabase { admin_url: String, name: String },
}

fn unique_name() -> String {
    format!(
        "bp_test_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst),
        rand::random::<u32>()
    )
}

pub fn postgres_admin_url() -> Option<String> {
    if std::env::var("BACKPLANE_SKIP_POSTGRES").is_ok_and(|v| v == "1") {
        return None;
    }
    Some(
        std::env::var("BACKPLANE_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into()),
    )
}

/// A new, empty database's URL and what removes it; `None` only when PostgreSQL runs were
/// skipped on purpose.
async fn fresh_database(backend: Backend) -> Option<(String, Cleanup)> {
    match backend {
        Backend::Sqlite => {
            let path = std::env::temp_dir().join(format!("{}.db", unique_name()));
            let url = format!("sqlite://{}?mode=rwc", path.display());
            Some((url, Cleanup::SqliteFile(path)))
        }
        Backend::Postgres => {
            let admin_url = postgres_admin_url()?;
            let name = unique_name();
            let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap_or_else(|e| {
                panic!("PostgreSQL at {admin_url} is not reachable ({e}); set BACKPLANE_TEST_POSTGRES_URL, or BACKPLANE_SKIP_POSTGRES=1 to skip")
            });
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut admin)
                .await
                .expect("create database");
            let base = admin_url
                .rsplit_once('/')
                .map_or(admin_url.as_str(), |(base, _)| base);
            let url = format!("{base}/{name}");
            Some((url, Cleanup::PostgresDatabase { admin_url, name }))
        }
    }
}

impl TestDb {
    /// A fresh database; `None` only when PostgreSQL runs were skipped on purpose.
    pub async fn new(backend: Backend) -> Option<TestDb> {
        let (url, cleanup) = fresh_database(backend).await?;
        let db = Db::connect(&url).await.expect("open the test database");
        Some(TestDb { db, url, cleanup })
    }

    /// A fresh database that `earlier` first brings to an older schema (and fills) through a
    /// plain pool, before today's [`Db::connect`] migrates it the rest of the way: an upgrade.
    pub async fn upgraded_from(
        backend: Backend,
        earlier: impl AsyncFnOnce(&sqlx::AnyPool),
    ) -> Option<TestDb> {
        let (url, cleanup) = fresh_database(backend).await?;
        sqlx::any::install_default_drivers();
        crate::db::install_crypto_provider();
        let pool = sqlx::AnyPool::connect(&url)
            .await
            .expect("open the test database");
        earlier(&pool).await;
        pool.close().await;
        let db = Db::connect(&url).await.expect("migrate the older database");
        Some(TestDb { db, url, cleanup })
    }

    /// A portal on this database with a manual clock starting at [`START_MS`].
    pub fn portal(&self) -> (Portal, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(START_MS));
        let mut portal = Portal::new(self.db.clone(), "http://portal.test");
        portal.clock = clock.clone();
        (portal, clock)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::SqliteFile(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            Cleanup::PostgresDatabase { admin_url, name } => {
                // Drop runs inside the test's runtime; a separate thread may block on its own one.
                let (admin_url, name) = (admin_url.clone(), name.clone());
                let _ = std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
                    if let Ok(runtime) = runtime {
                        runtime.block_on(async {
                            if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await {
                                let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                                let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut admin).await;
                            }
                        });
                    }
                })
                .join();
            }
        }
    }
}

/// Runs a test body once on SQLite and once on PostgreSQL:
/// `on_both_databases!(name, |db: TestDb| async move { … });`
#[macro_export]
macro_rules! on_both_databases {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[test]
            fn sqlite() {
                $crate::testkit::run_bounded($crate::Backend::Sqlite, $body);
            }

            #[test]
            fn postgres() {
                $crate::testkit::run_bounded($crate::Backend::Postgres, $body);
            }
        }
    };
}

/// How long one test may run before it counts as hung: a hang fails that test with what the
/// database was doing, instead of stalling the whole run.
pub const TEST_LIMIT: Duration = Duration::from_secs(300);

/// Stack of the test runtime's threads: rendering a page nests deeper in an unoptimised build
/// than the default 2 MiB always allows.
const TEST_STACK_BYTES: usize = 16 * 1024 * 1024;

/// Runs `body` on a fresh database of `backend` in a runtime of its own, failing it after
/// [`TEST_LIMIT`].
pub fn run_bounded<F>(backend: Backend, body: impl FnOnce(TestDb) -> F)
where
    F: Future<Output = ()> + Send + 'static,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_stack_size(TEST_STACK_BYTES)
        .enable_all()
        .build()
        .expect("test runtime");
    runtime.block_on(async {
        let created = tokio::time::timeout(TEST_LIMIT, TestDb::new(backend)).await;
        let Some(db) = created.expect("creating the test database hung") else {
            eprintln!("PostgreSQL skipped (BACKPLANE_SKIP_POSTGRES=1)");
            return;
        };
        let sessions = db.postgres_sessions_query();
        let mut test = tokio::spawn(body(db));
        match tokio::time::timeout(TEST_LIMIT, &mut test).await {
            Ok(Ok(())) => {}
            Ok(Err(failed)) => std::panic::resume_unwind(failed.into_panic()),
            Err(_) => {
                let activity = match sessions {
                    Some((admin_url, sql)) => database_activity(&admin_url, &sql).await,
                    None => "(SQLite)".to_owned(),
                };
                test.abort();
                panic!("the test ran past {TEST_LIMIT:?}; its database sessions at that moment:\n{activity}");
            }
        }
    });
}

impl TestDb {
    /// The admin URL and a query listing this PostgreSQL database's sessions.
    fn postgres_sessions_query(&self) -> Option<(String, String)> {
        match &self.cleanup {
            Cleanup::SqliteFile(_) => None,
            Cleanup::PostgresDatabase { admin_url, name } => Some((
                admin_url.clone(),
                format!(
                    "SELECT pid::text || ' ' || COALESCE(state, '') || ' wait=' || COALESCE(wait_event_type, '') \
                     || '/' || COALESCE(wait_event, '') || ' blocked_by=' || pg_blocking_pids(pid)::text \
                     || ': ' || COALESCE(query, '') FROM pg_stat_activity WHERE datname = '{name}'"
                ),
            )),
        }
    }
}

async fn database_activity(admin_url: &str, sql: &str) -> String {
    let rows: Result<Vec<(String,)>, _> = async {
        let mut admin = sqlx::PgConnection::connect(admin_url).await?;
        sqlx::query_as(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_all(&mut admin)
            .await
    }
    .await;
    match rows {
        Ok(rows) => rows
            .into_iter()
            .map(|(line,)| line)
            .collect::<Vec<_>>()
            .join("\n"),
        Err(error) => format!("(could not read pg_stat_activity: {error})"),
    }
}

/// A minimal SMTP server for tests: accepts every message and keeps its raw data.
pub struct SmtpSink {
    pub port: u16,
    pub received: Arc<std::sync::Mutex<Vec<String>>>,
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind SMTP sink");
        let port = listener.local_addr().expect("sink address").port();
        let received = Arc::new(std::sync::Mutex::new(Vec::new()));
        let store = received.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(serve_smtp(socket, store.clone()));
            }
        });
        SmtpSink { port, received }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn messages(&self) -> Vec<String> {
        self.received.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

async fn serve_smtp(socket: tokio::net::TcpStream, store: Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read).lines();
    let _ = write.write_all(b"220 sink ESMTP\r\n").await;
    let mut data: Option<String> = None;
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(body) = data.as_mut() {
            if line == "." {
                if let Ok(mut messages) = store.lock() {
                    messages.push(std::mem::take(body));
                }
                data = None;
                let _ = write.write_all(b"250 queued\r\n").await;
            } else {
                body.push_str(line.strip_prefix('.').unwrap_or(&line));
                body.push('\n');
            }
            continue;
        }
        let verb = line.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" | "HELO" => b"250 sink\r\n",
            "DATA" => {
                data = Some(String::new());
                b"354 go ahead\r\n"
            }
            "QUIT" => {
                let _ = write.write_all(b"221 bye\r\n").await;
                return;
            }
            _ => b"250 ok\r\n",
        };
        let _ = write.write_all(reply).await;
    }
}

/// An active user with no password, as the viewer services see it; `global` gives it every
/// scope.
pub async fn add_user(
    conn: &mut sqlx::AnyConnection,
    instance_id: i64,
    email: &str,
    role: model::Role,
    global: bool,
) -> crate::access::Viewer {
    let user = crate::users::NewUser {
        instance_id,
        email,
        role,
        status: crate::users::UserStatus::Active,
        password_hash: None,
        global_scope: global,
    };
    let user_id = crate::users::insert(conn, user, 0)
        .await
        .expect("insert a test user");
    crate::access::Viewer {
        instance_id,
        user_id,
        email: email.into(),
        role,
        global_scope: global,
    }
}

/// An appliance registered for `organization` (as its first connection would), named `name`.
pub async fn register_appliance(
    portal: &Portal,
    admin: &crate::access::Viewer,
    organization: i64,
    name: &str,
) -> (String, crate::appliances::ApplianceIdentity) {
    use crate::appliances::registration;
    let created = registration::create(portal, admin, organization, &crate::ClientInfo::default())
        .await
        .expect("a registration ID");
    let request = model::appliance::RegisterRequest {
        registration_id: created.id,
        name: name.into(),
        model: "reference".into(),
        version: "1.0".into(),
    };
    let response = registration::register(portal, &request)
        .await
        .expect("registered");
    let mut conn = portal.db.pool.acquire().await.expect("a connection");
    let who = registration::authenticate(&mut conn, &response.credential)
        .await
        .expect("authenticated")
        .expect("a known credential");
    (response.credential, who)
}

/// A daily backup at 01:00 from 2025-12-01, keeping everything, testing restores weekly: the
/// policy most tests give an asset.
pub fn daily_at_one() -> model::policy::Policy {
    use model::policy::{DEFAULT_RESTORE_TEST_DAYS, Frequency, Policy, Retention, Schedule};
    Policy {
        schedule: Schedule {
            frequency: Frequency::Daily,
            exclude_weekends: false,
            start_date: "2025-12-01".into(),
            start_time: "01:00".into(),
        },
        retention: Retention::default(),
        enabled: true,
        restore_test_days: DEFAULT_RESTORE_TEST_DAYS,
    }
}
