use leptos::prelude::*;
use leptos_meta::Title;
use model::Action;
use model::appliance::ApplianceSummary;
use model::auth::SessionView;

use super::api::{CreateRegistration, list_appliances};
use crate::components::{ErrorBox, Loading, action_error, format_time};
use crate::organizations::api::list_organizations;

/// Free space at or below this share shows in the warning colour (spec portal-a §2.26).
const LOW_SPACE_PERCENT: f64 = 30.0;

#[component]
pub fn ProtectPage() -> impl IntoView {
    let may_add = use_context::<SessionView>().is_some_and(|s| s.role.can(Action::ManageAppliances));
    let adding = RwSignal::new(false);
    let appliances = Resource::new(|| (), |_| list_appliances());
    view! {
        <Title text="Protect · Backplane" />
        <div class="page-head">
            <h1>"Protect"</h1>
            {may_add.then(|| view! {
                <button type="button" class="primary" on:click=move |_| adding.set(true)>"+ New"</button>
            })}
        </div>
        <Show when=move || adding.get()>
            <AddApplianceWizard adding />
        </Show>
        <h2>"Appliances"</h2>
        <Transition fallback=Loading>
            {move || appliances.get().map(|result| match result {
                Ok(list) if list.is_empty() => view! {
                    <p class="empty">"No appliances yet. Add one with + New: it connects out to this portal, no inbound port needed."</p>
                }.into_any(),
                Ok(list) => view! { <ApplianceTable appliances=list /> }.into_any(),
                Err(error) => view! { <ErrorBox error /> }.into_any(),
            })}
        </Transition>
    }
}

#[component]
fn ApplianceTable(appliances: Vec<ApplianceSummary>) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="list">
                <thead><tr>
                    <th>"Status"</th><th>"Name"</th><th>"Last seen"</th><th>"Model"</th><th>"Organization"</th>
                    <th>"Free space"</th><th>"Assets"</th><th>"Version"</th>
                </tr></thead>
                <tbody>
                    {appliances.into_iter().map(|a| {
                        let free = a.storage.free_percent();
                        let name = a.name.clone();
                        view! {
                            <tr data-appliance=name>
                                <td><span class=if a.online { "badge sent" } else { "badge failed" }>{if a.online { "Online" } else { "Offline" }}</span></td>
                                <td>{a.name}</td>
                                <td>{a.last_seen_at.map(format_time).unwrap_or_else(|| "Never".into())}</td>
                                <td>{a.model}</td>
                                <td>{a.organization_name}</td>
                                <td class="num" class:low-space=free <= LOW_SPACE_PERCENT>{format!("{free:.2}%")}</td>
                                <td class="num">{a.assets}</td>
                                <td>{a.version}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

/// Pick the organization, get a single-use registration ID and the command that uses it.
#[component]
fn AddApplianceWizard(adding: RwSignal<bool>) -> impl IntoView {
    let organizations = Resource::new(
        || (),
        |_| list_organizations(None, None, None, None, None, Some(1), Some(500)),
    );
    let create = ServerAction::<CreateRegistration>::new();
    view! {
        <section class="dialog" role="dialog" aria-label="Add appliance">
            <h2>"Add appliance"</h2>
            {move || match create.value().get() {
                Some(Ok(registration)) => view! {
                    <p>"Start the appliance on a machine in the customer's network with:"</p>
                    <pre class="command-line" data-testid="appliance-command">{registration.command_line.clone()}</pre>
                    <p class="muted">
                        {format!("The registration ID works once, until {}. The organization cannot be changed later.", format_time(registration.expires_at))}
                    </p>
                    <p class="muted">"Reload this page to see the appliance once it has connected."</p>
                    <div class="actions"><button type="button" on:click=move |_| adding.set(false)>"Done"</button></div>
                }.into_any(),
                _ => view! {
                    <Suspense fallback=Loading>
                        {move || organizations.get().map(|result| match result {
                            Ok(page) if page.items.is_empty() => view! {
                                <p>"Create an organization first (Organizations → + New): every appliance belongs to one."</p>
                            }.into_any(),
                            Ok(page) => view! {
                                <ActionForm action=create>
                                    <label>"Organization"
                                        <select name="organization_id">
                                            {page.items.into_iter().map(|o| view! { <option value=o.id>{o.name}</option> }).collect_view()}
                                        </select>
                                    </label>
                                    {action_error(create.value())}
                                    <div class="actions">
                                        <button type="submit" class="primary">"Create registration ID"</button>
                                        <button type="button" on:click=move |_| adding.set(false)>"Cancel"</button>
                                    </div>
                                </ActionForm>
                            }.into_any(),
                            Err(error) => view! { <ErrorBox error /> }.into_any(),
                        })}
                    </Suspense>
                }.into_any(),
            }}
        </section>
    }
}
