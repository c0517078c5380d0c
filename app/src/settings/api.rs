//! Server functions of Settings → Scopes, Users, Audit log, Outbox, API Access, Webhooks and
//! Integrations.

use leptos::prelude::*;
use model::api_access::{ApiCredential, NewApiCredential};
use model::auth::OutboxView;
use model::itglue::{ItGlueOrganizationPage, ItGlueSettings, SyncReport};
use model::lists::UsersQuery;
use model::security::{IpRestrictions, IpRule};
use model::tenancy::{AuditQuery, AuditRecord, Page, UserSummary};
use model::webhooks::{NewWebhookEndpoint, WebhookDelivery, WebhookEndpoint, WebhookEvent};
use model::{AppError, Role};
#[cfg(feature = "ssr")]
use {crate::server::*, model::Action, model::tenancy::UserAccess};

/// Signed in (ManageScopes): a new scope.
#[server(prefix = "/api", endpoint = "scopes/create")]
pub async fn create_scope(name: String) -> Result<(), AppError> {
    let viewer = viewer(Action::ManageScopes)?;
    domain::scopes::create(&portal(), &viewer, &name, &client_info())
        .await
        .map(|_| ())
        .map_err(to_app_error)
}

/// Signed in (ManageScopes): rename a scope.
#[server(prefix = "/api", endpoint = "scopes/rename")]
pub async fn rename_scope(id: i64, name: String) -> Result<(), AppError> {
    let viewer = viewer(Action::ManageScopes)?;
    domain::scopes::rename(&portal(), &viewer, id, &name, &client_info())
        .await
        .map_err(to_app_error)
}

/// Signed in (ManageScopes): delete a scope nobody uses.
#[server(prefix = "/api", endpoint = "scopes/delete")]
pub async fn delete_scope(id: i64) -> Result<(), AppError> {
    let viewer = viewer(Action::ManageScopes)?;
    domain::scopes::delete(&portal(), &viewer, id, &client_info())
        .await
        .map_err(to_app_error)
}

/// Signed in (ManageUsers): the users the viewer may see.
#[server(prefix = "/api", endpoint = "users/list")]
pub async fn list_users(#[server(default)] query: UsersQuery) -> Result<Page<UserSummary>, AppError> {
    let viewer = viewer(Action::ManageUsers)?;
    let per_page = query.page_size()?;
    let order = (query.sort, query.descending);
    domain::user_admin::page(&mut *conn().await?, &viewer, order, query.page, per_page)
        .await
        .map_err(to_app_error)
}

/// Signed in (ManageUsers; Superuser role needs ManageSuperusers): invite a user.
#[server(prefix = "/api", endpoint = "users/invite")]
pub async fn invite_user(
    email: String,
    role: Role,
    global_scope: Option<bool>,
    scope_ids: Option<Vec<i64>>,
) -> Result<(), AppError> {
    let viewer = viewer(Action::ManageUsers)?;
    let access = user_access(role, global_scope, scope_ids);
    domain::user_admin::invite(&portal(), &viewer, &email, &access, &client_info())
        .await
        .map(|_| ())
        .map_err(to_app_error)
}

/// Signed in (ManageUsers): change role and scopes.
#[server(prefix = "/api", endpoint = "users/access")]
pub async fn update_user_access(
    id: i64,
    role: Role,
    global_scope: Option<bool>,
    scope_ids: Option<Vec<i64>>,
) -> Result<(), AppError> {
    let viewer = viewer(Action::ManageUsers)?;
    let access = user_access(role, global_scope, scope_ids);
    domain::user_admin::update_access(&portal(), &viewer, id, &access, &client_info())
        .await
        .map_err(to_app_error)
}

/// Signed in (ManageUsers): disable (ends sessions) or enable.
#[server(prefix = "/api", endpoint = "users/enabled")]
pub async fn set_user_enabled(id: i64, enabled: bool) -> Result<(), AppError> {
    let viewer = viewer(Action::ManageUsers)?;
    domain::user_admin::set_enabled(&portal(), &viewer, id, enabled, &client_info())
        .await
        .map_err(to_app_error)
}

/// Signed in (ManageUsers): wipe the user's 2FA enrolment.
#[server(prefix = "/api", endpoint = "users/reset-2fa")]
pub async fn reset_user_2fa(id: i64) -> Result<(), AppError> {
    let viewer = viewer(Action::ManageUsers)?;
    domain::user_admin::reset_second_factor(&portal(), &viewer, id, &client_info())
        .await
        .map_err(to_app_error)
}

/// Signed in (ManageUsers): set a new password for the user.
#[server(prefix = "/api", endpoint = "users/password")]
pub async fn set_user_password(id: i64, password: String, confirm: String) -> Result<(), AppError> {
    let viewer = viewer(Action::ManageUsers)?;
    domain::user_admin::set_password(&portal(), &viewer, id, &password, &confirm, &client_info())
        .await
        .map_err(to_app_error)
}

/// Signed in (ManageUsers): a fresh 48-hour activation e-mail.
#[server(prefix = "/api", endpoint = "users/resend-activation")]
pub async fn resend_activation(id: i64) -> Result<(), AppError> {
    let viewer = viewer(Action::ManageUsers)?;
    domain::user_admin::resend_activation(&portal(), &viewer, id, &client_info())
        .await
        .map_err(to_app_error)
}

/// The role and scopes of the user form (an unticked checkbox sends nothing).
#[cfg(feature = "ssr")]
fn user_access(role: Role, global_scope: Option<bool>, scope_ids: Option<Vec<i64>>) -> UserAccess {
    UserAccess {
        role,
        global_scope: global_scope.unwrap_or(false),
        scope_ids: scope_ids.unwrap_or_default(),
    }
}

/// Signed in (ReadAuditLog): the newest 500 records matching the filter.
#[server(prefix = "/api", endpoint = "audit/search")]
pub async fn search_audit(
    actor: Option<String>,
    action: Option<String>,
    from: Option<String>,
    until: Option<String>,
) -> Result<Vec<AuditRecord>, AppError> {
    let viewer = viewer(Action::ReadAuditLog)?;
    let query = audit_query(actor, action, from.as_deref(), until.as_deref())?;
    domain::audit::search(&mut *conn().await?, &viewer, &query, 500)
        .await
        .map_err(to_app_error)
}

/// Turns the page's filter (dates as YYYY-MM-DD, UTC, both inclusive) into a query.
pub fn audit_query(
    actor: Option<String>,
    action: Option<String>,
    from: Option<&str>,
    until: Option<&str>,
) -> Result<AuditQuery, AppError> {
    let day = |field: &str, text: Option<&str>, next: bool| -> Result<Option<i64>, AppError> {
        match text.map(str::trim).filter(|t| !t.is_empty()) {
            None => Ok(None),
            Some(t) => chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d")
                .ok()
                .and_then(|d| if next { d.succ_opt() } else { Some(d) })
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| Some(t.and_utc().timestamp_millis()))
                .ok_or_else(|| AppError::invalid(field, "Enter the date as YYYY-MM-DD.")),
        }
    };
    Ok(AuditQuery {
        actor: actor.unwrap_or_default(),
        action: action.unwrap_or_default(),
        from: day("from", from, false)?,
        until: day("until", until, true)?,
    })
}

/// Superuser: the newest mails of this instance. With no SMTP configured this is where
/// password-reset and activation links can be read.
#[server(prefix = "/api", endpoint = "settings/outbox")]
pub async fn outbox_list() -> Result<OutboxView, AppError> {
    let session = authorize(model::Action::ReadOutbox)?;
    let portal = portal();
    let mut conn = portal
        .db
        .pool
        .acquire()
        .await
        .map_err(|e| to_app_error(e.into()))?;
    let mails = domain::outbox::list(&mut conn, session.instance_id, 200)
        .await
        .map_err(to_app_error)?;
    Ok(OutboxView {
        smtp_configured: portal.smtp_configured,
        mails,
    })
}

/// Signed in (ViewApiAccess): the instance's API credentials, never a secret.
#[server(prefix = "/api", endpoint = "api-access/list")]
pub async fn list_api_credentials() -> Result<Vec<ApiCredential>, AppError> {
    let viewer = viewer(Action::ViewApiAccess)?;
    domain::api_access::list(&mut *conn().await?, &viewer)
        .await
        .map_err(to_app_error)
}

/// Signed in (ManageApiAccess): a new credential acting as the caller; its secret, this once.
#[server(prefix = "/api", endpoint = "api-access/create")]
pub async fn create_api_credential(name: String) -> Result<NewApiCredential, AppError> {
    let viewer = viewer(Action::ManageApiAccess)?;
    domain::api_access::create(&portal(), &viewer, &name, &client_info())
        .await
        .map_err(to_app_error)
}

/// Signed in (ManageApiAccess): disable or enable a credential.
#[server(prefix = "/api", endpoint = "api-access/enabled")]
pub async fn set_api_credential_enabled(id: i64, enabled: bool) -> Result<(), AppError> {
    let viewer = viewer(Action::ManageApiAccess)?;
    domain::api_access::set_enabled(&portal(), &viewer, id, enabled, &client_info())
        .await
        .map(|_| ())
        .map_err(to_app_error)
}

/// Signed in (ManageApiAccess): delete a credential; its tokens stop working at once.
#[server(prefix = "/api", endpoint = "api-access/delete")]
pub async fn delete_api_credential(id: i64) -> Result<(), AppError> {
    let viewer = viewer(Action::ManageApiAccess)?;
    domain::api_access::delete(&portal(), &viewer, id, &client_info())
        .await
        .map_err(to_app_error)
}

/// Signed in (ManageSecurity): the IP restrictions and the caller's own address.
#[server(prefix = "/api", endpoint = "security/ip")]
pub async fn ip_restriction_settings() -> Result<IpRestrictions, AppError> {
    let viewer = viewer(Action::ManageSecurity)?;
    domain::ip_restrictions::view(&mut *conn().await?, &viewer, &client_info())
        .await
        .map_err(to_app_error)
}

/// Signed in (ManageSecurity): adds allowed addresses.
#[server(prefix = "/api", endpoint = "security/ip/add")]
pub async fn add_ip_rule(description: Option<String>, entries: String) -> Result<IpRule, AppError> {
    let viewer = viewer(Action::ManageSecurity)?;
    let description = description.unwrap_or_default();
    domain::ip_restrictions::add_rule(&portal(), &viewer, &description, &entries, &client_info())
        .await
        .map_err(to_app_error)
}

/// Signed in (ManageSecurity): deletes a rule, unless that would lock the caller out.
#[server(prefix = "/api", endpoint = "security/ip/delete")]
pub async fn delete_ip_rule(id: i64) -> Result<(), AppError> {
    let viewer = viewer(Action::ManageSecurity)?;
    domain::ip_restrictions::delete_rule(&portal(), &viewer, id, &client_info())
        .await
        .map_err(to_app_error)
}

/// Signed in (ManageSecurity): turns the restrictions on (only with the caller's address on
/// the list) or off.
#[server(prefix = "/api", endpoint = "security/ip/enabled")]
pub async fn set_ip_restrictions(enabled: bool) -> Result<(), AppError> {
    let viewer = viewer(Action::ManageSecurity)?;
    domain::ip_restrictions::set_enabled(&portal(), &viewer, enabled, &client_info())
        .await
        .map_err(to_app_error)
}

/// Signed in (ManageSecurity): the origins allowed to show this instance in a frame.
#[server(prefix = "/api", endpoint = "security/embedding")]
pub async fn embedding_origins() -> Result<Vec<String>, AppError> {
    let viewer = viewer(Action::ManageSecurity)?;
    domain::embedding::view(&mut *conn().await?, &viewer)
        .await
        .map_err(to_app_error)
}

/// Signed in (ManageSecurity): replaces those origins (none: only the server's own list).
#[server(prefix = "/api", endpoint = "security/embedding/save")]
pub async fn save_embedding_origins(origins: Option<String>) -> Result<Vec<String>, AppError> {
    let viewer = viewer(Action::ManageSecurity)?;
    let origins = origins.unwrap_or_default();
    domain::embedding::save(&portal(), &viewer, &origins, &client_info())
        .await
        .map_err(to_app_error)
}

/// Signed in (ManageSecurity): the instance's single sign-on provider of that kind, if set up;
/// never its client secret.
#[server(prefix = "/api", endpoint = "sso/settings")]
pub async fn sso_settings(
    provider: model::sso::SsoKind,
) -> Result<Option<model::sso::SsoSettings>, AppError> {
    let viewer = viewer(Action::ManageSecurity)?;
    identity::settings::view(&portal(), &viewer, provider)
        .await
        .map_err(to_app_error)
}

/// Signed in (ManageSecurity): tests the provider's discovery and saves its settings.
#[server(prefix = "/api", endpoint = "sso/save")]
pub async fn save_sso(
    provider: model::sso::SsoKind,
    form: model::sso::SsoForm,
) -> Result<model::sso::SsoSettings, AppError> {
    let viewer = viewer(Action::ManageSecurity)?;
    identity::settings::save(&portal(), &viewer, provider, &form, &client_info())
        .await
        .map_err(to_app_error)
}

/// Signed in (ManageSecurity): removes the provider and its links; returns how many users
/// without a password were disabled.
#[server(prefix = "/api", endpoint = "sso/reset")]
pub async fn reset_sso(provider: model::sso::SsoKind, confirmation: String) -> Result<i64, AppError> {
    let viewer = viewer(Action::ManageSecurity)?;
    if confirmation.trim() != "DELETE" {
        return Err(AppError::invalid(
            "confirmation",
            "Type DELETE to reset single sign-on.",
        ));
    }
    identity::settings::reset(&portal(), &viewer, provider, &client_info())
        .await
        .map_err(to_app_error)
}

/// Signed in (ManageWebhooks): the instance's webhook endpoints, never a secret.
#[server(prefix = "/api", endpoint = "webhooks/list")]
pub async fn list_webhooks() -> Result<Vec<WebhookEndpoint>, AppError> {
    let viewer = viewer(Action::ManageWebhooks)?;
    domain::webhooks::list(&mut *conn().await?, &viewer)
        .await
        .map_err(to_app_error)
}

/// Signed in (ManageWebhooks): a new endpoint; its signing secret, this once.
#[server(prefix = "/api", endpoint = "webhooks/create")]
pub async fn create_webhook(
    url: String,
    events: Option<Vec<WebhookEvent>>,
    organization_id: Option<i64>,
) -> Result<NewWebhookEndpoint, AppError> {
    let viewer = viewer(Action::ManageWebhooks)?;
    let request = domain::webhooks::EndpointRequest {
        url,
        events: events.unwrap_or_default(),
        organization_id,
    };
    domain::webhooks::create(&portal(), &viewer, &request, &client_info())
        .await
        .map_err(to_app_error)
}

/// Signed in (ManageWebhooks): pause or resume an endpoint.
#[server(prefix = "/api", endpoint = "webhooks/enabled")]
pub async fn set_webhook_enabled(id: i64, enabled: bool) -> Result<(), AppError> {
    let viewer = viewer(Action::ManageWebhooks)?;
    domain::webhooks::set_enabled(&portal(), &viewer, id, enabled, &client_info())
        .await
        .map_err(to_app_error)
}

/// Signed in (ManageWebhooks): delete an endpoint and its log.
#[server(prefix = "/api", endpoint = "webhooks/delete")]
pub async fn delete_webhook(id: i64) -> Result<(), AppError> {
    let viewer = viewer(Action::ManageWebhooks)?;
    domain::webhooks::delete(&portal(), &viewer, id, &client_info())
        .await
        .map_err(to_app_error)
}

/// Signed in (ManageWebhooks): an endpoint's newest deliveries.
#[server(prefix = "/api", endpoint = "webhooks/deliveries")]
pub async fn webhook_deliveries(id: i64) -> Result<Vec<WebhookDelivery>, AppError> {
    let viewer = viewer(Action::ManageWebhooks)?;
    domain::webhooks::deliveries(&mut *conn().await?, &viewer, id)
        .await
        .map_err(to_app_error)
}

/// Signed in (ManageWebhooks): send a delivery again, with its message id.
#[server(prefix = "/api", endpoint = "webhooks/resend")]
pub async fn resend_webhook(id: i64) -> Result<(), AppError> {
    let viewer = viewer(Action::ManageWebhooks)?;
    domain::webhooks::resend(&portal(), &viewer, id, &client_info())
        .await
        .map_err(to_app_error)
}

/// Signed in (ManageIntegrations): the IT Glue integration, if any (never its key).
#[server(prefix = "/api", endpoint = "itglue/settings")]
pub async fn itglue_settings() -> Result<Option<ItGlueSettings>, AppError> {
    let viewer = viewer(Action::ManageIntegrations)?;
    integrations::itglue::service::settings(&mut *conn().await?, &viewer)
        .await
        .map_err(to_app_error)
}

/// Signed in (ManageIntegrations): test the key and store it (empty keeps the stored one).
#[server(prefix = "/api", endpoint = "itglue/integrate")]
pub async fn integrate_itglue(base_url: String, api_key: String) -> Result<ItGlueSettings, AppError> {
    let viewer = viewer(Action::ManageIntegrations)?;
    integrations::itglue::service::integrate(&portal(), &viewer, (&base_url, &api_key), &client_info())
        .await
        .map_err(to_app_error)
}

/// Signed in (ManageIntegrations): remove the integration and its links.
#[server(prefix = "/api", endpoint = "itglue/remove")]
pub async fn remove_itglue(confirmation: String) -> Result<(), AppError> {
    let viewer = viewer(Action::ManageIntegrations)?;
    if confirmation.trim() != "DELETE" {
        return Err(AppError::invalid(
            "confirmation",
            "Type DELETE to remove the integration.",
        ));
    }
    integrations::itglue::service::remove(&portal(), &viewer, &client_info())
        .await
        .map_err(to_app_error)
}

/// Signed in (ManageIntegrations): a page of IT Glue's organizations and their links.
#[server(prefix = "/api", endpoint = "itglue/organizations")]
pub async fn itglue_organizations(page: u32) -> Result<ItGlueOrganizationPage, AppError> {
    let viewer = viewer(Action::ManageIntegrations)?;
    integrations::itglue::service::organizations_page(&portal(), &viewer, page)
        .await
        .map_err(to_app_error)
}

/// Signed in (ManageIntegrations): import IT Glue organizations into a scope.
#[server(prefix = "/api", endpoint = "itglue/import")]
pub async fn import_itglue(itglue_ids: Option<Vec<i64>>, scope_id: Option<i64>) -> Result<u32, AppError> {
    let viewer = viewer(Action::ManageIntegrations)?;
    let ids = itglue_ids.unwrap_or_default();
    integrations::itglue::service::import(&portal(), &viewer, &ids, scope_id, &client_info())
        .await
        .map_err(to_app_error)
}

/// Signed in (ManageIntegrations): link an organization to an IT Glue organization, or unlink it.
#[server(prefix = "/api", endpoint = "itglue/link")]
pub async fn link_itglue(organization_id: i64, itglue_id: Option<i64>) -> Result<(), AppError> {
    let viewer = viewer(Action::ManageIntegrations)?;
    integrations::itglue::service::link(&portal(), &viewer, organization_id, itglue_id, &client_info())
        .await
        .map_err(to_app_error)
}

/// Signed in (ManageIntegrations): link unlinked organizations by exact name.
#[server(prefix = "/api", endpoint = "itglue/link-by-name")]
pub async fn link_itglue_by_name() -> Result<u32, AppError> {
    let viewer = viewer(Action::ManageIntegrations)?;
    integrations::itglue::service::link_by_name(&portal(), &viewer, &client_info())
        .await
        .map_err(to_app_error)
}

/// Signed in (ManageIntegrations): write the backup facts to IT Glue now.
#[server(prefix = "/api", endpoint = "itglue/sync")]
pub async fn sync_itglue() -> Result<SyncReport, AppError> {
    let viewer = viewer(Action::ManageIntegrations)?;
    integrations::itglue::service::sync_now(&portal(), &viewer)
        .await
        .map_err(to_app_error)
}
