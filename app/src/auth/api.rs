//! Server functions of the login, setup and account flows. Each states who may call it:
//! anyone, a half-finished login (its own session), or a signed-in user with a permission.

use leptos::prelude::*;
use model::AppError;
use model::auth::{LinkPurpose, LoginStep, RecoveryCodes, SessionView, TotpEnrolment};
#[cfg(feature = "ssr")]
use {crate::server::*, domain::auth, model::Action};

/// Public: where the login page should start (or continue a half-finished login). A
/// `homerealm` from the page's address skips its step; `bypass` (the link Settings shows)
/// keeps the local form while single sign-on is required.
#[server(prefix = "/api", endpoint = "auth/state")]
pub async fn login_state(homerealm: Option<String>, bypass: Option<bool>) -> Result<LoginStep, AppError> {
    if let Some(session) = any_session() {
        return Ok(auth::step_of(&session));
    }
    let portal = portal();
    let step = match homerealm.filter(|h| !h.trim().is_empty()) {
        Some(homerealm) => auth::choose_homerealm(&portal, &homerealm, &client_info()).await,
        None => auth::first_login_step(&portal).await,
    };
    let step = match step {
        Ok(step) => step,
        // A stale or mistyped homerealm in a bookmark: ask for it instead of failing the page.
        Err(_) => auth::first_login_step(&portal).await.map_err(to_app_error)?,
    };
    with_providers(step, bypass.unwrap_or(false)).await
}

#[cfg(feature = "ssr")]
async fn with_providers(step: LoginStep, bypass: bool) -> Result<LoginStep, AppError> {
    identity::login::with_providers(&mut *conn().await?, step, bypass)
        .await
        .map_err(to_app_error)
}

/// Public: the homerealm typed on the first login screen.
#[server(prefix = "/api", endpoint = "auth/homerealm")]
pub async fn login_homerealm(homerealm: String) -> Result<LoginStep, AppError> {
    let step = auth::choose_homerealm(&portal(), &homerealm, &client_info())
        .await
        .map_err(to_app_error)?;
    with_providers(step, false).await
}

/// Public: e-mail and password. Starts a half-finished login on success. Refused while the
/// instance requires single sign-on, except for its listed exceptions.
#[server(prefix = "/api", endpoint = "auth/password")]
pub async fn login_password(
    homerealm: String,
    email: String,
    password: String,
) -> Result<LoginStep, AppError> {
    identity::login::check_local_login(&mut *conn().await?, &homerealm, &email)
        .await
        .map_err(to_app_error)?;
    let (token, step) = auth::sign_in_with_password(&portal(), &homerealm, &email, &password, &client_info())
        .await
        .map_err(to_app_error)?;
    let framed = domain::embedding::frame_ancestors_of_homerealm(&mut *conn().await?, &homerealm)
        .await
        .map_err(to_app_error)?
        .is_some();
    set_session_cookie(&token, framed);
    Ok(step)
}

/// Half-finished login: a TOTP or recovery code completes it.
#[server(prefix = "/api", endpoint = "auth/verify")]
pub async fn login_verify(code: String) -> Result<(), AppError> {
    let session = any_session().ok_or(AppError::Unauthenticated)?;
    let token = auth::verify_second_factor(&portal(), &session, &code, &client_info())
        .await
        .map_err(to_app_error)?;
    set_session_cookie(&token, session.frame_ancestors.is_some());
    Ok(())
}

/// Half-finished login without an authenticator: a new secret to scan.
#[server(prefix = "/api", endpoint = "auth/enrol/begin")]
pub async fn enrol_begin() -> Result<TotpEnrolment, AppError> {
    let session = any_session().ok_or(AppError::Unauthenticated)?;
    auth::begin_enrolment(&portal(), &session)
        .await
        .map_err(to_app_error)
}

/// Half-finished login without an authenticator: a code confirms it; returns recovery codes.
#[server(prefix = "/api", endpoint = "auth/enrol/confirm")]
pub async fn enrol_confirm(code: String) -> Result<RecoveryCodes, AppError> {
    let session = any_session().ok_or(AppError::Unauthenticated)?;
    let (token, codes) = auth::confirm_enrolment(&portal(), &session, &code, &client_info())
        .await
        .map_err(to_app_error)?;
    set_session_cookie(&token, session.frame_ancestors.is_some());
    Ok(codes)
}

/// Any session: ends it. Returns where the browser goes next: the provider's single logout
/// when the session came from single sign-on, else none (the login page).
#[server(prefix = "/api", endpoint = "auth/logout")]
pub async fn logout() -> Result<Option<String>, AppError> {
    let mut next = None;
    if let Some(session) = any_session() {
        let portal = portal();
        next = identity::login::logout_url(&portal, &session)
            .await
            .map_err(to_app_error)?;
        auth::sign_out(&portal, &session, &client_info())
            .await
            .map_err(to_app_error)?;
    }
    clear_session_cookie();
    Ok(next)
}

/// Signed in (ManageOwnAccount): "Disable Login with KaseyaOne" — removes the user's own link
/// to a provider whose username differs from theirs.
#[server(prefix = "/api", endpoint = "account/sso/unlink")]
pub async fn remove_sso_link(provider: model::sso::SsoKind) -> Result<(), AppError> {
    let session = authorize(Action::ManageOwnAccount)?;
    identity::login::remove_mismatched_link(&portal(), &session, provider, &client_info())
        .await
        .map_err(to_app_error)
}

/// Public: the signed-in user, if any.
#[server(prefix = "/api", endpoint = "auth/whoami")]
pub async fn whoami() -> Result<Option<SessionView>, AppError> {
    let Ok(session) = signed_in() else { return Ok(None) };
    let sso_mismatches = identity::login::mismatches(&mut *conn().await?, &session)
        .await
        .map_err(to_app_error)?;
    Ok(Some(session).map(|s| SessionView {
        sso_mismatches,
        user_id: s.user_id,
        email: s.email,
        role: s.role,
        homerealm: s.homerealm,
        instance_name: s.instance_name,
        dark_theme: s.dark_theme,
    }))
}

/// Signed in (ManageOwnAccount): the dark-theme preference.
#[server(prefix = "/api", endpoint = "account/theme")]
pub async fn set_theme(dark: bool) -> Result<(), AppError> {
    let session = authorize(Action::ManageOwnAccount)?;
    auth::set_dark_theme(&portal(), &session, dark, &client_info())
        .await
        .map_err(to_app_error)
}

/// Public: e-mails a reset link if the pair matches; always answers the same.
#[server(prefix = "/api", endpoint = "auth/forgot-password")]
pub async fn forgot_password(homerealm: String, email: String) -> Result<(), AppError> {
    auth::request_password_reset(&portal(), &homerealm, &email, &client_info())
        .await
        .map_err(to_app_error)
}

#[cfg(feature = "ssr")]
fn token_purpose(purpose: LinkPurpose) -> domain::tokens::Purpose {
    match purpose {
        LinkPurpose::Activation => domain::tokens::Purpose::Activation,
        LinkPurpose::PasswordReset => domain::tokens::Purpose::PasswordReset,
    }
}

/// Public (the token is the credential): whether a reset or activation link still works.
#[server(prefix = "/api", endpoint = "auth/link-status")]
pub async fn link_status(purpose: LinkPurpose, token: String) -> Result<(), AppError> {
    auth::check_link(&portal(), token_purpose(purpose), &token)
        .await
        .map_err(to_app_error)
}

/// Public (the token is the credential): sets a password from a reset or activation link.
#[server(prefix = "/api", endpoint = "auth/set-password")]
pub async fn set_password_from_link(
    purpose: LinkPurpose,
    token: String,
    password: String,
    confirm: String,
) -> Result<(), AppError> {
    let purpose = match purpose {
        LinkPurpose::Activation => domain::tokens::Purpose::Activation,
        LinkPurpose::PasswordReset => domain::tokens::Purpose::PasswordReset,
    };
    auth::set_password_from_link(&portal(), purpose, &token, &password, &confirm, &client_info())
        .await
        .map_err(to_app_error)
}

/// Public (the token is the credential): whether first-run setup can proceed with this token.
#[server(prefix = "/api", endpoint = "setup/status")]
pub async fn setup_status(token: String) -> Result<(), AppError> {
    domain::setup::check_setup_token(&portal(), &token)
        .await
        .map_err(to_app_error)
}

/// Public (the token is the credential): creates the first instance and its Superuser.
#[server(prefix = "/api", endpoint = "setup/complete")]
pub async fn setup_complete(
    token: String,
    homerealm: String,
    display_name: String,
    email: String,
    password: String,
    confirm: String,
) -> Result<LoginStep, AppError> {
    let form = domain::setup::FirstInstance {
        homerealm,
        display_name,
        email: email.clone(),
        password,
        confirm,
    };
    let session = domain::setup::complete_first_run(&portal(), &token, &form, &client_info())
        .await
        .map_err(to_app_error)?;
    set_session_cookie(&session, false);
    Ok(LoginStep::EnrolTotp { email })
}
