//! Server functions of the Organizations page. The list's query is read from the page's URL
//! (`OrgQuery::from_url`), so a filtered view can be bookmarked and shared.

use leptos::prelude::*;
use model::AppError;
use model::tenancy::{OrgQuery, Organization, Page, Scope};
#[cfg(feature = "ssr")]
use {crate::server::*, model::Action};

/// A scope select's value: a scope id, or empty for Unassigned.
#[cfg(feature = "ssr")]
fn parse_scope(value: &str) -> Result<Option<i64>, AppError> {
    match value.trim() {
        "" => Ok(None),
        id => id
            .parse()
            .map(Some)
            .map_err(|_| AppError::invalid("scope", "Choose a scope.")),
    }
}

/// Signed in (View): one page of the organizations the user may see.
#[server(prefix = "/api", endpoint = "orgs/list")]
pub async fn list_organizations(#[server(default)] query: OrgQuery) -> Result<Page<Organization>, AppError> {
    let viewer = viewer(Action::View)?;
    domain::organizations::list(&mut *conn().await?, &viewer, &query)
        .await
        .map_err(to_app_error)
}

/// Signed in (View): one organization the user may see (else "not found").
#[server(prefix = "/api", endpoint = "orgs/get")]
pub async fn get_organization(id: i64) -> Result<Organization, AppError> {
    let viewer = viewer(Action::View)?;
    domain::organizations::get(&mut *conn().await?, &viewer, id)
        .await
        .map_err(to_app_error)
}

/// Signed in (View): the scopes the user holds, for filters and forms.
#[server(prefix = "/api", endpoint = "scopes/list")]
pub async fn list_scopes() -> Result<Vec<Scope>, AppError> {
    let viewer = viewer(Action::View)?;
    domain::scopes::list(&mut *conn().await?, &viewer)
        .await
        .map_err(to_app_error)
}

/// Signed in (ManageOrganizations): a new organization in one of the user's scopes.
#[server(prefix = "/api", endpoint = "orgs/create")]
pub async fn create_organization(name: String, scope: String) -> Result<i64, AppError> {
    let viewer = viewer(Action::ManageOrganizations)?;
    let scope = parse_scope(&scope)?;
    domain::organizations::create(&portal(), &viewer, &name, scope, &client_info())
        .await
        .map_err(to_app_error)
}

/// Signed in (ManageOrganizations): rename or move to another scope.
#[server(prefix = "/api", endpoint = "orgs/update")]
pub async fn update_organization(id: i64, name: String, scope: String) -> Result<(), AppError> {
    let viewer = viewer(Action::ManageOrganizations)?;
    let scope = parse_scope(&scope)?;
    domain::organizations::update(&portal(), &viewer, id, &name, scope, &client_info())
        .await
        .map_err(to_app_error)
}

/// Signed in (ManageOrganizations): delete with everything it owns, after typing DELETE.
#[server(prefix = "/api", endpoint = "orgs/delete")]
pub async fn delete_organization(id: i64, confirmation: String) -> Result<(), AppError> {
    let viewer = viewer(Action::ManageOrganizations)?;
    domain::organizations::delete(&portal(), &viewer, id, &confirmation, &client_info())
        .await
        .map_err(to_app_error)
}
