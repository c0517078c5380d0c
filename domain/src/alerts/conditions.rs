//! When each alert condition holds, and when it could next start to hold, as pure functions of
//! what is known about an object and the time. The engine stores nothing it could recompute
//! from these.

use model::alerts::{AlertKind, is_critically_low};
use model::appliance::JobState;
use model::policy::{Policy, next_run};

/// What the evaluator knows about an asset.
#[derive(Debug, Clone, Default)]
pub struct AssetFacts {
    pub policy: Option<Policy>,
    pub time_zone: String,
    /// When the asset's current policy was first reported.
    pub policy_since: Option<i64>,
    /// Scheduled start (or start, for a job no schedule started) of the newest good backup.
    pub last_good_start: Option<i64>,
    /// The state of the newest backup that succeeded, warned or failed.
    pub last_result: Option<JobState>,
    /// The end of the oldest good backup still waiting for a copy (the appliance has a copy
    /// target).
    pub copy_pending_since: Option<i64>,
    /// The newest restore test failed.
    pub restore_test_failed: bool,
}

/// What the evaluator knows about an appliance.
#[derive(Debug, Clone, Default)]
pub struct ApplianceFacts {
    pub last_seen_at: Option<i64>,
    pub registered_at: i64,
    pub storage_total: i64,
    pub storage_free: i64,
}

/// Which conditions hold now and when the next evaluation is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Every condition the object can have, and whether it holds.
    pub conditions: Vec<(AlertKind, bool)>,
    /// The earliest moment one of them could start to hold without any new event.
    pub next_check: Option<i64>,
}

/// The conditional-alarm thresholds that apply to an asset (custom, else global), each if on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AssetThresholds {
    pub backups_ms: Option<i64>,
    pub copies_ms: Option<i64>,
}

/// An asset's conditions under its thresholds.
pub fn asset_verdict(facts: &AssetFacts, thresholds: AssetThresholds, now: i64) -> Verdict {
    let backup_threshold_ms = thresholds.backups_ms;
    let mut conditions = vec![
        (
            AlertKind::BackupFailed,
            facts.last_result == Some(JobState::Error),
        ),
        (
            AlertKind::BackupWarning,
            facts.last_result == Some(JobState::Warning),
        ),
        (AlertKind::RestoreTestFailed, facts.restore_test_failed),
    ];
    let mut next_check = None;
    if let Some(due) = backup_alarm_due(facts, backup_threshold_ms) {
        conditions.push((AlertKind::BackupThreshold, now >= due));
        if now < due {
            next_check = Some(due);
        }
    } else {
        conditions.push((AlertKind::BackupThreshold, false));
    }
    let copy_due = copy_alarm_due(facts, thresholds.copies_ms);
    conditions.push((AlertKind::CopyThreshold, copy_due.is_some_and(|due| now >= due)));
    if let Some(due) = copy_due.filter(|due| now < *due) {
        next_check = Some(next_check.map_or(due, |other: i64| other.min(due)));
    }
    Verdict {
        conditions,
        next_check,
    }
}

/// When the backup alarm of an asset with a policy fires unless a good backup lands first:
/// the threshold after the scheduled start of its newest good backup, or, for an asset never
/// backed up well, after the first run its policy scheduled.
pub fn backup_alarm_due(facts: &AssetFacts, threshold_ms: Option<i64>) -> Option<i64> {
    let threshold_ms = threshold_ms?;
    let policy = facts.policy.as_ref()?;
    let counted_from = match facts.last_good_start {
        Some(start) => start,
        None => {
            let since = facts.policy_since?;
            next_run(&policy.schedule, &facts.time_zone, since - 1).ok()?
        }
    };
    Some(counted_from.saturating_add(threshold_ms))
}

/// When the Replication offsite alarm of an asset with a policy fires unless a copy lands
/// first: the threshold after the end of its oldest good backup not yet copied.
pub fn copy_alarm_due(facts: &AssetFacts, threshold_ms: Option<i64>) -> Option<i64> {
    facts.policy.as_ref()?;
    Some(facts.copy_pending_since?.saturating_add(threshold_ms?))
}

/// An appliance's conditions: offline for `offline_after_ms`, and critically low space.
pub fn appliance_verdict(facts: &ApplianceFacts, offline_after_ms: i64, now: i64) -> Verdict {
    let seen = facts.last_seen_at.unwrap_or(facts.registered_at);
    let offline_from = seen.saturating_add(offline_after_ms);
    let low_space = is_critically_low(
        u64::try_from(facts.storage_free).unwrap_or_default(),
        u64::try_from(facts.storage_total).unwrap_or_default(),
    );
    Verdict {
        conditions: vec![
            (AlertKind::ApplianceOffline, now >= offline_from),
            (AlertKind::LowSpace, low_space),
        ],
        next_check: (now < offline_from).then_some(offline_from),
    }
}

#[cfg(test)]
mod tests {
    use model::policy::{Frequency, Retention, Schedule};

    use super::*;

    const HOUR: i64 = 3_600_000;
    /// 2026-11-02 00:00 UTC.
    const MONDAY: i64 = 1_793_577_600_000;

    fn daily_at_one() -> Policy {
        Policy {
            schedule: Schedule {
                frequency: Frequency::Daily,
                exclude_weekends: false,
                start_date: "2026-11-01".into(),
                start_time: "01:00".into(),
            },
            retention: Retention::default(),
            enabled: true,
            restore_test_days: model::policy::DEFAULT_RESTORE_TEST_DAYS,
        }
    }

    fn backups(backups_ms: Option<i64>) -> AssetThresholds {
        AssetThresholds {
            backups_ms,
            copies_ms: None,
        }
    }

    fn holds(verdict: &Verdict, kind: AlertKind) -> bool {
        verdict.conditions.iter().any(|(k, on)| *k == kind && *on)
    }

    #[test]
    fn the_backup_alarm_counts_from_the_scheduled_start_of_the_last_good_backup() {
        let facts = AssetFacts {
            policy: Some(daily_at_one()),
            time_zone: "UTC".into(),
            policy_since: Some(MONDAY - 48 * HOUR),
            // Scheduled for 01:00, it ran late; the wait counts from 01:00.
            last_good_start: Some(MONDAY + HOUR),
            last_result: Some(JobState::Success),
            copy_pending_since: None,
            restore_test_failed: false,
        };
        let threshold = Some(25 * HOUR);
        let before = asset_verdict(&facts, backups(threshold), MONDAY + 26 * HOUR - 1);
        assert!(!holds(&before, AlertKind::BackupThreshold));
        assert_eq!(before.next_check, Some(MONDAY + 26 * HOUR));
        let after = asset_verdict(&facts, backups(threshold), MONDAY + 26 * HOUR);
        assert!(holds(&after, AlertKind::BackupThreshold));
        assert_eq!(after.next_check, None, "an alarm clears only on an event");
    }

    #[test]
    fn an_asset_never_backed_up_waits_from_its_first_scheduled_run() {
        let facts = AssetFacts {
            policy: Some(daily_at_one()),
            time_zone: "Europe/Berlin".into(),
            // Policy arrived Monday 01:00 UTC = 02:00 Berlin; the first run is Tuesday 01:00 Berlin.
            policy_since: Some(MONDAY + HOUR),
            ..AssetFacts::default()
        };
        let first_run = MONDAY + 24 * HOUR;
        assert_eq!(
            backup_alarm_due(&facts, Some(4 * HOUR)),
            Some(first_run + 4 * HOUR)
        );
        assert_eq!(backup_alarm_due(&facts, None), None, "no threshold, no alarm");
        let unscheduled = AssetFacts {
            policy: None,
            ..facts
        };
        assert_eq!(backup_alarm_due(&unscheduled, Some(HOUR)), None);
    }

    #[test]
    fn failed_and_warning_follow_the_latest_result() {
        let mut facts = AssetFacts {
            last_result: Some(JobState::Error),
            ..AssetFacts::default()
        };
        let verdict = asset_verdict(&facts, backups(Some(HOUR)), MONDAY);
        assert!(holds(&verdict, AlertKind::BackupFailed));
        assert!(!holds(&verdict, AlertKind::BackupWarning));
        assert!(
            !holds(&verdict, AlertKind::BackupThreshold),
            "no policy, no alarm"
        );
        facts.last_result = Some(JobState::Warning);
        let verdict = asset_verdict(&facts, backups(Some(HOUR)), MONDAY);
        assert!(!holds(&verdict, AlertKind::BackupFailed) && holds(&verdict, AlertKind::BackupWarning));
    }

    #[test]
    fn the_copy_alarm_counts_from_the_end_of_the_oldest_uncopied_backup() {
        let mut facts = AssetFacts {
            policy: Some(daily_at_one()),
            time_zone: "UTC".into(),
            last_good_start: Some(MONDAY + HOUR),
            last_result: Some(JobState::Success),
            copy_pending_since: Some(MONDAY + 2 * HOUR),
            ..AssetFacts::default()
        };
        let thresholds = AssetThresholds {
            backups_ms: Some(48 * HOUR),
            copies_ms: Some(6 * HOUR),
        };
        let before = asset_verdict(&facts, thresholds, MONDAY + 8 * HOUR - 1);
        assert!(!holds(&before, AlertKind::CopyThreshold));
        assert_eq!(
            before.next_check,
            Some(MONDAY + 8 * HOUR),
            "the nearer of the two alarms"
        );
        assert!(holds(
            &asset_verdict(&facts, thresholds, MONDAY + 8 * HOUR),
            AlertKind::CopyThreshold
        ));
        let off = AssetThresholds {
            copies_ms: None,
            ..thresholds
        };
        assert!(!holds(
            &asset_verdict(&facts, off, MONDAY + 30 * HOUR),
            AlertKind::CopyThreshold
        ));
        facts.copy_pending_since = None;
        let copied = asset_verdict(&facts, thresholds, MONDAY + 30 * HOUR);
        assert!(
            !holds(&copied, AlertKind::CopyThreshold),
            "nothing waits for a copy"
        );
    }

    #[test]
    fn appliances_go_offline_after_the_threshold_and_run_low_at_five_percent() {
        let facts = ApplianceFacts {
            last_seen_at: Some(MONDAY),
            registered_at: MONDAY - HOUR,
            storage_total: 1000,
            storage_free: 50,
        };
        let verdict = appliance_verdict(&facts, HOUR, MONDAY + HOUR - 1);
        assert!(!holds(&verdict, AlertKind::ApplianceOffline));
        assert!(holds(&verdict, AlertKind::LowSpace));
        assert_eq!(verdict.next_check, Some(MONDAY + HOUR));
        let later = appliance_verdict(
            &ApplianceFacts {
                storage_free: 51,
                ..facts
            },
            HOUR,
            MONDAY + HOUR,
        );
        assert!(holds(&later, AlertKind::ApplianceOffline));
        assert!(!holds(&later, AlertKind::LowSpace));
    }
}
