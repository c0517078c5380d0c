//! Organizations: the MSP's customers, filtered, sorted and paged; add, edit and delete.

pub mod api;
mod page;

pub use page::OrganizationsPage;
