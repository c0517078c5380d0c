//! Organizations: the MSP's customers, filtered, sorted and paged; add, edit and delete.

pub mod api;
mod filters;
mod page;
mod picker;

pub use filters::ScopeAndOrganizationSelects;
pub use page::{Dialog as OrgDialog, OrgForm, OrganizationsPage};
pub use picker::{OrgChoice, OrganizationPicker, initial_choice};
