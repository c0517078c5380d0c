//! ConnectWise PSA (Manage): the client of its REST API 3.0. The portal's side of the
//! integration is `crate::psa`'s, shared by every PSA.

mod client;

pub use client::*;
