//! Settings → Security: the addresses an instance may be used from.

use serde::{Deserialize, Serialize};

/// One rule of the allow-list: single addresses, CIDR ranges and from-to ranges, IPv4 or IPv6.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpRule {
    pub id: i64,
    pub description: String,
    /// As normalized when saved, comma-separated (`192.0.2.7, 10.0.0.0/8, 2001:db8::/32,
    /// 198.51.100.1-198.51.100.40`).
    pub entries: String,
    pub created_by: String,
    pub created_at: i64,
}

/// The instance's IP restrictions as Settings → Security shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpRestrictions {
    /// Whether requests from addresses outside the rules are refused.
    pub enabled: bool,
    pub rules: Vec<IpRule>,
    /// The address this request came from, as the portal sees it (behind trusted proxies: the
    /// client they name).
    pub your_address: Option<String>,
    /// Whether that address is on the rules.
    pub you_are_allowed: bool,
}
