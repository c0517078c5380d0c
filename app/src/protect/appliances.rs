//! Protect → Appliances: the filtered, sorted list (live status) and the Add appliance wizard.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use model::Action;
use model::appliance::views::{ApplianceSummary, LOW_SPACE_PERCENT};
use model::auth::SessionView;
use model::lists::AppliancesQuery;

use super::ProtectTabs;
use super::api::{CreateRegistration, NewRegistration, list_appliances};
use crate::components::{
    FilterForm, Icon, ListText, Loading, Modal, SubmitOrCancel, action_error, contains_filter,
    current_params, format_bytes, format_time, href_with, icon, paged_list, select_option,
};
use crate::live::use_live;
use crate::organizations::ScopeAndOrganizationSelects;
use crate::organizations::api::list_scopes;
use crate::organizations::{OrgChoice, OrganizationPicker};

#[component]
pub fn ProtectPage() -> impl IntoView {
    let may_add = use_context::<SessionView>().is_some_and(|s| s.role.can(Action::ManageAppliances));
    let adding = RwSignal::new(false);
    let query = use_query_map();
    let live = use_live();
    let appliances = Resource::new(
        move || (query.get(), live.refetch.get()),
        |(q, _)| list_appliances(AppliancesQuery::from_url(&|key: &str| q.get(key))),
    );
    view! {
        <Title text="Protect · Backplane" />
        <div class="page-head">
            <h1>"Protect"</h1>
            {may_add.then(|| view! {
                <button type="button" class="primary" on:click=move |_| adding.set(true)>"+ New"</button>
            })}
        </div>
        <ProtectTabs current="/protect" />
        <Show when=move || adding.get()>
            <AddApplianceWizard adding />
        </Show>
        <Filters />
        <Transition fallback=Loading>
            {move || appliances.get().map(|result| {
                let text = ListText {
                    path: "/protect".into(),
                    empty: "No appliances match. Add one with + New: it connects out to this portal, no inbound port needed.",
                    capped_at: None,
                };
                paged_list(result, text, |appliances| view! { <ApplianceTable appliances /> })
            })}
        </Transition>
    }
}

/// Scope, organization, status, name contains and low space; kept in the URL.
#[component]
fn Filters() -> impl IntoView {
    let current = current_params();
    let (status, name, sort) = (current("status"), current("name"), current("sort"));
    let low_space = current("low_space") == "1";
    view! {
        <FilterForm action="/protect">
            <ScopeAndOrganizationSelects />
            <label>"Status"
                <select name="status">
                    {[("", "Any"), ("online", "Online"), ("offline", "Offline")].into_iter()
                        .map(|(v, l)| select_option(v.into(), l.into(), &status)).collect_view()}
                </select>
            </label>
            {contains_filter("Name", "name", name.clone())}
            <label class="switch"><input type="checkbox" name="low_space" value="1" checked=low_space />"30 % or less free"</label>
            <label>"Sort"
                <select name="sort">
                    {[("name", "Name"), ("last_seen", "Last seen"), ("model", "Model"), ("free_space", "Free space"), ("version", "Version"), ("organization", "Organization")]
                        .into_iter().map(|(v, l)| select_option(v.into(), l.into(), &sort)).collect_view()}
                </select>
            </label>
        </FilterForm>
    }
}

#[component]
fn ApplianceTable(appliances: Vec<ApplianceSummary>) -> impl IntoView {
    let live = use_live();
    let query = use_query_map();
    let sort_link =
        move |key: &'static str| href_with("/protect", &query.get_untracked(), &[("sort", Some(key.into()))]);
    view! {
        <div class="table-wrap">
            <table class="list">
                <thead><tr>
                    <th>"Status"</th><th><a href=sort_link("name")>"Name"</a></th><th><a href=sort_link("last_seen")>"Last seen"</a></th>
                    <th><a href=sort_link("model")>"Model"</a></th><th><a href=sort_link("organization")>"Organization"</a></th>
                    <th><a href=sort_link("free_space")>"Free space"</a></th><th>"Assets"</th><th><a href=sort_link("version")>"Version"</a></th>
                </tr></thead>
                <tbody>
                    {appliances.into_iter().map(|fetched| {
                        let row = move || live.appliance(&fetched);
                        view! {
                            {move || {
                                let a = row();
                                let free = a.storage.free_percent();
                                let href = format!("/protect/appliances/{}", a.id);
                                let name = a.name.clone();
                                view! {
                                    <tr data-appliance=name data-online=a.online.to_string()>
                                        <td><span class=if a.online { "badge sent" } else { "badge failed" }>{if a.online { "Online" } else { "Offline" }}</span></td>
                                        <td><a href=href>{a.name}</a></td>
                                        <td>{a.last_seen_at.map(format_time).unwrap_or_else(|| "Never".into())}</td>
                                        <td>{a.model}</td>
                                        <td>{a.organization_name}</td>
                                        <td class="num" class:low-space=free <= LOW_SPACE_PERCENT
                                            title=format!("{} free of {}", format_bytes(a.storage.free_bytes), format_bytes(a.storage.total_bytes))>
                                            {format!("{free:.2}%")}
                                        </td>
                                        <td class="num">{a.assets}</td>
                                        <td>{a.version}</td>
                                    </tr>
                                }
                            }}
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

/// Pick the organization, get a single-use registration ID and the command that uses it, then
/// watch for the appliance to connect.
#[component]
fn AddApplianceWizard(adding: RwSignal<bool>) -> impl IntoView {
    let scopes = Resource::new(|| (), |_| list_scopes());
    let create = ServerAction::<CreateRegistration>::new();
    let organization = RwSignal::new(None::<i64>);
    let on_pick = Callback::new(move |choice: Option<OrgChoice>| organization.set(choice.map(|c| c.id)));
    view! {
        <Modal label="Add appliance" on_close=move || adding.set(false)>
            <h2>"Add appliance"</h2>
            {move || match create.value().get() {
                Some(Ok(registration)) => view! { <AwaitAppliance registration adding /> }.into_any(),
                _ => view! {
                    <ActionForm action=create>
                        <label class="picker-label">"Organization"
                            <OrganizationPicker label="Organization" on_pick />
                        </label>
                        <input type="hidden" name="organization_id"
                            value=move || organization.get().map(|id| id.to_string()).unwrap_or_default() />
                        <fieldset>
                            <legend>"Or a new organization"</legend>
                            <label>"New organization name" <input name="new_organization" autocomplete="off" /></label>
                            <Suspense fallback=|| ()>
                                {move || {
                                    let scopes = scopes.get().and_then(Result::ok).unwrap_or_default();
                                    view! {
                                        <label>"Its scope"
                                            <select name="scope">
                                                <option value="">"Unassigned"</option>
                                                {scopes.into_iter().map(|s| view! { <option value=s.id>{s.name}</option> }).collect_view()}
                                            </select>
                                        </label>
                                    }
                                }}
                            </Suspense>
                        </fieldset>
                        <p class="muted">"The organization cannot be changed once the appliance has registered."</p>
                        {action_error(create.value())}
                        <SubmitOrCancel submit="Create registration ID" on_cancel=move || adding.set(false) />
                    </ActionForm>
                }.into_any(),
            }}
        </Modal>
    }
}

/// The command line, then a live "waiting" state that turns green when the appliance connects.
#[component]
fn AwaitAppliance(registration: NewRegistration, adding: RwSignal<bool>) -> impl IntoView {
    let live = use_live();
    let reference = registration.reference.clone();
    let connected = move || {
        let id = live.registered.with(|m| m.get(&reference).copied())?;
        live.appliances.with(|m| m.get(&id).filter(|a| a.online).cloned())
    };
    view! {
        <p>"Start the appliance on a machine in the customer's network with:"</p>
        <pre class="command-line" data-testid="appliance-command">{registration.command_line.clone()}</pre>
        <p class="muted">
            {format!("The registration ID works once, until {}. The organization cannot be changed later.", format_time(registration.expires_at))}
        </p>
        {move || match connected() {
            Some(appliance) => view! {
                <p class="connected" role="status" data-testid="appliance-connected">
                    {icon(Icon::Check)}{format!(" {} is connected.", appliance.name)}
                    " " <a href=format!("/protect/appliances/{}", appliance.id)>"Open it"</a>
                </p>
            }.into_any(),
            None => view! {
                <p class="waiting" role="status"><span class="spinner" aria-hidden="true"></span>"Waiting for the appliance to connect…"</p>
            }.into_any(),
        }}
        <div class="actions"><button type="button" on:click=move |_| adding.set(false)>"Done"</button></div>
    }
}
