//! Appliances: registration, what they report over the gateway, the command queue, and the
//! lists the portal shows. Visibility follows the owning organization.

pub mod assets;
pub mod commands;
pub mod copies;
mod events;
pub mod finished;
pub mod gateway;
mod health;
pub mod jobs;
pub mod org_copies;
pub mod policies;
pub mod recent_jobs;
pub mod registration;
pub mod views;

/// An appliance as the gateway knows it after authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplianceIdentity {
    pub id: i64,
    pub instance_id: i64,
    pub organization_id: i64,
    pub name: String,
}

/// An appliance with no heartbeat for this long is offline (spec portal-a §3.3).
pub const DEFAULT_OFFLINE_AFTER_MS: i64 = 5 * crate::clock::MINUTE_MS;
