//! Settings → Integrations → IT Glue, as the portal shows it.

use serde::{Deserialize, Serialize};

/// The instance's IT Glue integration; never its API key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItGlueSettings {
    pub base_url: String,
    pub updated_at: i64,
    pub updated_by: String,
    pub last_sync_at: Option<i64>,
    pub last_sync_result: Option<String>,
    pub last_sync_ok: bool,
    /// Portal organizations linked to IT Glue organizations.
    pub linked: i64,
}

/// An IT Glue organization, with the portal organization it is linked to, if any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItGlueOrganization {
    pub id: i64,
    pub name: String,
    pub linked_to: Option<LinkedOrganization>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkedOrganization {
    pub id: i64,
    pub name: String,
}

/// One page of IT Glue organizations (100 per page, by name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItGlueOrganizationPage {
    pub items: Vec<ItGlueOrganization>,
    pub page: u32,
    pub total_pages: u32,
    pub total: u64,
}

/// What a sync pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncReport {
    /// Configurations created or updated.
    pub written: u32,
    /// Linked organizations whose IT Glue organization no longer exists, or other refusals.
    pub problems: Vec<String>,
}
