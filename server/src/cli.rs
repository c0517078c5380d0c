//! The command line: `backplane` (or `backplane serve`) runs the portal; `backplane admin …`
//! does first-run and recovery jobs headless.

use std::io::BufRead;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use app::server::CookiePolicy;
use clap::{Parser, Subcommand};
use domain::outbox::Mailer;
use domain::{Db, Portal, SessionPolicy};
use leptos::config::get_configuration;
use tokio::sync::watch;

use crate::AppState;
use crate::config::{Settings, SettingsArgs};

#[derive(Debug, Parser)]
#[command(
    name = "backplane",
    version,
    about = "Backplane: the backup control plane for MSPs"
)]
pub struct Cli {
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// Log lines as `text` for people or `json` (one object per line) for log collectors.
    #[arg(long, env = "BACKPLANE_LOG_FORMAT", global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the portal (the default).
    Serve,
    /// Administrative tasks on the database, without the web UI.
    #[command(subcommand)]
    Admin(AdminCommand),
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an instance with an enrolled Superuser; prints the TOTP secret and recovery codes.
    /// The password is read from BACKPLANE_ADMIN_PASSWORD or the first line of standard input.
    CreateInstance {
        #[arg(long)]
        homerealm: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        email: String,
    },
    /// Wipe a user's authenticator and recovery codes; they enrol again at next login.
    #[command(name = "reset-2fa")]
    Reset2fa {
        #[arg(long)]
        homerealm: String,
        #[arg(long)]
        email: String,
    },
    /// Set a user's password (from BACKPLANE_ADMIN_PASSWORD or standard input) and lift the
    /// login throttle on the account.
    SetPassword {
        #[arg(long)]
        homerealm: String,
        #[arg(long)]
        email: String,
    },
    /// Create a public API credential acting as an active Superuser; prints its client id and
    /// secret (shown this once).
    CreateApiCredential {
        #[arg(long)]
        homerealm: String,
        /// The Superuser the credential acts as.
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
    },
    /// List the instances on this server.
    ListInstances,
    /// Write a consistent copy of the SQLite database to a new file while the portal runs
    /// (PostgreSQL: use pg_dump). The data directory holds nothing else to keep.
    Backup {
        /// The file to create.
        #[arg(long)]
        to: std::path::PathBuf,
    },
    /// Put a backup in place as the SQLite database of the data directory (or of
    /// --database-url). The portal must be stopped and no database may be there yet.
    Restore {
        /// The backup file made by `admin backup`.
        #[arg(long)]
        from: std::path::PathBuf,
    },
}

pub async fn run(cli: Cli) -> Result<(), String> {
    let settings = Settings::load(&cli.settings)?;
    std::fs::create_dir_all(&settings.data_dir)
        .map_err(|e| format!("data directory {}: {e}", settings.data_dir.display()))?;
    // Restoring puts a database in place, so it must run before one is opened (and created).
    if let Some(Command::Admin(AdminCommand::Restore { from })) = &cli.command {
        return restore(from, &settings.database_url).await;
    }
    let db = Db::connect(&settings.database_url)
        .await
        .map_err(|e| format!("database: {e}"))?;
    let portal = portal(db, &settings)?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings, portal).await,
        Command::Admin(command) => admin(command, &portal).await,
    }
}

fn portal(db: Db, settings: &Settings) -> Result<Portal, String> {
    let mut portal = Portal::new(db, settings.public_url.clone());
    portal.vault = std::sync::Arc::new(domain::vault::Vault::load_or_create(
        &settings.data_dir.join("instance.key"),
    )?);
    portal.sessions = SessionPolicy {
        idle_timeout_ms: settings.session_idle_minutes * domain::clock::MINUTE_MS,
        absolute_timeout_ms: settings.session_absolute_hours * domain::clock::HOUR_MS,
    };
    portal.smtp_configured = settings.smtp.is_some();
    portal.connectwise_client_id = settings.connectwise_client_id.clone();
    portal.alerting.offline_after_ms = settings.offline_alarm_after_secs * 1000;
    Ok(portal)
}

async fn serve(settings: Settings, portal: Portal) -> Result<(), String> {
    let mut options = get_configuration(None)
        .map_err(|e| format!("leptos configuration: {e}"))?
        .leptos_options;
    options.site_addr = settings.listen;
    options.site_root = settings.site_root.display().to_string().into();
    crate::router::use_hashed_names(&mut options);
    let state = AppState {
        portal: portal.clone(),
        cookies: CookiePolicy {
            secure: settings.secure_cookies(),
            embeddable: !settings.frame_ancestors.is_empty(),
        },
        frame_ancestors: settings.frame_ancestors.clone(),
        trusted_proxies: settings.trusted_proxies.clone(),
        setup_done: Arc::new(AtomicBool::new(false)),
        heartbeats: Default::default(),
        metrics: settings.metrics.clone(),
        api_keys: Arc::new(public_api::SigningKeys::load_or_create(
            &settings.data_dir.join("api-signing.key"),
        )?),
        api_rate_limit: settings.api_rate_limit,
    };
    if !state.cookies.secure {
        tracing::info!("serving plain http on loopback: session cookies are not marked Secure");
    }
    let (stop, stopped) = watch::channel(false);
    let mut workers = Vec::new();
    if let Some(smtp) = &settings.smtp {
        let mailer = Mailer::new(&smtp.url, &smtp.from).map_err(|e| e.to_string())?;
        workers.push(tokio::spawn(crate::workers::deliver_mail(
            portal.clone(),
            mailer,
            Duration::from_secs(settings.mail_poll_secs as u64),
            state.heartbeats.clone(),
            stopped.clone(),
        )));
    }
    workers.push(tokio::spawn(crate::workers::mark_offline(
        portal.clone(),
        settings.offline_after_secs * 1000,
        state.heartbeats.clone(),
        stopped.clone(),
    )));
    workers.push(tokio::spawn(crate::workers::evaluate_alerts(
        portal.clone(),
        state.heartbeats.clone(),
        stopped.clone(),
    )));
    workers.push(tokio::spawn(crate::workers::deliver_webhooks(
        portal.clone(),
        public_api::webhooks::client()?,
        Duration::from_secs(2),
        state.heartbeats.clone(),
        stopped.clone(),
    )));
    workers.push(tokio::spawn(crate::workers::deliver_psa_tickets(
        portal.clone(),
        Duration::from_secs(2),
        state.heartbeats.clone(),
        stopped.clone(),
    )));
    workers.push(tokio::spawn(crate::workers::deliver_vsa_alarms(
        portal.clone(),
        Duration::from_secs(2),
        state.heartbeats.clone(),
        stopped.clone(),
    )));
    workers.push(tokio::spawn(crate::workers::sync_itglue(
        portal.clone(),
        Duration::from_secs(300),
        state.heartbeats.clone(),
        stopped.clone(),
    )));
    workers.push(tokio::spawn(crate::workers::purge_old_jobs(
        portal.clone(),
        state.heartbeats.clone(),
        stopped.clone(),
    )));
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .map_err(|e| format!("listen on {}: {e}", settings.listen))?;
    println!("Backplane is listening on {}", settings.public_url);
    if domain::setup::needs_setup(&portal)
        .await
        .map_err(|e| e.to_string())?
    {
        let url = domain::setup::issue_setup_url(&portal)
            .await
            .map_err(|e| e.to_string())?;
        println!("First-run setup: open {url}");
        println!("(The link works once, for 24 hours; restarting the server prints a new one.)");
    }
    if let Some(address) = settings.metrics_listen {
        workers.push(tokio::spawn(serve_metrics(
            address,
            state.clone(),
            stopped.clone(),
        )));
    }
    let app = crate::router::build(state, options);
    // Live and appliance sockets never end by themselves: requests get a grace period after the
    // signal, then the remaining connections are dropped.
    let draining = Arc::new(tokio::sync::Notify::new());
    let signalled = draining.clone();
    let serving = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown_signal().await;
        signalled.notify_one();
    });
    tokio::select! {
        result = serving => result.map_err(|e| format!("server: {e}"))?,
        _ = async { draining.notified().await; tokio::time::sleep(SHUTDOWN_GRACE).await } => {
            tracing::info!("closing the connections still open after the grace period");
        }
    }
    let _ = stop.send(true);
    for worker in workers {
        let _ = worker.await;
    }
    Ok(())
}

/// Serves `/metrics` alone on its own address (for a scraper on a private network).
async fn serve_metrics(address: std::net::SocketAddr, state: AppState, mut shutdown: watch::Receiver<bool>) {
    let listener = match tokio::net::TcpListener::bind(address).await {
        Ok(listener) => listener,
        Err(error) => {
            tracing::error!(%address, %error, "the metrics listener could not start");
            return;
        }
    };
    tracing::info!(%address, "metrics listening");
    let serving =
        axum::serve(listener, crate::router::metrics_only(state)).with_graceful_shutdown(async move {
            let _ = shutdown.changed().await;
        });
    if let Err(error) = serving.await {
        tracing::error!(%error, "the metrics listener failed");
    }
}

/// `admin restore`: the backup becomes the database file of `database_url`.
async fn restore(from: &std::path::Path, database_url: &str) -> Result<(), String> {
    let database = domain::db::backup::sqlite_file(database_url).ok_or_else(|| {
        "the database is not a SQLite file: restore PostgreSQL with pg_restore (docs/upgrading.md)".to_owned()
    })?;
    domain::db::backup::restore_sqlite(from, &database)
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "Restored {} as {}; start the portal.",
        from.display(),
        database.display()
    );
    Ok(())
}

/// How long in-flight requests may take to finish after SIGTERM or Ctrl-C.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut signal) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            signal.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}

fn read_password() -> Result<String, String> {
    if let Ok(password) = std::env::var("BACKPLANE_ADMIN_PASSWORD") {
        return Ok(password);
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("reading the password: {e}"))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

async fn admin(command: AdminCommand, portal: &Portal) -> Result<(), String> {
    let show = |e: domain::DomainError| e.to_string();
    match command {
        AdminCommand::CreateInstance {
            homerealm,
            name,
            email,
        } => {
            let password = read_password()?;
            let created =
                domain::setup::create_instance_headless(portal, &homerealm, &name, &email, &password)
                    .await
                    .map_err(show)?;
            println!(
                "Instance {} created with Superuser {email}.",
                created.instance.homerealm
            );
            println!("TOTP secret: {}", created.totp_secret);
            println!("TOTP URI: {}", created.otpauth_uri);
            println!("Recovery codes (each works once):");
            for code in created.recovery_codes.codes {
                println!("  {code}");
            }
        }
        AdminCommand::Reset2fa { homerealm, email } => {
            domain::auth::admin_reset_second_factor(portal, &homerealm, &email, "cli")
                .await
                .map_err(show)?;
            println!("Two-factor authentication of {email} is reset; they enrol again at next login.");
        }
        AdminCommand::SetPassword { homerealm, email } => {
            let password = read_password()?;
            domain::auth::admin_set_password(portal, &homerealm, &email, &password, "cli")
                .await
                .map_err(show)?;
            println!("Password of {email} is set; their sessions have ended.");
        }
        AdminCommand::CreateApiCredential {
            homerealm,
            email,
            name,
        } => {
            let made = domain::auth::admin_create_api_credential(portal, &homerealm, &email, &name)
                .await
                .map_err(show)?;
            println!(
                "API credential {} created, acting as {email}.",
                made.credential.name
            );
            println!("Client ID: {}", made.credential.client_id);
            println!("Client secret: {}", made.client_secret);
        }
        AdminCommand::Backup { to } => {
            portal.db.back_up_to(&to).await.map_err(show)?;
            println!("Backup written to {}.", to.display());
        }
        // `run` restores before it opens a database; there is none to restore into here.
        AdminCommand::Restore { .. } => return Err("restore runs before the database is opened".into()),
        AdminCommand::ListInstances => {
            let mut conn = portal.db.pool.acquire().await.map_err(|e| e.to_string())?;
            for instance in domain::instances::list(&mut conn).await.map_err(show)? {
                println!("{}\t{}", instance.homerealm, instance.display_name);
            }
        }
    }
    Ok(())
}
