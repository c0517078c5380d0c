//! The Alert Center, its settings and conditional alarms (spec portal-a §2.10–2.20, §3.4–3.9;
//! portal-c §3).
//!
//! An alert is raised when a condition starts to hold for an object (an appliance or an
//! asset) and resolves by itself when the condition clears. At most one alert per condition
//! and object is active at a time.

use serde::{Deserialize, Serialize};

/// Appliances with this share of free storage or less raise a low-space alert. The Dashboard's
/// Low space tile uses the wider [`crate::appliance::views::LOW_SPACE_PERCENT`].
pub const CRITICAL_SPACE_PERCENT: u64 = 5;
/// Whether free storage is at or below [`CRITICAL_SPACE_PERCENT`] (of a known total).
pub fn is_critically_low(free_bytes: u64, total_bytes: u64) -> bool {
    total_bytes > 0
        && u128::from(free_bytes) * 100 <= u128::from(total_bytes) * u128::from(CRITICAL_SPACE_PERCENT)
}

/// A dismissed alert whose condition still holds comes back after this long.
pub const REEVALUATE_DISMISSED_MS: i64 = 5 * 60 * 1000;
/// At most this many e-mail recipients per instance.
pub const MAX_RECIPIENTS: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// The appliance has not been seen for the offline-alarm threshold.
    ApplianceOffline,
    /// The appliance has [`CRITICAL_SPACE_PERCENT`] or less free storage.
    LowSpace,
    /// The asset's latest backup failed.
    BackupFailed,
    /// The asset's latest backup completed with warnings.
    BackupWarning,
    /// Conditional alarm: no good backup within the threshold of its scheduled start.
    BackupThreshold,
    /// Conditional alarm "Replication offsite": a good backup not copied to the copy target
    /// within the threshold of its end.
    CopyThreshold,
    /// The asset's newest restore test failed: its backups may not restore.
    RestoreTestFailed,
    /// A PSA keeps refusing or failing the tickets of an organization's alerts.
    PsaFailing,
}

impl AlertKind {
    pub const ALL: [AlertKind; 8] = [
        AlertKind::ApplianceOffline,
        AlertKind::LowSpace,
        AlertKind::BackupFailed,
        AlertKind::BackupWarning,
        AlertKind::BackupThreshold,
        AlertKind::CopyThreshold,
        AlertKind::RestoreTestFailed,
        AlertKind::PsaFailing,
    ];

    /// The kinds that may become PSA tickets: a PSA's own failure never does (it could not
    /// reach the PSA that fails, and would loop through the one that works).
    pub fn makes_tickets(self) -> bool {
        self != AlertKind::PsaFailing
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::ApplianceOffline => "appliance_offline",
            AlertKind::LowSpace => "low_space",
            AlertKind::BackupFailed => "backup_failed",
            AlertKind::BackupWarning => "backup_warning",
            AlertKind::BackupThreshold => "backup_threshold",
            AlertKind::CopyThreshold => "copy_threshold",
            AlertKind::RestoreTestFailed => "restore_test_failed",
            AlertKind::PsaFailing => "psa_failing",
        }
    }

    pub fn parse(text: &str) -> Option<AlertKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// The Settings → Alerts toggle that governs it; conditional alarms have their own
    /// settings instead (spec portal-c §3.2).
    pub fn category(self) -> Option<AlertCategory> {
        match self {
            AlertKind::ApplianceOffline => Some(AlertCategory::ApplianceConnectivity),
            AlertKind::LowSpace => Some(AlertCategory::Storage),
            AlertKind::BackupFailed | AlertKind::RestoreTestFailed => Some(AlertCategory::BackupFailure),
            AlertKind::BackupWarning => Some(AlertCategory::BackupWarning),
            AlertKind::BackupThreshold | AlertKind::CopyThreshold | AlertKind::PsaFailing => None,
        }
    }

    pub fn severity(self) -> Severity {
        match self {
            AlertKind::BackupWarning => Severity::Warning,
            _ => Severity::Critical,
        }
    }

    /// A short name of the kind, as ticket titles and lists use it.
    pub fn label(self) -> &'static str {
        match self {
            AlertKind::ApplianceOffline => "Appliance offline",
            AlertKind::LowSpace => "Low storage",
            AlertKind::BackupFailed => "Backup failed",
            AlertKind::BackupWarning => "Backup warning",
            AlertKind::BackupThreshold => "No recent backup",
            AlertKind::CopyThreshold => "No recent backup copy",
            AlertKind::RestoreTestFailed => "Restore test failed",
            AlertKind::PsaFailing => "PSA tickets failing",
        }
    }

    /// The title of a group of alerts of this kind.
    pub fn group_title(self, offline_after_ms: i64) -> String {
        match self {
            AlertKind::ApplianceOffline => {
                format!(
                    "Appliance has not been seen in over {}.",
                    offline_span(offline_after_ms)
                )
            }
            AlertKind::LowSpace => format!("Appliance storage is {CRITICAL_SPACE_PERCENT} % free or less."),
            AlertKind::BackupFailed => "The latest backup failed for one or more assets.".into(),
            AlertKind::BackupWarning => {
                "The latest backup completed with warnings for one or more assets.".into()
            }
            AlertKind::BackupThreshold => {
                "One of the backup thresholds exceeded for one or more assets.".into()
            }
            AlertKind::CopyThreshold => {
                "One of the replication offsite thresholds exceeded for one or more assets.".into()
            }
            AlertKind::RestoreTestFailed => "The latest restore test failed for one or more assets.".into(),
            AlertKind::PsaFailing => "Alert tickets are not reaching a PSA.".into(),
        }
    }
}

/// "60 minutes", or "30 seconds" for a threshold under a minute (test set-ups).
pub fn offline_span(offline_after_ms: i64) -> String {
    if offline_after_ms >= 60_000 {
        format!("{} minutes", offline_after_ms / 60_000)
    } else {
        format!("{} seconds", offline_after_ms / 1000)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Critical,
    Warning,
}

/// The categories of Settings → Alerts: those with a source in this portal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertCategory {
    ApplianceConnectivity,
    BackupFailure,
    BackupWarning,
    Storage,
}

impl AlertCategory {
    pub const ALL: [AlertCategory; 4] = [
        AlertCategory::ApplianceConnectivity,
        AlertCategory::BackupFailure,
        AlertCategory::BackupWarning,
        AlertCategory::Storage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AlertCategory::ApplianceConnectivity => "appliance_connectivity",
            AlertCategory::BackupFailure => "backup_failure",
            AlertCategory::BackupWarning => "backup_warning",
            AlertCategory::Storage => "storage",
        }
    }

    pub fn parse(text: &str) -> Option<AlertCategory> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }

    pub fn label(self) -> &'static str {
        match self {
            AlertCategory::ApplianceConnectivity => "Appliance offline/online",
            AlertCategory::BackupFailure => "Backup job failures",
            AlertCategory::BackupWarning => "Backups completed with warnings",
            AlertCategory::Storage => "Storage and low space",
        }
    }
}

/// One alert as the Alert Center lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertView {
    pub id: i64,
    pub kind: AlertKind,
    pub severity: Severity,
    pub message: String,
    pub raised_at: i64,
    pub organization_id: i64,
    pub organization_name: String,
    pub appliance_id: Option<i64>,
    pub appliance_name: Option<String>,
    pub asset_id: Option<i64>,
    pub asset_name: Option<String>,
}

/// Active alerts of one kind in one organization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertGroup {
    pub kind: AlertKind,
    pub title: String,
    pub organization_id: i64,
    pub organization_name: String,
    pub count: i64,
    /// The newest member's time.
    pub latest_at: i64,
    /// The only member, when the group has one (shown ungrouped).
    pub single: Option<AlertView>,
}

/// Which active alerts an Alert Center action or list covers, within what the user may see.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertFilter {
    pub organization_id: Option<i64>,
    pub scope_id: Option<i64>,
}

/// Settings → Alerts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertSettings {
    pub categories: Vec<(AlertCategory, bool)>,
    pub recipients: Vec<String>,
}

/// "Time without a successful backup" as the settings enter it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThresholdBlock {
    pub enabled: bool,
    pub days: i64,
    pub hours: i64,
}

impl ThresholdBlock {
    pub const fn new(enabled: bool, days: i64, hours: i64) -> Self {
        Self { enabled, days, hours }
    }

    pub fn total_hours(&self) -> i64 {
        self.days * 24 + self.hours
    }

    pub fn from_minutes(enabled: bool, minutes: i64) -> Self {
        let hours = minutes / 60;
        Self::new(enabled, hours / 24, hours % 24)
    }

    /// Days 0–365, hours 0–23, at least an hour in all; a disabled block keeps its value.
    pub fn validate(&self, what: &str) -> Result<(), String> {
        if !(0..=365).contains(&self.days) {
            return Err(format!("{what}: days must be between 0 and 365"));
        }
        if !(0..=23).contains(&self.hours) {
            return Err(format!("{what}: hours must be between 0 and 23"));
        }
        if self.total_hours() < 1 {
            return Err(format!("{what}: the threshold must be at least 1 hour"));
        }
        Ok(())
    }

    /// "1 day 2 hours", "8 hours".
    pub fn describe(&self) -> String {
        let plural = |n: i64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
        match (self.days, self.hours) {
            (0, h) => plural(h, "hour"),
            (d, 0) => plural(d, "day"),
            (d, h) => format!("{} {}", plural(d, "day"), plural(h, "hour")),
        }
    }
}

/// The two thresholds of a threshold set: backups and (hot) backup copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Thresholds {
    pub backups: ThresholdBlock,
    pub copies: ThresholdBlock,
}

impl Thresholds {
    /// What a new instance starts with, and what the settings form offers: backups alarm after a
    /// day without a good one; offsite copies off until copies are set up.
    pub const DEFAULT: Thresholds = Thresholds {
        backups: ThresholdBlock::new(true, 1, 0),
        copies: ThresholdBlock::new(false, 1, 0),
    };

    pub fn validate(&self) -> Result<(), String> {
        self.backups.validate("Backups")?;
        self.copies.validate("Replication offsite")
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedOrganization {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomThreshold {
    pub id: i64,
    pub title: String,
    pub thresholds: Thresholds,
    pub organizations: Vec<NamedOrganization>,
}

/// Settings → Conditional alarms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlarmSettings {
    /// None until a Superuser saves the global thresholds; alarms start then.
    pub global: Option<Thresholds>,
    pub custom: Vec<CustomThreshold>,
}

/// The Dashboard's tiles for what the viewer may see, optionally narrowed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DashboardView {
    pub appliances_online: i64,
    pub appliances_offline: i64,
    pub alerts: i64,
    /// Appliances with 30 % or less free storage.
    pub low_space: i64,
    pub storage_used_bytes: u64,
    pub storage_total_bytes: u64,
    /// The three most recently started running or queued jobs.
    pub active_jobs: Vec<crate::appliance::views::JobView>,
    /// One entry per UTC day, oldest first, [`DASHBOARD_DAYS`] of them, today last.
    pub completed: Vec<DayCount>,
    pub recent_jobs: Vec<crate::appliance::views::JobView>,
    /// Set up steps still missing, shown only to those who may take them.
    pub hints: Vec<DashboardHint>,
}

/// Something not set up that leaves customers unprotected without anyone noticing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DashboardHint {
    /// No global backup threshold is on: a customer whose backups stop raises no alarm.
    BackupAlarmsOff,
    /// Appliances protect assets but none copies its backups offsite: one incident from total
    /// data loss.
    NoOffsiteCopies,
    /// Backups are copied offsite but no Replication offsite threshold is on: copies that stop
    /// raise no alarm.
    CopyAlarmsOff,
    /// Assets are protected but none has had a restore test: nobody knows whether they restore.
    NoRestoreTests,
}

pub const DASHBOARD_DAYS: i64 = 13;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayCount {
    /// Unix ms of the day's start (UTC midnight).
    pub day: i64,
    /// Jobs that ended in success or warning.
    pub success: i64,
    /// Jobs that failed or whose scheduled run never started.
    pub missed: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_are_validated_and_described() {
        assert_eq!(ThresholdBlock::new(true, 0, 8).validate("Backups"), Ok(()));
        assert_eq!(
            ThresholdBlock::new(true, 0, 0).validate("Backups"),
            Err("Backups: the threshold must be at least 1 hour".into())
        );
        assert!(
            ThresholdBlock::new(true, 1, 24)
                .validate("x")
                .unwrap_err()
                .contains("hours")
        );
        assert!(
            ThresholdBlock::new(true, 400, 0)
                .validate("x")
                .unwrap_err()
                .contains("days")
        );
        assert_eq!(ThresholdBlock::new(true, 1, 0).describe(), "1 day");
        assert_eq!(ThresholdBlock::new(true, 2, 1).describe(), "2 days 1 hour");
        assert_eq!(
            ThresholdBlock::from_minutes(true, 25 * 60),
            ThresholdBlock::new(true, 1, 1)
        );
    }

    #[test]
    fn kinds_round_trip_and_only_conditional_alarms_and_the_portals_own_lack_a_category() {
        for kind in AlertKind::ALL {
            assert_eq!(AlertKind::parse(kind.as_str()), Some(kind));
            // Conditional alarms have their own settings; "PSA tickets failing" is the portal's
            // own and cannot be turned off.
            let conditional = matches!(
                kind,
                AlertKind::BackupThreshold | AlertKind::CopyThreshold | AlertKind::PsaFailing
            );
            assert_eq!(kind.makes_tickets(), kind != AlertKind::PsaFailing);
            assert!(
                kind != AlertKind::RestoreTestFailed || kind.category() == Some(AlertCategory::BackupFailure)
            );
            assert_eq!(kind.category().is_none(), conditional);
        }
        for category in AlertCategory::ALL {
            assert_eq!(AlertCategory::parse(category.as_str()), Some(category));
        }
    }
}
