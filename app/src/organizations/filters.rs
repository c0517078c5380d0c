//! The Scope and Organization selects that list filters share; they read and write the `scope`
//! and `organization` fields of the page's query.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use model::tenancy::OrgQuery;

use super::api::{list_organizations, list_scopes};
use crate::components::select_option;

#[component]
pub fn ScopeAndOrganizationSelects(#[prop(optional)] without_scope: bool) -> impl IntoView {
    let scopes = Resource::new(|| (), |_| list_scopes());
    let organizations = Resource::new(
        || (),
        |_| {
            list_organizations(OrgQuery {
                per_page: 500,
                ..OrgQuery::default()
            })
        },
    );
    let query = use_query_map().get_untracked();
    let scope = query.get("scope").unwrap_or_default();
    let organization = query.get("organization").unwrap_or_default();
    view! {
        <Suspense fallback=|| ()>
            {
                let (scope, organization) = (scope.clone(), organization.clone());
                move || {
                    let scopes = scopes.get().and_then(Result::ok).unwrap_or_default();
                    let orgs = organizations.get().and_then(Result::ok).map(|p| p.items).unwrap_or_default();
                    view! {
                        {(!without_scope).then(|| view! {
                            <label>"Scope"
                                <select name="scope">
                                    <option value="">"All"</option>
                                    {scopes.into_iter().map(|s| select_option(s.id.to_string(), s.name, &scope)).collect_view()}
                                </select>
                            </label>
                        })}
                        <label>"Organization"
                            <select name="organization">
                                <option value="">"All"</option>
                                {orgs.into_iter().map(|o| select_option(o.id.to_string(), o.name, &organization)).collect_view()}
                            </select>
                        </label>
                    }
                }
            }
        </Suspense>
    }
}
