//! Kaseya BMS and Vorex (the same API v2): the client of their REST API. The portal's side of
//! the integration is `crate::psa`'s, shared by every PSA.

mod client;

pub use client::*;
