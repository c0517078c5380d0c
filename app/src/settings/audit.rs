use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Form;
use leptos_router::hooks::use_query_map;

use super::api::search_audit;
use crate::components::{ErrorBox, Loading, contains_filter};

/// Settings → Audit log: every change, newest first; filter by actor, action and dates; CSV.
#[component]
pub fn AuditLogPage() -> impl IntoView {
    let query = use_query_map();
    let records = Resource::new(
        move || query.get(),
        |q| search_audit(q.get("actor"), q.get("action"), q.get("from"), q.get("until")),
    );
    let current = move |key: &str| query.get_untracked().get(key).unwrap_or_default();
    let csv_href = move || format!("/settings/audit/export.csv{}", query.get().to_query_string());
    view! {
        <Title text="Audit log · Backplane" />
        <h1>"Audit log"</h1>
        <Form method="GET" action="/settings/audit" attr:class="filters">
            {contains_filter("Actor", "actor", current("actor"))}
            <label>"Action" <input type="search" name="action" value=current("action") placeholder="e.g. login, user." /></label>
            <label>"From" <input type="date" name="from" value=current("from") /></label>
            <label>"Until" <input type="date" name="until" value=current("until") /></label>
            <button type="submit">"Apply"</button>
            <a class="button" href=csv_href download="backplane-audit.csv" rel="external">"Export CSV"</a>
        </Form>
        <Transition fallback=Loading>
            {move || records.get().map(|result| match result {
                Ok(list) if list.is_empty() => view! { <p class="empty">"No records match."</p> }.into_any(),
                Ok(list) => view! {
                    <div class="table-wrap">
                        <table class="list audit">
                            <thead><tr><th>"Time (UTC)"</th><th>"Actor"</th><th>"Action"</th><th>"Target"</th><th>"Before"</th><th>"After"</th><th>"From"</th></tr></thead>
                            <tbody>
                                {list.into_iter().map(|r| view! {
                                    <tr>
                                        <td>{crate::components::format_time(r.at)}</td>
                                        <td>{r.actor}</td>
                                        <td><code>{r.action}</code></td>
                                        <td>{r.target}</td>
                                        <td>{r.before.unwrap_or_default()}</td>
                                        <td>{r.after.unwrap_or_default()}</td>
                                        <td>{r.client_ip.unwrap_or_default()}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any(),
                Err(error) => view! { <ErrorBox error /> }.into_any(),
            })}
        </Transition>
    }
}
