//! The Backplane server: configuration, the HTTP router and its middleware, background
//! workers and the administrative CLI. `main.rs` only parses the command line.

#![recursion_limit = "512"]

pub mod cli;
pub mod client_addr;
pub mod config;
pub mod exports;
pub mod gateway;
pub mod live;
pub mod middleware;
pub mod ops;
pub mod render_thread;
pub mod router;
pub mod sso;
pub mod workers;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use app::server::CookiePolicy;
use domain::Portal;

/// What every request handler and middleware shares.
#[derive(Clone)]
pub struct AppState {
    pub portal: Portal,
    pub cookies: CookiePolicy,
    /// Origins allowed to embed the portal in an iframe (`frame-ancestors`).
    pub frame_ancestors: Vec<String>,
    /// Reverse proxies whose forwarding headers name the client.
    pub trusted_proxies: client_addr::TrustedProxies,
    /// Set once an instance exists; before that every page shows first-run setup.
    pub setup_done: Arc<AtomicBool>,
    /// The background loops' last rounds, for `/readyz`.
    pub heartbeats: ops::Heartbeats,
    /// Who may read `/metrics`.
    pub metrics: ops::MetricsAccess,
    /// The key public API access tokens are signed with.
    pub api_keys: Arc<public_api::SigningKeys>,
    pub api_rate_limit: public_api::auth::RateLimit,
}

impl AppState {
    /// The portal over plain HTTP: cookies without `Secure`, no embedding, no trusted
    /// proxies, setup not yet seen done. What tests and benchmarks serve.
    pub fn plain(portal: Portal) -> AppState {
        AppState {
            portal,
            cookies: CookiePolicy {
                secure: false,
                embeddable: false,
            },
            frame_ancestors: Vec::new(),
            trusted_proxies: Default::default(),
            setup_done: Arc::default(),
            heartbeats: Default::default(),
            metrics: Default::default(),
            api_keys: Arc::new(public_api::SigningKeys::ephemeral()),
            api_rate_limit: Default::default(),
        }
    }
}
