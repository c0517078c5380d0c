use std::collections::BTreeSet;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use model::Action;
use model::auth::SessionView;
use model::psa::{PsaKind, PsaMappings};
use model::tenancy::OrgQuery;
use model::tenancy::{Organization, PAGE_SIZES, Scope};

use super::api::{
    CreateOrganization, DeleteOrganization, UpdateOrganization, list_organizations, list_scopes,
};
use crate::components::{
    FilterForm, ListText, Loading, Modal, PageButtons, SubmitOrCancel, action_error, contains_filter,
    href_with, paged_list,
};
use crate::settings::psa_api::{ImportPsaCompanies, MapPsa, mapped_psa_companies, psa_companies};

#[derive(Clone, PartialEq)]
pub enum Dialog {
    Closed,
    New,
    Edit(Organization),
    Delete(Organization),
    /// Map the organization to a company of the PSA (Superusers).
    Map(PsaKind, Organization),
    /// Import companies of the PSA as organizations (Superusers).
    Import(PsaKind),
}

/// What the table shows beside each organization: a column per integrated PSA.
#[derive(Clone)]
struct Columns {
    psas: Vec<PsaMappings>,
    may_manage: bool,
    may_map: bool,
}

#[component]
pub fn OrganizationsPage() -> impl IntoView {
    let query = use_query_map();
    let session = use_context::<SessionView>();
    let may_manage = session
        .as_ref()
        .is_some_and(|s| s.role.can(Action::ManageOrganizations));
    let may_map = session
        .as_ref()
        .is_some_and(|s| s.role.can(Action::ManageIntegrations));
    let map = ServerAction::<MapPsa>::new();
    let refresh = RwSignal::new(0u32);
    let dialog = RwSignal::new(Dialog::Closed);
    let orgs = Resource::new(
        move || (query.get(), refresh.get()),
        |(q, _)| list_organizations(OrgQuery::from_url(&|key: &str| q.get(key))),
    );
    let scopes = Resource::new(|| (), |_| list_scopes());
    // The same query as the list's, so the columns match its rows without waiting for them.
    let mappings = Resource::new(
        move || (query.get(), refresh.get(), map.version().get()),
        |(q, ..)| mapped_psa_companies(OrgQuery::from_url(&|key: &str| q.get(key))),
    );
    let done = move || {
        dialog.set(Dialog::Closed);
        refresh.update(|n| *n += 1);
    };
    view! {
        <Title text="Organizations · Backplane" />
        <div class="page-head">
            <h1>"Organizations"</h1>
            <div class="head-actions">
                {may_map.then(|| view! {
                    <Transition>
                        {move || mappings.get().and_then(Result::ok).map(|psas| psas.into_iter().map(|p| {
                            let psa = p.psa;
                            view! {
                                <button type="button" on:click=move |_| dialog.set(Dialog::Import(psa))>
                                    {format!("Import from {}", psa.label())}
                                </button>
                            }
                        }).collect_view())}
                    </Transition>
                })}
                {may_manage.then(|| view! {
                    <button type="button" class="primary" on:click=move |_| dialog.set(Dialog::New)>"+ New"</button>
                })}
            </div>
        </div>
        <Suspense fallback=Loading>
            {move || scopes.get().map(|scopes| {
                let scopes = scopes.unwrap_or_default();
                view! {
                    <Filters scopes=scopes.clone() />
                    {move || match dialog.get() {
                        Dialog::Closed => None,
                        Dialog::New => Some(view! { <OrgForm org=None scopes=scopes.clone() dialog done /> }.into_any()),
                        Dialog::Edit(org) => Some(view! { <OrgForm org=Some(org) scopes=scopes.clone() dialog done /> }.into_any()),
                        Dialog::Delete(org) => Some(view! { <DeleteOrg org dialog done /> }.into_any()),
                        Dialog::Map(psa, org) => Some(view! { <MapCompany psa org dialog map /> }.into_any()),
                        Dialog::Import(psa) => Some(view! { <ImportCompanies psa scopes=scopes.clone() dialog done /> }.into_any()),
                    }}
                }
            })}
        </Suspense>
        <Transition fallback=Loading>
            {move || orgs.get().map(|result| {
                let text = ListText { path: "/organizations".into(), empty: "No organizations match.", capped_at: None };
                let psas = mappings.get().and_then(Result::ok).unwrap_or_default();
                let columns = Columns { psas, may_manage, may_map };
                paged_list(result, text, |orgs| view! { <OrgTable orgs columns dialog /> })
            })}
        </Transition>
    }
}

/// Scope, name contains (applied on Enter), "only with alerts" and rows per page; kept in the URL.
#[component]
fn Filters(scopes: Vec<Scope>) -> impl IntoView {
    let query = use_query_map().get_untracked();
    let current = |key: &str| query.get(key).unwrap_or_default();
    let (scope, name, alerts) = (current("scope"), current("name"), current("alerts") == "1");
    let (sort, desc) = (query.get("sort"), query.get("desc"));
    let per_page = query.get("per_page").unwrap_or_else(|| "50".into());
    view! {
        <FilterForm action="/organizations">
            <label>"Scope"
                <select name="scope">
                    <option value="" selected=scope.is_empty()>"All"</option>
                    <option value="unassigned" selected=scope == "unassigned">"Unassigned"</option>
                    {scopes.into_iter().map(|s| {
                        let id = s.id.to_string();
                        view! { <option value=id.clone() selected=scope == id>{s.name}</option> }
                    }).collect_view()}
                </select>
            </label>
            {contains_filter("Name", "name", name.clone())}
            <label class="switch"><input type="checkbox" name="alerts" value="1" checked=alerts />"Only with alerts"</label>
            <label>"Rows"
                <select name="per_page">
                    {PAGE_SIZES.into_iter().map(|n| view! { <option selected=per_page == n.to_string()>{n}</option> }).collect_view()}
                </select>
            </label>
            {sort.map(|s| view! { <input type="hidden" name="sort" value=s /> })}
            {desc.map(|d| view! { <input type="hidden" name="desc" value=d /> })}
        </FilterForm>
    }
}

#[component]
fn OrgTable(orgs: Vec<Organization>, columns: Columns, dialog: RwSignal<Dialog>) -> impl IntoView {
    let Columns {
        psas,
        may_manage,
        may_map,
    } = columns;
    if orgs.is_empty() {
        return view! { <p class="empty">"No organizations match."</p> }.into_any();
    }
    view! {
        <div class="table-wrap">
            <table class="list">
                <thead>
                    <tr>
                        <SortHeader label="Name" key="name" />
                        <SortHeader label="Scope" key="scope" />
                        <SortHeader label="Appliances" key="appliances" />
                        <SortHeader label="Alerts" key="alerts" />
                        <SortHeader label="Free Space" key="free" />
                        {psas.iter().map(|p| view! { <th>{p.psa.label()}</th> }).collect_view()}
                        {may_manage.then(|| view! { <th><span class="sr-only">"Actions"</span></th> })}
                    </tr>
                </thead>
                <tbody>
                    {orgs.into_iter().map(|org| {
                        let (edit, delete) = (org.clone(), org.clone());
                        view! {
                            <tr>
                                <td><a href=format!("/organizations/{}", org.id)>{org.name.clone()}</a></td>
                                <td>{org.scope_name.clone().unwrap_or_else(|| "Unassigned".into())}</td>
                                <td class="num">{org.appliances}</td>
                                <td class="num">{org.alerts}</td>
                                <td class="num">{format!("{:.2}%", org.free_space_pct)}</td>
                                {psas.iter().map(|p| mapping_cell(p, &org, may_map, dialog)).collect_view()}
                                {may_manage.then(|| view! {
                                    <td class="row-actions">
                                        <button type="button" on:click=move |_| dialog.set(Dialog::Edit(edit.clone()))>"Edit"</button>
                                        <button type="button" class="danger" on:click=move |_| dialog.set(Dialog::Delete(delete.clone()))>"Delete"</button>
                                    </td>
                                })}
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

/// A column header that sorts by its column; a second click reverses the order.
#[component]
fn SortHeader(label: &'static str, key: &'static str) -> impl IntoView {
    let query = use_query_map();
    let sorted = move || query.get().get("sort").unwrap_or_else(|| "name".into()) == key;
    let descending = move || query.get().get("desc").is_some_and(|d| d == "1");
    let href = move || {
        let desc = (sorted() && !descending()).then(|| "1".to_owned());
        href_with(
            "/organizations",
            &query.get(),
            &[("sort", Some(key.into())), ("desc", desc), ("page", None)],
        )
    };
    let aria = move || match (sorted(), descending()) {
        (false, _) => "none",
        (true, false) => "ascending",
        (true, true) => "descending",
    };
    view! { <th aria-sort=aria><a href=href>{label}</a></th> }
}

/// The New and Edit organization dialogs.
#[component]
pub fn OrgForm(
    org: Option<Organization>,
    scopes: Vec<Scope>,
    dialog: RwSignal<Dialog>,
    done: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let create = ServerAction::<CreateOrganization>::new();
    let update = ServerAction::<UpdateOrganization>::new();
    Effect::new(move || {
        if matches!(create.value().get(), Some(Ok(_))) || matches!(update.value().get(), Some(Ok(()))) {
            done();
        }
    });
    let current_scope = org.as_ref().and_then(|o| o.scope_id);
    let unassigned = org.is_some() && current_scope.is_none();
    let fields = move |name: String| {
        view! {
            <label>"Name" <input name="name" required value=name /></label>
            <label>"Scope"
                <select name="scope">
                    {scopes.iter().map(|s| view! {
                        <option value=s.id.to_string() selected=current_scope == Some(s.id)>{s.name.clone()}</option>
                    }).collect_view()}
                    <option value="" selected=unassigned>"Unassigned"</option>
                </select>
            </label>
        }
    };
    match org.clone() {
        None => view! {
            <Modal label="New organization" on_close=move || dialog.set(Dialog::Closed)>
                <h2>"New organization"</h2>
                <ActionForm action=create>
                    {fields(String::new())}
                    {action_error(create.value())}
                    <SubmitOrCancel on_cancel=move || dialog.set(Dialog::Closed) />
                </ActionForm>
            </Modal>
        }
        .into_any(),
        Some(existing) => view! {
            <Modal label="Edit organization" on_close=move || dialog.set(Dialog::Closed)>
                <h2>{format!("Edit {}", existing.name)}</h2>
                <ActionForm action=update>
                    <input type="hidden" name="id" value=existing.id />
                    {fields(existing.name.clone())}
                    {action_error(update.value())}
                    <SubmitOrCancel on_cancel=move || dialog.set(Dialog::Closed) />
                </ActionForm>
            </Modal>
        }
        .into_any(),
    }
}

/// Deleting takes the organization and everything it owns; typing DELETE confirms it.
#[component]
fn DeleteOrg(
    org: Organization,
    dialog: RwSignal<Dialog>,
    done: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let action = ServerAction::<DeleteOrganization>::new();
    let typed = RwSignal::new(String::new());
    Effect::new(move || {
        if let Some(Ok(())) = action.value().get() {
            done();
        }
    });
    view! {
        <Modal label="Delete organization" on_close=move || dialog.set(Dialog::Closed)>
            <h2>{format!("Delete {}?", org.name)}</h2>
            <p>"This deletes the organization together with its appliances and everything they own. It cannot be undone."</p>
            <ActionForm action>
                <input type="hidden" name="id" value=org.id />
                <label>"Type DELETE to confirm"
                    <input name="confirmation" autocomplete="off" on:input=move |ev| typed.set(event_target_value(&ev)) />
                </label>
                {action_error(action.value())}
                <div class="actions">
                    <button type="submit" class="danger" disabled=move || typed.get() != "DELETE">"Delete"</button>
                    <button type="button" on:click=move |_| dialog.set(Dialog::Closed)>"Cancel"</button>
                </div>
            </ActionForm>
        </Modal>
    }
}

/// An organization's company in one PSA; Superusers get Map… to change it.
fn mapping_cell(
    column: &PsaMappings,
    org: &Organization,
    may_map: bool,
    dialog: RwSignal<Dialog>,
) -> impl IntoView + use<> {
    let company = column.company_of(org.id).map(|c| c.name.clone());
    let (psa, target) = (column.psa, org.clone());
    let label = format!("Map {} in {}", org.name, psa.label());
    view! {
        <td>
            {company.unwrap_or_else(|| "—".into())}
            {may_map.then(|| view! {
                <button type="button" class="link" aria-label=label on:click=move |_| dialog.set(Dialog::Map(psa, target.clone()))>"Map…"</button>
            })}
        </td>
    }
}

/// Searches the PSA's companies (its first 100 matches) and maps the organization to one, or
/// removes its mapping (its alerts then go to the integration's default company).
#[component]
fn MapCompany(
    psa: PsaKind,
    org: Organization,
    dialog: RwSignal<Dialog>,
    map: ServerAction<MapPsa>,
) -> impl IntoView {
    let search = RwSignal::new(org.name.clone());
    let companies = Resource::new(
        move || search.get(),
        move |text| psa_companies(psa, 1, Some(text)),
    );
    let organization_id = org.id;
    let close = move || dialog.set(Dialog::Closed);
    let choose = move |company_id: Option<i64>| {
        map.dispatch(MapPsa {
            psa,
            organization_id,
            company_id,
        });
        close();
    };
    let title = format!("Map {} to a company in {}", org.name, psa.label());
    view! {
        <Modal label=title.clone() on_close=close>
            <h2>{title}</h2>
            <label>"Search companies"
                <input type="search" prop:value=move || search.get() on:change=move |ev| search.set(event_target_value(&ev)) />
            </label>
            <Transition fallback=Loading>
                {move || companies.get().map(|result| match result {
                    Ok(page) if page.items.is_empty() => view! { <p class="empty">"No company matches."</p> }.into_any(),
                    Ok(page) => view! {
                        <ul class="choices" aria-label="Companies">
                            {page.items.into_iter().map(|c| {
                                let taken = c.mapped_to.as_ref().is_some_and(|o| o.id != organization_id);
                                let note = c.mapped_to.map(|o| format!(" (mapped to {})", o.name)).unwrap_or_default();
                                view! {
                                    <li><button type="button" disabled=taken on:click=move |_| choose(Some(c.id))>{c.name}</button>{note}</li>
                                }
                            }).collect_view()}
                        </ul>
                    }.into_any(),
                    Err(error) => view! { <crate::components::ErrorBox error /> }.into_any(),
                })}
            </Transition>
            <div class="actions">
                <button type="button" on:click=move |_| choose(None)>"Unmap"</button>
                <button type="button" on:click=move |_| close()>"Cancel"</button>
            </div>
        </Modal>
    }
}

/// Imports companies of the PSA as organizations, each mapped to its company: search, 100 a
/// page, choose which and into which scope. Companies already mapped are not offered.
#[component]
fn ImportCompanies(
    psa: PsaKind,
    scopes: Vec<Scope>,
    dialog: RwSignal<Dialog>,
    done: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let import = ServerAction::<ImportPsaCompanies>::new();
    Effect::new(move || {
        if matches!(import.value().get(), Some(Ok(_))) {
            done();
        }
    });
    let search = RwSignal::new(String::new());
    let page = RwSignal::new(1u32);
    let chosen = RwSignal::new(BTreeSet::<i64>::new());
    let scope = RwSignal::new(None::<i64>);
    let companies = Resource::new(
        move || (search.get(), page.get()),
        move |(text, page)| psa_companies(psa, page, Some(text)),
    );
    let close = move || dialog.set(Dialog::Closed);
    let submit = move |_| {
        import.dispatch(ImportPsaCompanies {
            psa,
            company_ids: Some(chosen.get_untracked().into_iter().collect()),
            scope_id: scope.get_untracked(),
        });
    };
    let title = format!("Import organizations from {}", psa.label());
    view! {
        <Modal label=title.clone() on_close=close>
            <h2>{title}</h2>
            <label>"Search companies"
                <input type="search" prop:value=move || search.get()
                    on:change=move |ev| { search.set(event_target_value(&ev)); page.set(1); } />
            </label>
            <Transition fallback=Loading>
                {move || companies.get().map(|result| match result {
                    Ok(found) => {
                        let pages = found.total_pages.max(1);
                        let free: Vec<_> = found.items.into_iter().filter(|c| c.mapped_to.is_none()).collect();
                        view! {
                            {free.is_empty().then(|| view! { <p class="empty">"No company to import on this page."</p> })}
                            <ul class="choices" aria-label="Companies">
                                {free.into_iter().map(|c| {
                                    let id = c.id;
                                    view! {
                                        <li><label class="check">
                                            <input type="checkbox" prop:checked=move || chosen.get().contains(&id)
                                                on:change=move |ev| {
                                                    let on = event_target_checked(&ev);
                                                    chosen.update(|c| { if on { c.insert(id); } else { c.remove(&id); } });
                                                } />
                                            {c.name}
                                        </label></li>
                                    }
                                }).collect_view()}
                            </ul>
                            <PageButtons page pages label="Company pages".to_owned() />
                        }.into_any()
                    }
                    Err(error) => view! { <crate::components::ErrorBox error /> }.into_any(),
                })}
            </Transition>
            <label>"Into scope"
                <select on:change=move |ev| scope.set(event_target_value(&ev).parse().ok())>
                    <option value="">"Unassigned"</option>
                    {scopes.into_iter().map(|s| view! { <option value=s.id.to_string()>{s.name}</option> }).collect_view()}
                </select>
            </label>
            {action_error(import.value())}
            <div class="actions">
                <button type="button" class="primary" disabled=move || chosen.get().is_empty() on:click=submit>
                    {move || format!("Import {} selected", chosen.get().len())}
                </button>
                <button type="button" on:click=move |_| close()>"Cancel"</button>
            </div>
        </Modal>
    }
}
