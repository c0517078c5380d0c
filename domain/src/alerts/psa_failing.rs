//! "PSA tickets failing": an alert of the portal's own, raised in an organization when a PSA
//! keeps refusing or failing the ticket writes of that organization's alerts, so the
//! technicians who see the organization learn that its alerts are not reaching their PSA. The
//! next write of that PSA for the organization that goes through resolves it. It is never
//! itself a ticket ([`AlertKind::makes_tickets`]).

use model::alerts::AlertKind;
use model::psa::PsaKind;
use sqlx::AnyConnection;

use super::engine::{NewAlert, raise_alert, resolve_alert};
use super::mail::Subject;
use super::rules::InstanceRules;
use crate::{DomainResult, Portal};

/// The PSA integration a write went to, and the alert the write was for.
#[derive(Debug, Clone, Copy)]
pub struct Delivery {
    pub integration_id: i64,
    pub alert_id: i64,
}

/// Where an organization's "PSA tickets failing" alert lives, and the names its texts show.
struct Failing {
    instance_id: i64,
    organization_id: i64,
    key: String,
    subject: Subject,
}

async fn failing_of(conn: &mut AnyConnection, delivery: Delivery) -> DomainResult<Option<Failing>> {
    let row: Option<(i64, i64, String, String, String)> = sqlx::query_as(
        "SELECT a.instance_id, a.organization_id, i.display_name, o.name, p.kind
         FROM alerts a JOIN organizations o ON o.id = a.organization_id JOIN instances i ON i.id = a.instance_id
           JOIN psa_integrations p ON p.id = $1 AND p.instance_id = a.instance_id
         WHERE a.id = $2",
    )
    .bind(delivery.integration_id)
    .bind(delivery.alert_id)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(
        |(instance_id, organization_id, instance, organization, psa)| Failing {
            instance_id,
            organization_id,
            key: dedupe_key(delivery.integration_id, organization_id),
            subject: Subject {
                instance_name: instance,
                organization_name: organization,
                psa_name: PsaKind::parse(&psa).map_or(psa, |k| k.label().to_owned()),
                ..Subject::default()
            },
        },
    ))
}

fn dedupe_key(integration_id: i64, organization_id: i64) -> String {
    format!(
        "{}:psa:{integration_id}:organization:{organization_id}",
        AlertKind::PsaFailing.as_str()
    )
}

/// Raises the alert for the organization of the delivery's alert, unless it is active
/// already; returns the instance and organization when it was raised now. Call it in the
/// transaction that records the failure.
pub async fn raise(
    conn: &mut AnyConnection,
    portal: &Portal,
    delivery: Delivery,
    error: &str,
    now: i64,
) -> DomainResult<Option<(i64, i64)>> {
    let Some(mut failing) = failing_of(&mut *conn, delivery).await? else {
        return Ok(None);
    };
    failing.subject.psa_error = error.to_owned();
    let rules = InstanceRules::load(&mut *conn, failing.instance_id).await?;
    let alert = NewAlert {
        instance_id: failing.instance_id,
        organization_id: failing.organization_id,
        appliance_id: None,
        asset_id: None,
        kind: AlertKind::PsaFailing,
        dedupe_key: failing.key,
        subject: &failing.subject,
    };
    let raised = raise_alert(conn, portal, &alert, &rules, now).await?;
    Ok(raised.map(|_| (failing.instance_id, failing.organization_id)))
}

/// Resolves the alert of the delivery's organization, if active; returns the instance and
/// organization when it was resolved now. Call it in the transaction that records a success.
pub async fn resolve(
    conn: &mut AnyConnection,
    portal: &Portal,
    delivery: Delivery,
    now: i64,
) -> DomainResult<Option<(i64, i64)>> {
    let Some(failing) = failing_of(&mut *conn, delivery).await? else {
        return Ok(None);
    };
    resolve_alert(conn, portal, &failing.key, &failing.subject, now).await
}

/// Resolves every such alert of an integration (it is being removed); returns the
/// organizations whose alerts changed.
pub async fn resolve_all(
    conn: &mut AnyConnection,
    portal: &Portal,
    integration_id: i64,
    now: i64,
) -> DomainResult<Vec<(i64, i64)>> {
    let prefix = format!(
        "{}:psa:{integration_id}:organization:",
        AlertKind::PsaFailing.as_str()
    );
    let active: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM alerts WHERE state = 'active' AND kind = $1 AND dedupe_key LIKE $2",
    )
    .bind(AlertKind::PsaFailing.as_str())
    .bind(format!("{prefix}%"))
    .fetch_all(&mut *conn)
    .await?;
    let mut changed = Vec::new();
    for alert_id in active {
        let delivery = Delivery {
            integration_id,
            alert_id,
        };
        if let Some(organization) = resolve(&mut *conn, portal, delivery, now).await? {
            changed.push(organization);
        }
    }
    Ok(changed)
}
