//! The Scope select and the Organization picker that list filters share; they read and write
//! the `scope` and `organization` fields of the page's query.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::api::list_scopes;
use super::picker::{OrganizationPicker, initial_choice};
use crate::components::select_option;

#[component]
pub fn ScopeAndOrganizationSelects(#[prop(optional)] without_scope: bool) -> impl IntoView {
    let scopes = Resource::new(|| (), |_| list_scopes());
    let query = use_query_map().get_untracked();
    let scope = query.get("scope").unwrap_or_default();
    let organization = RwSignal::new(query.get("organization").and_then(|v| v.parse::<i64>().ok()));
    let initial = initial_choice(organization.get_untracked());
    let on_pick =
        Callback::new(move |choice: Option<super::OrgChoice>| organization.set(choice.map(|c| c.id)));
    view! {
        {(!without_scope).then(|| view! {
            <Suspense fallback=|| ()>
                {
                    let scope = scope.clone();
                    move || {
                        let scopes = scopes.get().and_then(Result::ok).unwrap_or_default();
                        view! {
                            <label>"Scope"
                                <select name="scope">
                                    <option value="">"All"</option>
                                    {scopes.into_iter().map(|s| select_option(s.id.to_string(), s.name, &scope)).collect_view()}
                                </select>
                            </label>
                        }
                    }
                }
            </Suspense>
        })}
        <label class="picker-label">"Organization"
            <Suspense fallback=|| ()>
                {move || initial.get().map(|initial| view! {
                    <OrganizationPicker label="Organization" on_pick placeholder="All — type to search" initial />
                })}
            </Suspense>
        </label>
        <input type="hidden" name="organization" value=move || organization.get().map(|id| id.to_string()).unwrap_or_default() />
    }
}
