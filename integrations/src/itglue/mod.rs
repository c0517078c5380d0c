//! IT Glue: the client of its API, and the portal's side of the integration (settings, import
//! and links of organizations, the hourly sync of backup facts into configurations).

mod client;
pub mod service;

pub use client::*;
