//! The administrative resets the command line offers: a new second factor, a new password.

use model::AppError;
use sqlx::AnyConnection;

use super::record;
use crate::users::{self, User};
use crate::{ClientInfo, DomainResult, Portal, instances, secrets, sessions, throttle};

async fn find_user(conn: &mut AnyConnection, homerealm: &str, email: &str) -> DomainResult<User> {
    let instance = instances::find_by_homerealm(conn, homerealm)
        .await?
        .ok_or_else(|| {
            AppError::invalid(
                "homerealm",
                format!("No instance has the homerealm {homerealm:?}."),
            )
        })?;
    users::find_by_email(conn, instance.id, email)
        .await?
        .ok_or_else(|| AppError::invalid("email", format!("No user {email:?} in {homerealm}.")).into())
}

/// What the operator resets.
enum Reset<'a> {
    SecondFactor,
    Password(&'a str),
}

/// Administrative reset: the user re-enrols at next login; old codes and sessions are void.
#[tracing::instrument(skip_all)]
pub async fn admin_reset_second_factor(
    portal: &Portal,
    homerealm: &str,
    email: &str,
    actor: &str,
) -> DomainResult<()> {
    reset(portal, homerealm, email, actor, Reset::SecondFactor).await
}

/// Administrative password change; also lifts the account's login throttle.
#[tracing::instrument(skip_all)]
pub async fn admin_set_password(
    portal: &Portal,
    homerealm: &str,
    email: &str,
    password: &str,
    actor: &str,
) -> DomainResult<()> {
    model::password::validate_password("password", password)?;
    reset(portal, homerealm, email, actor, Reset::Password(password)).await
}

/// Carries out the reset, ends the user's sessions and audits it (no client address: the
/// operator is on the server's command line).
async fn reset(
    portal: &Portal,
    homerealm: &str,
    email: &str,
    actor: &str,
    what: Reset<'_>,
) -> DomainResult<()> {
    let now = portal.now();
    let mut tx = portal.db.begin().await?;
    let user = find_user(&mut tx, homerealm, email).await?;
    let action = match what {
        Reset::SecondFactor => {
            users::reset_second_factor(&mut tx, user.id).await?;
            "user.second_factor_reset"
        }
        Reset::Password(password) => {
            users::set_password_hash(&mut tx, user.id, &secrets::hash_password(password)?).await?;
            throttle::clear(&mut tx, &throttle::account_key(user.instance_id, &user.email)).await?;
            "user.password_set"
        }
    };
    sessions::delete_all_for_user(&mut tx, user.id).await?;
    let operator = ClientInfo::default();
    record(
        &mut tx,
        user.instance_id,
        Some(&user),
        actor,
        action,
        &operator,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// An API credential made from the command line for an active Superuser, who it then acts as
/// (for automation that starts before anyone has signed in).
#[tracing::instrument(skip_all)]
pub async fn admin_create_api_credential(
    portal: &Portal,
    homerealm: &str,
    email: &str,
    name: &str,
) -> DomainResult<model::api_access::NewApiCredential> {
    let mut conn = portal.db.pool.acquire().await?;
    let user = find_user(&mut conn, homerealm, email).await?;
    drop(conn);
    if user.status != users::UserStatus::Active {
        return Err(AppError::invalid("email", format!("{email} is not an active user.")).into());
    }
    let creator = crate::access::Viewer {
        instance_id: user.instance_id,
        user_id: user.id,
        email: user.email,
        role: user.role,
        global_scope: false,
    };
    let operator = ClientInfo {
        ip: None,
        user_agent: Some("backplane admin (command line)".into()),
    };
    crate::api_access::create(portal, &creator, name, &operator).await
}
