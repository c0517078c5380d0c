//! The Leptos UI and its server functions. One folder per product area; server-function bodies
//! authenticate and then call the `domain` layer (compiled only with `ssr`).

#![recursion_limit = "256"]

#[cfg(all(feature = "ssr", feature = "hydrate"))]
compile_error!("app: features `ssr` and `hydrate` are mutually exclusive (check feature unification)");

pub mod alerts;
pub mod auth;
pub mod components;
pub mod endpoints;
pub mod jobs;
pub mod live;
pub mod organizations;
pub mod protect;
pub mod sections;
#[cfg(feature = "ssr")]
pub mod server;
pub mod settings;
pub mod shell;

pub use shell::{App, shell};
