//! `backplane-appliance`: the reference backup appliance. It lives in a customer network,
//! connects only outbound to the portal, and reports and acts on what it protects.

mod agent;
mod containment;
mod jobs;
mod repository;
mod scheduler;
mod state;
mod transport;
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
    /// Read the registration ID from this file, or from standard input with "-", so that it
    /// never shows in the process list.
    #[arg(long, conflicts_with = "registration_id")]
    registration_id_file: Option<PathBuf>,
    /// Where the appliance keeps its credential, its asset list and its backup repository.
    #[arg(long, env = "BACKPLANE_APPLIANCE_DATA_DIR", default_value = "appliance-data")]
    data_dir: PathBuf,
    /// The name shown in the portal [default: this host's name].
    #[arg(long, env = "BACKPLANE_APPLIANCE_NAME")]
    name: Option<String>,
    /// The time zone backup policies run in, e.g. Europe/Berlin [default: $TZ, then the zone
    /// /etc/localtime links to, then /etc/timezone, then UTC].
    #[arg(long, env = "BACKPLANE_APPLIANCE_TIME_ZONE")]
    time_zone: Option<String>,
    /// A directory restores may write into (repeatable); restores also may go over an asset's
    /// own directory, and nowhere else [default: <data-dir>/restores].
    #[arg(
        long = "restore-root",
        env = "BACKPLANE_APPLIANCE_RESTORE_ROOTS",
        value_delimiter = ','
    )]
    restore_roots: Vec<PathBuf>,
    /// A PEM file of certificate authorities to trust besides the public web roots, for a
    /// portal whose certificate a company's own CA signed.
    #[arg(long, env = "BACKPLANE_CA_FILE")]
    ca_file: Option<PathBuf>,
    /// Seconds between heartbeats.
    #[arg(long, default_value_t = model::appliance::HEARTBEAT_SECS)]
    heartbeat_secs: u64,
}

#[derive(Debug, clap::Subcommand)]
enum Worker {
    #[command(subcommand, hide = true)]
    Worker(worker::WorkerCommand),
}

fn main() {
    let args = Args::parse();
    // The worker installs its own logger, which turns rustic's warnings into job-log lines. It
    // runs outside any async runtime: rustic's S3 backend drives one of its own.
    if let Some(Worker::Worker(command)) = args.worker {
        std::process::exit(worker::run(command));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build();
    match runtime {
        Ok(runtime) => runtime.block_on(serve(args)),
        Err(e) => {
            eprintln!("backplane-appliance: cannot start: {e}");
            std::process::exit(1);
        }
    }
}

async fn serve(args: Args) {
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
    let restore_roots = match restore_roots(&args.restore_roots, &args.data_dir) {
        Ok(roots) => roots,
        Err(message) => {
            eprintln!("backplane-appliance: {message}");
            std::process::exit(2);
        }
    };
    let settings = agent::Settings {
        portal: portal.trim_end_matches('/').to_owned(),
        name,
        heartbeat: Duration::from_secs(args.heartbeat_secs.max(1)),
        time_zone,
        restore_roots,
        ca_file: args.ca_file,
    };
    let registration_id =
        match read_registration_id(args.registration_id, args.registration_id_file.as_deref()) {
            Ok(id) => id,
            Err(message) => {
                eprintln!("backplane-appliance: {message}");
                std::process::exit(2);
            }
        };
    if let Err(message) = agent::run(settings, args.data_dir, registration_id).await {
        eprintln!("backplane-appliance: {message}");
        std::process::exit(1);
    }
}

/// The registration ID from the flag, or read from a file or standard input ("-").
fn read_registration_id(
    given: Option<String>,
    file: Option<&std::path::Path>,
) -> Result<Option<String>, String> {
    let Some(file) = file else {
        return Ok(given);
    };
    let text = if file == std::path::Path::new("-") {
        std::io::read_to_string(std::io::stdin())
            .map_err(|e| format!("registration ID from standard input: {e}"))?
    } else {
        std::fs::read_to_string(file).map_err(|e| format!("registration ID file {}: {e}", file.display()))?
    };
    let id = text.trim();
    if id.is_empty() {
        return Err("the registration ID file is empty".into());
    }
    Ok(Some(id.to_owned()))
}

/// The restore roots as absolute directories, created if missing.
fn restore_roots(given: &[PathBuf], data_dir: &std::path::Path) -> Result<Vec<PathBuf>, String> {
    let roots = if given.is_empty() {
        vec![data_dir.join("restores")]
    } else {
        given.to_vec()
    };
    roots
        .into_iter()
        .map(|root| {
            std::fs::create_dir_all(&root).map_err(|e| format!("restore root {}: {e}", root.display()))?;
            root.canonicalize()
                .map_err(|e| format!("restore root {}: {e}", root.display()))
        })
        .collect()
}

fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "appliance".into())
}

/// The machine's zone: `$TZ` if it names one, else the zone /etc/localtime links to, else
/// /etc/timezone, else UTC.
fn system_time_zone() -> String {
    let from_env = std::env::var("TZ")
        .ok()
        .map(|tz| tz.trim_start_matches(':').to_owned());
    let from_link = std::fs::read_link("/etc/localtime")
        .ok()
        .and_then(|target| zone_of_zoneinfo_path(&target));
    let from_file = std::fs::read_to_string("/etc/timezone")
        .ok()
        .map(|t| t.trim().to_owned());
    [from_env, from_link, from_file]
        .into_iter()
        .flatten()
        .find(|zone| model::policy::is_time_zone(zone))
        .unwrap_or_else(|| "UTC".into())
}

/// `Europe/Berlin` of `/usr/share/zoneinfo/Europe/Berlin` (or `../usr/share/zoneinfo/…`, as
/// /etc/localtime links on some systems).
fn zone_of_zoneinfo_path(target: &std::path::Path) -> Option<String> {
    let text = target.to_str()?;
    let (_, zone) = text.split_once("zoneinfo/")?;
    let zone = zone.strip_prefix("posix/").unwrap_or(zone);
    (!zone.is_empty()).then(|| zone.to_owned())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::Args;

    #[test]
    fn the_zone_comes_from_where_localtime_links() {
        use std::path::Path;
        let zone = |p: &str| super::zone_of_zoneinfo_path(Path::new(p));
        assert_eq!(
            zone("/usr/share/zoneinfo/Europe/Berlin").as_deref(),
            Some("Europe/Berlin")
        );
        assert_eq!(
            zone("../usr/share/zoneinfo/America/New_York").as_deref(),
            Some("America/New_York")
        );
        assert_eq!(
            zone("/usr/share/zoneinfo/posix/Asia/Tokyo").as_deref(),
            Some("Asia/Tokyo")
        );
        assert_eq!(zone("/etc/localtime.bak"), None);
        assert_eq!(zone("/usr/share/zoneinfo/"), None);
    }

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

    #[test]
    fn a_registration_id_may_come_from_a_file_instead_of_the_command_line() {
        let file = std::env::temp_dir().join(format!("bp-registration-{}", std::process::id()));
        std::fs::write(&file, "-3kQ_x\n").unwrap();
        let args = Args::try_parse_from([
            "backplane-appliance",
            "--registration-id-file",
            file.to_str().unwrap(),
        ])
        .expect("parsed");
        let id = super::read_registration_id(args.registration_id, args.registration_id_file.as_deref());
        assert_eq!(id.unwrap().as_deref(), Some("-3kQ_x"));
        std::fs::write(&file, "  \n").unwrap();
        assert!(
            super::read_registration_id(None, Some(&file)).is_err(),
            "an empty file is named"
        );
        std::fs::remove_file(&file).unwrap();
        let both = Args::try_parse_from([
            "backplane-appliance",
            "--registration-id",
            "a",
            "--registration-id-file",
            "-",
        ]);
        assert!(both.is_err(), "one or the other");
    }
}
