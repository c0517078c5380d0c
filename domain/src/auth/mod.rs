//! Login (password → TOTP or recovery code) and sign-out here; first-time enrolment, the e-mailed
//! links (password reset, activation) and the administrative resets the CLI offers beside it.

mod admin;
mod enrolment;
mod links;

pub use admin::{admin_create_api_credential, admin_reset_second_factor, admin_set_password};
pub use enrolment::{begin_enrolment, confirm_enrolment, new_recovery_codes};
pub use links::{check_link, request_password_reset, send_activation, set_password_from_link};

use model::AppError;
use model::auth::LoginStep;
use sqlx::AnyConnection;

use crate::instances::{self, Instance};
use crate::sessions::{self, Session, Stage};
use crate::throttle::{self, PER_ACCOUNT, PER_CLIENT_IP};
use crate::users::{self, User, UserStatus};
use crate::{ClientInfo, DomainResult, Portal, audit, ip_restrictions, secrets, totp};

/// Consecutive wrong second factors after which the account's 2FA locks until an admin resets it.
pub const SECOND_FACTOR_LOCK_AT: i64 = 8;
pub const RECOVERY_CODE_COUNT: usize = 10;

fn wrong_credentials() -> AppError {
    AppError::invalid("password", "The e-mail address or password is wrong.")
}

fn second_factor_locked() -> AppError {
    AppError::conflict(
        "Two-factor authentication is locked after too many wrong codes. Ask an administrator to reset it.",
    )
}

pub(super) fn throttled(retry_after_secs: u64) -> AppError {
    AppError::Throttled { retry_after_secs }
}

/// The longest e-mail address (RFC 5321 path limit less the angle brackets).
pub(super) const MAX_TYPED_ACTOR_CHARS: usize = 254;

/// Audits what the user did themselves.
pub(super) async fn record_own(
    conn: &mut AnyConnection,
    user: &User,
    action: &str,
    client: &ClientInfo,
    now: i64,
) -> DomainResult<()> {
    record(
        conn,
        user.instance_id,
        Some(user),
        &user.email,
        action,
        client,
        now,
    )
    .await
}

pub(super) async fn record(
    conn: &mut AnyConnection,
    instance_id: i64,
    user: Option<&User>,
    actor: &str,
    action: &str,
    client: &ClientInfo,
    now: i64,
) -> DomainResult<()> {
    // What was typed at login, kept to the length of an e-mail address.
    let actor: String = actor.chars().take(MAX_TYPED_ACTOR_CHARS).collect();
    let actor = actor.as_str();
    audit::record(
        conn,
        audit::Entry {
            instance_id: Some(instance_id),
            actor_user_id: user.map(|u| u.id),
            actor,
            action,
            target: &format!("user {actor}"),
            before: None,
            after: None,
            client_ip: client.ip.as_deref(),
        },
        now,
    )
    .await
}

/// Seconds the client's address stays blocked, if it is.
async fn client_blocked(
    conn: &mut AnyConnection,
    client: &ClientInfo,
    now: i64,
) -> DomainResult<Option<u64>> {
    match &client.ip {
        Some(ip) => throttle::blocked_for(conn, &throttle::ip_key(ip), now).await,
        None => Ok(None),
    }
}

/// Counts a failure against the client's address; returns the block if it reached the limit.
async fn count_client_failure(
    conn: &mut AnyConnection,
    client: &ClientInfo,
    now: i64,
) -> DomainResult<Option<u64>> {
    match &client.ip {
        Some(ip) => throttle::record_failure(conn, &throttle::ip_key(ip), PER_CLIENT_IP, now).await,
        None => Ok(None),
    }
}

/// The first step the login page shows: the homerealm, unless the server hosts one instance.
#[tracing::instrument(skip_all)]
pub async fn first_login_step(portal: &Portal) -> DomainResult<LoginStep> {
    let mut conn = portal.db.pool.acquire().await?;
    Ok(match instances::only_one(&mut conn).await? {
        Some(only) => LoginStep::Credentials {
            homerealm: only.homerealm,
            providers: Vec::new(),
            required: None,
        },
        None => LoginStep::Homerealm,
    })
}

/// Checks a homerealm typed on the first login screen.
#[tracing::instrument(skip_all)]
pub async fn choose_homerealm(
    portal: &Portal,
    homerealm: &str,
    client: &ClientInfo,
) -> DomainResult<LoginStep> {
    let mut conn = portal.db.pool.acquire().await?;
    let instance = find_instance(&mut conn, homerealm, client, portal.now()).await?;
    Ok(LoginStep::Credentials {
        homerealm: instance.homerealm,
        providers: Vec::new(),
        required: None,
    })
}

/// The instance of the homerealm, if requests from the client's address may use it.
async fn find_instance(
    conn: &mut AnyConnection,
    homerealm: &str,
    client: &ClientInfo,
    now: i64,
) -> DomainResult<Instance> {
    let instance = find_known_instance(conn, homerealm, client, now).await?;
    let list = ip_restrictions::allow_list_of(conn, instance.id).await?;
    if !ip_restrictions::allows(list.as_deref(), client.ip.as_deref()) {
        return Err(ip_restrictions::refusal(client.ip.as_deref()).into());
    }
    Ok(instance)
}

async fn find_known_instance(
    conn: &mut AnyConnection,
    homerealm: &str,
    client: &ClientInfo,
    now: i64,
) -> DomainResult<Instance> {
    if let Some(secs) = client_blocked(conn, client, now).await? {
        return Err(throttled(secs).into());
    }
    match instances::find_by_homerealm(conn, homerealm).await? {
        Some(instance) => Ok(instance),
        None => {
            count_client_failure(conn, client, now).await?;
            Err(AppError::invalid("homerealm", "No instance has that homerealm.").into())
        }
    }
}

/// Whether `password` matches `hash` (against a dummy hash when there is none, so unknown
/// accounts take as long), on a blocking thread.
async fn check_password(password: &str, hash: Option<String>) -> DomainResult<bool> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || match hash {
        Some(hash) => secrets::verify_password(&password, &hash),
        None => {
            secrets::verify_password_against_nothing(&password);
            false
        }
    })
    .await
    .map_err(|e| crate::DomainError::internal(format!("password check: {e}")))
}

/// Step two: e-mail and password. On success returns the token of a session that still needs
/// its second factor (or enrolment) and the step to show next.
#[tracing::instrument(skip_all)]
pub async fn sign_in_with_password(
    portal: &Portal,
    homerealm: &str,
    email: &str,
    password: &str,
    client: &ClientInfo,
) -> DomainResult<(String, LoginStep)> {
    let now = portal.now();
    let mut conn = portal.db.pool.acquire().await?;
    let instance = find_instance(&mut conn, homerealm, client, now).await?;
    let email: String = users::normalize_email(email)
        .chars()
        .take(MAX_TYPED_ACTOR_CHARS)
        .collect();
    let account_key = throttle::account_key(instance.id, &email);
    let client_key = client.ip.as_deref().map(throttle::ip_key);
    if let Some(secs) = throttle::begin_attempt(&mut conn, &account_key, PER_ACCOUNT, now).await? {
        return Err(throttled(secs).into());
    }
    if let Some(key) = &client_key
        && let Some(secs) = throttle::begin_attempt(&mut conn, key, PER_CLIENT_IP, now).await?
    {
        return Err(throttled(secs).into());
    }
    let user = users::find_by_email(&mut conn, instance.id, &email).await?;
    // Hashing takes a while; it holds neither a pooled connection nor an async worker.
    drop(conn);
    let password_ok = check_password(password, user.as_ref().and_then(|u| u.password_hash.clone())).await?;
    let mut conn = portal.db.pool.acquire().await?;
    let user = match user {
        Some(user) if password_ok && user.status == UserStatus::Active => user,
        other => {
            record(
                &mut conn,
                instance.id,
                other.as_ref(),
                &email,
                "login.failure",
                client,
                now,
            )
            .await?;
            if let Some(key) = &client_key {
                throttle::conclude_failure(&mut conn, key, PER_CLIENT_IP, now).await?;
            }
            return Err(
                match throttle::conclude_failure(&mut conn, &account_key, PER_ACCOUNT, now).await? {
                    Some(secs) => throttled(secs),
                    None => wrong_credentials(),
                }
                .into(),
            );
        }
    };
    if let Some(key) = &client_key {
        throttle::refund(&mut conn, key).await?;
    }
    throttle::clear(&mut conn, &account_key).await?;
    if user.second_factor_locked {
        return Err(second_factor_locked().into());
    }
    let (stage, step) = match user.totp_secret {
        Some(_) => (
            Stage::SecondFactor,
            LoginStep::SecondFactor {
                email: user.email.clone(),
            },
        ),
        None => (
            Stage::Enrol,
            LoginStep::EnrolTotp {
                email: user.email.clone(),
            },
        ),
    };
    let token = sessions::create(&mut conn, user.id, stage, client, now, &portal.sessions).await?;
    Ok((token, step))
}

/// Starts a session for a user an identity provider vouched for (the caller checked the
/// provider's token and the instance's address rules). With `second_factor_done` the session is
/// full at once; otherwise it waits for the portal's own TOTP (or its enrolment), as after a
/// password.
#[tracing::instrument(skip_all, fields(user_id = user.id))]
pub async fn sign_in_verified(
    conn: &mut AnyConnection,
    portal: &Portal,
    user: &User,
    (origin, second_factor_done): (&sessions::SsoOrigin, bool),
    client: &ClientInfo,
) -> DomainResult<(String, LoginStep)> {
    let now = portal.now();
    if user.status != UserStatus::Active {
        record(
            conn,
            user.instance_id,
            Some(user),
            &user.email,
            "login.failure",
            client,
            now,
        )
        .await?;
        return Err(AppError::Denied {
            message: "This account is disabled or not activated yet.".into(),
        }
        .into());
    }
    let (stage, step) = match (second_factor_done, &user.totp_secret) {
        (true, _) => (Stage::Full, LoginStep::Done),
        (false, _) if user.second_factor_locked => return Err(second_factor_locked().into()),
        (false, Some(_)) => (
            Stage::SecondFactor,
            LoginStep::SecondFactor {
                email: user.email.clone(),
            },
        ),
        (false, None) => (
            Stage::Enrol,
            LoginStep::EnrolTotp {
                email: user.email.clone(),
            },
        ),
    };
    let token = sessions::create(conn, user.id, stage, client, now, &portal.sessions).await?;
    sessions::set_sso_origin(conn, &token, origin).await?;
    if stage == Stage::Full {
        users::touch_last_seen(conn, user.id, now).await?;
        record_own(conn, user, "login.success", client, now).await?;
    }
    Ok((token, step))
}

/// The step a (possibly half-finished) session is at, for re-rendering the login page.
pub fn step_of(session: &Session) -> LoginStep {
    match session.stage {
        Stage::SecondFactor => LoginStep::SecondFactor {
            email: session.email.clone(),
        },
        Stage::Enrol => LoginStep::EnrolTotp {
            email: session.email.clone(),
        },
        Stage::Full => LoginStep::Done,
    }
}

pub(super) fn require_stage(session: &Session, stage: Stage) -> Result<(), AppError> {
    if session.stage == stage {
        Ok(())
    } else {
        Err(AppError::Unauthenticated)
    }
}

pub(super) async fn load_user(conn: &mut AnyConnection, id: i64) -> DomainResult<User> {
    users::get(conn, id)
        .await?
        .ok_or_else(|| AppError::Unauthenticated.into())
}

/// Step three: a TOTP code or a recovery code. Returns the token of the new, full session.
#[tracing::instrument(skip_all, fields(user_id = session.user_id))]
pub async fn verify_second_factor(
    portal: &Portal,
    session: &Session,
    code: &str,
    client: &ClientInfo,
) -> DomainResult<String> {
    require_stage(session, Stage::SecondFactor)?;
    let now = portal.now();
    let mut conn = portal.db.pool.acquire().await?;
    let client_key = client.ip.as_deref().map(throttle::ip_key);
    if let Some(key) = &client_key
        && let Some(secs) = throttle::begin_attempt(&mut conn, key, PER_CLIENT_IP, now).await?
    {
        return Err(throttled(secs).into());
    }
    let user = load_user(&mut conn, session.user_id).await?;
    let failures =
        match users::begin_second_factor_attempt(&mut conn, user.id, SECOND_FACTOR_LOCK_AT, now).await? {
            Some(failures) if !user.second_factor_locked => failures,
            _ => return Err(second_factor_locked().into()),
        };
    let secret = user.totp_secret.as_deref().ok_or(AppError::Unauthenticated)?;
    let accepted = match totp::verify(secret, code, now, user.totp_last_step)? {
        Some(step) => users::claim_totp_step(&mut conn, user.id, step).await?,
        None => {
            let normalized = secrets::normalize_recovery_code(code);
            normalized.len() == 16
                && users::consume_recovery_code(&mut conn, user.id, &secrets::token_hash(&normalized), now)
                    .await?
        }
    };
    if !accepted {
        let refusal = refuse_second_factor(&mut conn, &user, client, failures, now).await?;
        return Err(refusal.into());
    }
    users::clear_second_factor_failures(&mut conn, user.id).await?;
    if let Some(key) = &client_key {
        throttle::refund(&mut conn, key).await?;
    }
    promote(&mut conn, portal, session, &user, client).await
}

/// Concludes a wrong code (the `failures`-th, already counted) and says how it went.
async fn refuse_second_factor(
    conn: &mut AnyConnection,
    user: &User,
    client: &ClientInfo,
    failures: i64,
    now: i64,
) -> DomainResult<AppError> {
    record_own(conn, user, "login.second_factor_failure", client, now).await?;
    if let Some(ip) = &client.ip
        && let Some(secs) =
            throttle::conclude_failure(conn, &throttle::ip_key(ip), PER_CLIENT_IP, now).await?
    {
        return Ok(throttled(secs));
    }
    if failures >= SECOND_FACTOR_LOCK_AT {
        users::lock_second_factor(conn, user.id, now).await?;
        record_own(conn, user, "user.second_factor_locked", client, now).await?;
        return Ok(second_factor_locked());
    }
    let left = SECOND_FACTOR_LOCK_AT - failures;
    Ok(AppError::invalid(
        "code",
        format!(
            "That code is not valid or has already been used. {left} more wrong codes lock two-factor authentication."
        ),
    ))
}

/// Replaces the pending session with a full one (a new token, so a token seen before the
/// second factor is worthless after it).
pub(super) async fn promote(
    conn: &mut AnyConnection,
    portal: &Portal,
    session: &Session,
    user: &User,
    client: &ClientInfo,
) -> DomainResult<String> {
    let now = portal.now();
    let origin = sessions::sso_origin(conn, &session.id_hash).await?;
    sessions::delete(conn, &session.id_hash).await?;
    let token = sessions::create(conn, user.id, Stage::Full, client, now, &portal.sessions).await?;
    if let Some(origin) = origin {
        sessions::set_sso_origin(conn, &token, &origin).await?;
    }
    users::touch_last_seen(conn, user.id, now).await?;
    record_own(conn, user, "login.success", client, now).await?;
    Ok(token)
}

#[tracing::instrument(skip_all, fields(user_id = session.user_id))]
pub async fn sign_out(portal: &Portal, session: &Session, client: &ClientInfo) -> DomainResult<()> {
    let mut conn = portal.db.pool.acquire().await?;
    sessions::delete(&mut conn, &session.id_hash).await?;
    audit::record(
        &mut conn,
        audit::Entry {
            instance_id: Some(session.instance_id),
            actor_user_id: Some(session.user_id),
            actor: &session.email,
            action: "logout",
            target: &format!("user {}", session.email),
            before: None,
            after: None,
            client_ip: client.ip.as_deref(),
        },
        portal.now(),
    )
    .await
}

#[tracing::instrument(skip_all, fields(user_id = session.user_id))]
pub async fn set_dark_theme(
    portal: &Portal,
    session: &Session,
    dark: bool,
    client: &ClientInfo,
) -> DomainResult<()> {
    let mut tx = portal.db.begin().await?;
    users::set_dark_theme(&mut tx, session.user_id, dark).await?;
    let viewer = crate::access::Viewer::of(session);
    let target = format!("user {}", session.email);
    let (before, after) = if dark {
        ("light", "dark")
    } else {
        ("dark", "light")
    };
    let entry = audit::Entry::by(&viewer, client, "user.theme_changed", &target)
        .before(before)
        .after(after);
    audit::record(&mut tx, entry, portal.now()).await?;
    tx.commit().await?;
    Ok(())
}
