//! PSA integrations (spec portal-c §1.4–1.7, §1.10): Autotask and ConnectWise PSA. Alerts
//! become tickets in the customer's company/account of the MSP's PSA, through a durable queue.

use serde::{Deserialize, Serialize};

use crate::alerts::{AlertKind, Severity};
use crate::itglue::LinkedOrganization;

/// A value of one of the PSA's picklists (queue, status, priority): its id and its label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PickValue {
    pub value: String,
    pub label: String,
}

/// A company ("account") of the PSA.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PsaCompany {
    pub id: i64,
    pub name: String,
}

/// How alerts become tickets: the integration's defaults (spec §1.4.3).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TicketDefaults {
    /// Where tickets of organizations that are not mapped go; none: they make no ticket.
    pub company: Option<PsaCompany>,
    pub queue: Option<PickValue>,
    /// The status of a new ticket; none: the PSA's default.
    pub new_status: Option<PickValue>,
    /// The status a ticket moves to when its alert resolves; none: "Do not close automatically".
    pub close_status: Option<PickValue>,
    /// The priority of tickets for critical alerts; none: "Do not sync".
    pub critical_priority: Option<PickValue>,
    /// The priority of tickets for warnings; none: "Do not sync".
    pub warning_priority: Option<PickValue>,
    /// The alert kinds that make tickets.
    pub kinds: Vec<AlertKind>,
    /// The ticket type and source, where the PSA requires them (Kaseya BMS, Vorex).
    #[serde(default)]
    pub ticket_type: Option<PickValue>,
    #[serde(default)]
    pub source: Option<PickValue>,
    /// The location of the default company's tickets, where the PSA files tickets by location
    /// (BMS, Vorex); none: its main location. It belongs to the company it was chosen with.
    #[serde(default)]
    pub location: Option<PickValue>,
}

impl TicketDefaults {
    /// The ticket priority for an alert of `kind`, if it makes a ticket at all.
    pub fn priority_for(&self, kind: AlertKind) -> Option<&PickValue> {
        if !kind.makes_tickets() || !self.kinds.contains(&kind) {
            return None;
        }
        match kind.severity() {
            Severity::Critical => self.critical_priority.as_ref(),
            Severity::Warning => self.warning_priority.as_ref(),
        }
    }
}

/// The title of an alert's ticket: kind, organization and what the alert is about, without a
/// time, so the same condition keeps the same title.
pub fn ticket_title(kind: AlertKind, organization: &str, subject: &str) -> String {
    let title = format!("{} - {organization} - {subject}", kind.label());
    truncate_chars(&title, 255)
}

/// `text` cut to at most `max` characters (on a character boundary), with "…" when cut.
pub fn truncate_chars(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// The PSAs alerts can become tickets in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PsaKind {
    Autotask,
    ConnectWise,
    Bms,
    Vorex,
}

impl PsaKind {
    pub const ALL: [PsaKind; 4] = [
        PsaKind::Autotask,
        PsaKind::ConnectWise,
        PsaKind::Bms,
        PsaKind::Vorex,
    ];

    /// The stored name (`psa_integrations.kind`), also used in element ids.
    pub fn as_str(self) -> &'static str {
        match self {
            PsaKind::Autotask => "autotask",
            PsaKind::ConnectWise => "connectwise",
            PsaKind::Bms => "bms",
            PsaKind::Vorex => "vorex",
        }
    }

    pub fn parse(text: &str) -> Option<PsaKind> {
        PsaKind::ALL.into_iter().find(|k| k.as_str() == text)
    }

    pub fn label(self) -> &'static str {
        match self {
            PsaKind::Autotask => "Autotask",
            PsaKind::ConnectWise => "ConnectWise PSA",
            PsaKind::Bms => "Kaseya BMS",
            PsaKind::Vorex => "Vorex",
        }
    }

    /// Whether tickets need a type and a source chosen (BMS and Vorex require both).
    pub fn needs_type_and_source(self) -> bool {
        matches!(self, PsaKind::Bms | PsaKind::Vorex)
    }

    /// What the credential form calls each part of the credentials.
    pub fn fields(self) -> CredentialLabels {
        match self {
            PsaKind::Autotask => CredentialLabels {
                username: "API user name",
                secret: "Password (Secret)",
                account: "API tracking identifier",
                lookup: "Zone lookup address",
                default_lookup: "https://webservices.autotask.net/atservicesrest",
                queue: "Queue",
            },
            PsaKind::ConnectWise => CredentialLabels {
                username: "Public key",
                secret: "Private key",
                account: "Company ID",
                lookup: "Site",
                default_lookup: "https://na.myconnectwise.net",
                queue: "Board",
            },
            PsaKind::Bms | PsaKind::Vorex => CredentialLabels {
                username: "User name",
                secret: "Password",
                account: "Tenant (company name)",
                lookup: "API address",
                default_lookup: if self == PsaKind::Bms {
                    "https://api.bms.kaseya.com"
                } else {
                    "https://api.vorexlogin.com"
                },
                queue: "Queue",
            },
        }
    }
}

/// The names a PSA gives the parts of its API credentials and its ticket queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CredentialLabels {
    /// Autotask: the API user; ConnectWise: the API member's public key.
    pub username: &'static str,
    /// Autotask: the Secret; ConnectWise: the private key.
    pub secret: &'static str,
    /// Autotask: the API tracking identifier; ConnectWise: the company id of the login.
    pub account: &'static str,
    /// Where the API is found: Autotask's zone lookup, ConnectWise's site.
    pub lookup: &'static str,
    pub default_lookup: &'static str,
    /// What tickets are filed in: Autotask's queue, ConnectWise's service board.
    pub queue: &'static str,
}

/// An instance's PSA integration as its card shows it; never the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PsaSettings {
    pub kind: PsaKind,
    pub username: String,
    /// Autotask's tracking identifier, ConnectWise's company id.
    pub account: String,
    /// Where the API was looked up (the vendor's address unless pointed elsewhere).
    pub lookup_url: String,
    /// The API root the lookup answered (Autotask's zone, ConnectWise's codebase).
    pub api_url: String,
    pub defaults: TicketDefaults,
    pub updated_at: i64,
    pub updated_by: String,
    pub queue: TicketQueue,
}

/// The state of an integration's ticket queue, for its card.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TicketQueue {
    pub open_tickets: i64,
    /// Writes waiting (new tickets, notes, closings), retried until they succeed.
    pub pending: i64,
    /// Writes given up after a day of retries.
    pub failed: i64,
    /// The last failure, while the PSA keeps failing.
    pub failing: Option<QueueFailure>,
    /// Since when writes wait because the PSA refused the credentials; saving working ones
    /// resumes them.
    #[serde(default)]
    pub paused_since: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueFailure {
    pub since: i64,
    pub error: String,
}

/// The picklists ticket settings choose from, read from the PSA.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TicketChoices {
    pub queues: Vec<PickValue>,
    /// Ticket types and sources, where the PSA requires them (BMS, Vorex).
    #[serde(default)]
    pub types: Vec<PickValue>,
    #[serde(default)]
    pub sources: Vec<PickValue>,
    /// Statuses valid in every queue (Autotask).
    pub statuses: Vec<PickValue>,
    pub priorities: Vec<PickValue>,
    /// Statuses of each queue, where they differ per queue (ConnectWise's boards).
    #[serde(default)]
    pub queue_statuses: Vec<QueueStatuses>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueStatuses {
    pub queue: String,
    pub statuses: Vec<PickValue>,
}

impl TicketChoices {
    /// The statuses a ticket in `queue` can have.
    pub fn statuses_for(&self, queue: Option<&str>) -> Vec<PickValue> {
        if self.queue_statuses.is_empty() {
            return self.statuses.clone();
        }
        self.queue_statuses
            .iter()
            .find(|q| Some(q.queue.as_str()) == queue)
            .map(|q| q.statuses.clone())
            .unwrap_or_default()
    }
}

/// A PSA company with the portal organization mapped to it, if any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PsaCompanyRow {
    pub id: i64,
    pub name: String,
    pub mapped_to: Option<LinkedOrganization>,
}

/// One page of the PSA's companies (spec: 100 a page, searchable).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PsaCompanyPage {
    pub items: Vec<PsaCompanyRow>,
    pub page: u32,
    pub total_pages: u32,
    pub total: u64,
}

/// The ticket settings that apply to one organization's alerts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrganizationTicketSettings {
    pub organization: LinkedOrganization,
    /// Whether they are the organization's own ("Overwrite Settings") or the integration's.
    pub own: bool,
    pub settings: TicketDefaults,
}

/// The companies of one integrated PSA mapped to organizations (the Organizations page's column).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PsaMappings {
    pub psa: PsaKind,
    pub mapped: Vec<OrganizationMapping>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrganizationMapping {
    pub organization_id: i64,
    pub company: PsaCompany,
}

impl PsaMappings {
    /// The company mapped to an organization, if any.
    pub fn company_of(&self, organization_id: i64) -> Option<&PsaCompany> {
        self.mapped
            .iter()
            .find(|m| m.organization_id == organization_id)
            .map(|m| &m.company)
    }
}

/// The result of "Create test ticket".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestTicket {
    pub id: i64,
    pub number: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_global_or_per_queue() {
        let status = |v: &str| PickValue {
            value: v.into(),
            label: v.into(),
        };
        let global = TicketChoices {
            statuses: vec![status("1")],
            ..TicketChoices::default()
        };
        assert_eq!(global.statuses_for(None), vec![status("1")]);
        let per_board = TicketChoices {
            queue_statuses: vec![QueueStatuses {
                queue: "7".into(),
                statuses: vec![status("70")],
            }],
            ..TicketChoices::default()
        };
        assert_eq!(per_board.statuses_for(Some("7")), vec![status("70")]);
        assert!(per_board.statuses_for(Some("8")).is_empty());
        assert!(per_board.statuses_for(None).is_empty(), "no board, no status");
        for kind in PsaKind::ALL {
            assert_eq!(PsaKind::parse(kind.as_str()), Some(kind));
        }
    }

    #[test]
    fn a_title_is_stable_and_fits_the_psa() {
        let title = ticket_title(AlertKind::ApplianceOffline, "Acme", "tp-207");
        assert_eq!(title, "Appliance offline - Acme - tp-207");
        let long = ticket_title(AlertKind::BackupFailed, &"é".repeat(300), "x");
        assert_eq!(long.chars().count(), 255);
        assert!(long.ends_with('…'));
    }

    #[test]
    fn priorities_follow_severity_and_the_chosen_kinds() {
        let high = PickValue {
            value: "1".into(),
            label: "High".into(),
        };
        let defaults = TicketDefaults {
            critical_priority: Some(high.clone()),
            kinds: vec![AlertKind::ApplianceOffline, AlertKind::BackupWarning],
            ..TicketDefaults::default()
        };
        assert_eq!(defaults.priority_for(AlertKind::ApplianceOffline), Some(&high));
        assert_eq!(
            defaults.priority_for(AlertKind::BackupWarning),
            None,
            "Do not sync"
        );
        assert_eq!(defaults.priority_for(AlertKind::LowSpace), None, "not chosen");
    }
}
