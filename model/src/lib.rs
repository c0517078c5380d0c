//! Types shared by the browser (wasm) and the server: errors, roles and the permission matrix,
//! validation rules and the data transfer objects of the portal. Nothing here touches a database
//! or an async runtime.

pub mod alerts;
pub mod api_access;
pub mod appliance;
pub mod auth;
pub mod error;
pub mod itglue;
pub mod jobs;
pub mod lists;
pub mod live;
pub mod outbox;
pub mod password;
pub mod permissions;
pub mod policy;
pub mod psa;
pub mod security;
pub mod sso;
pub mod tenancy;
pub mod vsa;
pub mod webhooks;

pub use error::AppError;
pub use permissions::{Action, Role};
