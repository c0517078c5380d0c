//! The PSA integrations (spec portal-c §1.4–1.10): Autotask and ConnectWise PSA. What they share
//! lives here: the stored integration (credentials sealed, ticket settings, mappings, an
//! organization's own settings) in `service`, one client type over every PSA's API in
//! `connection`, and the worker that sends the queued ticket writes of `domain::psa` in
//! `deliver`.

mod connection;
mod deliver;
pub mod service;

pub use connection::{NewTicket, PsaClient, PsaCredentials, PsaError, Ticket};
pub use deliver::deliver_due;
