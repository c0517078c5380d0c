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

use model::alerts::AlertKind;
use model::appliance::JobState;
use model::live::LiveEvent;
use model::policy::Policy;
use sqlx::{AnyConnection, AssertSqlSafe};

use super::conditions::{ApplianceFacts, AssetFacts, Verdict, appliance_verdict, asset_verdict};
use super::mail::{self, Subject};
use super::rules::InstanceRules;
use crate::clock::HOUR_MS;
use crate::db::id_list;
use crate::{DomainResult, Portal};

/// Objects evaluated in one transaction.
const BATCH: i64 = 1000;

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
pub async fn next_due(portal: &Portal) -> DomainResult<Option<i64>> {
    Ok(sqlx::query_scalar("SELECT MIN(due_at) FROM alert_checks")
        .fetch_one(&portal.db.pool)
        .await?)
}

/// The due check rows, held by the transaction until it ends (on PostgreSQL, rows another
/// evaluator holds are skipped).
async fn take_due(conn: &mut AnyConnection, now: i64) -> DomainResult<Vec<Object>> {
    let lock = if conn.backend_name() == "PostgreSQL" {
        " FOR UPDATE SKIP LOCKED"
    } else {
        ""
    };
    let due: Vec<(String, i64)> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT object_kind, object_id FROM alert_checks WHERE due_at <= $1 ORDER BY due_at LIMIT $2{lock}"
    )))
    .bind(now)
    .bind(BATCH)
    .fetch_all(conn)
    .await?;
    Ok(due.into_iter().map(|(kind, id)| Object::of(&kind, id)).collect())
}

/// `(object_kind = … AND object_id IN (…)) OR …` matching exactly these objects' rows.
fn keys_condition(objects: &[Object]) -> String {
    let keys = |kind: &str, ids: Vec<i64>| {
        (!ids.is_empty()).then(|| format!("(object_kind = '{kind}' AND object_id IN ({}))", id_list(&ids)))
    };
    [
        keys("appliance", ids_where(objects, Object::is_appliance)),
        keys("asset", ids_where(objects, |o| !o.is_appliance())),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" OR ")
}

/// An object's place and verdict; its names (for alert texts) are filled in only when one of
/// its alerts is raised or resolved.
#[derive(Debug, Clone)]
pub(super) struct Subjected {
    pub instance_id: i64,
    pub organization_id: i64,
    pub subject: Subject,
    pub verdict: Verdict,
}

async fn evaluate_batch(portal: &Portal) -> DomainResult<PassReport> {
    let now = portal.now();
    let mut tx = portal.db.begin().await?;
    let objects = take_due(&mut tx, now).await?;
    if objects.is_empty() {
        return Ok(PassReport::default());
    }
    let (mut evaluated, rules) = evaluate(&mut tx, portal, &objects, now).await?;
    let active = active_alerts(&mut tx, &evaluated).await?;
    let changing: Vec<Object> = objects
        .iter()
        .copied()
        .filter(|o| {
            evaluated.get(o).is_some_and(|found| {
                let rules = &rules[&found.instance_id];
                found.verdict.conditions.iter().any(|(kind, holds)| {
                    let is_active = active.contains(&o.dedupe_key(*kind));
                    (*holds && !is_active && rules.raises(*kind)) || (!*holds && is_active)
                })
            })
        })
        .collect();
    name_subjects(&mut tx, &mut evaluated, &changing).await?;
    let mut report = PassReport {
        evaluated: objects.len(),
        ..PassReport::default()
    };
    let mut changed_organizations = HashSet::new();
    for object in &objects {
        // Gone since it was touched: nothing to evaluate.
        let Some(found) = evaluated.get(object) else {
            continue;
        };
        let rules = &rules[&found.instance_id];
        for (kind, holds) in &found.verdict.conditions {
            let key = object.dedupe_key(*kind);
            let is_active = active.contains(&key);
            if *holds && !is_active && rules.raises(*kind) {
                if raise(&mut tx, portal, *object, *kind, &key, found, rules, now).await? {
                    report.raised += 1;
                    changed_organizations.insert((found.instance_id, found.organization_id));
                }
            } else if !*holds && is_active && resolve(&mut tx, portal, &key, found, now).await? {
                report.resolved += 1;
                changed_organizations.insert((found.instance_id, found.organization_id));
            }
        }
    }
    reschedule(&mut tx, &objects, &evaluated).await?;
    tx.commit().await?;
    for (instance_id, organization_id) in changed_organizations {
        portal.live.publish(
            instance_id,
            organization_id,
            LiveEvent::Alerts { organization_id },
        );
    }
    Ok(report)
}

/// Each object's verdict (objects deleted meanwhile are left out), and the rules of their
/// instances.
async fn evaluate(
    conn: &mut AnyConnection,
    portal: &Portal,
    objects: &[Object],
    now: i64,
) -> DomainResult<(HashMap<Object, Subjected>, HashMap<i64, InstanceRules>)> {
    let appliances = appliance_facts(&mut *conn, &ids_where(objects, Object::is_appliance)).await?;
    let assets = asset_facts(&mut *conn, &ids_where(objects, |o| !o.is_appliance())).await?;
    let mut rules = HashMap::new();
    let instances = appliances.iter().map(|a| a.3).chain(assets.iter().map(|a| a.3));
    for instance_id in instances.collect::<HashSet<_>>() {
        rules.insert(instance_id, InstanceRules::load(&mut *conn, instance_id).await?);
    }
    let mut evaluated = HashMap::new();
    for (id, facts, subject, instance_id, organization_id) in appliances {
        let verdict = appliance_verdict(&facts, portal.alerting.offline_after_ms, now);
        let found = Subjected {
            instance_id,
            organization_id,
            subject,
            verdict,
        };
        evaluated.insert(Object::Appliance(id), found);
    }
    for (id, facts, mut subject, instance_id, organization_id) in assets {
        let threshold = rules[&instance_id].backup_threshold_ms(organization_id);
        subject.threshold_hours = threshold.map(|ms| ms / HOUR_MS);
        let verdict = asset_verdict(&facts, threshold, now);
        let found = Subjected {
            instance_id,
            organization_id,
            subject,
            verdict,
        };
        evaluated.insert(Object::Asset(id), found);
    }
    Ok((evaluated, rules))
}

/// Leaves each taken object due at its next possible flip, or unscheduled (also when it no
/// longer exists). Two statements per batch, whatever its size.
async fn reschedule(
    conn: &mut AnyConnection,
    objects: &[Object],
    evaluated: &HashMap<Object, Subjected>,
) -> DomainResult<()> {
    let (next, done): (Vec<Object>, Vec<Object>) = objects
        .iter()
        .partition(|o| evaluated.get(o).is_some_and(|f| f.verdict.next_check.is_some()));
    if !done.is_empty() {
        sqlx::query(AssertSqlSafe(format!(
            "DELETE FROM alert_checks WHERE {}",
            keys_condition(&done)
        )))
        .execute(&mut *conn)
        .await?;
    }
    let rows: Vec<String> = next
        .iter()
        .filter_map(|o| {
            let due = evaluated.get(o)?.verdict.next_check?;
            Some(format!("('{}', {}, {due})", o.kind(), o.id()))
        })
        .collect();
    if !rows.is_empty() {
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO alert_checks (object_kind, object_id, due_at) VALUES {}
             ON CONFLICT (object_kind, object_id) DO UPDATE SET due_at = excluded.due_at",
            rows.join(", ")
        )))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn raise(
    conn: &mut AnyConnection,
    portal: &Portal,
    object: Object,
    kind: AlertKind,
    key: &str,
    found: &Subjected,
    rules: &InstanceRules,
    now: i64,
) -> DomainResult<bool> {
    let texts = mail::texts(kind, &found.subject, portal.alerting.offline_after_ms);
    let (appliance_id, asset_id) = match object {
        Object::Appliance(id) => (Some(id), None),
        Object::Asset(id) => (found.subject.appliance_id, Some(id)),
    };
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO alerts (instance_id, organization_id, appliance_id, asset_id, kind, dedupe_key, message, subject,
                             state, raised_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'active', $9)
         ON CONFLICT (dedupe_key) WHERE state = 'active' DO NOTHING
         RETURNING id",
    )
    .bind(found.instance_id)
    .bind(found.organization_id)
    .bind(appliance_id)
    .bind(asset_id)
    .bind(kind.as_str())
    .bind(key)
    .bind(&texts.message)
    .bind(&texts.subject)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(id) = id else {
        return Ok(false);
    };
    mail::enqueue_raised(
        conn,
        portal,
        (id, found.instance_id),
        &texts,
        &found.subject,
        rules,
        now,
    )
    .await?;
    Ok(true)
}

async fn resolve(
    conn: &mut AnyConnection,
    portal: &Portal,
    key: &str,
    found: &Subjected,
    now: i64,
) -> DomainResult<bool> {
    let resolved: Option<(i64, String, String)> = sqlx::query_as(
        "UPDATE alerts SET state = 'resolved', resolved_at = $1 WHERE dedupe_key = $2 AND state = 'active'
         RETURNING id, kind, subject",
    )
    .bind(now)
    .bind(key)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((id, kind, subject)) = resolved else {
        return Ok(false);
    };
    if let Some(kind) = AlertKind::parse(&kind) {
        mail::enqueue_resolved(conn, portal, (id, kind, &subject), &found.subject, now).await?;
    }
    Ok(true)
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

/// Which of the evaluated conditions have an active alert (by its dedupe key).
async fn active_alerts(
    conn: &mut AnyConnection,
    evaluated: &HashMap<Object, Subjected>,
) -> DomainResult<HashSet<String>> {
    let keys: Vec<String> = evaluated
        .iter()
        .flat_map(|(object, found)| {
            found
                .verdict
                .conditions
                .iter()
                .map(|(kind, _)| format!("'{}'", object.dedupe_key(*kind)))
        })
        .collect();
    if keys.is_empty() {
        return Ok(HashSet::new());
    }
    let rows: Vec<String> = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT dedupe_key FROM alerts WHERE state = 'active' AND dedupe_key IN ({})",
        keys.join(", ")
    )))
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().collect())
}

type Found<F> = (i64, F, Subject, i64, i64);

#[derive(sqlx::FromRow)]
struct ApplianceRow {
    id: i64,
    instance_id: i64,
    organization_id: i64,
    last_seen_at: Option<i64>,
    registered_at: i64,
    storage_total: i64,
    storage_free: i64,
}

async fn appliance_facts(conn: &mut AnyConnection, ids: &[i64]) -> DomainResult<Vec<Found<ApplianceFacts>>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<ApplianceRow> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT ap.id, ap.instance_id, ap.organization_id, ap.last_seen_at, ap.registered_at, ap.storage_total,
                ap.storage_free
         FROM appliances ap WHERE ap.deleted_at IS NULL AND ap.id IN ({})",
        id_list(ids)
    )))
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let facts = ApplianceFacts {
                last_seen_at: r.last_seen_at,
                registered_at: r.registered_at,
                storage_total: r.storage_total,
                storage_free: r.storage_free,
            };
            let subject = Subject {
                appliance_id: Some(r.id),
                storage_free: r.storage_free,
                storage_total: r.storage_total,
                ..Subject::default()
            };
            (r.id, facts, subject, r.instance_id, r.organization_id)
        })
        .collect())
}

#[derive(sqlx::FromRow)]
struct AssetRow {
    id: i64,
    instance_id: i64,
    organization_id: i64,
    appliance_id: i64,
    policy: Option<String>,
    policy_since: Option<i64>,
    time_zone: String,
    last_good_start: Option<i64>,
    last_result: Option<String>,
}

async fn asset_facts(conn: &mut AnyConnection, ids: &[i64]) -> DomainResult<Vec<Found<AssetFacts>>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<AssetRow> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT s.id, ap.instance_id, ap.organization_id, ap.id AS appliance_id, s.policy, s.policy_since,
                ap.time_zone, s.last_good_start, s.last_result
         FROM assets s JOIN appliances ap ON ap.id = s.appliance_id
         WHERE ap.deleted_at IS NULL AND s.id IN ({})",
        id_list(ids)
    )))
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let facts = AssetFacts {
                policy: r
                    .policy
                    .as_deref()
                    .and_then(|p| serde_json::from_str::<Policy>(p).ok()),
                time_zone: r.time_zone,
                policy_since: r.policy_since,
                last_good_start: r.last_good_start,
                last_result: r.last_result.as_deref().and_then(JobState::parse),
            };
            let subject = Subject {
                appliance_id: Some(r.appliance_id),
                ..Subject::default()
            };
            (r.id, facts, subject, r.instance_id, r.organization_id)
        })
        .collect())
}
