//! Alert texts and their e-mail: one mail per recipient when an alert is raised, and a
//! threaded "Re:" mail to the same recipients when it resolves. Both are outbox rows written in
//! the transaction that records the transition, so a crash can lose or repeat neither.

use model::alerts::{AlertKind, CRITICAL_SPACE_PERCENT, offline_span};
use sqlx::AnyConnection;

use super::rules::InstanceRules;
use crate::{DomainResult, Portal, outbox};

/// The names an alert's texts mention.
#[derive(Debug, Clone, Default)]
pub struct Subject {
    pub instance_name: String,
    pub organization_name: String,
    pub appliance_id: Option<i64>,
    pub appliance_name: String,
    pub asset_name: Option<String>,
    pub storage_free: i64,
    pub storage_total: i64,
    /// The backups threshold applied, in whole hours.
    pub threshold_hours: Option<i64>,
    /// The Replication offsite threshold applied, in whole hours.
    pub copy_threshold_hours: Option<i64>,
    /// The PSA that fails ("Autotask") and what it answered.
    pub psa_name: String,
    pub psa_error: String,
}

impl Subject {
    pub fn name(&mut self, instance: String, organization: String, appliance: String, asset: Option<String>) {
        self.instance_name = instance;
        self.organization_name = organization;
        self.appliance_name = appliance;
        self.asset_name = asset;
    }
}

/// What an alert says in the Alert Center and in its mail subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Texts {
    pub message: String,
    pub subject: String,
}

pub fn texts(kind: AlertKind, s: &Subject, offline_after_ms: i64) -> Texts {
    let appliance = &s.appliance_name;
    let asset = s.asset_name.as_deref().unwrap_or("?");
    let organization = &s.organization_name;
    let psa = &s.psa_name;
    let (message, subject) = match kind {
        AlertKind::ApplianceOffline => (
            format!(
                "Appliance has not been seen in over {}.",
                offline_span(offline_after_ms)
            ),
            format!("Conditional Alarm - Appliance {appliance} is offline"),
        ),
        AlertKind::LowSpace => (
            format!(
                "Only {} % of storage is free ({} of {} bytes).",
                percent(s.storage_free, s.storage_total),
                s.storage_free,
                s.storage_total
            ),
            format!("Low space - Appliance {appliance} has {CRITICAL_SPACE_PERCENT} % or less free storage"),
        ),
        AlertKind::BackupFailed => (
            "Latest backup failed".to_owned(),
            format!("Backup failed - {asset} on appliance {appliance}"),
        ),
        AlertKind::BackupWarning => (
            "Latest backup completed with warnings".to_owned(),
            format!("Backup warning - {asset} on appliance {appliance}"),
        ),
        AlertKind::BackupThreshold => {
            let hours = s.threshold_hours.unwrap_or_default();
            (
                format!("Backup was not completed within {hours} hour(s)"),
                format!(
                    "Conditional Alarm - Backup of {asset} on appliance {appliance} not completed within {hours} hour(s)"
                ),
            )
        }
        AlertKind::RestoreTestFailed => (
            "Latest restore test failed".to_owned(),
            format!("Restore test failed - {asset} on appliance {appliance}"),
        ),
        AlertKind::CopyThreshold => {
            let hours = s.copy_threshold_hours.unwrap_or_default();
            (
                format!("Backup was not copied offsite within {hours} hour(s)"),
                format!(
                    "Conditional Alarm - Backup of {asset} on appliance {appliance} not copied offsite within {hours} hour(s)"
                ),
            )
        }
        AlertKind::PsaFailing => (
            format!(
                "Tickets for this organization's alerts are not reaching {psa}: {}",
                s.psa_error
            ),
            format!("PSA - {psa} is not accepting tickets for {organization}"),
        ),
    };
    Texts {
        message,
        subject: format!("{} Alert Center: {subject}", s.instance_name),
    }
}

fn percent(free: i64, total: i64) -> i64 {
    if total <= 0 {
        return 0;
    }
    ((free as i128 * 100) / total as i128) as i64
}

/// What the resolve mail says happened.
fn cleared(kind: AlertKind, s: &Subject) -> String {
    let appliance = &s.appliance_name;
    let asset = s.asset_name.as_deref().unwrap_or("?");
    match kind {
        AlertKind::ApplianceOffline => format!("Appliance {appliance} is online."),
        AlertKind::LowSpace => {
            format!("Appliance {appliance} has more than {CRITICAL_SPACE_PERCENT} % free storage again.")
        }
        AlertKind::BackupFailed => format!("A backup of {asset} on appliance {appliance} succeeded."),
        AlertKind::BackupWarning => {
            format!("A backup of {asset} on appliance {appliance} completed without warnings.")
        }
        AlertKind::BackupThreshold => format!("A good backup of {asset} on appliance {appliance} completed."),
        AlertKind::CopyThreshold => {
            format!("The backups of {asset} on appliance {appliance} were copied offsite.")
        }
        AlertKind::RestoreTestFailed => {
            format!("A restore test of {asset} on appliance {appliance} passed.")
        }
        AlertKind::PsaFailing => format!(
            "{} accepts the tickets of {}'s alerts again.",
            s.psa_name, s.organization_name
        ),
    }
}

/// `MM/DD/YYYY hh:mm AM GMT`, as the vendors' mails write it.
pub fn mail_date(unix_ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(unix_ms)
        .map(|t| t.format("%m/%d/%Y %I:%M %p GMT").to_string())
        .unwrap_or_default()
}

fn link(portal: &Portal, s: &Subject) -> String {
    match s.appliance_id {
        Some(id) => portal.link(&format!("/protect/appliances/{id}")),
        None => portal.link("/"),
    }
}

fn details(s: &Subject, at: i64) -> String {
    let mut lines = vec![
        format!("Alert Date: {}", mail_date(at)),
        format!("Instance: {}", s.instance_name),
        format!("Organization: {}", s.organization_name),
    ];
    if !s.appliance_name.is_empty() {
        lines.push(format!("Appliance Name: {}", s.appliance_name));
    }
    if let Some(asset) = &s.asset_name {
        lines.push(format!("Asset: {asset}"));
    }
    lines.join("\n")
}

const FOOTER: &str = "--\nBackplane Alert Center. You receive this because your address is on the alert \
     recipients list (Settings → Alerts).";

/// The raise mail, to every recipient on the list now.
pub(super) async fn enqueue_raised(
    conn: &mut AnyConnection,
    portal: &Portal,
    alert: (i64, i64),
    texts: &Texts,
    s: &Subject,
    rules: &InstanceRules,
    now: i64,
) -> DomainResult<()> {
    let (alert_id, instance_id) = alert;
    let body = format!(
        "Backplane - Alert\n\n{}\n\nSee details below:\n{}\n\nView in Portal: {}\n\n{FOOTER}\n",
        texts.message,
        details(s, now),
        link(portal, s)
    );
    for recipient in &rules.recipients {
        outbox::enqueue_alert_mail(
            &mut *conn,
            outbox::AlertMail {
                instance_id: Some(instance_id),
                recipient,
                subject: &texts.subject,
                body: &body,
                alert_id,
                reply_to: None,
            },
            now,
        )
        .await?;
    }
    Ok(())
}

/// The "Re:" mail, to everyone who received the raise mail.
pub(super) async fn enqueue_resolved(
    conn: &mut AnyConnection,
    portal: &Portal,
    alert: (i64, AlertKind, &str),
    s: &Subject,
    now: i64,
) -> DomainResult<()> {
    let (alert_id, kind, subject) = alert;
    let raised: Vec<(i64, Option<i64>, String)> = sqlx::query_as(
        "SELECT id, instance_id, recipient FROM outbox WHERE alert_id = $1 AND reply_to IS NULL ORDER BY id",
    )
    .bind(alert_id)
    .fetch_all(&mut *conn)
    .await?;
    let body = format!(
        "Backplane - Alert cleared\n\n{}\n\nSee details below:\n{}\n\nView in Portal: {}\n\n{FOOTER}\n",
        cleared(kind, s),
        details(s, now),
        link(portal, s)
    );
    let reply_subject = format!("Re: {subject}");
    for (raise_id, instance_id, recipient) in raised {
        outbox::enqueue_alert_mail(
            &mut *conn,
            outbox::AlertMail {
                instance_id,
                recipient: &recipient,
                subject: &reply_subject,
                body: &body,
                alert_id,
                reply_to: Some(raise_id),
            },
            now,
        )
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::MINUTE_MS;

    #[test]
    fn texts_name_the_instance_appliance_asset_and_threshold() {
        let s = Subject {
            instance_name: "Acme IT".into(),
            organization_name: "Globex".into(),
            appliance_id: Some(3),
            appliance_name: "nas-01".into(),
            asset_name: Some("payroll".into()),
            threshold_hours: Some(25),
            ..Subject::default()
        };
        let offline = texts(AlertKind::ApplianceOffline, &s, 60 * MINUTE_MS);
        assert_eq!(offline.message, "Appliance has not been seen in over 60 minutes.");
        assert_eq!(
            offline.subject,
            "Acme IT Alert Center: Conditional Alarm - Appliance nas-01 is offline"
        );
        let alarm = texts(AlertKind::BackupThreshold, &s, 0);
        assert_eq!(alarm.message, "Backup was not completed within 25 hour(s)");
        assert!(alarm.subject.contains("payroll on appliance nas-01"));
        assert_eq!(
            cleared(AlertKind::ApplianceOffline, &s),
            "Appliance nas-01 is online."
        );
        let psa = Subject {
            instance_name: "Acme IT".into(),
            organization_name: "Globex".into(),
            psa_name: "Autotask".into(),
            psa_error: "Autotask refused the API user".into(),
            ..Subject::default()
        };
        let failing = texts(AlertKind::PsaFailing, &psa, 0);
        assert_eq!(
            failing.message,
            "Tickets for this organization's alerts are not reaching Autotask: Autotask refused the API user"
        );
        assert_eq!(
            failing.subject,
            "Acme IT Alert Center: PSA - Autotask is not accepting tickets for Globex"
        );
        assert!(!details(&psa, 0).contains("Appliance"), "no appliance to name");
        assert_eq!(
            mail_date(1_793_577_600_000 + 13 * 3_600_000 + 5 * 60_000),
            "11/02/2026 01:05 PM GMT"
        );
    }
}
