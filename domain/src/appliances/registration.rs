//! The Add appliance wizard's registration IDs (single use, 24 hours) and their exchange for
//! the appliance's own credential.

use model::appliance::{RegisterRequest, RegisterResponse};
use model::live::LiveEvent;
use model::{Action, AppError};
use sqlx::AnyConnection;

use super::ApplianceIdentity;
use crate::access::Viewer;
use crate::clock::HOUR_MS;
use crate::secrets::{random_token, token_hash};
use crate::{ClientInfo, DomainResult, Portal, audit, organizations};

pub const REGISTRATION_LIFETIME_MS: i64 = 24 * HOUR_MS;

/// A registration ID and when it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub id: String,
    pub expires_at: i64,
    /// Names the registration in live events without revealing it.
    pub reference: String,
}

/// The public reference of a registration ID: a prefix of its stored hash.
pub fn reference_of(registration_id: &str) -> String {
    token_hash(registration_id.trim())[..16].to_owned()
}

/// Issues a registration ID that binds the next appliance to `organization_id`.
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id, organization_id = organization_id))]
pub async fn create(
    portal: &Portal,
    viewer: &Viewer,
    organization_id: i64,
    client: &ClientInfo,
) -> DomainResult<Registration> {
    viewer.require(Action::ManageAppliances)?;
    let mut tx = portal.db.begin().await?;
    let org = organizations::get(&mut tx, viewer, organization_id).await?;
    let id = random_token();
    let expires_at = portal.now() + REGISTRATION_LIFETIME_MS;
    sqlx::query(
        "INSERT INTO appliance_registrations (id_hash, instance_id, organization_id, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token_hash(&id))
    .bind(viewer.instance_id)
    .bind(org.id)
    .bind(portal.now())
    .bind(expires_at)
    .execute(&mut *tx)
    .await?;
    let target = format!("organization {}", org.name);
    audit::record(
        &mut tx,
        audit::Entry::by(viewer, client, "appliance.registration_created", &target),
        portal.now(),
    )
    .await?;
    tx.commit().await?;
    Ok(Registration {
        reference: reference_of(&id),
        id,
        expires_at,
    })
}

fn field_text(field: &str, value: &str, max: usize) -> Result<String, AppError> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > max {
        return Err(AppError::invalid(
            field,
            format!("{field} must be 1–{max} characters."),
        ));
    }
    Ok(value.to_owned())
}

/// Exchanges a registration ID for a new appliance and its credential; the ID is then void.
#[tracing::instrument(skip_all)]
pub async fn register(portal: &Portal, request: &RegisterRequest) -> DomainResult<RegisterResponse> {
    let name = field_text("name", &request.name, 100)?;
    let model = field_text("model", &request.model, 100)?;
    let version = field_text("version", &request.version, 50)?;
    let now = portal.now();
    let mut tx = portal.db.begin().await?;
    let claimed: Option<(i64, i64)> = sqlx::query_as(
        "UPDATE appliance_registrations SET used_at = $1
         WHERE id_hash = $2 AND used_at IS NULL AND expires_at > $1
         RETURNING instance_id, organization_id",
    )
    .bind(now)
    .bind(token_hash(request.registration_id.trim()))
    .fetch_optional(&mut *tx)
    .await?;
    let Some((instance_id, organization_id)) = claimed else {
        return Err(AppError::conflict(
            "This registration ID is unknown, expired (after 24 hours) or already used. Create a new one in the portal's Add appliance wizard.",
        )
        .into());
    };
    let credential = random_token();
    let appliance_id: i64 = sqlx::query_scalar(
        "INSERT INTO appliances (instance_id, organization_id, name, model, version, credential_hash, registered_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(instance_id)
    .bind(organization_id)
    .bind(&name)
    .bind(&model)
    .bind(&version)
    .bind(token_hash(&credential))
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query("UPDATE appliance_registrations SET appliance_id = $1 WHERE id_hash = $2")
        .bind(appliance_id)
        .bind(token_hash(request.registration_id.trim()))
        .execute(&mut *tx)
        .await?;
    super::gateway::record_event(&mut tx, appliance_id, "registered", now).await?;
    super::org_copies::inherit(&mut tx, portal, (organization_id, appliance_id), &name).await?;
    let entry = audit::Entry {
        instance_id: Some(instance_id),
        actor_user_id: None,
        actor: &name,
        action: "appliance.registered",
        target: &format!("appliance {name}"),
        before: None,
        after: Some(format!("model={model}; version={version}")),
        client_ip: None,
    };
    audit::record(&mut tx, entry, now).await?;
    tx.commit().await?;
    portal
        .publish(
            instance_id,
            organization_id,
            LiveEvent::ApplianceRegistered {
                reference: reference_of(&request.registration_id),
                appliance_id,
            },
        )
        .await;
    super::events::appliance(portal, instance_id, appliance_id).await;
    Ok(RegisterResponse {
        appliance_id,
        credential,
    })
}

/// The appliance a credential belongs to, if it is still registered.
#[tracing::instrument(skip_all)]
pub async fn authenticate(
    conn: &mut AnyConnection,
    credential: &str,
) -> DomainResult<Option<ApplianceIdentity>> {
    let row: Option<(i64, i64, i64, String)> = sqlx::query_as(
        "SELECT id, instance_id, organization_id, name FROM appliances WHERE credential_hash = $1 AND deleted_at IS NULL",
    )
    .bind(token_hash(credential))
    .fetch_optional(conn)
    .await?;
    Ok(
        row.map(|(id, instance_id, organization_id, name)| ApplianceIdentity {
            id,
            instance_id,
            organization_id,
            name,
        }),
    )
}
