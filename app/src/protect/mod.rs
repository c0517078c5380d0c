//! Protect: the appliances that report to this instance, and adding new ones.

pub mod api;
mod page;

pub use page::ProtectPage;
