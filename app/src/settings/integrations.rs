//! Settings → Integrations (Superusers): a card per PSA (`super::psa`), the IT Glue card (integrate with a tested API key,
//! edit, sync now, delete with a typed confirmation) and IT Glue's organizations, to import
//! into a scope or link to the portal's organizations.

use std::collections::BTreeSet;

use leptos::prelude::*;
use leptos_meta::Title;
use model::AppError;
use model::itglue::{ItGlueOrganization, ItGlueOrganizationPage, ItGlueSettings};
use model::tenancy::Scope;

use super::api::{
    ImportItglue, IntegrateItglue, LinkItglue, LinkItglueByName, RemoveItglue, SyncItglue,
    itglue_organizations, itglue_settings,
};
use super::psa::PsaCard;
use super::sso::SsoCard;
use super::vsa::VsaCard;
use crate::components::{
    ErrorBox, Loading, Modal, PageButtons, TypeDeleteToConfirm, action_error, format_time,
};
use crate::organizations::api::list_scopes;
use crate::organizations::{OrgChoice, OrganizationPicker};
use model::psa::PsaKind;

/// The actions of the page; any of them reloads what it changes.
#[derive(Clone, Copy)]
struct Actions {
    integrate: ServerAction<IntegrateItglue>,
    remove: ServerAction<RemoveItglue>,
    sync: ServerAction<SyncItglue>,
    import: ServerAction<ImportItglue>,
    link: ServerAction<LinkItglue>,
    by_name: ServerAction<LinkItglueByName>,
}

impl Actions {
    fn version(&self) -> (usize, usize, usize, usize, usize, usize) {
        (
            self.integrate.version().get(),
            self.remove.version().get(),
            self.sync.version().get(),
            self.import.version().get(),
            self.link.version().get(),
            self.by_name.version().get(),
        )
    }
}

#[component]
pub fn IntegrationsPage() -> impl IntoView {
    let actions = Actions {
        integrate: ServerAction::new(),
        remove: ServerAction::new(),
        sync: ServerAction::new(),
        import: ServerAction::new(),
        link: ServerAction::new(),
        by_name: ServerAction::new(),
    };
    let settings = Resource::new(move || actions.version(), |_| itglue_settings());
    // Made here, outside the Transitions below: a resource made inside a suspended view is not
    // matched with its server-rendered data when the page hydrates.
    let page = RwSignal::new(1u32);
    let lists = Lists {
        page,
        organizations: Resource::new(
            move || (page.get(), actions.version()),
            |(page, _)| itglue_organizations(page),
        ),
        scopes: Resource::new(|| (), |_| list_scopes()),
    };
    view! {
        <Title text="Integrations · Backplane" />
        <h1>"Integrations"</h1>
        <section class="card" aria-labelledby="itglue-title">
            <h2 id="itglue-title">"IT Glue"</h2>
            <p class="muted">"Documents backups in IT Glue: each appliance of a linked organization becomes a configuration whose notes carry its backup status, last backup, copy and verified restore, and storage used — every hour and on demand."</p>
            <Transition fallback=Loading>
                {move || settings.get().map(|result| match result {
                    Ok(None) => view! { <IntegrateForm actions current=None /> }.into_any(),
                    Ok(Some(current)) => view! { <Integrated actions current lists /> }.into_any(),
                    Err(error) => view! { <ErrorBox error /> }.into_any(),
                })}
            </Transition>
        </section>
        {PsaKind::ALL.into_iter().map(|psa| view! { <PsaCard psa /> }).collect_view()}
        {model::sso::SsoKind::ALL.into_iter().map(|kind| view! { <SsoCard kind scopes=lists.scopes /> }).collect_view()}
        <VsaCard />
    }
}

/// The API address and key; the key is tested against IT Glue before it is stored.
#[component]
fn IntegrateForm(actions: Actions, current: Option<ItGlueSettings>) -> impl IntoView {
    let editing = current.is_some();
    let base_url = current
        .map(|c| c.base_url)
        .unwrap_or_else(|| "https://api.itglue.com".into());
    view! {
        <ActionForm action=actions.integrate>
            <label>"API address"
                <input name="base_url" required value=base_url list="itglue-regions" />
                <datalist id="itglue-regions">
                    <option value="https://api.itglue.com">"United States"</option>
                    <option value="https://api.eu.itglue.com">"European Union"</option>
                    <option value="https://api.au.itglue.com">"Australia"</option>
                </datalist>
            </label>
            <label>"API key"
                <input name="api_key" type="password" autocomplete="off" required=!editing
                    placeholder=if editing { "Unchanged" } else { "From IT Glue: Account → API Keys" } />
            </label>
            {action_error(actions.integrate.value())}
            <button type="submit" class="primary" disabled=actions.integrate.pending()>
                {move || if actions.integrate.pending().get() { "Testing…" } else { "Test & Integrate" }}
            </button>
        </ActionForm>
    }
}

/// IT Glue's organizations (a page of them) and the portal's scopes.
#[derive(Clone, Copy)]
struct Lists {
    page: RwSignal<u32>,
    organizations: Resource<Result<ItGlueOrganizationPage, AppError>>,
    scopes: Resource<Result<Vec<Scope>, AppError>>,
}

#[component]
fn Integrated(actions: Actions, current: ItGlueSettings, lists: Lists) -> impl IntoView {
    let editing = RwSignal::new(false);
    let deleting = RwSignal::new(false);
    let stored = StoredValue::new(current.clone());
    let last_sync = match (current.last_sync_at, &current.last_sync_result) {
        (Some(at), Some(result)) => format!("{} — {result}", format_time(at)),
        _ => "Not yet".into(),
    };
    view! {
        <dl class="facts">
            <dt>"Status"</dt><dd data-testid="itglue-status">{if current.last_sync_ok { "Integrated" } else { "Integrated — last sync failed" }}</dd>
            <dt>"API address"</dt><dd>{current.base_url.clone()}</dd>
            <dt>"Linked organizations"</dt><dd>{current.linked}</dd>
            <dt>"Last sync"</dt><dd data-testid="itglue-last-sync">{last_sync}</dd>
            <dt>"Changed"</dt><dd>{format!("{} by {}", format_time(current.updated_at), current.updated_by)}</dd>
        </dl>
        <div class="toolbar">
            <button type="button" on:click=move |_| editing.update(|e| *e = !*e)>"Edit"</button>
            <button type="button" on:click=move |_| { actions.sync.dispatch(SyncItglue {}); } disabled=actions.sync.pending()>"Sync now"</button>
            <button type="button" on:click=move |_| { actions.by_name.dispatch(LinkItglueByName {}); }>"Link by name"</button>
            <button type="button" class="danger" on:click=move |_| deleting.set(true)>"Delete"</button>
        </div>
        {move || actions.sync.value().get().map(|result| match result {
            Ok(report) => view! { <p role="status">{format!("{} configuration(s) written.", report.written)}</p> }.into_any(),
            Err(error) => view! { <ErrorBox error /> }.into_any(),
        })}
        {move || actions.by_name.value().get().map(|result| match result {
            Ok(count) => view! { <p role="status">{format!("{count} organization(s) linked by name.")}</p> }.into_any(),
            Err(error) => view! { <ErrorBox error /> }.into_any(),
        })}
        <Show when=move || editing.get()>
            <IntegrateForm actions current=Some(stored.get_value()) />
        </Show>
        <Show when=move || deleting.get()>
            <Modal label="Delete the IT Glue integration" on_close=move || deleting.set(false)>
                <h2>"Delete the IT Glue integration"</h2>
                <p>"The API key and every organization's link to IT Glue are removed. The organizations stay, and so do the configurations already in IT Glue."</p>
                <ActionForm action=actions.remove>
                    <TypeDeleteToConfirm />
                    {action_error(actions.remove.value())}
                    <div class="actions">
                        <button type="button" on:click=move |_| deleting.set(false)>"Cancel"</button>
                        <button type="submit" class="danger">"Delete"</button>
                    </div>
                </ActionForm>
            </Modal>
        </Show>
        <OrganizationsOfItGlue actions lists />
    }
}

/// IT Glue's organizations, 100 a page: choose some and import them into a scope, or link one.
#[component]
fn OrganizationsOfItGlue(actions: Actions, lists: Lists) -> impl IntoView {
    let Lists {
        page,
        organizations: list,
        scopes,
    } = lists;
    let chosen = RwSignal::new(BTreeSet::<i64>::new());
    let scope = RwSignal::new(None::<i64>);
    let linking = RwSignal::new(None::<ItGlueOrganization>);
    let import = move |_| {
        actions.import.dispatch(ImportItglue {
            itglue_ids: Some(chosen.get_untracked().into_iter().collect()),
            scope_id: scope.get_untracked(),
        });
        chosen.set(BTreeSet::new());
    };
    view! {
        <h3>"IT Glue organizations"</h3>
        <div class="toolbar">
            <Transition>
                {move || scopes.get().map(|found| {
                    let list = found.unwrap_or_default();
                    view! {
                        <label>"Import into scope"
                            <select on:change=move |ev| scope.set(event_target_value(&ev).parse().ok())>
                                <option value="">"Unassigned"</option>
                                {list.into_iter().map(|s| view! {
                                    <option value=s.id.to_string()>{s.name}</option>
                                }).collect_view()}
                            </select>
                        </label>
                    }
                })}
            </Transition>
            <button type="button" class="primary" disabled=move || chosen.get().is_empty() on:click=import>
                {move || format!("Import {} selected", chosen.get().len())}
            </button>
        </div>
        {move || actions.import.value().get().map(|result| match result {
            Ok(count) => view! { <p role="status">{format!("{count} organization(s) imported.")}</p> }.into_any(),
            Err(error) => view! { <ErrorBox error /> }.into_any(),
        })}
        {action_error(actions.link.value())}
        <Transition fallback=Loading>
            {move || list.get().map(|result| match result {
                Ok(found) => {
                    let pages = found.total_pages;
                    view! {
                        <table class="list" aria-label="IT Glue organizations">
                            <thead><tr><th><span class="sr-only">"Select"</span></th><th>"Name"</th><th>"Linked to"</th><th><span class="sr-only">"Actions"</span></th></tr></thead>
                            <tbody>
                                {found.items.into_iter().map(|o| {
                                    let id = o.id;
                                    let name = o.name.clone();
                                    let row = o.clone();
                                    view! {
                                        <tr>
                                            <td>{o.linked_to.is_none().then(|| view! {
                                                <input type="checkbox" aria-label=format!("Select {name}")
                                                    prop:checked=move || chosen.get().contains(&id)
                                                    on:change=move |ev| {
                                                        let on = event_target_checked(&ev);
                                                        chosen.update(|c| { if on { c.insert(id); } else { c.remove(&id); } });
                                                    } />
                                            })}</td>
                                            <td>{o.name.clone()}</td>
                                            <td>{o.linked_to.clone().map(|l| l.name).unwrap_or_else(|| "—".into())}</td>
                                            <td class="row-actions">
                                                {match o.linked_to.clone() {
                                                    Some(l) => view! { <button type="button" on:click=move |_| {
                                                        actions.link.dispatch(LinkItglue { organization_id: l.id, itglue_id: None });
                                                    }>"Unlink"</button> }.into_any(),
                                                    None => view! { <button type="button" on:click=move |_| linking.set(Some(row.clone()))>"Link…"</button> }.into_any(),
                                                }}
                                            </td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                        <PageButtons page pages label="IT Glue organization pages".to_owned() />
                    }.into_any()
                }
                Err(error) => view! { <ErrorBox error /> }.into_any(),
            })}
        </Transition>
        {move || linking.get().map(|target| {
            let on_pick = Callback::new(move |pick: Option<OrgChoice>| {
                if let Some(pick) = pick {
                    actions.link.dispatch(LinkItglue { organization_id: pick.id, itglue_id: Some(target.id) });
                    linking.set(None);
                }
            });
            view! {
                <Modal label="Link to an organization" on_close=move || linking.set(None)>
                    <h2>{format!("Link {} to", target.name)}</h2>
                    <label class="picker-label">"Organization"
                        <OrganizationPicker label="Organization" on_pick />
                    </label>
                    <div class="actions">
                        <button type="button" on:click=move |_| linking.set(None)>"Cancel"</button>
                    </div>
                </Modal>
            }
        })}
    }
}
