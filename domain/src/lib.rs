//! Server-side domain layer: repositories over sqlx (SQLite or PostgreSQL through sqlx's `Any`
//! driver), the authentication services, the mail outbox and the audit log. Knows nothing of HTTP.

pub mod access;
pub mod alerts;
pub mod api_access;
pub mod appliances;
pub mod audit;
pub mod auth;
pub mod clock;
pub mod dashboard;
pub mod db;
pub mod embedding;
pub mod error;
pub mod instances;
pub mod ip_restrictions;
pub mod live;
pub mod ops;
pub mod organizations;
pub mod outbox;
pub mod psa;
pub mod scopes;
pub mod secrets;
pub mod sessions;
pub mod setup;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
pub mod throttle;
pub mod tokens;
pub mod totp;
pub mod user_admin;
pub mod users;
pub mod vault;
pub mod vsa;
pub mod webhooks;

use std::sync::Arc;

pub use clock::{Clock, ManualClock, SystemClock};
pub use db::{Backend, Db};
pub use error::{DomainError, DomainResult};

/// Timeouts of signed-in sessions.
#[derive(Debug, Clone)]
pub struct SessionPolicy {
    /// A session unused for this long ends.
    pub idle_timeout_ms: i64,
    /// A session ends this long after sign-in, however active.
    pub absolute_timeout_ms: i64,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            idle_timeout_ms: 60 * clock::MINUTE_MS,
            absolute_timeout_ms: 12 * clock::HOUR_MS,
        }
    }
}

/// Everything a service needs: the database, the clock and the settings that shape behaviour.
#[derive(Clone)]
pub struct Portal {
    pub db: Db,
    pub clock: Arc<dyn Clock>,
    /// The URL users reach the portal at; links in e-mails start with it.
    pub public_url: String,
    pub sessions: SessionPolicy,
    /// Whether mail leaves the outbox over SMTP (else it waits there for Superusers to read).
    pub smtp_configured: bool,
    /// Live events for browsers.
    pub live: live::Hub,
    pub alerting: alerts::Alerting,
    /// Wakes this process's alert evaluator when something is due now.
    pub evaluate_now: Arc<tokio::sync::Notify>,
    /// Seals and opens stored secrets; the server loads the instance key from its data
    /// directory, tests and benchmarks use a key of their own.
    pub vault: Arc<vault::Vault>,
    /// The product's client id from ConnectWise's developer program, sent on every ConnectWise
    /// call (a server setting; without it, ConnectWise cannot be integrated).
    pub connectwise_client_id: Option<String>,
}

impl Portal {
    pub fn new(db: Db, public_url: impl Into<String>) -> Self {
        Self {
            db,
            clock: Arc::new(SystemClock),
            public_url: public_url.into().trim_end_matches('/').to_owned(),
            sessions: SessionPolicy::default(),
            smtp_configured: false,
            live: live::Hub::default(),
            alerting: alerts::Alerting::default(),
            evaluate_now: Arc::new(tokio::sync::Notify::new()),
            vault: Arc::new(vault::Vault::ephemeral()),
            connectwise_client_id: None,
        }
    }

    pub fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// An absolute link into the portal, for e-mails and the console.
    pub fn link(&self, path_and_query: &str) -> String {
        format!("{}{}", self.public_url, path_and_query)
    }
}

/// Who is acting, for throttling and the audit log.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}
