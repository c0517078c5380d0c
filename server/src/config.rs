//! Settings from flags, environment variables and an optional TOML file, in that order of
//! precedence, validated once at start-up.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Args;

use crate::client_addr::TrustedProxies;
use crate::ops::MetricsAccess;
use serde::Deserialize;

/// Every setting as a flag with its environment variable. All optional: unset ones fall back
/// to the config file, then to the defaults.
#[derive(Debug, Clone, Default, Args)]
pub struct SettingsArgs {
    /// TOML file with any of the settings below (snake_case keys, e.g. `listen = "0.0.0.0:3000"`).
    #[arg(long, env = "BACKPLANE_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Address and port to listen on [default: 127.0.0.1:3000].
    #[arg(long, env = "BACKPLANE_LISTEN", global = true)]
    pub listen: Option<String>,
    /// Directory for the SQLite database and other local state [default: ./data].
    #[arg(long, env = "BACKPLANE_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// `sqlite:…` or `postgres://…` [default: SQLite file in the data directory].
    #[arg(long, env = "DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// The URL users reach the portal at, used in e-mailed links [default: http://<listen>].
    #[arg(long, env = "BACKPLANE_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,
    /// SMTP server, e.g. `smtp://user:pass@mail.example.com:587?tls=required`. Unset: mail waits
    /// in Settings → Outbox.
    #[arg(long, env = "BACKPLANE_SMTP_URL", global = true)]
    pub smtp_url: Option<String>,
    /// Sender address of e-mail, e.g. `Backplane <backplane@example.com>`.
    #[arg(long, env = "BACKPLANE_SMTP_FROM", global = true)]
    pub smtp_from: Option<String>,
    /// Origins allowed to embed the portal in an iframe, space- or comma-separated
    /// (e.g. `https://vsa.example.com`). Setting any switches cookies to `SameSite=None; Secure; Partitioned`.
    #[arg(long, env = "BACKPLANE_FRAME_ANCESTORS", global = true)]
    pub frame_ancestors: Option<String>,
    /// Reverse proxies in front of the portal, as CIDR ranges or addresses, space- or
    /// comma-separated (e.g. `10.0.0.0/8`). Only their `X-Forwarded-For`/`Forwarded` headers name
    /// the client [default: none, the peer is the client].
    #[arg(long, env = "BACKPLANE_TRUSTED_PROXIES", global = true)]
    pub trusted_proxies: Option<String>,
    /// Minutes of inactivity after which a session ends [default: 60].
    #[arg(long, env = "BACKPLANE_SESSION_IDLE_MINUTES", global = true)]
    pub session_idle_minutes: Option<i64>,
    /// Hours after sign-in at which a session ends regardless [default: 12].
    #[arg(long, env = "BACKPLANE_SESSION_ABSOLUTE_HOURS", global = true)]
    pub session_absolute_hours: Option<i64>,
    /// Seconds without a heartbeat after which an appliance is offline [default: 300].
    #[arg(long, env = "BACKPLANE_OFFLINE_AFTER_SECS", global = true)]
    pub offline_after_secs: Option<i64>,
    /// Seconds without a heartbeat after which an appliance raises the offline alarm; at least
    /// `offline_after_secs` [default: 3600].
    #[arg(long, env = "BACKPLANE_OFFLINE_ALARM_AFTER_SECS", global = true)]
    pub offline_alarm_after_secs: Option<i64>,
    /// Seconds between passes of the mail sender over the outbox [default: 3].
    #[arg(long, env = "BACKPLANE_MAIL_POLL_SECS", global = true)]
    pub mail_poll_secs: Option<i64>,
    /// Directory holding the built web assets [default: target/site].
    #[arg(long, env = "LEPTOS_SITE_ROOT", global = true)]
    pub site_root: Option<PathBuf>,
    /// Bearer token that opens `/metrics` on the main listener (at least 16 characters)
    /// [default: unset, `/metrics` is not served there].
    #[arg(long, env = "BACKPLANE_METRICS_TOKEN", global = true, hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// A separate address:port serving only `/metrics`, without a token (for a scraper on a
    /// private network) [default: unset].
    #[arg(long, env = "BACKPLANE_METRICS_LISTEN", global = true)]
    pub metrics_listen: Option<String>,
    /// Requests a minute each public API credential may send, in bursts of a sixth of it;
    /// beyond that it gets 429 [default: 600].
    #[arg(long, env = "BACKPLANE_API_REQUESTS_PER_MINUTE", global = true)]
    pub api_requests_per_minute: Option<i64>,
    /// The client id ConnectWise's developer program issued for this installation, sent on
    /// every ConnectWise PSA call [default: unset, ConnectWise cannot be integrated].
    #[arg(long, env = "BACKPLANE_CONNECTWISE_CLIENT_ID", global = true)]
    pub connectwise_client_id: Option<String>,
}

impl SettingsArgs {
    /// An empty value (`DATABASE_URL=` in an env file) means "not set", not "set to nothing".
    fn without_empty_values(&self) -> SettingsArgs {
        let given = |v: &Option<String>| v.clone().filter(|s| !s.trim().is_empty());
        SettingsArgs {
            listen: given(&self.listen),
            database_url: given(&self.database_url),
            public_url: given(&self.public_url),
            smtp_url: given(&self.smtp_url),
            smtp_from: given(&self.smtp_from),
            frame_ancestors: given(&self.frame_ancestors),
            trusted_proxies: given(&self.trusted_proxies),
            metrics_token: given(&self.metrics_token),
            metrics_listen: given(&self.metrics_listen),
            connectwise_client_id: given(&self.connectwise_client_id),
            ..self.clone()
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    public_url: Option<String>,
    smtp_url: Option<String>,
    smtp_from: Option<String>,
    frame_ancestors: Option<Vec<String>>,
    trusted_proxies: Option<Vec<String>>,
    session_idle_minutes: Option<i64>,
    session_absolute_hours: Option<i64>,
    offline_after_secs: Option<i64>,
    offline_alarm_after_secs: Option<i64>,
    mail_poll_secs: Option<i64>,
    site_root: Option<PathBuf>,
    metrics_token: Option<String>,
    metrics_listen: Option<String>,
    api_requests_per_minute: Option<i64>,
    connectwise_client_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Smtp {
    pub url: String,
    pub from: String,
}

/// The validated settings the server runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub public_url: String,
    pub smtp: Option<Smtp>,
    pub frame_ancestors: Vec<String>,
    pub trusted_proxies: TrustedProxies,
    pub session_idle_minutes: i64,
    pub session_absolute_hours: i64,
    pub offline_after_secs: i64,
    pub offline_alarm_after_secs: i64,
    pub mail_poll_secs: i64,
    pub site_root: PathBuf,
    /// Who may read `/metrics` on the main listener.
    pub metrics: MetricsAccess,
    /// Each public API credential's request budget.
    pub api_rate_limit: public_api::auth::RateLimit,
    /// The separate listener serving only `/metrics`, if any.
    pub metrics_listen: Option<SocketAddr>,
    pub connectwise_client_id: Option<String>,
}

impl Settings {
    pub fn load(args: &SettingsArgs) -> Result<Settings, String> {
        let args = &args.without_empty_values();
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileSettings::default(),
        };
        let listen_text = args
            .listen
            .clone()
            .or(file.listen)
            .unwrap_or_else(|| "127.0.0.1:3000".into());
        let listen: SocketAddr = listen_text
            .parse()
            .map_err(|_| format!("listen: {listen_text:?} is not an address:port"))?;
        let data_dir = args
            .data_dir
            .clone()
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("data"));
        let database_url = args
            .database_url
            .clone()
            .or(file.database_url)
            .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", data_dir.join("backplane.db").display()));
        let public_url = args
            .public_url
            .clone()
            .or(file.public_url)
            .unwrap_or_else(|| format!("http://{listen}"));
        let public_url = validate_url("public_url", public_url.trim_end_matches('/'))?;
        let frame_ancestors = match &args.frame_ancestors {
            Some(text) => split_list(text),
            None => file.frame_ancestors.unwrap_or_default(),
        };
        for origin in &frame_ancestors {
            validate_url("frame_ancestors", origin)?;
        }
        let trusted_proxies = TrustedProxies::parse(&match &args.trusted_proxies {
            Some(text) => split_list(text),
            None => file.trusted_proxies.unwrap_or_default(),
        })?;
        let smtp = match (
            args.smtp_url.clone().or(file.smtp_url),
            args.smtp_from.clone().or(file.smtp_from),
        ) {
            (Some(url), Some(from)) => Some(Smtp { url, from }),
            (Some(_), None) => return Err("smtp_from: set the sender address when smtp_url is set".into()),
            (None, _) => None,
        };
        let session_idle_minutes = positive(
            "session_idle_minutes",
            args.session_idle_minutes
                .or(file.session_idle_minutes)
                .unwrap_or(60),
        )?;
        let session_absolute_hours = positive(
            "session_absolute_hours",
            args.session_absolute_hours
                .or(file.session_absolute_hours)
                .unwrap_or(12),
        )?;
        let offline_after_secs = positive(
            "offline_after_secs",
            args.offline_after_secs.or(file.offline_after_secs).unwrap_or(300),
        )?;
        let offline_alarm_after_secs = positive(
            "offline_alarm_after_secs",
            args.offline_alarm_after_secs
                .or(file.offline_alarm_after_secs)
                .unwrap_or(3600),
        )?;
        if offline_alarm_after_secs < offline_after_secs {
            return Err(format!(
                "offline_alarm_after_secs: must be at least offline_after_secs ({offline_after_secs})"
            ));
        }
        let mail_poll_secs = positive(
            "mail_poll_secs",
            args.mail_poll_secs.or(file.mail_poll_secs).unwrap_or(3),
        )?;
        let site_root = args
            .site_root
            .clone()
            .or(file.site_root)
            .unwrap_or_else(|| PathBuf::from("target/site"));
        let api_requests_per_minute = positive(
            "api_requests_per_minute",
            args.api_requests_per_minute
                .or(file.api_requests_per_minute)
                .unwrap_or(600),
        )?;
        let per_minute = u32::try_from(api_requests_per_minute).unwrap_or(u32::MAX);
        let api_rate_limit = public_api::auth::RateLimit {
            per_minute,
            burst: (per_minute / 6).max(1),
        };
        let metrics_token = args.metrics_token.clone().or(file.metrics_token);
        if metrics_token
            .as_ref()
            .is_some_and(|t| t.trim().chars().count() < 16)
        {
            return Err("metrics_token: use at least 16 characters".into());
        }
        let metrics_listen = match args.metrics_listen.clone().or(file.metrics_listen) {
            Some(text) => Some(
                text.parse::<SocketAddr>()
                    .map_err(|_| format!("metrics_listen: {text:?} is not an address:port"))?,
            ),
            None => None,
        };
        Ok(Settings {
            listen,
            data_dir,
            database_url,
            public_url,
            smtp,
            frame_ancestors,
            trusted_proxies,
            session_idle_minutes,
            session_absolute_hours,
            offline_after_secs,
            offline_alarm_after_secs,
            mail_poll_secs,
            site_root,
            metrics: metrics_access(metrics_token.as_deref(), metrics_listen),
            api_rate_limit,
            metrics_listen,
            connectwise_client_id: args.connectwise_client_id.clone().or(file.connectwise_client_id),
        })
    }

    /// `Secure` cookies everywhere except plain http on a loopback address.
    pub fn secure_cookies(&self) -> bool {
        !(self.public_url.starts_with("http://") && is_loopback_url(&self.public_url))
    }
}

/// Token holders may read `/metrics` if a token is set; otherwise nobody on the main listener
/// (a separate metrics listener, if set, serves it instead).
fn metrics_access(token: Option<&str>, listen: Option<SocketAddr>) -> MetricsAccess {
    match (token, listen) {
        (Some(token), _) => MetricsAccess::token(token.trim()),
        (None, Some(_)) => MetricsAccess::SeparateListener,
        (None, None) => MetricsAccess::Off,
    }
}

fn read_file(path: &Path) -> Result<FileSettings, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("config file {}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| format!("config file {}: {e}", path.display()))
}

fn split_list(text: &str) -> Vec<String> {
    text.split([' ', ','])
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn validate_url(name: &str, url: &str) -> Result<String, String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !host.contains(char::is_whitespace) => Ok(url.to_owned()),
        _ => Err(format!("{name}: {url:?} must be an http:// or https:// URL")),
    }
}

fn positive(name: &str, value: i64) -> Result<i64, String> {
    if value > 0 {
        Ok(value)
    } else {
        Err(format!("{name}: must be a positive number"))
    }
}

fn is_loopback_url(url: &str) -> bool {
    let host = url
        .split("://")
        .nth(1)
        .unwrap_or("")
        .split(['/', '?'])
        .next()
        .unwrap_or("");
    let host = host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.chars().all(|c| c.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    matches!(host, "localhost" | "127.0.0.1" | "[::1]") || host.starts_with("127.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_give_a_local_sqlite_portal() {
        let s = Settings::load(&SettingsArgs::default()).unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:3000");
        assert_eq!(s.public_url, "http://127.0.0.1:3000");
        assert!(s.database_url.starts_with("sqlite://data/backplane.db"));
        assert!(!s.secure_cookies());
        assert!(s.smtp.is_none());
    }

    #[test]
    fn flags_override_the_file_and_bad_values_are_named() {
        let dir = std::env::temp_dir().join(format!("bp-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("backplane.toml");
        std::fs::write(&file, "listen = \"0.0.0.0:8080\"\npublic_url = \"https://backup.example.com\"\nframe_ancestors = [\"https://rmm.example.com\"]\n").unwrap();
        let mut args = SettingsArgs {
            config: Some(file.clone()),
            ..Default::default()
        };
        let s = Settings::load(&args).unwrap();
        assert_eq!(s.listen.port(), 8080);
        assert!(s.secure_cookies());
        assert_eq!(s.frame_ancestors, vec!["https://rmm.example.com"]);
        args.listen = Some("127.0.0.1:9000".into());
        assert_eq!(Settings::load(&args).unwrap().listen.port(), 9000);
        args.listen = Some("nonsense".into());
        assert!(Settings::load(&args).unwrap_err().starts_with("listen:"));
        std::fs::write(&file, "colour = \"blue\"\n").unwrap();
        args.listen = None;
        assert!(Settings::load(&args).unwrap_err().contains("unknown field"));
    }

    #[test]
    fn metrics_are_off_unless_a_long_token_or_a_listener_is_set() {
        use crate::ops::MetricsAccess;
        let mut args = SettingsArgs::default();
        let access = |args: &SettingsArgs| Settings::load(args).map(|s| s.metrics);
        assert!(matches!(access(&args), Ok(MetricsAccess::Off)));
        args.metrics_listen = Some("127.0.0.1:9464".into());
        assert!(matches!(access(&args), Ok(MetricsAccess::SeparateListener)));
        args.metrics_token = Some("0123456789abcdef".into());
        assert!(matches!(access(&args), Ok(MetricsAccess::Token { .. })));
        args.metrics_token = Some("short".into());
        assert!(access(&args).unwrap_err().starts_with("metrics_token:"));
        args.metrics_token = None;
        args.metrics_listen = Some("9464".into());
        assert!(access(&args).unwrap_err().starts_with("metrics_listen:"));
    }

    #[test]
    fn empty_values_count_as_unset() {
        let args = SettingsArgs {
            database_url: Some(String::new()),
            ..Default::default()
        };
        assert!(
            Settings::load(&args)
                .unwrap()
                .database_url
                .starts_with("sqlite://")
        );
    }

    #[test]
    fn smtp_needs_a_sender() {
        let args = SettingsArgs {
            smtp_url: Some("smtp://localhost:25".into()),
            ..Default::default()
        };
        assert!(Settings::load(&args).unwrap_err().starts_with("smtp_from"));
    }

    #[test]
    fn only_plain_http_on_loopback_drops_secure() {
        for (url, secure) in [
            ("http://127.0.0.1:3000", false),
            ("http://localhost", false),
            ("http://backup.example.com", true),
            ("https://127.0.0.1", true),
        ] {
            let args = SettingsArgs {
                public_url: Some(url.into()),
                ..Default::default()
            };
            assert_eq!(Settings::load(&args).unwrap().secure_cookies(), secure, "{url}");
        }
    }
}
