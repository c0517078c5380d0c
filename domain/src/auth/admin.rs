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

/// Administrative reset: the user re-enrols at next login; old codes and sessions are void.
#[tracing::instrument(skip_all)]
pub async fn admin_reset_second_factor(
    portal: &Portal,
    homerealm: &str,
    email: &str,
    actor: &str,
) -> DomainResult<()> {
    let now = portal.now();
    let mut tx = portal.db.begin().await?;
    let user = find_user(&mut tx, homerealm, email).await?;
    users::reset_second_factor(&mut tx, user.id).await?;
    sessions::delete_all_for_user(&mut tx, user.id).await?;
    record_by_operator(&mut tx, &user, actor, "user.second_factor_reset", now).await?;
    tx.commit().await?;
    Ok(())
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
    let now = portal.now();
    let mut tx = portal.db.begin().await?;
    let user = find_user(&mut tx, homerealm, email).await?;
    users::set_password_hash(&mut tx, user.id, &secrets::hash_password(password)?).await?;
    sessions::delete_all_for_user(&mut tx, user.id).await?;
    throttle::clear(&mut tx, &throttle::account_key(user.instance_id, &user.email)).await?;
    record_by_operator(&mut tx, &user, actor, "user.password_set", now).await?;
    tx.commit().await?;
    Ok(())
}

/// Audits a reset the operator did on the command line (no client address).
async fn record_by_operator(
    conn: &mut AnyConnection,
    user: &User,
    actor: &str,
    action: &str,
    now: i64,
) -> DomainResult<()> {
    record(
        conn,
        user.instance_id,
        Some(user),
        actor,
        action,
        &ClientInfo::default(),
        now,
    )
    .await
}
