//! Settings → Integrations → KaseyaOne / OpenID Connect (Superusers): the provider's issuer and
//! client (discovery tested before saving; the secret sealed and never shown again), the login
//! mode with its exceptions, automatic creation of users, and whether the provider's login
//! counts as the second factor. Reset removes the provider and its links, and disables the
//! users who could only sign in through it.

use domain::access::Viewer;
use domain::audit::{self, Entry};
use domain::users::{self, UserStatus};
use domain::{ClientInfo, DomainResult, Portal, sessions};
use model::sso::{SsoForm, SsoKind, SsoMode, SsoSettings, SsoUser};
use model::{Action, AppError, Role};
use sqlx::AnyConnection;

use crate::login::{bypass_url, post_logout_uri, redirect_uri};
use crate::provider;
use crate::store::{self, ProviderWrite, StoredProvider};

/// The instance's provider of `kind`, if it has one.
pub async fn view(portal: &Portal, viewer: &Viewer, kind: SsoKind) -> DomainResult<Option<SsoSettings>> {
    viewer.require(Action::ManageSecurity)?;
    let mut conn = portal.db.pool.acquire().await?;
    match store::provider(&mut conn, viewer.instance_id, kind).await? {
        Some(provider) => Ok(Some(settings_of(&mut conn, portal, viewer, &provider).await?)),
        None => Ok(None),
    }
}

async fn settings_of(
    conn: &mut AnyConnection,
    portal: &Portal,
    viewer: &Viewer,
    provider: &StoredProvider,
) -> DomainResult<SsoSettings> {
    let homerealm = domain::instances::get(conn, viewer.instance_id).await?.homerealm;
    let exceptions = store::exceptions(conn, provider.id)
        .await?
        .into_iter()
        .map(|(id, email)| SsoUser { id, email })
        .collect();
    Ok(SsoSettings {
        kind: provider.kind,
        issuer: provider.issuer.clone(),
        client_id: provider.client_id.clone(),
        has_client_secret: provider.sealed_secret.is_some(),
        mode: provider.mode,
        auto_create: provider.auto_create,
        default_role: provider.default_role,
        all_organizations: provider.default_all_scopes,
        default_scope_id: provider.default_scope_id,
        second_factor: provider.second_factor,
        exceptions,
        linked_users: store::count_links(conn, provider.id).await?,
        redirect_uri: redirect_uri(&portal.public_url),
        post_logout_uri: post_logout_uri(&portal.public_url),
        bypass_url: bypass_url(&portal.public_url, &homerealm),
        updated_by: provider.updated_by.clone(),
        updated_at: provider.updated_at,
    })
}

/// Checks the form against the instance: the scope and the exceptions are its own, an
/// auto-created user is never a Superuser, and only one provider is required at a time.
async fn check_form(
    conn: &mut AnyConnection,
    viewer: &Viewer,
    kind: SsoKind,
    form: &SsoForm,
) -> DomainResult<Vec<i64>> {
    form.validate()?;
    if form.auto_create && form.default_role == Role::Superuser {
        return Err(AppError::invalid(
            "default_role",
            "Users created at sign-in cannot be Superusers: choose Administrator or a lesser role.",
        )
        .into());
    }
    if form.auto_create && !form.all_organizations && form.default_scope_id.is_none() {
        return Err(AppError::invalid(
            "default_scope_id",
            "Choose the scope users created at sign-in get (or All organizations).",
        )
        .into());
    }
    if let Some(scope) = form.default_scope_id.filter(|_| !form.all_organizations) {
        domain::scopes::get(conn, viewer, scope)
            .await
            .map_err(|_| AppError::invalid("default_scope_id", "Choose one of this instance's scopes."))?;
    }
    if form.mode == SsoMode::Required {
        let other_required = store::providers(conn, viewer.instance_id)
            .await?
            .into_iter()
            .any(|p| p.kind != kind && p.mode == SsoMode::Required);
        if other_required {
            return Err(AppError::invalid(
                "mode",
                "Another provider is already required; make it optional before requiring this one.",
            )
            .into());
        }
    }
    exception_ids(conn, viewer.instance_id, form).await
}

/// The users the form names as exceptions, each a user of the instance.
async fn exception_ids(conn: &mut AnyConnection, instance_id: i64, form: &SsoForm) -> DomainResult<Vec<i64>> {
    let mut ids = Vec::new();
    for email in form.exception_emails() {
        match users::find_by_email(conn, instance_id, &email).await? {
            Some(user) => ids.push(user.id),
            None => {
                return Err(AppError::invalid(
                    "exceptions",
                    format!("No user of this instance has the e-mail {email}."),
                )
                .into());
            }
        }
    }
    Ok(ids)
}

/// Refuses to require sign-on while the Superuser saving it could not sign in afterwards:
/// neither linked to the provider yet nor listed as an exception.
async fn check_not_locking_out(
    conn: &mut AnyConnection,
    viewer: &Viewer,
    existing: Option<&StoredProvider>,
    (form, exceptions): (&SsoForm, &[i64]),
) -> DomainResult<()> {
    if form.mode != SsoMode::Required || exceptions.contains(&viewer.user_id) {
        return Ok(());
    }
    let linked = match existing {
        Some(p) => store::link_of_user(conn, p.id, viewer.user_id).await?.is_some(),
        None => false,
    };
    if linked {
        return Ok(());
    }
    Err(AppError::invalid(
        "mode",
        "Sign in through this provider once (or list yourself as an exception) before requiring it: otherwise you could lock yourself out.",
    )
    .into())
}

/// Tests the provider's discovery and saves the settings.
pub async fn save(
    portal: &Portal,
    viewer: &Viewer,
    kind: SsoKind,
    form: &SsoForm,
    client: &ClientInfo,
) -> DomainResult<SsoSettings> {
    viewer.require(Action::ManageSecurity)?;
    let mut conn = portal.db.pool.acquire().await?;
    let exceptions = check_form(&mut conn, viewer, kind, form).await?;
    let existing = store::provider(&mut conn, viewer.instance_id, kind).await?;
    check_not_locking_out(&mut conn, viewer, existing.as_ref(), (form, &exceptions)).await?;
    drop(conn);
    let issuer = form.issuer.trim().trim_end_matches('/').to_owned();
    provider::discover(&issuer, true)
        .await
        .map_err(|e| AppError::invalid("issuer", e.to_string()))?;
    let sealed_secret = match form.client_secret.as_deref().map(str::trim) {
        Some(secret) if !secret.is_empty() => Some(portal.vault.seal(secret)),
        _ => existing.as_ref().and_then(|p| p.sealed_secret.clone()),
    };
    let mut tx = portal.db.begin().await?;
    let write = ProviderWrite {
        instance_id: viewer.instance_id,
        kind,
        issuer: &issuer,
        client_id: form.client_id.trim(),
        sealed_secret: sealed_secret.as_deref(),
        mode: form.mode,
        auto_create: form.auto_create,
        default_role: form.default_role,
        default_all_scopes: form.all_organizations,
        default_scope_id: form.default_scope_id.filter(|_| !form.all_organizations),
        second_factor: form.second_factor,
        updated_by: &viewer.email,
    };
    let id = store::upsert_provider(&mut tx, &write, portal.now()).await?;
    store::replace_exceptions(&mut tx, id, &exceptions).await?;
    let before = existing.as_ref().map(summary);
    let saved = store::provider_by_id(&mut tx, id)
        .await?
        .ok_or_else(|| AppError::conflict("The provider was removed meanwhile."))?;
    let mut entry = Entry::by(viewer, client, "sso.settings_changed", kind.label()).after(summary(&saved));
    if let Some(before) = before {
        entry = entry.before(before);
    }
    audit::record(&mut tx, entry, portal.now()).await?;
    let settings = settings_of(&mut tx, portal, viewer, &saved).await?;
    tx.commit().await?;
    Ok(settings)
}

/// One line for the audit: what changed, never the secret.
fn summary(p: &StoredProvider) -> String {
    format!(
        "issuer {}, client {}, mode {}, auto-create {} as {} ({}), second factor {}",
        p.issuer,
        p.client_id,
        p.mode.as_str(),
        if p.auto_create { "on" } else { "off" },
        p.default_role.as_str(),
        match (p.default_all_scopes, p.default_scope_id) {
            (true, _) => "all organizations".to_owned(),
            (false, Some(scope)) => format!("scope {scope}"),
            (false, None) => "no organizations".to_owned(),
        },
        p.second_factor.as_str(),
    )
}

/// Removes the provider and every link to it; users who have no password (they could only sign
/// in through it) are disabled and signed out, users with local credentials stay as they are.
/// Returns how many users were disabled.
pub async fn reset(
    portal: &Portal,
    viewer: &Viewer,
    kind: SsoKind,
    client: &ClientInfo,
) -> DomainResult<i64> {
    viewer.require(Action::ManageSecurity)?;
    let mut tx = portal.db.begin().await?;
    let provider = store::provider(&mut tx, viewer.instance_id, kind)
        .await?
        .ok_or_else(|| {
            AppError::conflict(format!(
                "{} is not set up; there is nothing to reset.",
                kind.label()
            ))
        })?;
    let linked: Vec<(i64, Option<String>)> = sqlx::query_as(
        "SELECT u.id, u.password_hash FROM sso_links l JOIN users u ON u.id = l.user_id WHERE l.provider_id = $1",
    )
    .bind(provider.id)
    .fetch_all(&mut *tx)
    .await?;
    let mut disabled = 0;
    for (user_id, password) in linked {
        if password.is_none() && user_id != viewer.user_id {
            users::set_status(&mut tx, user_id, UserStatus::Disabled).await?;
            sessions::delete_all_for_user(&mut tx, user_id).await?;
            disabled += 1;
        }
    }
    store::delete_provider(&mut tx, provider.id).await?;
    let entry = Entry::by(viewer, client, "sso.reset", kind.label())
        .before(summary(&provider))
        .after(format!("{disabled} user(s) without a password disabled"));
    audit::record(&mut tx, entry, portal.now()).await?;
    tx.commit().await?;
    Ok(disabled)
}
