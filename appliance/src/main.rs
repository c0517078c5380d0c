//! `backplane-appliance`: the reference backup appliance. It lives in a customer network,
//! connects only outbound to the portal, and reports and acts on what it protects.

mod agent;
mod state;

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
    /// The portal's URL, e.g. https://backup.example.com
    #[arg(long, env = "BACKPLANE_PORTAL_URL")]
    portal: String,
    /// The one-time registration ID from the portal's Add appliance wizard (first start only).
    #[arg(long, env = "BACKPLANE_REGISTRATION_ID")]
    registration_id: Option<String>,
    /// Where the appliance keeps its credential, its asset list and its backup repository.
    #[arg(long, env = "BACKPLANE_APPLIANCE_DATA_DIR", default_value = "appliance-data")]
    data_dir: PathBuf,
    /// The name shown in the portal [default: this host's name].
    #[arg(long, env = "BACKPLANE_APPLIANCE_NAME")]
    name: Option<String>,
    /// Seconds between heartbeats.
    #[arg(long, default_value_t = model::appliance::HEARTBEAT_SECS)]
    heartbeat_secs: u64,
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let name = args.name.clone().unwrap_or_else(host_name);
    let settings = agent::Settings {
        portal: args.portal.trim_end_matches('/').to_owned(),
        name,
        heartbeat: Duration::from_secs(args.heartbeat_secs.max(1)),
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
