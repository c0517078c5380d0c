//! Autotask PSA: the client of its REST API. The portal's side of the integration
//! (credentials, ticket settings, import and mapping) is `crate::psa`'s, shared by every PSA.

mod client;

pub use client::*;
