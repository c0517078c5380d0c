//! Signing in through a provider: the login page's buttons and modes, the start (state, nonce
//! and PKCE kept server-side, tied to the browser by a cookie), the callback (one use per state,
//! the instance's address rules, the provider's verified identity linked to a portal user by
//! subject, first matched by e-mail, or created), the gate on local logins while sign-on is
//! required, and single logout.

use domain::auth::sign_in_verified;
use domain::secrets::{random_token, token_hash};
use domain::sessions::{Session, SsoOrigin};
use domain::users::{self, NewUser, User, UserStatus};
use domain::{ClientInfo, DomainResult, Portal, audit, instances, ip_restrictions};
use model::AppError;
use model::auth::LoginStep;
use model::sso::{SecondFactorSource, SsoButton, SsoFailure, SsoKind, SsoMismatch, SsoMode};
use sqlx::AnyConnection;

use crate::provider::{self, ProviderConfig, ProviderError, VerifiedIdentity};
use crate::store::{self, PendingSignIn, StoredProvider};

/// How long a started sign-in waits for the provider's answer.
pub const SIGN_IN_LIFETIME_MS: i64 = 10 * 60 * 1000;
/// The path the provider sends the browser back to (GET or form POST).
pub const CALLBACK_PATH: &str = "/sso/callback";
/// The path that starts a sign-in: `?homerealm=…&provider=kaseyaone|oidc`.
pub const START_PATH: &str = "/sso/start";

pub fn redirect_uri(public_url: &str) -> String {
    format!("{}{CALLBACK_PATH}", public_url.trim_end_matches('/'))
}

/// Where the provider sends the browser after single logout (the login page).
pub fn post_logout_uri(public_url: &str) -> String {
    format!("{}/login", public_url.trim_end_matches('/'))
}

/// The login page that still offers the local form while sign-on is required.
pub fn bypass_url(public_url: &str, homerealm: &str) -> String {
    format!(
        "{}/login?homerealm={homerealm}&bypass=1",
        public_url.trim_end_matches('/')
    )
}

pub(crate) fn config_of(portal: &Portal, provider: &StoredProvider) -> DomainResult<ProviderConfig> {
    let client_secret = match &provider.sealed_secret {
        Some(sealed) => Some(portal.vault.open(sealed)?),
        None => None,
    };
    Ok(ProviderConfig {
        issuer: provider.issuer.clone(),
        client_id: provider.client_id.clone(),
        client_secret,
        form_post: provider.kind == SsoKind::KaseyaOne,
    })
}

fn button(provider: &StoredProvider, homerealm: &str) -> SsoButton {
    SsoButton {
        kind: provider.kind,
        label: format!("Log in with {}", label_of(provider.kind)),
        start_url: format!(
            "{START_PATH}?homerealm={homerealm}&provider={}",
            provider.kind.as_str()
        ),
    }
}

fn label_of(kind: SsoKind) -> &'static str {
    match kind {
        SsoKind::KaseyaOne => "KaseyaOne",
        SsoKind::OpenIdConnect => "single sign-on",
    }
}

/// Fills the credentials step with the instance's providers: their buttons, and the one the
/// page must go straight to when sign-on is required (unless the bypass link was used).
pub async fn with_providers(
    conn: &mut AnyConnection,
    step: LoginStep,
    bypass: bool,
) -> DomainResult<LoginStep> {
    let LoginStep::Credentials { homerealm, .. } = step else {
        return Ok(step);
    };
    let Some(instance) = instances::find_by_homerealm(conn, &homerealm).await? else {
        return Ok(LoginStep::Credentials {
            homerealm,
            providers: Vec::new(),
            required: None,
        });
    };
    let enabled: Vec<StoredProvider> = store::providers(conn, instance.id)
        .await?
        .into_iter()
        .filter(|p| p.mode != SsoMode::Disabled)
        .collect();
    let required = enabled
        .iter()
        .find(|p| p.mode == SsoMode::Required && !bypass)
        .map(|p| button(p, &instance.homerealm));
    Ok(LoginStep::Credentials {
        providers: enabled.iter().map(|p| button(p, &instance.homerealm)).collect(),
        required,
        homerealm,
    })
}

/// Refuses a password login while the instance requires sign-on, unless the user is one of the
/// provider's exceptions. Says the same for unknown addresses as for known ones.
pub async fn check_local_login(conn: &mut AnyConnection, homerealm: &str, email: &str) -> DomainResult<()> {
    let Some(instance) = instances::find_by_homerealm(conn, homerealm).await? else {
        return Ok(());
    };
    let required = store::providers(conn, instance.id)
        .await?
        .into_iter()
        .find(|p| p.mode == SsoMode::Required);
    let Some(provider) = required else { return Ok(()) };
    let user = users::find_by_email(conn, instance.id, email).await?;
    match user {
        Some(user) if store::is_exception(conn, provider.id, user.id).await? => Ok(()),
        _ => Err(AppError::invalid(
            "password",
            format!(
                "This instance signs in with {}. Use “Log in with {}”; only users an administrator exempted may log in with a password.",
                label_of(provider.kind),
                label_of(provider.kind)
            ),
        )
        .into()),
    }
}

/// A started sign-in: the provider URL to send the browser to and the cookie value that ties
/// the answer to this browser.
#[derive(Debug, Clone)]
pub struct Started {
    pub redirect_to: String,
    pub browser_token: String,
}

/// Starts a sign-in for the instance of `homerealm` with its provider of `kind`.
pub async fn begin(
    portal: &Portal,
    homerealm: &str,
    kind: SsoKind,
    client: &ClientInfo,
) -> Result<Started, SsoFailure> {
    let mut conn = portal
        .db
        .pool
        .acquire()
        .await
        .map_err(|_| SsoFailure::Unreachable)?;
    let instance = instances::find_by_homerealm(&mut conn, homerealm)
        .await
        .ok()
        .flatten()
        .ok_or(SsoFailure::Off)?;
    allowed_from(&mut conn, instance.id, client).await?;
    let provider = store::provider(&mut conn, instance.id, kind)
        .await
        .ok()
        .flatten()
        .filter(|p| p.mode != SsoMode::Disabled)
        .ok_or(SsoFailure::Off)?;
    let config = config_of(portal, &provider).map_err(|_| SsoFailure::Unreachable)?;
    let authorization = provider::authorize(&config, &redirect_uri(&portal.public_url))
        .await
        .map_err(|e| {
            tracing::warn!(provider = provider.id, error = %e, "single sign-on could not start");
            SsoFailure::Unreachable
        })?;
    let browser_token = random_token();
    let pending = PendingSignIn {
        provider_id: provider.id,
        browser_hash: token_hash(&browser_token),
        nonce: authorization.nonce,
        pkce_verifier: authorization.pkce_verifier,
        expires_at: portal.now() + SIGN_IN_LIFETIME_MS,
    };
    store::insert_request(&mut conn, &token_hash(&authorization.state), &pending)
        .await
        .map_err(|_| SsoFailure::Unreachable)?;
    Ok(Started {
        redirect_to: authorization.url,
        browser_token,
    })
}

async fn allowed_from(
    conn: &mut AnyConnection,
    instance_id: i64,
    client: &ClientInfo,
) -> Result<(), SsoFailure> {
    let list = ip_restrictions::allow_list_of(conn, instance_id)
        .await
        .map_err(|_| SsoFailure::Unreachable)?;
    if ip_restrictions::allows(list.as_deref(), client.ip.as_deref()) {
        Ok(())
    } else {
        Err(SsoFailure::NotAllowed)
    }
}

/// What the provider sent back to the callback.
#[derive(Debug, Clone, Default)]
pub struct Callback {
    pub state: Option<String>,
    pub code: Option<String>,
    pub error: Option<String>,
    /// The cookie the start set in this browser.
    pub browser_token: Option<String>,
}

/// A finished sign-in: the session's token, the step the login page continues at, and the
/// instance (for the cookie's attributes and the login page it returns to).
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub token: String,
    pub step: LoginStep,
    pub homerealm: String,
}

/// A refused sign-in, with the instance's homerealm where it is known (to return the user to
/// its login page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub failure: SsoFailure,
    pub homerealm: Option<String>,
}

/// Completes a sign-in from the provider's answer.
pub async fn finish(portal: &Portal, callback: &Callback, client: &ClientInfo) -> Result<SignedIn, Refused> {
    let refuse = |failure| Refused {
        failure,
        homerealm: None,
    };
    let now = portal.now();
    let mut conn = portal
        .db
        .pool
        .acquire()
        .await
        .map_err(|_| refuse(SsoFailure::Unreachable))?;
    let state = callback.state.as_deref().ok_or(refuse(SsoFailure::Expired))?;
    let pending = store::take_request(&mut conn, &token_hash(state), now)
        .await
        .ok()
        .flatten()
        .ok_or(refuse(SsoFailure::Expired))?;
    let provider = store::provider_by_id(&mut conn, pending.provider_id)
        .await
        .ok()
        .flatten()
        .filter(|p| p.mode != SsoMode::Disabled)
        .ok_or(refuse(SsoFailure::Off))?;
    let instance = instances::get(&mut conn, provider.instance_id)
        .await
        .map_err(|_| refuse(SsoFailure::Off))?;
    drop(conn);
    let homerealm = instance.homerealm.clone();
    let outcome = verified_sign_in(portal, (&provider, &pending), callback, client).await;
    let mut conn = portal
        .db
        .pool
        .acquire()
        .await
        .map_err(|_| refuse(SsoFailure::Unreachable))?;
    match outcome {
        Ok((token, step)) => Ok(SignedIn {
            token,
            step,
            homerealm,
        }),
        Err((failure, detail)) => {
            let reason: String = format!("{}: {detail}", failure.code())
                .chars()
                .take(300)
                .collect();
            let entry = audit::Entry {
                instance_id: Some(provider.instance_id),
                actor_user_id: None,
                actor: label_of(provider.kind),
                action: "login.sso_failure",
                target: label_of(provider.kind),
                before: None,
                after: Some(reason),
                client_ip: client.ip.as_deref(),
            };
            if let Err(e) = audit::record(&mut conn, entry, now).await {
                tracing::error!(error = %e, "could not audit a refused sign-in");
            }
            tracing::warn!(provider = provider.id, code = failure.code(), %detail, "single sign-on refused");
            Err(Refused {
                failure,
                homerealm: Some(homerealm),
            })
        }
    }
}

type Failure = (SsoFailure, String);

async fn verified_sign_in(
    portal: &Portal,
    (provider, pending): (&StoredProvider, &PendingSignIn),
    callback: &Callback,
    client: &ClientInfo,
) -> Result<(String, LoginStep), Failure> {
    let same_browser = callback
        .browser_token
        .as_deref()
        .is_some_and(|t| token_hash(t) == pending.browser_hash);
    if !same_browser {
        return Err((
            SsoFailure::OtherBrowser,
            "the browser cookie is missing or differs".into(),
        ));
    }
    let mut conn = portal.db.pool.acquire().await.map_err(internal)?;
    allowed_from(&mut conn, provider.instance_id, client)
        .await
        .map_err(|f| {
            (
                f,
                format!("address {}", client.ip.as_deref().unwrap_or("unknown")),
            )
        })?;
    drop(conn);
    if let Some(error) = &callback.error {
        return Err((SsoFailure::ProviderDenied, error.chars().take(100).collect()));
    }
    let code = callback
        .code
        .as_deref()
        .ok_or((SsoFailure::ProviderDenied, "no code".to_owned()))?;
    let config = config_of(portal, provider).map_err(internal)?;
    let identity = provider::exchange(
        &config,
        &redirect_uri(&portal.public_url),
        (code, &pending.pkce_verifier, &pending.nonce),
        portal.now(),
    )
    .await
    .map_err(|e| match e {
        ProviderError::BadToken(_) => (SsoFailure::BadToken, e.to_string()),
        _ => (SsoFailure::Unreachable, e.to_string()),
    })?;
    let mut tx = portal.db.begin().await.map_err(internal)?;
    let user = linked_user(&mut tx, portal, provider, &identity, client).await?;
    let second_factor_done = match provider.second_factor {
        SecondFactorSource::Provider => true,
        SecondFactorSource::Portal => false,
        SecondFactorSource::ProviderWhenAsserted => identity.second_factor,
    };
    let origin = SsoOrigin {
        provider_id: provider.id,
        id_token: identity.id_token.clone(),
    };
    let signed_in = sign_in_verified(&mut tx, portal, &user, (&origin, second_factor_done), client)
        .await
        .map_err(|e| (SsoFailure::Disabled, e.to_string()))?;
    tx.commit().await.map_err(internal)?;
    Ok(signed_in)
}

fn internal(error: impl std::fmt::Display) -> Failure {
    (SsoFailure::Unreachable, error.to_string())
}

/// The portal user of a verified identity: by its link, else by e-mail (then linked), else a
/// new user when the provider auto-creates them.
async fn linked_user(
    conn: &mut AnyConnection,
    portal: &Portal,
    provider: &StoredProvider,
    identity: &VerifiedIdentity,
    client: &ClientInfo,
) -> Result<User, Failure> {
    let now = portal.now();
    let username = identity.username.as_deref().map(users::normalize_email);
    if let Some(link) = store::link_by_subject(conn, provider.id, &identity.subject)
        .await
        .map_err(internal)?
    {
        let user = users::get(conn, link.user_id)
            .await
            .map_err(internal)?
            .ok_or_else(|| (SsoFailure::NoUser, "linked user gone".to_owned()))?;
        let seen_as = username.unwrap_or(link.provider_username);
        store::touch_link(conn, link.id, &seen_as, now)
            .await
            .map_err(internal)?;
        return Ok(user);
    }
    let email = match (username, identity.email_verified) {
        (Some(email), true) => users::validate_email(&email).map_err(|_| {
            (
                SsoFailure::NoEmail,
                format!("the username {email} is not an e-mail address"),
            )
        })?,
        _ => return Err((SsoFailure::NoEmail, "no verified e-mail in the token".into())),
    };
    let user = match users::find_by_email(conn, provider.instance_id, &email)
        .await
        .map_err(internal)?
    {
        Some(user) => {
            if store::link_of_user(conn, provider.id, user.id)
                .await
                .map_err(internal)?
                .is_some()
            {
                return Err((
                    SsoFailure::LinkedElsewhere,
                    format!("{email} is linked to another subject"),
                ));
            }
            user
        }
        None if provider.auto_create => create_user(conn, provider, &email, client, now).await?,
        None => return Err((SsoFailure::NoUser, format!("no user {email}"))),
    };
    store::insert_link(conn, (provider.id, user.id), (&identity.subject, &email), now)
        .await
        .map_err(internal)?;
    record(conn, (provider, &user), "sso.linked", client, now).await?;
    Ok(user)
}

async fn create_user(
    conn: &mut AnyConnection,
    provider: &StoredProvider,
    email: &str,
    client: &ClientInfo,
    now: i64,
) -> Result<User, Failure> {
    let id = users::insert(
        conn,
        NewUser {
            instance_id: provider.instance_id,
            email,
            role: provider.default_role,
            status: UserStatus::Active,
            password_hash: None,
            global_scope: provider.default_all_scopes,
        },
        now,
    )
    .await
    .map_err(internal)?;
    if let Some(scope) = provider.default_scope_id.filter(|_| !provider.default_all_scopes) {
        users::set_scopes(conn, id, &[scope]).await.map_err(internal)?;
    }
    let user = users::get(conn, id)
        .await
        .map_err(internal)?
        .ok_or_else(|| internal("created user gone"))?;
    record(conn, (provider, &user), "user.created_by_sso", client, now).await?;
    Ok(user)
}

async fn record(
    conn: &mut AnyConnection,
    (provider, user): (&StoredProvider, &User),
    action: &str,
    client: &ClientInfo,
    now: i64,
) -> Result<(), Failure> {
    let entry = audit::Entry {
        instance_id: Some(provider.instance_id),
        actor_user_id: Some(user.id),
        actor: &user.email,
        action,
        target: &format!("user {} ({})", user.email, label_of(provider.kind)),
        before: None,
        after: None,
        client_ip: client.ip.as_deref(),
    };
    audit::record(conn, entry, now).await.map_err(internal)
}

/// Where the browser goes after signing out of a session that came from a provider, to end the
/// provider's session too (none: the provider offers no single logout, or the session did not
/// come from one).
pub async fn logout_url(portal: &Portal, session: &Session) -> DomainResult<Option<String>> {
    let mut conn = portal.db.pool.acquire().await?;
    let Some(origin) = domain::sessions::sso_origin(&mut conn, &session.id_hash).await? else {
        return Ok(None);
    };
    let Some(provider) = store::provider_by_id(&mut conn, origin.provider_id).await? else {
        return Ok(None);
    };
    drop(conn);
    let config = config_of(portal, &provider)?;
    Ok(provider::logout_url(&config, &origin.id_token, &post_logout_uri(&portal.public_url)).await)
}

/// The user's links whose provider username differs from the portal's (the warning banner).
pub async fn mismatches(conn: &mut AnyConnection, session: &Session) -> DomainResult<Vec<SsoMismatch>> {
    Ok(store::links_of_user(conn, session.user_id)
        .await?
        .into_iter()
        .filter(|(link, _)| users::normalize_email(&link.provider_username) != session.email)
        .filter_map(|(link, kind)| {
            Some(SsoMismatch {
                kind: SsoKind::parse(&kind)?,
                provider_username: link.provider_username,
            })
        })
        .collect())
}

/// "Disable Login with KaseyaOne": the signed-in user removes their own mismatched link, so the
/// next sign-in creates a name-matched one.
pub async fn remove_mismatched_link(
    portal: &Portal,
    session: &Session,
    kind: SsoKind,
    client: &ClientInfo,
) -> DomainResult<()> {
    let mut tx = portal.db.begin().await?;
    let provider = store::provider(&mut tx, session.instance_id, kind)
        .await?
        .ok_or_else(store::unknown_kind)?;
    let link = store::link_of_user(&mut tx, provider.id, session.user_id)
        .await?
        .filter(|l| users::normalize_email(&l.provider_username) != session.email)
        .ok_or_else(|| {
            AppError::conflict("Your login with this provider is not mismatched; nothing was removed.")
        })?;
    store::delete_link(&mut tx, link.id).await?;
    let viewer = domain::access::Viewer::of(session);
    let target = format!("user {}", session.email);
    let entry = audit::Entry::by(&viewer, client, "sso.link_removed", &target).before(link.provider_username);
    audit::record(&mut tx, entry, portal.now()).await?;
    tx.commit().await?;
    Ok(())
}
