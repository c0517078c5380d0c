//! Clients of third-party systems (DESIGN §8), each written against the vendor's documented API
//! and tested against its emulator in `emulators`. They know nothing of the portal's database:
//! `domain` keeps the settings and mappings, and the sync that uses a client lives with them.

pub mod autotask;
pub mod bms;
pub mod connectwise;
pub mod itglue;
pub mod psa;
mod rounds;
pub mod vsa;
