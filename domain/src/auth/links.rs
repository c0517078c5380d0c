//! The links the portal e-mails: a one-hour password reset and a 48-hour account activation.

use model::AppError;
use model::password::validate_new_password;
use sqlx::AnyConnection;

use super::{MAX_TYPED_ACTOR_CHARS, load_user, record_own, throttled};
use crate::clock::MINUTE_MS;
use crate::instances::{self, Instance};
use crate::tokens::{self, Purpose};
use crate::users::{self, User, UserStatus};
use crate::{ClientInfo, DomainResult, Portal, outbox, secrets, sessions, throttle};

/// The soonest a password reset request is answered, whatever it did.
const RESET_ANSWER_FLOOR: std::time::Duration = std::time::Duration::from_millis(500);

/// Reset mails one account can be sent within an hour.
const RESETS_PER_ACCOUNT: throttle::Limit = throttle::Limit {
    max_failures: 3,
    window_ms: 60 * MINUTE_MS,
    block_ms: 60 * MINUTE_MS,
};

/// Reset requests one address can make within an hour.
const RESETS_PER_CLIENT_IP: throttle::Limit = throttle::Limit {
    max_failures: 10,
    window_ms: 60 * MINUTE_MS,
    block_ms: 60 * MINUTE_MS,
};

/// "Forgot password": e-mails a one-hour link if the pair matches an active user. Answers the
/// same either way, so nobody can probe which addresses exist.
#[tracing::instrument(skip_all)]
pub async fn request_password_reset(
    portal: &Portal,
    homerealm: &str,
    email: &str,
    client: &ClientInfo,
) -> DomainResult<()> {
    let answer_at = tokio::time::Instant::now() + RESET_ANSWER_FLOOR;
    let outcome = send_password_reset(portal, homerealm, email, client).await;
    // Known and unknown addresses are answered after the same time, so the answer's timing
    // does not tell which accounts exist.
    if tokio::time::Instant::now() > answer_at {
        tracing::warn!("a password reset request took longer than its answer floor");
    }
    tokio::time::sleep_until(answer_at).await;
    outcome
}

async fn send_password_reset(
    portal: &Portal,
    homerealm: &str,
    email: &str,
    client: &ClientInfo,
) -> DomainResult<()> {
    let now = portal.now();
    let mut tx = portal.db.begin().await?;
    if let Some(ip) = &client.ip
        && let Some(secs) =
            throttle::begin_attempt(&mut tx, &throttle::reset_ip_key(ip), RESETS_PER_CLIENT_IP, now).await?
    {
        tx.commit().await?;
        return Err(throttled(secs).into());
    }
    let Some(instance) = instances::find_by_homerealm(&mut tx, homerealm).await? else {
        tx.commit().await?;
        return Ok(());
    };
    let email: String = users::normalize_email(email)
        .chars()
        .take(MAX_TYPED_ACTOR_CHARS)
        .collect();
    let account_key = throttle::reset_account_key(instance.id, &email);
    // Past the limit the answer stays the same; only the mail is not sent.
    let account_limited = throttle::begin_attempt(&mut tx, &account_key, RESETS_PER_ACCOUNT, now)
        .await?
        .is_some();
    let user = users::find_by_email(&mut tx, instance.id, &email).await?;
    let Some(user) = user.filter(|u| u.status == UserStatus::Active && !account_limited) else {
        tx.commit().await?;
        return Ok(());
    };
    let mail = LinkMail {
        purpose: Purpose::PasswordReset,
        path: "/reset-password",
        subject: "Reset your Backplane password",
        body: |link| {
            format!(
                "Someone asked to reset the password of {email} on the Backplane instance {name} ({realm}).\n\n\
                 Set a new password here (the link works once, for one hour):\n{link}\n\n\
                 If it was not you, ignore this e-mail; your password stays as it is.\n",
                email = user.email,
                name = instance.display_name,
                realm = instance.homerealm,
            )
        },
    };
    mail_new_link(&mut tx, portal, &user, &instance, mail, now).await?;
    record_own(&mut tx, &user, "user.password_reset_requested", client, now).await?;
    tx.commit().await?;
    Ok(())
}

/// Checks a reset or activation link before the form is shown.
#[tracing::instrument(skip_all)]
pub async fn check_link(portal: &Portal, purpose: Purpose, token: &str) -> DomainResult<()> {
    let mut conn = portal.db.pool.acquire().await?;
    tokens::peek(&mut conn, purpose, token, portal.now()).await?;
    Ok(())
}

/// Sets a password from a reset link, or the first one from an activation link (which also
/// activates the account); ends every session of the user.
#[tracing::instrument(skip_all)]
pub async fn set_password_from_link(
    portal: &Portal,
    purpose: Purpose,
    token: &str,
    password: &str,
    confirm: &str,
    client: &ClientInfo,
) -> DomainResult<()> {
    validate_new_password(password, confirm)?;
    let now = portal.now();
    let mut tx = portal.db.begin().await?;
    let user_id = tokens::consume(&mut tx, purpose, token, now)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    let user = load_user(&mut tx, user_id).await?;
    if user.status == UserStatus::Disabled {
        return Err(AppError::conflict("This account is disabled. Ask your administrator.").into());
    }
    users::set_password_hash(&mut tx, user.id, &secrets::hash_password(password)?).await?;
    let action = match purpose {
        Purpose::Activation => {
            users::set_status(&mut tx, user.id, UserStatus::Active).await?;
            "user.activated"
        }
        _ => "user.password_reset",
    };
    sessions::delete_all_for_user(&mut tx, user.id).await?;
    throttle::clear(&mut tx, &throttle::account_key(user.instance_id, &user.email)).await?;
    record_own(&mut tx, &user, action, client, now).await?;
    tx.commit().await?;
    Ok(())
}

/// Issues a 48-hour activation link for an invited user and queues the welcome e-mail. A new
/// link voids the previous one (a resend starts a new 48-hour window).
#[tracing::instrument(skip_all)]
pub async fn send_activation(
    conn: &mut AnyConnection,
    portal: &Portal,
    user: &User,
    instance: &Instance,
) -> DomainResult<()> {
    let mail = LinkMail {
        purpose: Purpose::Activation,
        path: "/activate",
        subject: "Activate your Backplane account",
        body: |link| {
            format!(
                "Welcome to Backplane, the backup portal of {name}.\n\n\
                 Activate your account ({email}, homerealm {realm}) here within 48 hours:\n{link}\n\n\
                 You will set a password and enrol an authenticator app at your first login.\n",
                name = instance.display_name,
                email = user.email,
                realm = instance.homerealm,
            )
        },
    };
    mail_new_link(conn, portal, user, instance, mail, portal.now()).await
}

/// A mail carrying a one-time link: what the link is for, the page it opens, and the text
/// around it.
struct LinkMail<F: FnOnce(&str) -> String> {
    purpose: Purpose,
    path: &'static str,
    subject: &'static str,
    body: F,
}

/// Voids the user's earlier links for the same purpose, issues a new one and queues its mail.
async fn mail_new_link<F: FnOnce(&str) -> String>(
    conn: &mut AnyConnection,
    portal: &Portal,
    user: &User,
    instance: &Instance,
    mail: LinkMail<F>,
    now: i64,
) -> DomainResult<()> {
    tokens::void_all(conn, mail.purpose, Some(user.id), now).await?;
    let token = tokens::issue(conn, mail.purpose, Some(user.id), now).await?;
    let link = portal.link(&format!("{}?token={token}", mail.path));
    let body = (mail.body)(&link);
    outbox::enqueue(conn, Some(instance.id), &user.email, mail.subject, &body, now).await?;
    Ok(())
}
