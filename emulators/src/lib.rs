//! Emulators of third-party services (DESIGN §8): each reproduces the documented behaviour the
//! portal depends on, limits and failure modes included (`../shared/research/`), not only the
//! happy path. Tests run them in process; `emulators <service>` serves one by hand.

pub mod autotask;
pub mod bms;
pub mod connectwise;
pub mod itglue;
pub mod names;
pub mod oidc;
pub mod vsa;
mod wire;
