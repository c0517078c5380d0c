//! First run: a fresh install has no instance and no user. The server prints a one-time setup
//! URL; whoever opens it creates the first instance (homerealm) and its Superuser, then enrols
//! an authenticator. The CLI does the same headless for automation.

use model::auth::RecoveryCodes;
use model::password::validate_new_password;
use model::{AppError, Role};
use sqlx::AnyConnection;

use crate::instances::{self, Instance};
use crate::sessions::{self, Stage};
use crate::tokens::{self, Purpose};
use crate::users::{self, NewUser, UserStatus};
use crate::{ClientInfo, DomainResult, Portal, audit, auth, secrets, totp};

/// What the first-run form sends.
#[derive(Debug, Clone)]
pub struct FirstInstance {
    pub homerealm: String,
    pub display_name: String,
    pub email: String,
    pub password: String,
    pub confirm: String,
}

#[tracing::instrument(skip_all)]
pub async fn needs_setup(portal: &Portal) -> DomainResult<bool> {
    let mut conn = portal.db.pool.acquire().await?;
    Ok(instances::count(&mut conn).await? == 0)
}

/// Voids earlier setup tokens and issues a new one; returns the URL to print.
#[tracing::instrument(skip_all)]
pub async fn issue_setup_url(portal: &Portal) -> DomainResult<String> {
    let mut tx = portal.db.begin().await?;
    tokens::void_all(&mut tx, Purpose::Setup, None, portal.now()).await?;
    let token = tokens::issue(&mut tx, Purpose::Setup, None, portal.now()).await?;
    tx.commit().await?;
    Ok(portal.link(&format!("/setup?token={token}")))
}

/// Whether `token` would be accepted by [`complete_first_run`], with the reason if not.
#[tracing::instrument(skip_all)]
pub async fn check_setup_token(portal: &Portal, token: &str) -> DomainResult<()> {
    let mut conn = portal.db.pool.acquire().await?;
    if instances::count(&mut conn).await? > 0 {
        return Err(already_done().into());
    }
    tokens::peek(&mut conn, Purpose::Setup, token, portal.now()).await?;
    Ok(())
}

fn already_done() -> AppError {
    AppError::conflict("Setup has already been completed. Log in instead.")
}

/// Validates every field before anything is written.
fn validate(form: &FirstInstance) -> Result<(String, String, String), AppError> {
    let homerealm = instances::validate_homerealm(&form.homerealm)?;
    let name = instances::validate_display_name(&form.display_name)?;
    let email = users::validate_email(&form.email)?;
    validate_new_password(&form.password, &form.confirm)?;
    Ok((homerealm, name, email))
}

async fn create_instance_and_superuser(
    conn: &mut AnyConnection,
    homerealm: &str,
    name: &str,
    email: &str,
    password: &str,
    now_ms: i64,
) -> DomainResult<(Instance, i64)> {
    let instance = instances::insert(conn, homerealm, name, now_ms).await?;
    let user = NewUser {
        instance_id: instance.id,
        email,
        role: Role::Superuser,
        status: UserStatus::Active,
        password_hash: Some(secrets::hash_password(password)?),
        global_scope: true,
    };
    let user_id = users::insert(conn, user, now_ms).await?;
    Ok((instance, user_id))
}

/// Creates the first instance and Superuser, voids the setup token and returns a session at
/// the enrolment stage (the user must enrol an authenticator before anything else).
#[tracing::instrument(skip_all)]
pub async fn complete_first_run(
    portal: &Portal,
    token: &str,
    form: &FirstInstance,
    client: &ClientInfo,
) -> DomainResult<String> {
    let (homerealm, name, email) = validate(form)?;
    let now = portal.now();
    let mut tx = portal.db.begin().await?;
    if instances::count(&mut tx).await? > 0 {
        return Err(already_done().into());
    }
    tokens::consume(&mut tx, Purpose::Setup, token, now).await?;
    let (instance, user_id) =
        create_instance_and_superuser(&mut tx, &homerealm, &name, &email, &form.password, now).await?;
    tokens::void_all(&mut tx, Purpose::Setup, None, now).await?;
    audit::record(
        &mut tx,
        audit::Entry {
            instance_id: Some(instance.id),
            actor_user_id: Some(user_id),
            actor: &email,
            action: "instance.created",
            target: &format!("instance {homerealm}"),
            before: None,
            after: Some(format!("homerealm={homerealm}; name={name}; superuser={email}")),
            client_ip: client.ip.as_deref(),
        },
        now,
    )
    .await?;
    let session = sessions::create(&mut tx, user_id, Stage::Enrol, client, now, &portal.sessions).await?;
    tx.commit().await?;
    Ok(session)
}

/// The result of a headless instance creation: what the Superuser needs to log in.
#[derive(Debug)]
pub struct HeadlessInstance {
    pub instance: Instance,
    pub totp_secret: String,
    pub otpauth_uri: String,
    pub recovery_codes: RecoveryCodes,
}

/// Creates an instance with an enrolled Superuser (for `backplane admin create-instance`).
#[tracing::instrument(skip_all)]
pub async fn create_instance_headless(
    portal: &Portal,
    homerealm: &str,
    name: &str,
    email: &str,
    password: &str,
) -> DomainResult<HeadlessInstance> {
    let form = FirstInstance {
        homerealm: homerealm.into(),
        display_name: name.into(),
        email: email.into(),
        password: password.into(),
        confirm: password.into(),
    };
    let (homerealm, name, email) = validate(&form)?;
    let now = portal.now();
    let mut tx = portal.db.begin().await?;
    let (instance, user_id) =
        create_instance_and_superuser(&mut tx, &homerealm, &name, &email, password, now).await?;
    let secret = totp::generate_secret();
    // Step 0 is never a live step, so the first real code is still accepted.
    users::activate_totp(&mut tx, user_id, &secret, 0).await?;
    let recovery_codes = auth::new_recovery_codes(&mut tx, user_id).await?;
    tokens::void_all(&mut tx, Purpose::Setup, None, now).await?;
    audit::record(
        &mut tx,
        audit::Entry {
            instance_id: Some(instance.id),
            actor_user_id: None,
            actor: "cli",
            action: "instance.created",
            target: &format!("instance {homerealm}"),
            before: None,
            after: Some(format!("homerealm={homerealm}; name={name}; superuser={email}")),
            client_ip: None,
        },
        now,
    )
    .await?;
    tx.commit().await?;
    let otpauth_uri = totp::enrolment(&secret, &email, &homerealm)?.otpauth_uri;
    Ok(HeadlessInstance {
        instance,
        totp_secret: secret,
        otpauth_uri,
        recovery_codes,
    })
}
