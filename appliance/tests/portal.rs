//! The real appliance binary against a real portal server (in this process, on a free port),
//! on SQLite and PostgreSQL: registration, online status, commands, malformed frames,
//! unregistering and going offline.

// Tests: a failed step should stop the test, loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use chrono::Timelike;
use domain::access::Viewer;
use domain::appliances::{assets, commands, copies, gateway, policies, registration, views};
use domain::testkit::TestDb;
use domain::users::{self, NewUser, UserStatus};
use domain::{ClientInfo, Portal, instances, on_both_databases, organizations, scopes, sessions};
use futures_util::{SinkExt, StreamExt};
use model::Role;
use model::appliance::views::{AssetView, CommandStatus};
use model::appliance::{Command, JobState, RegisterRequest, ToAppliance};
use model::jobs::ScheduleSort;
use model::live::{LiveEvent, LiveFrame};
use model::policy::{Frequency, Retention, next_run};
use tokio::process::Child;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

struct Scene {
    portal: Portal,
    url: String,
    root: Viewer,
    organization_id: i64,
    dir: PathBuf,
}

impl Drop for Scene {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.dir.join("appliance.log")).unwrap_or_default();
            eprintln!("--- the appliance's log ---\n{log}");
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn scene(db: &TestDb) -> Scene {
    let (portal, _) = db.portal();
    let mut conn = portal.db.pool.acquire().await.unwrap();
    let instance = instances::insert(&mut conn, "acme", "Acme", 0).await.unwrap();
    let new = NewUser {
        instance_id: instance.id,
        email: "root@acme.example",
        role: Role::Superuser,
        status: UserStatus::Active,
        password_hash: None,
        global_scope: true,
    };
    let user_id = users::insert(&mut conn, new, 0).await.unwrap();
    drop(conn);
    let root = Viewer {
        instance_id: instance.id,
        user_id,
        email: "root@acme.example".into(),
        role: Role::Superuser,
        global_scope: true,
    };
    let organization_id = organizations::create(&portal, &root, "Initech", None, &ClientInfo::default())
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let state = server::AppState::plain(portal.clone());
    let router = server::router::build(state, server::router::built_site_options());
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });
    let dir = std::env::temp_dir().join(format!(
        "bp-appliance-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(dir.join("protected")).unwrap();
    std::fs::write(dir.join("protected/report.txt"), "quarterly numbers").unwrap();
    Scene {
        portal,
        url,
        root,
        organization_id,
        dir,
    }
}

fn start_appliance(scene: &Scene, registration_id: Option<&str>) -> Child {
    start_appliance_via(scene, &scene.url, registration_id)
}

/// The appliance, reaching the portal at `portal_url` (the portal itself, or a [`Gate`]).
fn start_appliance_via(scene: &Scene, portal_url: &str, registration_id: Option<&str>) -> Child {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_backplane-appliance"));
    command
        .args([
            "--portal",
            portal_url,
            "--name",
            "appliance-one",
            "--heartbeat-secs",
            "1",
            "--time-zone",
            "UTC",
            "--data-dir",
        ])
        .arg(scene.dir.join("data"))
        .arg("--restore-root")
        .arg(scene.dir.join("restores"))
        .stdout(Stdio::null())
        .stderr(appliance_log(scene))
        .kill_on_drop(true);
    if let Some(id) = registration_id {
        command.args(["--registration-id", id]);
    }
    command.spawn().expect("start the appliance")
}

/// The appliance's log goes to a file in the scene, printed if the test fails.
fn appliance_log(scene: &Scene) -> Stdio {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(scene.dir.join("appliance.log"))
        .map(Stdio::from)
        .unwrap_or_else(|_| Stdio::null())
}

/// Polls `check` every 100 ms for up to 60 s (generous: CI machines are shared).
async fn eventually<F, Fut>(what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    eventually_within(what, Duration::from_secs(60), check).await
}

async fn eventually_within<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..(limit.as_millis() / 100) {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for: {what}");
}

/// Waits until command `id` ends with `status` ("done" or "error").
async fn command_ends(portal: &Portal, id: i64, status: &str) {
    let what = format!("command {id} ends {status}");
    eventually(
        &what,
        || async move { command_status(portal, id).await.0 == status },
    )
    .await
}

/// The state of the newest job of `kind`, if there is one.
async fn latest_job_state(portal: &Portal, kind: &str) -> Option<String> {
    sqlx::query_scalar("SELECT state FROM jobs WHERE kind = $1 ORDER BY id DESC LIMIT 1")
        .bind(kind)
        .fetch_optional(&portal.db.pool)
        .await
        .unwrap()
}

async fn command_status(portal: &Portal, id: i64) -> (String, Option<String>) {
    sqlx::query_as("SELECT status, message FROM appliance_commands WHERE id = $1")
        .bind(id)
        .fetch_one(&portal.db.pool)
        .await
        .unwrap()
}

on_both_databases!(
    an_appliance_registers_reports_and_obeys,
    |db: TestDb| async move {
        let s = scene(&db).await;
        let client = ClientInfo::default();
        let registration = registration::create(&s.portal, &s.root, s.organization_id, &client)
            .await
            .unwrap();
        let mut appliance = start_appliance(&s, Some(&registration.id));

        let portal = s.portal.clone();
        let root = s.root.clone();
        eventually("the appliance is online", || {
            let (portal, root) = (portal.clone(), root.clone());
            async move {
                let mut conn = portal.db.pool.acquire().await.unwrap();
                views::list(&mut conn, &root, &Default::default())
                    .await
                    .unwrap()
                    .first()
                    .is_some_and(|a| a.online && a.storage.total_bytes > 0)
            }
        })
        .await;
        let credential_file = s.dir.join("data/credential.json");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&credential_file).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let again = RegisterRequest {
            registration_id: registration.id.clone(),
            name: "copycat".into(),
            model: "m".into(),
            version: "1".into(),
        };
        assert!(
            registration::register(&s.portal, &again).await.is_err(),
            "a registration ID works once"
        );

        let mut conn = s.portal.db.pool.acquire().await.unwrap();
        let appliance_id = views::list(&mut conn, &s.root, &Default::default())
            .await
            .unwrap()[0]
            .id;
        let path = s.dir.join("protected").display().to_string();
        let added = commands::enqueue(
            &s.portal,
            &s.root,
            appliance_id,
            &Command::AddAsset { path },
            &client,
        )
        .await
        .unwrap()
        .id;
        let missing = Command::AddAsset {
            path: "/no/such/dir".into(),
        };
        let refused = commands::enqueue(&s.portal, &s.root, appliance_id, &missing, &client)
            .await
            .unwrap()
            .id;
        command_ends(&s.portal, added, "done").await;
        command_ends(&s.portal, refused, "error").await;
        let (_, message) = command_status(&s.portal, refused).await;
        assert!(
            message.unwrap().contains("/no/such/dir"),
            "the error names the path"
        );
        let portal = s.portal.clone();
        let root = s.root.clone();
        eventually("the asset is in the inventory", || {
            let (portal, root) = (portal.clone(), root.clone());
            async move {
                let mut conn = portal.db.pool.acquire().await.unwrap();
                views::get(&mut conn, &root, appliance_id).await.unwrap().assets == 1
            }
        })
        .await;

        // Back up now: a real restic-format snapshot, progress and end state reported as a job.
        let asset_id: String = sqlx::query_scalar("SELECT external_id FROM assets WHERE appliance_id = $1")
            .bind(appliance_id)
            .fetch_one(&s.portal.db.pool)
            .await
            .unwrap();
        let backup = commands::enqueue(
            &s.portal,
            &s.root,
            appliance_id,
            &Command::BackupNow {
                asset_id: asset_id.clone(),
            },
            &client,
        )
        .await
        .unwrap()
        .id;
        let portal = &s.portal;
        eventually(
            "the backup succeeds and its recovery point is reported",
            || async move {
                let points: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM recovery_points")
                    .fetch_one(&portal.db.pool)
                    .await
                    .unwrap();
                latest_job_state(portal, "backup").await.as_deref() == Some("success") && points == 1
            },
        )
        .await;
        assert_eq!(command_status(&s.portal, backup).await.0, "done");
        let (percent, log_lines): (f64, i64) = sqlx::query_as(
        "SELECT percent, (SELECT COUNT(*) FROM job_log l WHERE l.job_id = j.id) FROM jobs j WHERE kind = 'backup'",
    )
    .fetch_one(&s.portal.db.pool)
    .await
    .unwrap();
        assert_eq!(percent, 100.0);
        assert!(log_lines >= 1, "the job log says what was backed up");
        let snapshot: String = sqlx::query_scalar("SELECT external_id FROM recovery_points")
            .fetch_one(&s.portal.db.pool)
            .await
            .unwrap();

        // The stock restic tool reads the repository: no lock-in.
        let repository = s.dir.join("data/repository");
        let password_file = s.dir.join("data/repository.password");
        let listed = std::process::Command::new("restic")
            .arg("-r")
            .arg(&repository)
            .arg("--password-file")
            .arg(&password_file)
            .args(["snapshots", "--json", "--no-lock"])
            .output()
            .expect("restic is installed (scripts/tools.sh e2e)");
        assert!(
            listed.status.success(),
            "{}",
            String::from_utf8_lossy(&listed.stderr)
        );
        assert!(
            String::from_utf8_lossy(&listed.stdout).contains(&snapshot),
            "restic lists the recovery point"
        );
        let by_restic = s.dir.join("restored-by-restic");
        let restored = std::process::Command::new("restic")
            .arg("-r")
            .arg(&repository)
            .arg("--password-file")
            .arg(&password_file)
            .args(["restore", &snapshot, "--no-lock", "--target"])
            .arg(&by_restic)
            .output()
            .unwrap();
        assert!(
            restored.status.success(),
            "{}",
            String::from_utf8_lossy(&restored.stderr)
        );
        let original = s.dir.join("protected/report.txt");
        let copy = by_restic.join(original.strip_prefix("/").unwrap());
        assert_eq!(
            std::fs::read(&copy).unwrap(),
            std::fs::read(&original).unwrap(),
            "byte-identical through restic"
        );

        // The appliance itself refuses a target outside its restore roots, even if a command
        // bypassed the portal's check.
        let escape = Command::Restore {
            asset_id: asset_id.clone(),
            recovery_point_id: snapshot.clone(),
            paths: vec!["report.txt".into()],
            target_dir: s.dir.join("elsewhere").display().to_string(),
            overwrite: true,
        };
        let refused = commands::enqueue(&s.portal, &s.root, appliance_id, &escape, &client)
            .await
            .unwrap()
            .id;
        command_ends(&s.portal, refused, "error").await;
        assert!(
            !s.dir.join("elsewhere").exists(),
            "nothing written outside the roots"
        );

        // Restore through the portal, into an alternate directory on the appliance.
        let target = s.dir.join("restores/restored-by-portal");
        let restore = Command::Restore {
            asset_id: asset_id.clone(),
            recovery_point_id: snapshot.clone(),
            paths: vec!["report.txt".into()],
            target_dir: target.display().to_string(),
            overwrite: false,
        };
        commands::enqueue(&s.portal, &s.root, appliance_id, &restore, &client)
            .await
            .unwrap();
        let portal = &s.portal;
        eventually("the restore succeeds", || async move {
            latest_job_state(portal, "restore").await.as_deref() == Some("success")
        })
        .await;
        assert_eq!(
            std::fs::read(target.join("report.txt")).unwrap(),
            std::fs::read(&original).unwrap()
        );
        let again = commands::enqueue(&s.portal, &s.root, appliance_id, &restore, &client)
            .await
            .unwrap()
            .id;
        let portal = s.portal.clone();
        eventually("a second restore into the now non-empty directory fails", || {
            let portal = portal.clone();
            async move {
                let states: Vec<String> =
                    sqlx::query_scalar("SELECT state FROM jobs WHERE kind = 'restore' ORDER BY id")
                        .fetch_all(&portal.db.pool)
                        .await
                        .unwrap();
                states.len() == 2 && states[1] == "error"
            }
        })
        .await;
        let error: Option<String> =
            sqlx::query_scalar("SELECT error FROM jobs WHERE kind = 'restore' ORDER BY id DESC LIMIT 1")
                .fetch_one(&s.portal.db.pool)
                .await
                .unwrap();
        assert!(
            error.unwrap().contains("not empty"),
            "never overwrites unless asked"
        );
        let _ = again;

        // Another connection with the same credential sends garbage: it gets an error frame and the
        // real appliance is unaffected.
        let credential: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&credential_file).unwrap()).unwrap();
        let mut request = format!("{}/appliance/connect", s.url.replacen("http", "ws", 1))
            .into_client_request()
            .unwrap();
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {}", credential["credential"].as_str().unwrap())
                .parse()
                .unwrap(),
        );
        let (mut rogue, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        let welcome = rogue.next().await.unwrap().unwrap();
        assert!(welcome.to_text().unwrap().contains("welcome"));
        rogue.send(Message::Text("{not json".into())).await.unwrap();
        let reply: ToAppliance =
            serde_json::from_str(rogue.next().await.unwrap().unwrap().to_text().unwrap()).unwrap();
        assert!(
            matches!(reply, ToAppliance::Error { ref message } if message.contains("unreadable frame")),
            "{reply:?}"
        );
        // Closed cleanly and waited for, so that its server side is gone before the next
        // command is queued (else it could take that command for a socket nobody reads).
        rogue.close(None).await.unwrap();
        while let Some(Ok(_)) = rogue.next().await {}

        let unregister = commands::enqueue(&s.portal, &s.root, appliance_id, &Command::Unregister, &client)
            .await
            .unwrap()
            .id;
        let status = tokio::time::timeout(Duration::from_secs(20), appliance.wait())
            .await
            .expect("the appliance stops")
            .unwrap();
        assert!(status.success());
        command_ends(&s.portal, unregister, "done").await;
        assert!(
            !credential_file.exists(),
            "the credential is gone after unregistering"
        );

        let offline = gateway::mark_stale_offline(&s.portal, 0).await.unwrap();
        assert!(
            offline.is_empty(),
            "the manual clock has not moved past the last heartbeat"
        );
        // The test portal's clock is manual: a heartbeat five minutes old is stale.
        let stale = gateway::mark_stale_offline(&s.portal, -5 * 60_000).await.unwrap();
        assert_eq!(stale, vec![appliance_id]);
        let events: Vec<String> =
            sqlx::query_scalar("SELECT kind FROM appliance_events WHERE appliance_id = $1 ORDER BY id")
                .bind(appliance_id)
                .fetch_all(&s.portal.db.pool)
                .await
                .unwrap();
        assert_eq!(events, vec!["registered", "online", "offline"]);
    }
);

on_both_databases!(
    a_bad_registration_id_is_refused_with_a_reason,
    |db: TestDb| async move {
        let s = scene(&db).await;
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_backplane-appliance"))
            .args(["--portal", &s.url, "--registration-id", "forged", "--data-dir"])
            .arg(s.dir.join("data"))
            .output()
            .await
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("registration refused") && stderr.contains("Add appliance wizard"),
            "{stderr}"
        );
    }
);

type BrowserSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A signed-in browser session for a new user with `role` in the given scopes.
async fn browser_cookie(s: &Scene, email: &str, role: Role, scope_ids: &[i64]) -> String {
    let mut conn = s.portal.db.pool.acquire().await.unwrap();
    let user = NewUser {
        instance_id: s.root.instance_id,
        email,
        role,
        status: UserStatus::Active,
        password_hash: None,
        global_scope: false,
    };
    let user_id = users::insert(&mut conn, user, 0).await.unwrap();
    for scope_id in scope_ids {
        sqlx::query("INSERT INTO user_scopes (user_id, scope_id) VALUES ($1, $2)")
            .bind(user_id)
            .bind(scope_id)
            .execute(&mut *conn)
            .await
            .unwrap();
    }
    drop(conn);
    session_cookie(s, user_id).await
}

async fn session_cookie(s: &Scene, user_id: i64) -> String {
    let mut conn = s.portal.db.pool.acquire().await.unwrap();
    let token = sessions::create(
        &mut conn,
        user_id,
        sessions::Stage::Full,
        &ClientInfo::default(),
        s.portal.now(),
        &s.portal.sessions,
    )
    .await
    .unwrap();
    format!("{}={token}", app::server::SESSION_COOKIE)
}

async fn open_live(s: &Scene, cookie: &str, since: Option<u64>) -> BrowserSocket {
    let since = since.map(|n| format!("?since={n}")).unwrap_or_default();
    let url = format!("{}{}{since}", s.url.replace("http", "ws"), model::live::LIVE_PATH);
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert("cookie", cookie.parse().unwrap());
    tokio_tungstenite::connect_async(request).await.unwrap().0
}

/// The next frame, if one arrives within `wait`; a socket that closes or fails ends the test.
async fn next_frame(socket: &mut BrowserSocket, wait: Duration) -> Option<LiveFrame> {
    loop {
        let message = match tokio::time::timeout(wait, socket.next()).await {
            Err(_) => return None,
            Ok(None) => panic!("the live socket was closed"),
            Ok(Some(Err(e))) => panic!("the live socket failed: {e}"),
            Ok(Some(Ok(message))) => message,
        };
        match message {
            Message::Text(text) => return Some(serde_json::from_str(&text).expect("a live frame")),
            Message::Close(frame) => panic!("the portal closed the live socket: {frame:?}"),
            _ => {}
        }
    }
}

/// Reads frames until `wanted` matches one (60 s at most); returns every frame read.
async fn frames_until(
    socket: &mut BrowserSocket,
    what: &str,
    wanted: impl Fn(&LiveEvent) -> bool,
) -> Vec<LiveFrame> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while tokio::time::Instant::now() < deadline {
        let Some(frame) = next_frame(socket, Duration::from_secs(1)).await else {
            continue;
        };
        let done = matches!(&frame, LiveFrame::Event { event, .. } if wanted(event));
        seen.push(frame);
        if done {
            return seen;
        }
    }
    panic!("timed out waiting for the live event: {what}");
}

fn seq_of(frame: &LiveFrame) -> u64 {
    match frame {
        LiveFrame::Snapshot { seq, .. } | LiveFrame::Event { seq, .. } => *seq,
    }
}

on_both_databases!(
    browsers_see_live_progress_only_for_organizations_they_may_see,
    |db: TestDb| async move {
        let s = scene(&db).await;
        let client = ClientInfo::default();
        let west = scopes::create(&s.portal, &s.root, "West", &client).await.unwrap();
        organizations::create(&s.portal, &s.root, "Globex", Some(west.id), &client)
            .await
            .unwrap();
        let outsider = browser_cookie(&s, "monitor@acme.example", Role::Monitor, &[west.id]).await;
        let root_cookie = session_cookie(&s, s.root.user_id).await;
        let mut watcher = open_live(&s, &root_cookie, None).await;
        let mut other_scope = open_live(&s, &outsider, None).await;
        assert!(matches!(
            next_frame(&mut watcher, Duration::from_secs(10)).await,
            Some(LiveFrame::Snapshot { .. })
        ));
        assert!(matches!(
            next_frame(&mut other_scope, Duration::from_secs(10)).await,
            Some(LiveFrame::Snapshot { .. })
        ));

        let registration = registration::create(&s.portal, &s.root, s.organization_id, &client)
            .await
            .unwrap();
        let _appliance = start_appliance(&s, Some(&registration.id));
        let reference = registration.reference.clone();
        let seen = frames_until(
            &mut watcher,
            "the appliance registers",
            |e| matches!(e, LiveEvent::ApplianceRegistered { reference: r, .. } if *r == reference),
        )
        .await;
        let first_seq = seq_of(&seen[0]);
        let appliance_id = match seen.last() {
            Some(LiveFrame::Event { event, .. }) => match event.as_ref() {
                LiveEvent::ApplianceRegistered { appliance_id, .. } => *appliance_id,
                _ => unreachable!(),
            },
            _ => unreachable!(),
        };
        frames_until(&mut watcher, "the appliance comes online", |e| {
            matches!(e, LiveEvent::Appliance { appliance } if appliance.id == appliance_id && appliance.online)
        })
        .await;

        let path = s.dir.join("protected").display().to_string();
        commands::add_asset(&s.portal, &s.root, appliance_id, &path, &client)
            .await
            .unwrap();
        frames_until(&mut watcher, "the asset is in the inventory", |e| {
            matches!(e, LiveEvent::Appliance { appliance } if appliance.id == appliance_id && appliance.assets == 1)
        })
        .await;
        let mut conn = s.portal.db.pool.acquire().await.unwrap();
        let query = assets::AssetQuery {
            appliance_id: Some(appliance_id),
            per_page: 50,
            ..Default::default()
        };
        let asset = assets::list(&mut conn, &s.root, &query, s.portal.now())
            .await
            .unwrap()
            .items[0]
            .clone();
        drop(conn);
        let backup = commands::backup_now(&s.portal, &s.root, asset.id, &client)
            .await
            .unwrap();
        let frames = frames_until(&mut watcher, "the backup succeeds", |e| {
            matches!(e, LiveEvent::Job { job } if job.asset_id == Some(asset.id) && job.state == JobState::Success)
        })
        .await;
        let command_done = frames.iter().any(|f| {
            matches!(f, LiveFrame::Event { event, .. }
                if matches!(event.as_ref(), LiveEvent::Command { command } if command.id == backup.id && command.status != CommandStatus::Pending))
        });
        assert!(command_done, "the command's progress is pushed too");

        assert!(
            next_frame(&mut other_scope, Duration::from_millis(500))
                .await
                .is_none(),
            "a user of another scope receives nothing about this appliance"
        );

        let mut resumed = open_live(&s, &root_cookie, Some(first_seq)).await;
        match next_frame(&mut resumed, Duration::from_secs(10)).await {
            Some(LiveFrame::Event { seq, .. }) => {
                assert_eq!(seq, first_seq + 1, "resumes right after its last event")
            }
            other => panic!("expected the missed events, got {other:?}"),
        }
        let mut fresh = open_live(&s, &root_cookie, Some(1)).await;
        match next_frame(&mut fresh, Duration::from_secs(10)).await {
            Some(LiveFrame::Snapshot { jobs, .. }) => assert!(
                jobs.iter().any(|j| j.asset_id == Some(asset.id)),
                "the snapshot holds the recent job"
            ),
            other => panic!("a number the hub never issued gets a snapshot, got {other:?}"),
        }
    }
);

/// A raw appliance connection with `credential`, past the welcome frame.
async fn raw_appliance(s: &Scene, credential: &str) -> BrowserSocket {
    let mut request = format!("{}/appliance/connect", s.url.replacen("http", "ws", 1))
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {credential}").parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let welcome = socket.next().await.unwrap().unwrap();
    assert!(welcome.to_text().unwrap().contains("welcome"));
    socket
}

/// One frame the portal cannot use: random text, broken or misshapen JSON, binary, oversized.
fn garbage(rng: &mut impl rand::RngExt, i: usize) -> Message {
    match i % 6 {
        0 => Message::Text(
            (0..rng.random_range(0..200))
                .map(|_| rng.random_range(' '..='~'))
                .collect::<String>()
                .into(),
        ),
        1 => Message::Text(r#"{"type":"heartbeat","storage":{"total_bytes":"#.into()),
        2 => Message::Text(format!(r#"{{"type":"no_such_frame_{i}"}}"#).into()),
        3 => Message::Text(r#"{"type":"job","job":{"id":7}}"#.into()),
        4 => Message::Binary(vec![rng.random::<u8>(); 64].into()),
        // Every 600th frame is over the 1 MiB limit.
        _ if i % 600 == 5 => Message::Text("x".repeat(model::appliance::MAX_FRAME_BYTES + 1).into()),
        _ => Message::Text(format!(r#"{{"type":"command_result","command_id":"{i}"}}"#).into()),
    }
}

async fn register_raw(s: &Scene, name: &str) -> (i64, String) {
    let registration = registration::create(&s.portal, &s.root, s.organization_id, &ClientInfo::default())
        .await
        .unwrap();
    let request = RegisterRequest {
        registration_id: registration.id,
        name: name.into(),
        model: "fuzz".into(),
        version: "1".into(),
    };
    let response = registration::register(&s.portal, &request).await.unwrap();
    (response.appliance_id, response.credential)
}

on_both_databases!(
    ten_thousand_garbage_frames_leave_the_gateway_and_other_appliances_unharmed,
    |db: TestDb| async move {
        let s = scene(&db).await;
        let (_, fuzz_credential) = register_raw(&s, "fuzzer").await;
        let (honest_id, honest_credential) = register_raw(&s, "honest").await;
        let fuzzer = raw_appliance(&s, &fuzz_credential).await;
        let mut honest = raw_appliance(&s, &honest_credential).await;
        let (mut fuzz_out, mut fuzz_in) = fuzzer.split();
        let replies = tokio::spawn(async move {
            let mut errors = 0;
            while let Some(Ok(message)) = fuzz_in.next().await {
                if matches!(
                    serde_json::from_str(message.to_text().unwrap_or("")),
                    Ok(ToAppliance::Error { .. })
                ) {
                    errors += 1;
                    if errors == 10_000 {
                        break;
                    }
                }
            }
            errors
        });
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(6);
        for i in 0..10_000 {
            fuzz_out.send(garbage(&mut rng, i)).await.unwrap();
            if i % 1000 == 0 {
                let heartbeat = format!(
                    r#"{{"type":"heartbeat","storage":{{"total_bytes":100,"free_bytes":{},"used_bytes":1}}}}"#,
                    i / 1000
                );
                honest.send(Message::Text(heartbeat.into())).await.unwrap();
            }
        }
        let errors = tokio::time::timeout(Duration::from_secs(120), replies)
            .await
            .expect("an error frame for every garbage frame")
            .unwrap();
        assert_eq!(errors, 10_000, "the connection stayed up and answered each frame");

        let honest_free = || async {
            let mut conn = s.portal.db.pool.acquire().await.unwrap();
            views::summary(&mut conn, honest_id)
                .await
                .unwrap()
                .unwrap()
                .storage
                .free_bytes
        };
        eventually("the honest appliance's last heartbeat is stored", || async {
            honest_free().await == 9
        })
        .await;
        let _fresh = raw_appliance(&s, &honest_credential).await;
    }
);

/// A forwarder in front of the portal. Closing it makes the portal unreachable for the
/// appliance behind it, as a portal outage does: new connections are refused and open ones
/// are cut. The test meanwhile reads the portal's database directly.
struct Gate {
    addr: SocketAddr,
    portal: SocketAddr,
    forwarding: tokio::task::JoinHandle<()>,
}

impl Gate {
    async fn open(portal_url: &str) -> Gate {
        let portal: SocketAddr = portal_url.trim_start_matches("http://").parse().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        Gate {
            addr,
            portal,
            forwarding: tokio::spawn(Gate::forward(listener, portal)),
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    async fn forward(listener: tokio::net::TcpListener, portal: SocketAddr) {
        // Dropping the set (when this task is aborted) cuts every forwarded connection.
        let mut connections = tokio::task::JoinSet::new();
        while let Ok((mut inbound, _)) = listener.accept().await {
            connections.spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(portal).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    }

    fn close(&self) {
        self.forwarding.abort();
    }

    async fn reopen(&mut self) {
        let listener = tokio::net::TcpListener::bind(self.addr).await.unwrap();
        self.forwarding = tokio::spawn(Gate::forward(listener, self.portal));
    }
}

/// Waits until the scene's first appliance is online.
async fn first_appliance_online(s: &Scene) {
    let (portal, root) = (s.portal.clone(), s.root.clone());
    eventually("the appliance is online", || {
        let (portal, root) = (portal.clone(), root.clone());
        async move {
            let mut conn = portal.db.pool.acquire().await.unwrap();
            let list = views::list(&mut conn, &root, &Default::default()).await.unwrap();
            list.first().is_some_and(|a| a.online)
        }
    })
    .await;
}

/// A registered, online appliance protecting the scene's directory; returns it with its asset.
async fn appliance_with_asset(s: &Scene, portal_url: &str) -> (Child, AssetView) {
    let client = ClientInfo::default();
    let registration = registration::create(&s.portal, &s.root, s.organization_id, &client)
        .await
        .unwrap();
    let appliance = start_appliance_via(s, portal_url, Some(&registration.id));
    first_appliance_online(s).await;
    let mut conn = s.portal.db.pool.acquire().await.unwrap();
    let appliance_id = views::list(&mut conn, &s.root, &Default::default())
        .await
        .unwrap()[0]
        .id;
    drop(conn);
    let path = s.dir.join("protected").display().to_string();
    commands::add_asset(&s.portal, &s.root, appliance_id, &path, &client)
        .await
        .unwrap();
    let asset = the_asset(s).await;
    (appliance, asset)
}

/// The scene's one asset, once the appliance has reported it.
async fn the_asset(s: &Scene) -> AssetView {
    let (portal, root) = (s.portal.clone(), s.root.clone());
    eventually("the asset is in the inventory", || {
        let (portal, root) = (portal.clone(), root.clone());
        async move { first_asset(&portal, &root).await.is_some() }
    })
    .await;
    asset_now(s).await
}

async fn asset_now(s: &Scene) -> AssetView {
    first_asset(&s.portal, &s.root).await.expect("an asset")
}

async fn first_asset(portal: &Portal, root: &Viewer) -> Option<AssetView> {
    let mut conn = portal.db.pool.acquire().await.unwrap();
    let query = assets::AssetQuery {
        per_page: 50,
        ..Default::default()
    };
    assets::list(&mut conn, root, &query, portal.now())
        .await
        .unwrap()
        .items
        .into_iter()
        .next()
}

/// Waits until the appliance has answered the policy change and reports the policy.
async fn policy_confirmed(s: &Scene) {
    let (portal, root) = (s.portal.clone(), s.root.clone());
    eventually("the appliance confirms the policy", || {
        let (portal, root) = (portal.clone(), root.clone());
        async move {
            first_asset(&portal, &root)
                .await
                .is_some_and(|a| !a.policy_pending() && a.policy.is_some())
        }
    })
    .await;
}

fn policy_request(frequency: Frequency, start_date: &str, start_time: &str) -> policies::PolicyRequest {
    policies::PolicyRequest {
        frequency,
        exclude_weekends: false,
        start_date: start_date.into(),
        start_time: start_time.into(),
        retention: Retention {
            keep_last: Some(7),
            ..Retention::default()
        },
        restore_test_days: model::policy::DEFAULT_RESTORE_TEST_DAYS,
    }
}

on_both_databases!(
    a_policy_set_while_the_appliance_is_offline_reaches_it_when_it_reconnects,
    |db: TestDb| async move {
        let s = scene(&db).await;
        let client = ClientInfo::default();
        let (mut appliance, asset) = appliance_with_asset(&s, &s.url.clone()).await;
        appliance.kill().await.unwrap();

        let mut request = policy_request(Frequency::Daily, "2030-01-07", "22:00");
        request.exclude_weekends = true;
        let outcome = policies::set_policies(&s.portal, &s.root, &[asset.id], &request, &client)
            .await
            .unwrap();
        assert_eq!((outcome.queued, outcome.refused.len()), (1, 0));
        let waiting = asset_now(&s).await;
        assert!(waiting.policy_pending(), "pending while the appliance is away");
        assert_eq!(
            waiting.policy, None,
            "nothing is shown as applied before the appliance confirms"
        );
        let again = policies::set_policies(&s.portal, &s.root, &[asset.id], &request, &client)
            .await
            .unwrap();
        assert_eq!(again.queued, 0);
        assert!(
            again.refused[0].contains("protected") && again.refused[0].contains("already"),
            "a second change waits for the first: {:?}",
            again.refused
        );

        let _appliance = start_appliance(&s, None);
        policy_confirmed(&s).await;
        let confirmed = asset_now(&s).await;
        let policy = confirmed.policy.clone().unwrap();
        assert_eq!(policy.schedule.frequency, Frequency::Daily);
        assert!(policy.schedule.exclude_weekends && policy.enabled);
        assert_eq!(policy.retention.keep_last, Some(7));
        assert_eq!(confirmed.policy_change, None, "a carried-out change is not shown");
        assert_eq!(
            confirmed.time_zone, "UTC",
            "the appliance said which zone it runs in"
        );

        let mut conn = s.portal.db.pool.acquire().await.unwrap();
        let page = policies::schedules(
            &mut conn,
            &s.root,
            &Default::default(),
            (ScheduleSort::NextRun, false),
            1,
            50,
            s.portal.now(),
        )
        .await
        .unwrap();
        let schedule = &page.items[0];
        assert_eq!(schedule.job_name, "Backplane-protected");
        assert_eq!(
            schedule.next_run_at,
            Some(next_run(&policy.schedule, "UTC", s.portal.now()).unwrap())
        );
        assert!(!schedule.running);
    }
);

/// State, scheduled run, mode, size and log lines of a job as the portal stored it.
type ReportedJob = (String, Option<i64>, Option<String>, Option<i64>, i64);

on_both_databases!(
    the_appliance_keeps_its_schedule_while_the_portal_is_unreachable,
    |db: TestDb| async move {
        let s = scene(&db).await;
        let client = ClientInfo::default();
        let mut gate = Gate::open(&s.url).await;
        let (_appliance, asset) = appliance_with_asset(&s, &gate.url()).await;

        // Hourly from the next whole minute (with time to confirm first), in the appliance's zone (UTC).
        let now = chrono::Utc::now();
        let minutes = if now.second() < 35 { 1 } else { 2 };
        let first_run = (now + chrono::Duration::minutes(minutes))
            .with_second(0)
            .unwrap()
            .with_nanosecond(0)
            .unwrap();
        let request = policy_request(
            Frequency::Hourly,
            &first_run.format("%Y-%m-%d").to_string(),
            &first_run.format("%H:%M").to_string(),
        );
        policies::set_policies(&s.portal, &s.root, &[asset.id], &request, &client)
            .await
            .unwrap();
        policy_confirmed(&s).await;

        gate.close();
        let until_run = (first_run - chrono::Utc::now()).to_std().unwrap_or_default();
        tokio::time::sleep(until_run + Duration::from_secs(20)).await;
        let reported: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs")
            .fetch_one(&s.portal.db.pool)
            .await
            .unwrap();
        assert_eq!(reported, 0, "the portal heard nothing while it was unreachable");

        gate.reopen().await;
        let portal = s.portal.clone();
        let slot = first_run.timestamp_millis();
        eventually_within("the scheduled job is reported on reconnect", Duration::from_secs(150), || {
            let portal = portal.clone();
            async move {
                let job: Option<ReportedJob> = sqlx::query_as(
                    "SELECT state, scheduled_for, mode, size_bytes, (SELECT COUNT(*) FROM job_log l WHERE l.job_id = j.id)
                     FROM jobs j WHERE kind = 'backup'",
                )
                .fetch_optional(&portal.db.pool)
                .await
                .unwrap();
                job.is_some_and(|(state, scheduled_for, mode, size, log)| {
                    state == "success"
                        && scheduled_for == Some(slot)
                        && mode.as_deref() == Some("full")
                        && size.is_some_and(|s| s > 0)
                        && log > 0
                })
            }
        })
        .await;
        let started_at: i64 = sqlx::query_scalar("SELECT started_at FROM jobs WHERE kind = 'backup'")
            .fetch_one(&s.portal.db.pool)
            .await
            .unwrap();
        assert!(
            (slot..slot + 60_000).contains(&started_at),
            "it ran on time, while the portal was unreachable"
        );
    }
);

/// Reads frames until the portal closes the connection; returns them, or `None` if it stays
/// open past `limit`.
async fn frames_until_closed(socket: &mut BrowserSocket, limit: Duration) -> Option<Vec<String>> {
    let mut frames = Vec::new();
    let read = async {
        while let Some(Ok(message)) = socket.next().await {
            match message {
                Message::Text(text) => frames.push(text.to_string()),
                Message::Close(_) => break,
                _ => {}
            }
        }
    };
    tokio::time::timeout(limit, read).await.ok().map(|_| frames)
}

// A deleted appliance that never answers Unregister is cut off after a short grace; one gone
// with its organization at once; neither's frames change anything nor can it come back.
on_both_databases!(
    deleting_an_appliance_or_its_organization_closes_its_connection,
    |db: TestDb| async move {
        let s = scene(&db).await;
        let client = ClientInfo::default();
        let (deleted_id, deleted_credential) = register_raw(&s, "deleted").await;
        let mut deleted = raw_appliance(&s, &deleted_credential).await;
        commands::delete_appliance(&s.portal, &s.root, deleted_id, "DELETE", &client)
            .await
            .unwrap();
        let heartbeat = r#"{"type":"heartbeat","storage":{"total_bytes":100,"free_bytes":7,"used_bytes":1}}"#;
        deleted.send(Message::Text(heartbeat.into())).await.unwrap();
        let frames = frames_until_closed(&mut deleted, Duration::from_secs(15))
            .await
            .expect("closed within the grace, though it never answered");
        assert!(
            frames.iter().any(|f| f.contains("unregister")),
            "told first: {frames:?}"
        );
        assert!(
            frames.iter().any(|f| f.contains("deleted in the portal")),
            "{frames:?}"
        );
        let seen: Option<i64> = sqlx::query_scalar("SELECT last_seen_at FROM appliances WHERE id = $1")
            .bind(deleted_id)
            .fetch_one(&s.portal.db.pool)
            .await
            .unwrap();
        assert_eq!(seen, None, "its heartbeat changed nothing");

        let other_org = organizations::create(&s.portal, &s.root, "Doomed Corp", None, &client)
            .await
            .unwrap();
        let registration = registration::create(&s.portal, &s.root, other_org, &client)
            .await
            .unwrap();
        let request = RegisterRequest {
            registration_id: registration.id,
            name: "orphan".into(),
            model: "raw".into(),
            version: "1".into(),
        };
        let orphan_credential = registration::register(&s.portal, &request)
            .await
            .unwrap()
            .credential;
        let mut orphan = raw_appliance(&s, &orphan_credential).await;
        organizations::delete(&s.portal, &s.root, other_org, "DELETE", &client)
            .await
            .unwrap();
        let last_words = frames_until_closed(&mut orphan, Duration::from_secs(5))
            .await
            .expect("closed with its organization");
        assert!(
            last_words.iter().any(|f| f.contains("unregister")),
            "told to unregister first: {last_words:?}"
        );

        for credential in [deleted_credential, orphan_credential] {
            let mut request = format!("{}/appliance/connect", s.url.replacen("http", "ws", 1))
                .into_client_request()
                .unwrap();
            request
                .headers_mut()
                .insert("authorization", format!("Bearer {credential}").parse().unwrap());
            assert!(
                tokio_tungstenite::connect_async(request).await.is_err(),
                "the credential is refused"
            );
        }
    }
);

on_both_databases!(
    an_appliance_unregisters_when_its_organization_is_deleted,
    |db: TestDb| async move {
        let s = scene(&db).await;
        let client = ClientInfo::default();
        let registration = registration::create(&s.portal, &s.root, s.organization_id, &client)
            .await
            .unwrap();
        let mut appliance = start_appliance(&s, Some(&registration.id));
        first_appliance_online(&s).await;
        let credential_file = s.dir.join("data/credential.json");
        assert!(credential_file.exists());

        organizations::delete(&s.portal, &s.root, s.organization_id, "DELETE", &client)
            .await
            .unwrap();

        let status = tokio::time::timeout(Duration::from_secs(20), appliance.wait())
            .await
            .expect("the appliance stops once told")
            .unwrap();
        assert!(status.success(), "{status}");
        assert!(!credential_file.exists(), "it forgot its credential");
        let log = std::fs::read_to_string(s.dir.join("appliance.log")).unwrap();
        assert!(log.contains("unregistered by the portal"), "{log}");
    }
);

/// A portal whose certificate a company's own CA signed, reached only through an HTTP proxy:
/// with `--ca-file` and `HTTPS_PROXY` the appliance registers and connects, both through the
/// proxy's tunnel; without the CA it refuses the certificate and says so.
#[tokio::test]
async fn an_appliance_trusts_its_ca_file_and_tunnels_through_https_proxy() {
    let db = TestDb::new(domain::Backend::Sqlite).await.unwrap();
    let s = scene(&db).await;
    let company_ca = CompanyCa::new();
    let ca_file = s.dir.join("company-ca.pem");
    std::fs::write(&ca_file, company_ca.certificate.pem()).unwrap();
    let portal: SocketAddr = s.url.trim_start_matches("http://").parse().unwrap();
    let https_port = tls_front(&company_ca, portal).await;
    let proxy = ConnectProxy::start().await;
    let https_url = format!("https://localhost:{https_port}");

    let untrusting = registration::create(&s.portal, &s.root, s.organization_id, &ClientInfo::default())
        .await
        .unwrap();
    let mut without_ca = appliance_through(&s, &https_url, &proxy, None, &untrusting.id, "without-ca.log");
    eventually(
        "the appliance without the CA names the certificate problem",
        || async {
            std::fs::read_to_string(s.dir.join("without-ca.log")).is_ok_and(|log| log.contains("certificate"))
        },
    )
    .await;
    without_ca.kill().await.unwrap();
    proxy.targets.lock().unwrap().clear();

    let registration = registration::create(&s.portal, &s.root, s.organization_id, &ClientInfo::default())
        .await
        .unwrap();
    let _appliance = appliance_through(
        &s,
        &https_url,
        &proxy,
        Some(&ca_file),
        &registration.id,
        "appliance.log",
    );
    // The appliance without the CA never registered: this one is the only one.
    first_appliance_online(&s).await;
    let tunnels = proxy.targets.lock().unwrap().clone();
    let to_portal = tunnels
        .iter()
        .filter(|t| **t == format!("localhost:{https_port}"))
        .count();
    assert!(
        to_portal >= 2,
        "registration and WebSocket went through the proxy (tunnels: {tunnels:?})"
    );
    assert!(
        untrusting_id_unused(&s, &untrusting.id).await,
        "the refused attempt used nothing up"
    );
}

async fn untrusting_id_unused(s: &Scene, id: &str) -> bool {
    let again = RegisterRequest {
        registration_id: id.to_owned(),
        name: "late".into(),
        model: "m".into(),
        version: "1".into(),
    };
    registration::register(&s.portal, &again).await.is_ok()
}

fn appliance_through(
    s: &Scene,
    portal_url: &str,
    proxy: &ConnectProxy,
    ca_file: Option<&std::path::Path>,
    registration_id: &str,
    log: &str,
) -> Child {
    let data = s.dir.join(format!("data-{log}"));
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_backplane-appliance"));
    command
        .args([
            "--portal",
            portal_url,
            "--name",
            "behind-proxy",
            "--heartbeat-secs",
            "1",
        ])
        .args([
            "--time-zone",
            "UTC",
            "--registration-id",
            registration_id,
            "--data-dir",
        ])
        .arg(&data)
        .env("HTTPS_PROXY", format!("http://{}", proxy.addr))
        .env_remove("https_proxy")
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(s.dir.join(log)).unwrap())
        .kill_on_drop(true);
    if let Some(ca_file) = ca_file {
        command.arg("--ca-file").arg(ca_file);
    }
    command.spawn().expect("start the appliance")
}

/// A company's own certificate authority and a certificate it signed for `localhost`.
struct CompanyCa {
    certificate: rcgen::Certificate,
    server_chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    server_key: rustls::pki_types::PrivateKeyDer<'static>,
}

impl CompanyCa {
    fn new() -> CompanyCa {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Acme MSP internal CA");
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
        let server_key = rcgen::KeyPair::generate().unwrap();
        let server = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .signed_by(&server_key, &ca)
            .unwrap();
        CompanyCa {
            certificate: ca.as_ref().clone(),
            server_chain: vec![server.der().clone()],
            server_key: rustls::pki_types::PrivateKeyDer::Pkcs8(server_key.serialize_der().into()),
        }
    }
}

/// TLS in front of the portal, as a reverse proxy would terminate it; returns its port.
async fn tls_front(ca: &CompanyCa, portal: SocketAddr) -> u16 {
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(ca.server_chain.clone(), ca.server_key.clone_key())
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(inbound).await else {
                    return;
                };
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(portal).await {
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut outbound).await;
                }
            });
        }
    });
    port
}

/// An HTTP proxy that only tunnels (`CONNECT host:port`), recording each target.
struct ConnectProxy {
    addr: SocketAddr,
    targets: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl ConnectProxy {
    async fn start() -> ConnectProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let targets = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let recorded = targets.clone();
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                tokio::spawn(ConnectProxy::tunnel(inbound, recorded.clone()));
            }
        });
        ConnectProxy { addr, targets }
    }

    async fn tunnel(
        mut inbound: tokio::net::TcpStream,
        targets: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    ) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if inbound.read(&mut byte).await.unwrap_or(0) == 0 {
                return;
            }
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        let mut words = head.split_whitespace();
        let (Some("CONNECT"), Some(target)) = (words.next(), words.next()) else {
            let _ = inbound
                .write_all(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
                .await;
            return;
        };
        targets.lock().unwrap().push(target.to_owned());
        let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await else {
            let _ = inbound.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
            return;
        };
        let _ = inbound
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .await;
        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
    }
}

const S3_KEY_ID: &str = "AKIABACKPLANETEST";
const S3_SECRET: &str = "backplane-test-secret-key";

/// An S3 server over a directory (s3s-fs) on `port`, as a copy target. Aborting the returned
/// task takes it down with every open connection (the target "going away").
async fn s3_server(root: &std::path::Path, port: u16) -> tokio::task::JoinHandle<()> {
    let mut builder = s3s::service::S3ServiceBuilder::new(s3s_fs::FileSystem::new(root).unwrap());
    builder.set_auth(s3s::auth::SimpleAuth::from_single(S3_KEY_ID, S3_SECRET));
    let service = builder.build();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    tokio::spawn(async move {
        let http = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
        let mut connections = tokio::task::JoinSet::new();
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                continue;
            };
            let connection = http
                .serve_connection(hyper_util::rt::TokioIo::new(socket), service.clone())
                .into_owned();
            connections.spawn(async move {
                let _ = connection.await;
            });
        }
    })
}

/// `restic` run against the copy target's repository (without blocking the runtime, which
/// serves the S3 target in this process).
async fn restic_on_target(s: &Scene, port: u16, args: &[&str]) -> std::process::Output {
    let target: model::appliance::CopyTarget =
        serde_json::from_str(&std::fs::read_to_string(s.dir.join("data/copy-target.json")).unwrap()).unwrap();
    let password_file = s.dir.join("target.password");
    std::fs::write(&password_file, &target.repository_password).unwrap();
    let output = tokio::process::Command::new("restic")
        .arg("-r")
        .arg(format!("s3:http://127.0.0.1:{port}/offsite/initech"))
        .arg("--password-file")
        .arg(&password_file)
        .args(args)
        .env("AWS_ACCESS_KEY_ID", S3_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", S3_SECRET)
        .output()
        .await
        .expect("restic is installed (scripts/tools.sh e2e)");
    assert!(
        output.status.success(),
        "restic {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Waits for the `nth` job of `kind` (counting from 1) to end in `state`; returns its message
/// (or fails with the message of one that ended otherwise).
async fn job_ends(s: &Scene, kind: &str, nth: usize, state: &str) -> String {
    let ended = |portal: Portal| async move {
        let jobs: Vec<(String, String, Option<String>)> =
            sqlx::query_as("SELECT state, message, error FROM jobs WHERE kind = $1 ORDER BY id")
                .bind(kind)
                .fetch_all(&portal.db.pool)
                .await
                .unwrap();
        jobs.into_iter()
            .nth(nth - 1)
            .filter(|(state, ..)| !matches!(state.as_str(), "queued" | "running"))
    };
    let portal = s.portal.clone();
    eventually_within(
        &format!("{kind} job {nth} ends {state}"),
        Duration::from_secs(120),
        || {
            let portal = portal.clone();
            async move { ended(portal).await.is_some() }
        },
    )
    .await;
    let (ended_in, message, error) = ended(s.portal.clone()).await.unwrap();
    assert_eq!(ended_in, state, "{message} {error:?}");
    message
}

on_both_databases!(
    backups_are_copied_to_an_s3_target_that_restic_restores_and_copies_resume_after_an_outage,
    |db: TestDb| async move {
        let s = scene(&db).await;
        let client = ClientInfo::default();
        let (_appliance, asset) = appliance_with_asset(&s, &s.url.clone()).await;
        let buckets = s.dir.join("s3");
        std::fs::create_dir_all(buckets.join("offsite")).unwrap();
        let port = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let server = s3_server(&buckets, port).await;

        let target = model::appliance::CopyTargetRequest {
            location: model::appliance::CopyLocation::S3 {
                endpoint: format!("http://127.0.0.1:{port}"),
                bucket: "offsite".into(),
                prefix: "initech".into(),
                region: String::new(),
                access_key_id: S3_KEY_ID.into(),
                secret_access_key: S3_SECRET.into(),
            },
            bandwidth_kib: Some(100 * 1024),
            retention: Retention::default(),
            schedule: None,
        };
        let set = copies::set_copy_target(&s.portal, &s.root, asset.appliance_id, target, &client)
            .await
            .unwrap();
        command_ends(&s.portal, set.id, "done").await;
        let on_disk = std::fs::read_to_string(s.dir.join("data/copy-target.json")).unwrap();
        assert!(
            on_disk.contains(S3_SECRET),
            "the appliance holds the opened secret"
        );

        // A good backup is followed by a copy of its recovery point.
        let backup = commands::backup_now(&s.portal, &s.root, asset.id, &client)
            .await
            .unwrap();
        command_ends(&s.portal, backup.id, "done").await;
        let copied = job_ends(&s, "copy", 1, "success").await;
        assert!(copied.contains("Copied 1 recovery point"), "{copied}");
        let first_copy = asset_now(&s).await.last_copy_at.expect("Last backup copy");

        // The stock restic restores the copy byte-identically, without the appliance.
        let listed = restic_on_target(&s, port, &["snapshots", "--json", "--no-lock"]).await;
        let snapshots: Vec<serde_json::Value> = serde_json::from_slice(&listed.stdout).unwrap();
        assert_eq!(snapshots.len(), 1);
        let by_restic = s.dir.join("restored-from-copy");
        restic_on_target(
            &s,
            port,
            &[
                "restore",
                "latest",
                "--no-lock",
                "--target",
                by_restic.to_str().unwrap(),
            ],
        )
        .await;
        let original = s.dir.join("protected/report.txt");
        assert_eq!(
            std::fs::read(by_restic.join(original.strip_prefix("/").unwrap())).unwrap(),
            std::fs::read(&original).unwrap(),
            "byte-identical through restic from the copy"
        );

        // The target goes down: the backup succeeds, its copy fails and says why.
        server.abort();
        let _ = server.await;
        std::fs::write(&original, "revised numbers").unwrap();
        let backup = commands::backup_now(&s.portal, &s.root, asset.id, &client)
            .await
            .unwrap();
        command_ends(&s.portal, backup.id, "done").await;
        eventually_within("the copy fails", Duration::from_secs(180), || {
            let portal = s.portal.clone();
            async move { latest_job_state(&portal, "copy").await.as_deref() == Some("error") }
        })
        .await;
        assert_eq!(
            latest_job_state(&s.portal, "backup").await.as_deref(),
            Some("success")
        );
        assert_eq!(asset_now(&s).await.last_copy_at, Some(first_copy));

        // Back up again: Copy now copies what is missing, and nothing twice.
        let _server = s3_server(&buckets, port).await;
        let copy = copies::copy_now(&s.portal, &s.root, asset.id, &client)
            .await
            .unwrap();
        command_ends(&s.portal, copy.id, "done").await;
        let resumed = job_ends(&s, "copy", 3, "success").await;
        assert!(
            resumed.contains("Copied 1 recovery point") && resumed.contains("1 already there"),
            "{resumed}"
        );
        let listed = restic_on_target(&s, port, &["snapshots", "--json", "--no-lock"]).await;
        let snapshots: Vec<serde_json::Value> = serde_json::from_slice(&listed.stdout).unwrap();
        assert_eq!(snapshots.len(), 2, "each recovery point copied once");
        assert!(asset_now(&s).await.last_copy_at > Some(first_copy));
        // (Not `restic check`: s3s-fs lists nested keys incompletely, so restic would miss
        // packs that restores read fine.) The newest copy restores the revised file.
        let again = s.dir.join("restored-after-outage");
        let target = again.to_str().unwrap();
        restic_on_target(&s, port, &["restore", "latest", "--no-lock", "--target", target]).await;
        let revised = std::fs::read(again.join(original.strip_prefix("/").unwrap())).unwrap();
        assert_eq!(revised, b"revised numbers");
    }
);

/// Overwrites every pack file of the appliance's repository with other bytes of its size.
fn damage_packs(dir: &std::path::Path) -> usize {
    let mut damaged = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            damaged += damage_packs(&path);
        } else {
            let len = std::fs::metadata(&path).unwrap().len() as usize;
            std::fs::write(&path, vec![0x5a; len]).unwrap();
            damaged += 1;
        }
    }
    damaged
}

on_both_databases!(
    restore_tests_pass_on_a_sound_repository_and_fail_and_alarm_on_a_damaged_one,
    |db: TestDb| async move {
        let s = scene(&db).await;
        let client = ClientInfo::default();
        let (_appliance, asset) = appliance_with_asset(&s, &s.url.clone()).await;
        let refused = commands::verify_now(&s.portal, &s.root, asset.id, &client).await;
        assert!(
            format!("{refused:?}").contains("no recovery point"),
            "nothing to test before the first backup: {refused:?}"
        );
        let backup = commands::backup_now(&s.portal, &s.root, asset.id, &client)
            .await
            .unwrap();
        command_ends(&s.portal, backup.id, "done").await;
        job_ends(&s, "backup", 1, "success").await;
        let portal = s.portal.clone();
        let root = s.root.clone();
        eventually("the recovery point is listed", || {
            let (portal, root) = (portal.clone(), root.clone());
            async move {
                first_asset(&portal, &root)
                    .await
                    .is_some_and(|a| a.recovery_points == 1)
            }
        })
        .await;
        assert_eq!(
            latest_job_state(&s.portal, "verify").await,
            None,
            "the first week starts now"
        );

        let test = commands::verify_now(&s.portal, &s.root, asset.id, &client)
            .await
            .unwrap();
        command_ends(&s.portal, test.id, "done").await;
        let passed = job_ends(&s, "verify", 1, "success").await;
        assert!(
            passed.contains("1 file(s)") && passed.contains("identical to the repository"),
            "{passed}"
        );
        let verified = asset_now(&s).await.last_verified.expect("Last verified");
        assert_eq!(verified.state, JobState::Success);
        let scratch = s.dir.join("data/restore-tests");
        let left: Vec<_> = std::fs::read_dir(&scratch)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| !name.ends_with(".last"))
            .collect();
        assert!(left.is_empty(), "the scratch copy is removed: {left:?}");

        // Damaged pack files: the test fails, says so, and raises an alert.
        assert!(damage_packs(&s.dir.join("data/repository/data")) > 0);
        let test = commands::verify_now(&s.portal, &s.root, asset.id, &client)
            .await
            .unwrap();
        command_ends(&s.portal, test.id, "done").await;
        job_ends(&s, "verify", 2, "error").await;
        assert_eq!(asset_now(&s).await.last_verified.unwrap().state, JobState::Error);
        domain::alerts::engine::run_due(&s.portal).await.unwrap();
        let alerts: Vec<String> =
            sqlx::query_scalar("SELECT kind FROM alerts WHERE state = 'active' AND asset_id = $1")
                .bind(asset.id)
                .fetch_all(&s.portal.db.pool)
                .await
                .unwrap();
        assert!(alerts.contains(&"restore_test_failed".to_owned()), "{alerts:?}");
    }
);

on_both_databases!(
    a_copy_target_with_a_schedule_copies_on_it_and_not_after_each_backup,
    |db: TestDb| async move {
        let s = scene(&db).await;
        let client = ClientInfo::default();
        let (_appliance, asset) = appliance_with_asset(&s, &s.url.clone()).await;

        // Hourly from the next whole minute (with time to back up first), in the appliance's zone (UTC).
        let now = chrono::Utc::now();
        let minutes = if now.second() < 30 { 1 } else { 2 };
        let slot = (now + chrono::Duration::minutes(minutes))
            .with_second(0)
            .unwrap()
            .with_nanosecond(0)
            .unwrap();
        let target = model::appliance::CopyTargetRequest {
            location: model::appliance::CopyLocation::Path {
                path: s.dir.join("offsite").display().to_string(),
            },
            bandwidth_kib: None,
            retention: Retention::default(),
            schedule: Some(model::policy::Schedule {
                frequency: Frequency::Hourly,
                exclude_weekends: false,
                start_date: slot.format("%Y-%m-%d").to_string(),
                start_time: slot.format("%H:%M").to_string(),
            }),
        };
        let set = copies::set_copy_target(&s.portal, &s.root, asset.appliance_id, target, &client)
            .await
            .unwrap();
        command_ends(&s.portal, set.id, "done").await;
        let backup = commands::backup_now(&s.portal, &s.root, asset.id, &client)
            .await
            .unwrap();
        command_ends(&s.portal, backup.id, "done").await;
        job_ends(&s, "backup", 1, "success").await;
        assert_eq!(
            latest_job_state(&s.portal, "copy").await,
            None,
            "no copy follows the backup: the copies keep their own schedule"
        );

        let copied = job_ends(&s, "copy", 1, "success").await;
        let started_at: i64 = sqlx::query_scalar("SELECT started_at FROM jobs WHERE kind = 'copy'")
            .fetch_one(&s.portal.db.pool)
            .await
            .unwrap();
        let slot = slot.timestamp_millis();
        assert!(
            (slot..slot + 60_000).contains(&started_at),
            "the copy ran at its slot ({slot}), not at {started_at}: {copied}"
        );
        assert!(
            asset_now(&s).await.last_copy_at.is_some(),
            "Last backup copy fills in"
        );
    }
);
