//! Server functions of the Organizations page. Filters travel as optional arguments, the same
//! names the page keeps in its URL, so a filtered view can be bookmarked and shared.

use leptos::prelude::*;
use model::AppError;
use model::tenancy::{Organization, Page, Scope};
#[cfg(feature = "ssr")]
use {
    crate::server::*,
    model::Action,
    model::tenancy::{OrgQuery, OrgSort, ScopeFilter},
};

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

#[cfg(feature = "ssr")]
fn parse_sort(sort: Option<&str>) -> OrgSort {
    match sort {
        Some("scope") => OrgSort::Scope,
        Some("appliances") => OrgSort::Appliances,
        Some("alerts") => OrgSort::Alerts,
        Some("free") => OrgSort::FreeSpace,
        _ => OrgSort::Name,
    }
}

/// Signed in (View): one page of the organizations the user may see.
#[allow(clippy::too_many_arguments)]
#[server(prefix = "/api", endpoint = "orgs/list")]
pub async fn list_organizations(
    scope: Option<String>,
    name: Option<String>,
    alerts: Option<bool>,
    sort: Option<String>,
    desc: Option<bool>,
    page: Option<u32>,
    per_page: Option<u32>,
) -> Result<Page<Organization>, AppError> {
    let viewer = viewer(Action::View)?;
    let scope = match scope.as_deref() {
        Some("unassigned") => Some(ScopeFilter::Unassigned),
        Some(id) => id.parse().ok().map(ScopeFilter::Scope),
        None => None,
    };
    let query = OrgQuery {
        scope,
        name: name.unwrap_or_default(),
        only_with_alerts: alerts.unwrap_or(false),
        sort: parse_sort(sort.as_deref()),
        descending: desc.unwrap_or(false),
        page: page.unwrap_or(1),
        per_page: per_page.unwrap_or(50),
    };
    domain::organizations::list(&mut *conn().await?, &viewer, &query)
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
