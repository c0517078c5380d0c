//! The real appliance binary against a real portal server (in this process, on a free port),
//! on SQLite and PostgreSQL: registration, online status, commands, malformed frames,
//! unregistering and going offline.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use app::server::CookiePolicy;
use domain::access::Viewer;
use domain::appliances::{gateway, registration, views};
use domain::testkit::TestDb;
use domain::users::{self, NewUser, UserStatus};
use domain::{ClientInfo, Portal, instances, on_both_databases, organizations};
use futures_util::{SinkExt, StreamExt};
use model::Role;
use model::appliance::{Command, RegisterRequest, ToAppliance};
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
    let state = server::AppState {
        portal: portal.clone(),
        cookies: CookiePolicy {
            secure: false,
            embeddable: false,
        },
        frame_ancestors: Vec::new(),
        setup_done: Arc::default(),
    };
    let options = leptos::prelude::LeptosOptions::builder()
        .output_name("backplane")
        .site_root("target/site")
        .build();
    let router = server::router::build(state, options);
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
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_backplane-appliance"));
    command
        .args([
            "--portal",
            &scene.url,
            "--name",
            "appliance-one",
            "--heartbeat-secs",
            "1",
            "--data-dir",
        ])
        .arg(scene.dir.join("data"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    if let Some(id) = registration_id {
        command.args(["--registration-id", id]);
    }
    command.spawn().expect("start the appliance")
}

/// Polls `check` every 100 ms for up to 60 s (generous: CI machines are shared).
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..600 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for: {what}");
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
                views::list(&mut conn, &root)
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
        let appliance_id = views::list(&mut conn, &s.root).await.unwrap()[0].id;
        let path = s.dir.join("protected").display().to_string();
        let added = gateway::enqueue(
            &s.portal,
            &s.root,
            appliance_id,
            &Command::AddAsset { path },
            &client,
        )
        .await
        .unwrap();
        let missing = Command::AddAsset {
            path: "/no/such/dir".into(),
        };
        let refused = gateway::enqueue(&s.portal, &s.root, appliance_id, &missing, &client)
            .await
            .unwrap();
        let portal = s.portal.clone();
        eventually("both commands finish", || {
            let portal = portal.clone();
            async move {
                command_status(&portal, added).await.0 == "done"
                    && command_status(&portal, refused).await.0 == "error"
            }
        })
        .await;
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
        let backup = gateway::enqueue(
            &s.portal,
            &s.root,
            appliance_id,
            &Command::BackupNow {
                asset_id: asset_id.clone(),
            },
            &client,
        )
        .await
        .unwrap();
        let portal = s.portal.clone();
        eventually("the backup succeeds and its recovery point is reported", || {
            let portal = portal.clone();
            async move {
                let state: Option<String> =
                    sqlx::query_scalar("SELECT state FROM jobs WHERE kind = 'backup'")
                        .fetch_optional(&portal.db.pool)
                        .await
                        .unwrap();
                let points: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM recovery_points")
                    .fetch_one(&portal.db.pool)
                    .await
                    .unwrap();
                state.as_deref() == Some("success") && points == 1
            }
        })
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

        // Restore through the portal, into an alternate directory on the appliance.
        let target = s.dir.join("restored-by-portal");
        let restore = Command::Restore {
            asset_id: asset_id.clone(),
            recovery_point_id: snapshot.clone(),
            paths: vec!["report.txt".into()],
            target_dir: target.display().to_string(),
            overwrite: false,
        };
        gateway::enqueue(&s.portal, &s.root, appliance_id, &restore, &client)
            .await
            .unwrap();
        let portal = s.portal.clone();
        eventually("the restore succeeds", || {
            let portal = portal.clone();
            async move {
                let state: Option<String> =
                    sqlx::query_scalar("SELECT state FROM jobs WHERE kind = 'restore'")
                        .fetch_optional(&portal.db.pool)
                        .await
                        .unwrap();
                state.as_deref() == Some("success")
            }
        })
        .await;
        assert_eq!(
            std::fs::read(target.join("report.txt")).unwrap(),
            std::fs::read(&original).unwrap()
        );
        let again = gateway::enqueue(&s.portal, &s.root, appliance_id, &restore, &client)
            .await
            .unwrap();
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
        drop(rogue);

        let unregister = gateway::enqueue(&s.portal, &s.root, appliance_id, &Command::Unregister, &client)
            .await
            .unwrap();
        let status = tokio::time::timeout(Duration::from_secs(20), appliance.wait())
            .await
            .expect("the appliance stops")
            .unwrap();
        assert!(status.success());
        let portal = s.portal.clone();
        eventually("the unregister command is acknowledged", || {
            let portal = portal.clone();
            async move { command_status(&portal, unregister).await.0 == "done" }
        })
        .await;
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
