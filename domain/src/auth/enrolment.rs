//! First-time enrolment of an authenticator app, and the recovery codes it hands out.

use model::AppError;
use model::auth::{RecoveryCodes, TotpEnrolment};
use sqlx::AnyConnection;

use super::{RECOVERY_CODE_COUNT, load_user, promote, record_own, require_stage};
use crate::sessions::{Session, Stage};
use crate::{ClientInfo, DomainResult, Portal, secrets, totp, users};

/// Enrolment, first half: a new secret to scan.
#[tracing::instrument(skip_all, fields(user_id = session.user_id))]
pub async fn begin_enrolment(portal: &Portal, session: &Session) -> DomainResult<TotpEnrolment> {
    require_stage(session, Stage::Enrol)?;
    let mut conn = portal.db.pool.acquire().await?;
    let secret = totp::generate_secret();
    users::set_pending_totp_secret(&mut conn, session.user_id, &secret).await?;
    totp::enrolment(&secret, &session.email, &session.homerealm)
}

/// Enrolment, second half: a code from the new authenticator confirms it. Returns the full
/// session's token and the recovery codes, which are shown this once.
#[tracing::instrument(skip_all, fields(user_id = session.user_id))]
pub async fn confirm_enrolment(
    portal: &Portal,
    session: &Session,
    code: &str,
    client: &ClientInfo,
) -> DomainResult<(String, RecoveryCodes)> {
    require_stage(session, Stage::Enrol)?;
    let now = portal.now();
    let mut tx = portal.db.begin().await?;
    let user = load_user(&mut tx, session.user_id).await?;
    let pending = user
        .totp_pending_secret
        .as_deref()
        .ok_or_else(|| AppError::conflict("The enrolment expired. Reload the page to get a new QR code."))?;
    let Some(step) = totp::verify(pending, code, now, None)? else {
        return Err(AppError::invalid(
            "code",
            "That code does not match. Check the authenticator's clock and try the next code.",
        )
        .into());
    };
    users::activate_totp(&mut tx, user.id, pending, step).await?;
    let codes = new_recovery_codes(&mut tx, user.id).await?;
    record_own(&mut tx, &user, "user.totp_enrolled", client, now).await?;
    let token = promote(&mut tx, portal, session, &user, client).await?;
    tx.commit().await?;
    Ok((token, codes))
}

/// Generates and stores a fresh set of recovery codes, returning the plaintext once.
#[tracing::instrument(skip_all, fields(user_id = user_id))]
pub async fn new_recovery_codes(conn: &mut AnyConnection, user_id: i64) -> DomainResult<RecoveryCodes> {
    let codes: Vec<String> = (0..RECOVERY_CODE_COUNT)
        .map(|_| secrets::recovery_code())
        .collect();
    let hashes: Vec<String> = codes
        .iter()
        .map(|c| secrets::token_hash(&secrets::normalize_recovery_code(c)))
        .collect();
    users::replace_recovery_codes(conn, user_id, &hashes).await?;
    Ok(RecoveryCodes { codes })
}
