//! The evaluation engine. Each appliance and asset has a row in `alert_checks` saying when its
//! conditions must next be evaluated: the next moment one could flip by time alone (computed by
//! [`super::conditions`]), or now when an event changed what is known about it. A pass takes
//! due rows in batches, each batch in one transaction, and records each flip once:
//!
//! - a batch holds its rows until it commits: on PostgreSQL they are locked (`FOR UPDATE SKIP
//!   LOCKED`, so a second evaluator takes other rows), on SQLite the transaction holds the write
//!   lock. An event that changes an object's facts touches its row in its own transaction, so
//!   it waits for the batch and then makes the object due again: facts read before a concurrent
//!   change are re-evaluated, never lost;
//! - raising inserts the alert under a unique index of its condition's active alert, so of
//!   several racing evaluators exactly one inserts it (and enqueues its mail in the same
//!   transaction);
//! - resolving is a compare-and-swap from active to resolved, with the same guarantee.

use std::collections::{HashMap, HashSet};

use model::alerts::{AlertKind, Severity};
use model::appliance::JobState;
use model::policy::Policy;
use model::webhooks::WebhookEvent;
use serde::Deserialize;
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe, FromRow, Row};

use super::conditions::{
    ApplianceFacts, AssetFacts, AssetThresholds, Verdict, appliance_verdict, asset_verdict,
};
use super::mail::{self, Subject};
use super::rules::InstanceRules;
use crate::clock::HOUR_MS;
use crate::db::id_list;
use crate::webhooks::{self, Event};
use crate::{DomainResult, Portal};
use crate::{psa, vsa};

/// Objects evaluated in one transaction.
const BATCH: i64 = 2000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Object {
    Appliance(i64),
    Asset(i64),
}

impl Object {
    fn kind(self) -> &'static str {
        match self {
            Object::Appliance(_) => "appliance",
            Object::Asset(_) => "asset",
        }
    }

    fn of(kind: &str, id: i64) -> Object {
        match kind {
            "appliance" => Object::Appliance(id),
            _ => Object::Asset(id),
        }
    }

    fn is_appliance(&self) -> bool {
        matches!(self, Object::Appliance(_))
    }

    fn id(self) -> i64 {
        match self {
            Object::Appliance(id) | Object::Asset(id) => id,
        }
    }

    fn dedupe_key(self, kind: AlertKind) -> String {
        format!("{}:{}:{}", kind.as_str(), self.kind(), self.id())
    }
}

/// Asks for the object to be evaluated at `at` (or earlier, if already due earlier). Call it
/// in the transaction that changes what the conditions read.
#[tracing::instrument(skip_all)]
pub async fn touch(conn: &mut AnyConnection, object: Object, at: i64) -> DomainResult<()> {
    sqlx::query(
        "INSERT INTO alert_checks (object_kind, object_id, due_at) VALUES ($1, $2, $3)
         ON CONFLICT (object_kind, object_id) DO UPDATE SET due_at = CASE
           WHEN excluded.due_at < alert_checks.due_at THEN excluded.due_at ELSE alert_checks.due_at END",
    )
    .bind(object.kind())
    .bind(object.id())
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Asks for every asset with a policy (of the organizations, if given) of an instance to be
/// evaluated now: thresholds or categories changed.
#[tracing::instrument(skip_all, fields(instance_id = instance_id))]
pub async fn touch_assets_of(
    conn: &mut AnyConnection,
    instance_id: i64,
    organizations: Option<&[i64]>,
    now: i64,
) -> DomainResult<()> {
    let only = match organizations {
        Some([]) => return Ok(()),
        Some(ids) => format!("AND ap.organization_id IN ({})", id_list(ids)),
        None => String::new(),
    };
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO alert_checks (object_kind, object_id, due_at)
         SELECT 'asset', s.id, $1 FROM assets s JOIN appliances ap ON ap.id = s.appliance_id
         WHERE ap.instance_id = $2 AND ap.deleted_at IS NULL {only}
         ON CONFLICT (object_kind, object_id) DO UPDATE SET due_at = excluded.due_at"
    )))
    .bind(now)
    .bind(instance_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Asks for every appliance and asset of an instance to be evaluated now.
#[tracing::instrument(skip_all, fields(instance_id = instance_id))]
pub async fn touch_instance(conn: &mut AnyConnection, instance_id: i64, now: i64) -> DomainResult<()> {
    touch_assets_of(&mut *conn, instance_id, None, now).await?;
    sqlx::query(
        "INSERT INTO alert_checks (object_kind, object_id, due_at)
         SELECT 'appliance', id, $1 FROM appliances WHERE instance_id = $2 AND deleted_at IS NULL
         ON CONFLICT (object_kind, object_id) DO UPDATE SET due_at = excluded.due_at",
    )
    .bind(now)
    .bind(instance_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassReport {
    pub evaluated: usize,
    pub raised: usize,
    pub resolved: usize,
}

/// Evaluates every due object (in batches) and returns what changed.
#[tracing::instrument(skip_all)]
pub async fn run_due(portal: &Portal) -> DomainResult<PassReport> {
    let mut report = PassReport::default();
    loop {
        let batch = evaluate_batch(portal).await?;
        let done = batch.evaluated < BATCH as usize;
        report.evaluated += batch.evaluated;
        report.raised += batch.raised;
        report.resolved += batch.resolved;
        if done {
            return Ok(report);
        }
    }
}

/// When the next check is due, if any.
#[tracing::instrument(skip_all)]
pub async fn next_due(portal: &Portal) -> DomainResult<Option<i64>> {
    Ok(sqlx::query_scalar("SELECT MIN(due_at) FROM alert_checks")
        .fetch_one(&portal.db.pool)
        .await?)
}

/// An object's place and verdict; its names (for alert texts) are filled in only when one of
/// its alerts is raised or resolved.
#[derive(Debug, Clone)]
pub(super) struct Subjected {
    pub instance_id: i64,
    pub organization_id: i64,
    pub subject: Subject,
    pub verdict: Verdict,
    /// The conditions that have an active alert.
    pub active: Vec<AlertKind>,
}

impl Subjected {
    /// Whether the condition's alert must be raised (`Some(true)`) or resolved (`Some(false)`).
    fn change(&self, kind: AlertKind, holds: bool, rules: &InstanceRules) -> Option<bool> {
        let is_active = self.active.contains(&kind);
        if holds && !is_active && rules.raises(kind) {
            Some(true)
        } else if !holds && is_active {
            Some(false)
        } else {
            None
        }
    }

    fn changes(&self, rules: &InstanceRules) -> bool {
        self.verdict
            .conditions
            .iter()
            .any(|(kind, holds)| self.change(*kind, *holds, rules).is_some())
    }
}

async fn evaluate_batch(portal: &Portal) -> DomainResult<PassReport> {
    let now = portal.now();
    let mut tx = portal.db.begin().await?;
    let due = take_due(&mut tx, now).await?;
    if due.is_empty() {
        return Ok(PassReport::default());
    }
    let objects: Vec<Object> = due.iter().map(DueRow::object).collect();
    let (mut evaluated, rules) = evaluate(&mut tx, portal, due, now).await?;
    let changing: Vec<Object> = objects
        .iter()
        .copied()
        .filter(|o| {
            evaluated
                .get(o)
                .is_some_and(|found| found.changes(&rules[&found.instance_id]))
        })
        .collect();
    name_subjects(&mut tx, &mut evaluated, &changing).await?;
    let mut report = PassReport {
        evaluated: objects.len(),
        ..PassReport::default()
    };
    let mut changed_organizations = HashSet::new();
    for object in &changing {
        let found = &evaluated[object];
        let rules = &rules[&found.instance_id];
        for (kind, holds) in &found.verdict.conditions {
            let key = object.dedupe_key(*kind);
            let changed = match found.change(*kind, *holds, rules) {
                Some(true) => raise(&mut tx, portal, *object, *kind, found, rules, now).await?,
                Some(false) => resolve(&mut tx, portal, &key, found, now).await?,
                None => continue,
            };
            if changed {
                if *holds {
                    report.raised += 1;
                } else {
                    report.resolved += 1;
                }
                changed_organizations.insert((found.instance_id, found.organization_id));
            }
        }
    }
    reschedule(&mut tx, &objects, &evaluated).await?;
    tx.commit().await?;
    portal.publish_alerts_changed(changed_organizations).await;
    Ok(report)
}

/// Each object's verdict (objects deleted meanwhile are left out), and the rules of their
/// instances.
async fn evaluate(
    conn: &mut AnyConnection,
    portal: &Portal,
    due: Vec<DueRow>,
    now: i64,
) -> DomainResult<(HashMap<Object, Subjected>, HashMap<i64, InstanceRules>)> {
    let mut rules = HashMap::new();
    for instance_id in due
        .iter()
        .filter_map(|row| row.instance_id)
        .collect::<HashSet<_>>()
    {
        rules.insert(instance_id, InstanceRules::load(&mut *conn, instance_id).await?);
    }
    let mut evaluated = HashMap::with_capacity(due.len());
    for row in due {
        let object = row.object();
        let (Some(instance_id), Some(organization_id)) = (row.instance_id, row.organization_id) else {
            continue;
        };
        let mut subject = Subject {
            appliance_id: row.appliance_id,
            storage_free: row.storage_free.unwrap_or_default(),
            storage_total: row.storage_total.unwrap_or_default(),
            ..Subject::default()
        };
        let verdict = match object {
            Object::Appliance(_) => {
                appliance_verdict(&row.appliance_facts(), portal.alerting.offline_after_ms, now)
            }
            Object::Asset(_) => {
                let rules = &rules[&instance_id];
                let thresholds = AssetThresholds {
                    backups_ms: rules.backup_threshold_ms(organization_id),
                    copies_ms: rules.copy_threshold_ms(organization_id),
                };
                subject.threshold_hours = thresholds.backups_ms.map(|ms| ms / HOUR_MS);
                subject.copy_threshold_hours = thresholds.copies_ms.map(|ms| ms / HOUR_MS);
                asset_verdict(&row.asset_facts(), thresholds, now)
            }
        };
        let found = Subjected {
            instance_id,
            organization_id,
            subject,
            verdict,
            active: row.active_kinds(),
        };
        evaluated.insert(object, found);
    }
    Ok((evaluated, rules))
}

/// Leaves each taken object due at its next possible flip, or unscheduled (also when it no
/// longer exists). Two statements per batch, whatever its size, each the same text every time
/// (the batch is one JSON parameter), so the database prepares them once.
async fn reschedule(
    conn: &mut AnyConnection,
    objects: &[Object],
    evaluated: &HashMap<Object, Subjected>,
) -> DomainResult<()> {
    let sql = Statements::of(conn);
    let mut next = Vec::new();
    let mut done = Vec::new();
    for object in objects {
        match evaluated.get(object).and_then(|f| f.verdict.next_check) {
            Some(due) => next.push(json!([object.kind(), object.id(), due])),
            None => done.push(json!([object.kind(), object.id()])),
        }
    }
    if !done.is_empty() {
        sqlx::query(sql.unschedule)
            .bind(serde_json::Value::from(done).to_string())
            .execute(&mut *conn)
            .await?;
    }
    if !next.is_empty() {
        sqlx::query(sql.reschedule)
            .bind(serde_json::Value::from(next).to_string())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// The evaluator's batch statements in each database's dialect.
struct Statements {
    /// Takes due rows with what their evaluation reads, as [`DueRow`]s.
    take_due: &'static str,
    /// Whether `take_due` returns the batch as one JSON array in one row. On SQLite it does:
    /// sqlx's SQLite driver hands each row across threads, which made reading rows the
    /// largest cost of a pass. PostgreSQL streams rows cheaply but builds JSON slowly.
    take_due_as_json: bool,
    /// Sets `due_at` of the `[kind, id, due]` rows in a JSON array.
    reschedule: &'static str,
    /// Deletes the `[kind, id]` rows in a JSON array.
    unschedule: &'static str,
}

impl Statements {
    fn of(conn: &AnyConnection) -> &'static Statements {
        if conn.backend_name() == "PostgreSQL" {
            &POSTGRES
        } else {
            &SQLITE
        }
    }
}

const SQLITE: Statements = Statements {
    take_due_as_json: true,
    take_due: "SELECT json_group_array(json_array(
           c.object_kind, c.object_id, ap.instance_id, ap.organization_id, ap.id, ap.time_zone,
           ap.last_seen_at, ap.registered_at, ap.storage_total, ap.storage_free,
           s.policy, s.policy_since, s.last_good_start, s.last_result, s.copy_pending_since,
           s.last_verify_result,
           CASE WHEN c.object_kind = 'asset'
             THEN (SELECT group_concat(a.kind, ',') FROM alerts a WHERE a.state = 'active' AND a.asset_id = s.id)
             ELSE (SELECT group_concat(a.kind, ',') FROM alerts a
                   WHERE a.state = 'active' AND a.asset_id IS NULL AND a.appliance_id = ap.id) END))
         FROM (SELECT object_kind, object_id FROM alert_checks WHERE due_at <= $1 ORDER BY due_at LIMIT $2) c
         LEFT JOIN assets s ON c.object_kind = 'asset' AND s.id = c.object_id
         LEFT JOIN appliances ap ON ap.deleted_at IS NULL
           AND ap.id = CASE WHEN c.object_kind = 'asset' THEN s.appliance_id ELSE c.object_id END",
    reschedule: "UPDATE alert_checks SET due_at = value ->> 2 FROM json_each($1)
         WHERE object_kind = value ->> 0 AND object_id = value ->> 1",
    unschedule: "DELETE FROM alert_checks
         WHERE (object_kind, object_id) IN (SELECT value ->> 0, value ->> 1 FROM json_each($1))",
};

const POSTGRES: Statements = Statements {
    take_due_as_json: false,
    take_due: "SELECT
           c.object_kind, c.object_id, ap.instance_id, ap.organization_id, ap.id AS appliance_id, ap.time_zone,
           ap.last_seen_at, ap.registered_at, ap.storage_total, ap.storage_free,
           s.policy, s.policy_since, s.last_good_start, s.last_result, s.copy_pending_since,
           s.last_verify_result,
           CASE WHEN c.object_kind = 'asset'
             THEN (SELECT string_agg(a.kind, ',') FROM alerts a WHERE a.state = 'active' AND a.asset_id = s.id)
             ELSE (SELECT string_agg(a.kind, ',') FROM alerts a
                   WHERE a.state = 'active' AND a.asset_id IS NULL AND a.appliance_id = ap.id) END AS active
         FROM (SELECT object_kind, object_id FROM alert_checks WHERE due_at <= $1 ORDER BY due_at LIMIT $2
               FOR UPDATE SKIP LOCKED) c
         LEFT JOIN assets s ON c.object_kind = 'asset' AND s.id = c.object_id
         LEFT JOIN appliances ap ON ap.deleted_at IS NULL
           AND ap.id = CASE WHEN c.object_kind = 'asset' THEN s.appliance_id ELSE c.object_id END",
    reschedule: "UPDATE alert_checks c SET due_at = (e ->> 2)::bigint FROM json_array_elements($1::json) e
         WHERE c.object_kind = e ->> 0 AND c.object_id = (e ->> 1)::bigint",
    unschedule: "DELETE FROM alert_checks
         WHERE (object_kind, object_id) IN (SELECT e ->> 0, (e ->> 1)::bigint FROM json_array_elements($1::json) e)",
};

async fn raise(
    conn: &mut AnyConnection,
    portal: &Portal,
    object: Object,
    kind: AlertKind,
    found: &Subjected,
    rules: &InstanceRules,
    now: i64,
) -> DomainResult<bool> {
    let (appliance_id, asset_id) = match object {
        Object::Appliance(id) => (Some(id), None),
        Object::Asset(id) => (found.subject.appliance_id, Some(id)),
    };
    let alert = NewAlert {
        instance_id: found.instance_id,
        organization_id: found.organization_id,
        appliance_id,
        asset_id,
        kind,
        dedupe_key: object.dedupe_key(kind),
        subject: &found.subject,
    };
    Ok(raise_alert(conn, portal, &alert, rules, now).await?.is_some())
}

/// An alert about to be raised: its object, condition and the names its texts show.
pub(super) struct NewAlert<'a> {
    pub instance_id: i64,
    pub organization_id: i64,
    pub appliance_id: Option<i64>,
    pub asset_id: Option<i64>,
    pub kind: AlertKind,
    /// Names the condition and its object; at most one active alert has it.
    pub dedupe_key: String,
    pub subject: &'a Subject,
}

/// Inserts the alert unless its condition already has an active one, and in the same
/// transaction queues what follows from it: the webhook event, the PSA tickets and the mails.
/// Returns its id when it was raised now.
pub(super) async fn raise_alert(
    conn: &mut AnyConnection,
    portal: &Portal,
    alert: &NewAlert<'_>,
    rules: &InstanceRules,
    now: i64,
) -> DomainResult<Option<i64>> {
    let kind = alert.kind;
    let texts = mail::texts(kind, alert.subject, portal.alerting.offline_after_ms);
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO alerts (instance_id, organization_id, appliance_id, asset_id, kind, dedupe_key, message, subject,
                             state, raised_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'active', $9)
         ON CONFLICT (dedupe_key) WHERE state = 'active' DO NOTHING
         RETURNING id",
    )
    .bind(alert.instance_id)
    .bind(alert.organization_id)
    .bind(alert.appliance_id)
    .bind(alert.asset_id)
    .bind(kind.as_str())
    .bind(&alert.dedupe_key)
    .bind(&texts.message)
    .bind(&texts.subject)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(id) = id else {
        return Ok(None);
    };
    let event = Event {
        instance_id: alert.instance_id,
        organization_id: alert.organization_id,
        kind: WebhookEvent::AlertRaised,
        key: format!("alert:{id}"),
        data: alert_data(
            (id, kind, &texts.message),
            (alert.organization_id, alert.appliance_id, alert.asset_id),
        ),
    };
    webhooks::enqueue(conn, event, now).await?;
    let facts = psa::AlertFacts {
        id,
        instance_id: alert.instance_id,
        organization_id: alert.organization_id,
        kind,
        message: &texts.message,
        subject: alert.subject,
    };
    psa::on_raised(conn, portal, &facts, now).await?;
    vsa::on_raised(conn, &facts, now).await?;
    mail::enqueue_raised(
        conn,
        portal,
        (id, alert.instance_id),
        &texts,
        alert.subject,
        rules,
        now,
    )
    .await?;
    Ok(Some(id))
}

async fn resolve(
    conn: &mut AnyConnection,
    portal: &Portal,
    key: &str,
    found: &Subjected,
    now: i64,
) -> DomainResult<bool> {
    Ok(resolve_alert(conn, portal, key, &found.subject, now)
        .await?
        .is_some())
}

/// Resolves the active alert of the condition `key`, if there is one, and in the same
/// transaction queues what follows: the webhook event, the tickets' closing and the "Re:"
/// mails. Returns its instance and organization when it was resolved now.
pub(super) async fn resolve_alert(
    conn: &mut AnyConnection,
    portal: &Portal,
    key: &str,
    subject: &Subject,
    now: i64,
) -> DomainResult<Option<(i64, i64)>> {
    let resolved: Option<ResolvedRow> = sqlx::query_as(
        "UPDATE alerts SET state = 'resolved', resolved_at = $1 WHERE dedupe_key = $2 AND state = 'active'
         RETURNING id, instance_id, kind, subject, message, organization_id, appliance_id, asset_id",
    )
    .bind(now)
    .bind(key)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = resolved else {
        return Ok(None);
    };
    if let Some(kind) = AlertKind::parse(&row.kind) {
        let event = Event {
            instance_id: row.instance_id,
            organization_id: row.organization_id,
            kind: WebhookEvent::AlertResolved,
            key: format!("alert:{}", row.id),
            data: alert_data(
                (row.id, kind, &row.message),
                (row.organization_id, row.appliance_id, row.asset_id),
            ),
        };
        webhooks::enqueue(conn, event, now).await?;
        let facts = psa::AlertFacts {
            id: row.id,
            instance_id: row.instance_id,
            organization_id: row.organization_id,
            kind,
            message: &row.message,
            subject,
        };
        psa::on_resolved(conn, &facts, now).await?;
        vsa::on_resolved(conn, &facts, now).await?;
        mail::enqueue_resolved(conn, portal, (row.id, kind, &row.subject), subject, now).await?;
    }
    Ok(Some((row.instance_id, row.organization_id)))
}

#[derive(sqlx::FromRow)]
struct ResolvedRow {
    id: i64,
    instance_id: i64,
    kind: String,
    subject: String,
    message: String,
    organization_id: i64,
    appliance_id: Option<i64>,
    asset_id: Option<i64>,
}

/// An alert as webhook deliveries describe it.
fn alert_data(
    (id, kind, message): (i64, AlertKind, &str),
    (organization_id, appliance_id, asset_id): (i64, Option<i64>, Option<i64>),
) -> serde_json::Value {
    json!({
        "alertId": id,
        "kind": kind.as_str(),
        "severity": match kind.severity() { Severity::Critical => "critical", Severity::Warning => "warning" },
        "message": message,
        "organizationId": organization_id,
        "applianceId": appliance_id,
        "assetId": asset_id,
    })
}

/// Fills in the names alert texts need: instance, organization, appliance and asset.
async fn name_subjects(
    conn: &mut AnyConnection,
    evaluated: &mut HashMap<Object, Subjected>,
    objects: &[Object],
) -> DomainResult<()> {
    let appliances = ids_where(objects, Object::is_appliance);
    if !appliances.is_empty() {
        let rows: Vec<(i64, String, String, String)> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT ap.id, i.display_name, o.name, ap.name
             FROM appliances ap JOIN organizations o ON o.id = ap.organization_id JOIN instances i ON i.id = ap.instance_id
             WHERE ap.id IN ({})",
            id_list(&appliances)
        )))
        .fetch_all(&mut *conn)
        .await?;
        for (id, instance, organization, appliance) in rows {
            if let Some(found) = evaluated.get_mut(&Object::Appliance(id)) {
                found.subject.name(instance, organization, appliance, None);
            }
        }
    }
    let assets = ids_where(objects, |o| !o.is_appliance());
    if !assets.is_empty() {
        let rows: Vec<(i64, String, String, String, String)> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT s.id, i.display_name, o.name, ap.name, s.name
             FROM assets s JOIN appliances ap ON ap.id = s.appliance_id
               JOIN organizations o ON o.id = ap.organization_id JOIN instances i ON i.id = ap.instance_id
             WHERE s.id IN ({})",
            id_list(&assets)
        )))
        .fetch_all(&mut *conn)
        .await?;
        for (id, instance, organization, appliance, asset) in rows {
            if let Some(found) = evaluated.get_mut(&Object::Asset(id)) {
                found.subject.name(instance, organization, appliance, Some(asset));
            }
        }
    }
    Ok(())
}

fn ids_where(objects: &[Object], keep: impl Fn(&Object) -> bool) -> Vec<i64> {
    objects.iter().filter(|o| keep(o)).map(|o| o.id()).collect()
}

/// One due object as the batch query returns it: its check row, what its conditions read (all
/// null when it no longer exists) and the kinds of its active alerts, comma-separated. From a
/// row, or from a JSON array of the columns in this order.
#[derive(Debug, Deserialize, sqlx::FromRow)]
struct DueRow {
    object_kind: String,
    object_id: i64,
    instance_id: Option<i64>,
    organization_id: Option<i64>,
    appliance_id: Option<i64>,
    time_zone: Option<String>,
    last_seen_at: Option<i64>,
    registered_at: Option<i64>,
    storage_total: Option<i64>,
    storage_free: Option<i64>,
    policy: Option<String>,
    policy_since: Option<i64>,
    last_good_start: Option<i64>,
    last_result: Option<String>,
    copy_pending_since: Option<i64>,
    last_verify_result: Option<String>,
    active: Option<String>,
}

impl DueRow {
    fn object(&self) -> Object {
        Object::of(&self.object_kind, self.object_id)
    }

    fn appliance_facts(&self) -> ApplianceFacts {
        ApplianceFacts {
            last_seen_at: self.last_seen_at,
            registered_at: self.registered_at.unwrap_or_default(),
            storage_total: self.storage_total.unwrap_or_default(),
            storage_free: self.storage_free.unwrap_or_default(),
        }
    }

    fn asset_facts(&self) -> AssetFacts {
        AssetFacts {
            policy: self
                .policy
                .as_deref()
                .and_then(|p| serde_json::from_str::<Policy>(p).ok()),
            time_zone: self.time_zone.clone().unwrap_or_default(),
            policy_since: self.policy_since,
            last_good_start: self.last_good_start,
            last_result: self.last_result.as_deref().and_then(JobState::parse),
            copy_pending_since: self.copy_pending_since,
            restore_test_failed: self.last_verify_result.as_deref() == Some("error"),
        }
    }

    fn active_kinds(&self) -> Vec<AlertKind> {
        self.active
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .filter_map(AlertKind::parse)
            .collect()
    }
}

/// Takes the due check rows with everything their evaluation reads, held by the transaction
/// until it ends (on PostgreSQL, rows another evaluator holds are skipped).
async fn take_due(conn: &mut AnyConnection, now: i64) -> DomainResult<Vec<DueRow>> {
    let sql = Statements::of(conn);
    let query = sqlx::query(sql.take_due).bind(now).bind(BATCH);
    if !sql.take_due_as_json {
        return Ok(query
            .try_map(|row| DueRow::from_row(&row))
            .fetch_all(conn)
            .await?);
    }
    let json: String = query
        .try_map(|row: AnyRow| row.try_get(0))
        .fetch_one(conn)
        .await?;
    serde_json::from_str(&json)
        .map_err(|e| crate::DomainError::internal(format!("reading the due alert checks: {e}")))
}
