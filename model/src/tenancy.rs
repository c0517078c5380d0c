//! Scopes, organizations and the list queries of their pages.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scope {
    pub id: i64,
    pub name: String,
    pub organizations: i64,
    pub users: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Organization {
    pub id: i64,
    pub name: String,
    pub scope_id: Option<i64>,
    /// `None` shows as "Unassigned".
    pub scope_name: Option<String>,
    pub appliances: i64,
    pub alerts: i64,
    /// Free bytes over total bytes of its appliances, in percent; 100 with no appliances.
    pub free_space_pct: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum OrgSort {
    #[default]
    Name,
    Scope,
    Appliances,
    Alerts,
    FreeSpace,
}

/// Which scope a list is narrowed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScopeFilter {
    Scope(i64),
    Unassigned,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrgQuery {
    pub scope: Option<ScopeFilter>,
    /// Case-insensitive "contains" on the name.
    pub name: String,
    pub only_with_alerts: bool,
    pub sort: OrgSort,
    pub descending: bool,
    /// 1-based.
    pub page: u32,
    pub per_page: u32,
}

impl Default for OrgQuery {
    fn default() -> Self {
        Self {
            scope: None,
            name: String::new(),
            only_with_alerts: false,
            sort: OrgSort::Name,
            descending: false,
            page: 1,
            per_page: 50,
        }
    }
}

/// The rows-per-page choices every list offers (spec portal-b §3.4).
pub const PAGE_SIZES: [u32; 4] = [10, 25, 50, 100];

/// One page of a list and the size of the whole filtered list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: i64,
    pub page: u32,
    pub per_page: u32,
}

impl<T> Page<T> {
    pub fn page_count(&self) -> u32 {
        ((self.total.max(0) as u64).div_ceil(u64::from(self.per_page.max(1)))).max(1) as u32
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UserState {
    Active,
    PendingActivation,
    Disabled,
}

impl UserState {
    pub fn label(self) -> &'static str {
        match self {
            UserState::Active => "Active",
            UserState::PendingActivation => "Pending activation",
            UserState::Disabled => "Disabled",
        }
    }
}

/// A row of Settings → Users.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserSummary {
    pub id: i64,
    pub email: String,
    pub role: crate::Role,
    pub status: UserState,
    pub global_scope: bool,
    /// (id, name) of the scopes held, sorted by name.
    pub scopes: Vec<(i64, String)>,
    /// Unix milliseconds of the last sign-in activity.
    pub last_seen_at: Option<i64>,
    /// Two-factor authentication is locked after too many wrong codes.
    pub second_factor_locked: bool,
}

/// What the Add and Edit user forms send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserAccess {
    pub role: crate::Role,
    pub global_scope: bool,
    pub scope_ids: Vec<i64>,
}

/// A row of Settings → Audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub id: i64,
    /// Unix milliseconds, UTC.
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub before: Option<String>,
    pub after: Option<String>,
    pub client_ip: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AuditQuery {
    /// Actor contains (case-insensitive).
    pub actor: String,
    /// Action starts with, e.g. `login` or `user.invited`.
    pub action: String,
    /// Inclusive lower bound, Unix milliseconds.
    pub from: Option<i64>,
    /// Exclusive upper bound, Unix milliseconds.
    pub until: Option<i64>,
}
