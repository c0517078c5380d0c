//! Autotask PSA: the client of its REST API, and the portal's side of the integration
//! (credentials, ticket defaults, import and mapping of companies).

mod client;
pub mod service;

pub use client::*;
