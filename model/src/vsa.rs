//! Kaseya VSA 9 (spec portal-c §1.1): the portal as a VSA module, and conditional alarms pushed
//! into VSA as VSA alarms, optionally with VSA e-mails.

use serde::{Deserialize, Serialize};

use crate::alerts::AlertKind;

/// The file VSA's License Manager installs (spec §1.1 step 2).
pub const MANIFEST_FILE_NAME: &str = "UniView.vsaz";
/// Where a Superuser downloads it.
pub const MANIFEST_PATH: &str = "/integrations/vsa9/manifest";

/// The categories of the card's Alerts section: which conditional alarms reach VSA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlarmCategory {
    /// Conditional alarms on backups (no good backup within the threshold).
    Backups,
    /// Conditional alarms "Replication offsite" (a backup not copied within the threshold).
    Copies,
}

impl AlarmCategory {
    pub const ALL: [AlarmCategory; 2] = [AlarmCategory::Backups, AlarmCategory::Copies];

    /// The category of an alert kind, if VSA takes it: only conditional alarms go to VSA.
    pub fn of(kind: AlertKind) -> Option<AlarmCategory> {
        match kind {
            AlertKind::BackupThreshold => Some(AlarmCategory::Backups),
            AlertKind::CopyThreshold => Some(AlarmCategory::Copies),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AlarmCategory::Backups => "backups",
            AlarmCategory::Copies => "copies",
        }
    }

    pub fn parse(text: &str) -> Option<AlarmCategory> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }

    pub fn label(self) -> &'static str {
        match self {
            AlarmCategory::Backups => "Backups",
            AlarmCategory::Copies => "Replication Offsite",
        }
    }
}

/// The instance's VSA integration; never its token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VsaSettings {
    pub server_url: String,
    pub username: String,
    pub forward_backups: bool,
    pub forward_copies: bool,
    pub updated_at: i64,
    pub updated_by: String,
    /// VSA refused the token: alarms wait until a working one is saved.
    pub paused: bool,
    /// Alarms have been failing since then, with the last reason.
    pub failing_since: Option<i64>,
    pub last_error: Option<String>,
    /// Alarm writes waiting to be sent.
    pub pending: i64,
}

/// What the VSA card saves; an empty token keeps the stored one.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct VsaForm {
    pub server_url: String,
    pub username: String,
    pub token: String,
    #[serde(default)]
    pub forward_backups: bool,
    #[serde(default)]
    pub forward_copies: bool,
}

/// One of the signed-in user's VSA e-mail actions (spec §1.1 "VSA Alert Settings"): when a
/// conditional alarm of `category` reaches VSA, VSA also mails `recipients`. Only alarms of
/// organizations the user sees trigger it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VsaEmailAction {
    pub id: i64,
    pub category: AlarmCategory,
    pub recipients: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_conditional_alarms_reach_vsa() {
        assert_eq!(
            AlarmCategory::of(AlertKind::BackupThreshold),
            Some(AlarmCategory::Backups)
        );
        assert_eq!(
            AlarmCategory::of(AlertKind::CopyThreshold),
            Some(AlarmCategory::Copies)
        );
        for kind in AlertKind::ALL {
            if !matches!(kind, AlertKind::BackupThreshold | AlertKind::CopyThreshold) {
                assert_eq!(AlarmCategory::of(kind), None, "{kind:?}");
            }
        }
        for category in AlarmCategory::ALL {
            assert_eq!(AlarmCategory::parse(category.as_str()), Some(category));
        }
    }
}
