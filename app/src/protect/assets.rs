//! Protect → Assets: every protected directory across the appliances the user may see.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Form;
use leptos_router::hooks::use_query_map;

use super::ProtectTabs;
use super::api::list_assets;
use crate::components::{ErrorBox, Loading, Pager, format_time};
use crate::live::use_live;
use crate::organizations::ScopeAndOrganizationSelects;

#[component]
pub fn AssetsPage() -> impl IntoView {
    let query = use_query_map();
    let live = use_live();
    let assets = Resource::new(
        move || (query.get(), live.refetch.get()),
        |(q, _)| {
            let number = |key: &str| q.get(key).and_then(|v| v.parse().ok());
            list_assets(
                None,
                number("organization"),
                q.get("name").filter(|s| !s.is_empty()),
                q.get("page").and_then(|v| v.parse().ok()),
            )
        },
    );
    view! {
        <Title text="Assets · Protect · Backplane" />
        <div class="page-head"><h1>"Protect"</h1></div>
        <ProtectTabs current="/protect/assets" />
        <Filters />
        <Transition fallback=Loading>
            {move || assets.get().map(|result| match result {
                Ok(page) if page.items.is_empty() => view! { <p class="empty">"No assets match."</p> }.into_any(),
                Ok(page) => {
                    let pages = page.page_count();
                    view! {
                        <div class="table-wrap">
                            <table class="list">
                                <thead><tr>
                                    <th>"Name"</th><th>"Path"</th><th>"Appliance"</th><th>"Organization"</th>
                                    <th>"Recovery points"</th><th>"Last recovery point"</th>
                                </tr></thead>
                                <tbody>
                                    {page.items.into_iter().map(|a| view! {
                                        <tr data-asset=a.name.clone()>
                                            <td>{a.name.clone()}</td>
                                            <td><code>{a.path}</code></td>
                                            <td><a href=format!("/protect/appliances/{}", a.appliance_id)>{a.appliance_name}</a></td>
                                            <td>{a.organization_name}</td>
                                            <td class="num">{a.recovery_points}</td>
                                            <td>{a.last_recovery_point_at.map(format_time).unwrap_or_else(|| "Never".into())}</td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                        </div>
                        <Pager path="/protect/assets" page=page.page pages total=page.total />
                    }.into_any()
                }
                Err(error) => view! { <ErrorBox error /> }.into_any(),
            })}
        </Transition>
    }
}

/// Organization and "name contains" (asset name, path or appliance); kept in the URL.
#[component]
fn Filters() -> impl IntoView {
    let name = use_query_map().get_untracked().get("name").unwrap_or_default();
    view! {
        <Form method="GET" action="/protect/assets" attr:class="filters">
            <ScopeAndOrganizationSelects without_scope=true />
            <label>"Name" <input type="search" name="name" value=name placeholder="asset, path or appliance…" /></label>
            <button type="submit">"Apply"</button>
        </Form>
    }
}
