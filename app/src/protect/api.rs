//! Server functions of Protect → Appliances and the Add appliance wizard.

use leptos::prelude::*;
use model::AppError;
use model::appliance::ApplianceSummary;
use serde::{Deserialize, Serialize};
#[cfg(feature = "ssr")]
use {crate::server::*, model::Action};

/// A fresh registration ID with the command line that starts an appliance with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewRegistration {
    pub registration_id: String,
    pub expires_at: i64,
    pub command_line: String,
}

/// Signed in (View): the appliances of the organizations the user may see.
#[server(prefix = "/api", endpoint = "appliances/list")]
pub async fn list_appliances() -> Result<Vec<ApplianceSummary>, AppError> {
    let viewer = viewer(Action::View)?;
    domain::appliances::views::list(&mut *conn().await?, &viewer)
        .await
        .map_err(to_app_error)
}

/// Signed in (ManageAppliances): a single-use registration ID for an organization, 24 hours.
#[server(prefix = "/api", endpoint = "appliances/registration")]
pub async fn create_registration(organization_id: i64) -> Result<NewRegistration, AppError> {
    let viewer = viewer(Action::ManageAppliances)?;
    let portal = portal();
    let registration =
        domain::appliances::registration::create(&portal, &viewer, organization_id, &client_info())
            .await
            .map_err(to_app_error)?;
    let command_line = format!(
        "backplane-appliance --portal {} --registration-id {} --data-dir /var/lib/backplane-appliance",
        portal.public_url, registration.id
    );
    Ok(NewRegistration {
        registration_id: registration.id,
        expires_at: registration.expires_at,
        command_line,
    })
}
