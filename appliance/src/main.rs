//! `backplane-appliance`: the reference backup appliance. It lives in a customer network,
//! connects only outbound to the portal, and reports and acts on what it protects.

mod agent;
mod jobs;
mod repository;
mod scheduler;
mod state;
mod worker;

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(
    name = "backplane-appliance",
    version,
    about = "The Backplane reference backup appliance"
)]
pub struct Args {
    /// Internal: run one backup or restore (the agent starts these itself).
    #[command(subcommand)]
    worker: Option<Worker>,
    /// The portal's URL, e.g. https://backup.example.com
    #[arg(long, env = "BACKPLANE_PORTAL_URL")]
    portal: Option<String>,
    /// The one-time registration ID from the portal's Add appliance wizard (first start only).
    /// An ID may begin with "-" (URL-safe base64).
    #[arg(long, env = "BACKPLANE_REGISTRATION_ID", allow_hyphen_values = true)]
    registration_id: Option<String>,
    /// Where the appliance keeps its credential, its asset list and its backup repository.
    #[arg(long, env = "BACKPLANE_APPLIANCE_DATA_DIR", default_value = "appliance-data")]
    data_dir: PathBuf,
    /// The name shown in the portal [default: this host's name].
    #[arg(long, env = "BACKPLANE_APPLIANCE_NAME")]
    name: Option<String>,
    /// The time zone backup policies run in, e.g. Europe/Berlin [default: $TZ, then
    /// /etc/timezone, then UTC].
    #[arg(long, env = "BACKPLANE_APPLIANCE_TIME_ZONE")]
    time_zone: Option<String>,
    /// Seconds between heartbeats.
    #[arg(long, default_value_t = model::appliance::HEARTBEAT_SECS)]
    heartbeat_secs: u64,
}

#[derive(Debug, clap::Subcommand)]
enum Worker {
    #[command(subcommand, hide = true)]
    Worker(worker::WorkerCommand),
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    // The worker installs its own logger, which turns rustic's warnings into job-log lines.
    if let Some(Worker::Worker(command)) = args.worker {
        std::process::exit(worker::run(command));
    }
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    let Some(portal) = args.portal else {
        eprintln!("backplane-appliance: --portal is required (the portal's URL)");
        std::process::exit(2);
    };
    let name = args.name.clone().unwrap_or_else(host_name);
    let time_zone = args.time_zone.clone().unwrap_or_else(system_time_zone);
    if !model::policy::is_time_zone(&time_zone) {
        eprintln!("backplane-appliance: {time_zone:?} is not a time zone name (such as Europe/Berlin)");
        std::process::exit(2);
    }
    let settings = agent::Settings {
        portal: portal.trim_end_matches('/').to_owned(),
        name,
        heartbeat: Duration::from_secs(args.heartbeat_secs.max(1)),
        time_zone,
    };
    if let Err(message) = agent::run(settings, args.data_dir, args.registration_id).await {
        eprintln!("backplane-appliance: {message}");
        std::process::exit(1);
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "appliance".into())
}

/// The machine's zone: `$TZ` if it names one, else /etc/timezone, else UTC.
fn system_time_zone() -> String {
    let from_env = std::env::var("TZ")
        .ok()
        .map(|tz| tz.trim_start_matches(':').to_owned());
    let from_file = std::fs::read_to_string("/etc/timezone")
        .ok()
        .map(|t| t.trim().to_owned());
    [from_env, from_file]
        .into_iter()
        .flatten()
        .find(|zone| model::policy::is_time_zone(zone))
        .unwrap_or_else(|| "UTC".into())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::Args;

    #[test]
    fn a_registration_id_may_begin_with_a_hyphen() {
        let args = Args::try_parse_from([
            "backplane-appliance",
            "--registration-id",
            "-3kQ_x",
            "--name",
            "nas",
        ])
        .expect("parsed");
        assert_eq!(args.registration_id.as_deref(), Some("-3kQ_x"));
        assert_eq!(args.name.as_deref(), Some("nas"));
    }
}
