//! Server functions of Settings → Integrations → Kaseya VSA (Superusers): the integration and
//! the caller's own VSA e-mail actions.

use leptos::prelude::*;
use model::AppError;
use model::vsa::{AlarmCategory, VsaEmailAction, VsaForm, VsaSettings};
#[cfg(feature = "ssr")]
use {crate::server::*, integrations::vsa::service, model::Action};

/// Signed in (ManageIntegrations): the VSA integration, if any (never its token).
#[server(prefix = "/api", endpoint = "vsa/settings")]
pub async fn vsa_integration() -> Result<Option<VsaSettings>, AppError> {
    let viewer = viewer(Action::ManageIntegrations)?;
    service::settings(&mut *conn().await?, &viewer)
        .await
        .map_err(to_app_error)
}

/// Signed in (ManageIntegrations): signs in to VSA with the form and stores it (an empty token
/// keeps the stored one).
#[server(prefix = "/api", endpoint = "vsa/integrate")]
pub async fn integrate_vsa(form: VsaForm) -> Result<VsaSettings, AppError> {
    let viewer = viewer(Action::ManageIntegrations)?;
    service::integrate(&portal(), &viewer, &form, &client_info())
        .await
        .map_err(to_app_error)
}

/// Signed in (ManageIntegrations): removes the integration, its queued alarms and every
/// e-mail action.
#[server(prefix = "/api", endpoint = "vsa/remove")]
pub async fn remove_vsa(confirmation: String) -> Result<(), AppError> {
    let viewer = viewer(Action::ManageIntegrations)?;
    if confirmation.trim() != "DELETE" {
        return Err(AppError::invalid(
            "confirmation",
            "Type DELETE to remove the integration.",
        ));
    }
    service::remove(&portal(), &viewer, &client_info())
        .await
        .map_err(to_app_error)
}

/// Signed in (ManageIntegrations): the caller's own VSA e-mail actions.
#[server(prefix = "/api", endpoint = "vsa/email-actions")]
pub async fn vsa_email_actions() -> Result<Vec<VsaEmailAction>, AppError> {
    let viewer = viewer(Action::ManageIntegrations)?;
    service::email_actions(&mut *conn().await?, &viewer)
        .await
        .map_err(to_app_error)
}

/// Signed in (ManageIntegrations): creates one of the caller's e-mail actions, or changes one
/// of theirs (`id`).
#[server(prefix = "/api", endpoint = "vsa/email-actions/save")]
pub async fn save_vsa_email_action(
    id: Option<i64>,
    alarm_category: AlarmCategory,
    recipients: String,
) -> Result<VsaEmailAction, AppError> {
    let viewer = viewer(Action::ManageIntegrations)?;
    service::save_email_action(
        &portal(),
        &viewer,
        (id, alarm_category),
        &recipients,
        &client_info(),
    )
    .await
    .map_err(to_app_error)
}

/// Signed in (ManageIntegrations): deletes one of the caller's e-mail actions.
#[server(prefix = "/api", endpoint = "vsa/email-actions/delete")]
pub async fn delete_vsa_email_action(id: i64) -> Result<(), AppError> {
    let viewer = viewer(Action::ManageIntegrations)?;
    service::delete_email_action(&portal(), &viewer, id, &client_info())
        .await
        .map_err(to_app_error)
}
