//! PSA integrations (spec portal-c §1.4–1.7, §1.10): Autotask first. Alerts become tickets in
//! the customer's company/account of the MSP's PSA, through a durable queue.

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
}

impl TicketDefaults {
    /// The ticket priority for an alert of `kind`, if it makes a ticket at all.
    pub fn priority_for(&self, kind: AlertKind) -> Option<&PickValue> {
        if !self.kinds.contains(&kind) {
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

/// The instance's Autotask integration as the card shows it; never the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutotaskSettings {
    pub username: String,
    pub integration_code: String,
    /// Where the zone was looked up (Autotask's address unless pointed elsewhere).
    pub lookup_url: String,
    /// The zone's API root, as the lookup answered.
    pub zone_url: String,
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
    pub statuses: Vec<PickValue>,
    pub priorities: Vec<PickValue>,
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
