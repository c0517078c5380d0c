//! An instance's alert settings as the evaluator applies them.

use std::collections::{HashMap, HashSet};

use model::alerts::{AlertCategory, AlertKind};
use sqlx::AnyConnection;

use crate::DomainResult;
use crate::clock::MINUTE_MS;

#[derive(Debug, Clone, Default)]
pub struct InstanceRules {
    disabled: HashSet<String>,
    pub recipients: Vec<String>,
    /// The global backups threshold, if saved and enabled.
    global_backups_ms: Option<i64>,
    /// Organizations with a custom threshold: its backups threshold, if enabled.
    custom_backups_ms: HashMap<i64, Option<i64>>,
    /// The global copies (Replication offsite) threshold, if saved and enabled.
    global_copies_ms: Option<i64>,
    custom_copies_ms: HashMap<i64, Option<i64>>,
}

impl InstanceRules {
    pub async fn load(conn: &mut AnyConnection, instance_id: i64) -> DomainResult<InstanceRules> {
        let disabled: Vec<String> = sqlx::query_scalar(
            "SELECT category FROM alert_categories WHERE instance_id = $1 AND enabled = 0",
        )
        .bind(instance_id)
        .fetch_all(&mut *conn)
        .await?;
        let recipients: Vec<String> =
            sqlx::query_scalar("SELECT email FROM alert_recipients WHERE instance_id = $1 ORDER BY email")
                .bind(instance_id)
                .fetch_all(&mut *conn)
                .await?;
        let thresholds: Vec<(Option<i64>, i64, i64, i64, i64)> = sqlx::query_as(
            "SELECT tor.organization_id, t.backups_enabled, t.backups_minutes, t.copies_enabled, t.copies_minutes
             FROM alarm_thresholds t LEFT JOIN alarm_threshold_organizations tor ON tor.threshold_id = t.id
             WHERE t.instance_id = $1 AND (t.title IS NULL OR tor.organization_id IS NOT NULL)",
        )
        .bind(instance_id)
        .fetch_all(&mut *conn)
        .await?;
        let mut rules = InstanceRules {
            disabled: disabled.into_iter().collect(),
            recipients,
            ..InstanceRules::default()
        };
        for (organization, enabled, minutes, copies_enabled, copies_minutes) in thresholds {
            let threshold = (enabled == 1).then_some(minutes * MINUTE_MS);
            let copies = (copies_enabled == 1).then_some(copies_minutes * MINUTE_MS);
            match organization {
                Some(organization) => {
                    rules.custom_backups_ms.insert(organization, threshold);
                    rules.custom_copies_ms.insert(organization, copies);
                }
                None => {
                    rules.global_backups_ms = threshold;
                    rules.global_copies_ms = copies;
                }
            }
        }
        Ok(rules)
    }

    /// Whether new alerts of this kind are raised (its category is on).
    pub fn raises(&self, kind: AlertKind) -> bool {
        kind.category()
            .is_none_or(|c: AlertCategory| !self.disabled.contains(c.as_str()))
    }

    /// The backups threshold for an organization's assets: its custom one, else the global.
    pub fn backup_threshold_ms(&self, organization_id: i64) -> Option<i64> {
        match self.custom_backups_ms.get(&organization_id) {
            Some(custom) => *custom,
            None => self.global_backups_ms,
        }
    }

    /// The Replication offsite threshold for an organization's assets: custom, else global.
    pub fn copy_threshold_ms(&self, organization_id: i64) -> Option<i64> {
        match self.custom_copies_ms.get(&organization_id) {
            Some(custom) => *custom,
            None => self.global_copies_ms,
        }
    }
}
