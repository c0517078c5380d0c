//! Settings → Integrations → a PSA's card (Autotask, ConnectWise PSA; Superusers): the API
//! credentials (tested before they are stored), how alerts become tickets (default company,
//! queue or board, statuses, a priority per severity or Do not sync, which alert kinds), a test
//! ticket, and the PSA's companies to import into a scope or map to organizations.

use std::collections::BTreeSet;

use leptos::prelude::*;
use model::AppError;
use model::alerts::AlertKind;
use model::psa::{
    OrganizationTicketSettings, PickValue, PsaCompanyPage, PsaCompanyRow, PsaKind, PsaSettings,
    TicketChoices, TicketDefaults,
};
use model::tenancy::Scope;

use super::psa_api::{
    DefaultsForm, ImportPsaCompanies, IntegratePsa, MapPsa, MapPsaByName, OverwritePsa, PsaTestTicket,
    PsaUseDefaults, RemovePsa, ResetPsaOrganizations, SavePsaDefaults, psa_choices, psa_companies,
    psa_integration, psa_locations, psa_organization,
};
use crate::components::{
    ErrorBox, Loading, Modal, PageButtons, TypeDeleteToConfirm, action_error, format_time,
};
use crate::organizations::api::list_scopes;
use crate::organizations::{OrgChoice, OrganizationPicker};

/// The card's actions; any of them reloads what it changes.
#[derive(Clone, Copy)]
struct Actions {
    integrate: ServerAction<IntegratePsa>,
    remove: ServerAction<RemovePsa>,
    save: ServerAction<SavePsaDefaults>,
    test: ServerAction<PsaTestTicket>,
    import: ServerAction<ImportPsaCompanies>,
    map: ServerAction<MapPsa>,
    by_name: ServerAction<MapPsaByName>,
    overwrite: ServerAction<OverwritePsa>,
    use_defaults: ServerAction<PsaUseDefaults>,
    reset_all: ServerAction<ResetPsaOrganizations>,
}

impl Actions {
    fn settings_version(&self) -> (usize, usize, usize) {
        (
            self.integrate.version().get(),
            self.remove.version().get(),
            self.save.version().get(),
        )
    }

    fn companies_version(&self) -> (usize, usize, usize, usize) {
        (
            self.integrate.version().get(),
            self.import.version().get(),
            self.map.version().get(),
            self.by_name.version().get(),
        )
    }
}

/// What the card reads; made at its top, outside the Transitions, so hydration finds them.
#[derive(Clone, Copy)]
struct Data {
    psa: PsaKind,
    choices: Resource<Result<TicketChoices, AppError>>,
    page: RwSignal<u32>,
    search: RwSignal<String>,
    companies: Resource<Result<PsaCompanyPage, AppError>>,
    scopes: Resource<Result<Vec<Scope>, AppError>>,
    /// The organization whose own settings are open, if any.
    organization: RwSignal<Option<i64>>,
    organization_settings: Resource<Option<Result<OrganizationTicketSettings, AppError>>>,
}

#[component]
pub fn PsaCard(psa: PsaKind) -> impl IntoView {
    let actions = Actions {
        integrate: ServerAction::new(),
        remove: ServerAction::new(),
        save: ServerAction::new(),
        test: ServerAction::new(),
        import: ServerAction::new(),
        map: ServerAction::new(),
        by_name: ServerAction::new(),
        overwrite: ServerAction::new(),
        use_defaults: ServerAction::new(),
        reset_all: ServerAction::new(),
    };
    let settings = Resource::new(move || actions.settings_version(), move |_| psa_integration(psa));
    let page = RwSignal::new(1u32);
    let search = RwSignal::new(String::new());
    let organization = RwSignal::new(None::<i64>);
    let data = Data {
        psa,
        choices: Resource::new(
            move || actions.integrate.version().get(),
            move |_| psa_choices(psa),
        ),
        page,
        search,
        companies: Resource::new(
            move || (page.get(), search.get(), actions.companies_version()),
            move |(page, search, _)| psa_companies(psa, page, (!search.is_empty()).then_some(search)),
        ),
        scopes: Resource::new(|| (), |_| list_scopes()),
        organization,
        organization_settings: Resource::new(
            move || {
                let changed = (
                    actions.overwrite.version().get(),
                    actions.use_defaults.version().get(),
                    actions.reset_all.version().get(),
                    actions.save.version().get(),
                );
                (organization.get(), changed)
            },
            move |(organization, _)| async move {
                match organization {
                    Some(id) => Some(psa_organization(psa, id).await),
                    None => None,
                }
            },
        ),
    };
    let title_id = format!("{}-title", psa.as_str());
    let labelled_by = title_id.clone();
    view! {
        <section class="card" aria-labelledby=labelled_by>
            <h2 id=title_id>{psa.label()}</h2>
            <p class="muted">{format!("Creates {} tickets from alerts: one ticket per condition in the organization's company, a note when it happens again, closed when the alert resolves.", psa.label())}</p>
            <Transition fallback=Loading>
                {move || settings.get().map(|result| match result {
                    Ok(None) => view! { <CredentialsForm actions psa current=None /> }.into_any(),
                    Ok(Some(current)) => view! { <Integrated actions current data /> }.into_any(),
                    Err(error) => view! { <ErrorBox error /> }.into_any(),
                })}
            </Transition>
        </section>
    }
}

/// The API credentials; tested against the PSA before they are stored.
#[component]
fn CredentialsForm(actions: Actions, psa: PsaKind, current: Option<PsaSettings>) -> impl IntoView {
    let editing = current.is_some();
    let labels = psa.fields();
    let (lookup_url, username, account) = current
        .map(|c| (c.lookup_url, c.username, c.account))
        .unwrap_or_else(|| (labels.default_lookup.into(), String::new(), String::new()));
    view! {
        <ActionForm action=actions.integrate>
            <input type="hidden" name="psa" value=psa.as_str() />
            <label>{labels.username}
                <input name="username" required value=username autocomplete="off" />
            </label>
            <label>{labels.secret}
                <input name="secret" type="password" autocomplete="off" required=!editing
                    placeholder=if editing { "Unchanged" } else { "" } />
            </label>
            <label>{labels.account}
                <input name="account" required value=account autocomplete="off" />
            </label>
            <label>{labels.lookup}
                <input name="lookup_url" required value=lookup_url />
            </label>
            {action_error(actions.integrate.value())}
            <button type="submit" class="primary" disabled=actions.integrate.pending()>
                {move || if actions.integrate.pending().get() { "Testing…" } else { "Test & Integrate" }}
            </button>
        </ActionForm>
    }
}

#[component]
fn Integrated(actions: Actions, current: PsaSettings, data: Data) -> impl IntoView {
    let psa = data.psa;
    let id = |what: &str| format!("{}-{what}", psa.as_str());
    let editing = RwSignal::new(false);
    let deleting = RwSignal::new(false);
    let stored = StoredValue::new(current.clone());
    let queue = current.queue.clone();
    let status = match (&queue.failing, queue.paused_since) {
        (Some(failure), Some(since)) => format!(
            "Paused since {}: {} Tickets wait until working credentials are saved (Edit credentials).",
            format_time(since),
            failure.error
        ),
        (Some(failure), None) => format!("Failing since {}: {}", format_time(failure.since), failure.error),
        (None, _) => "Integrated".into(),
    };
    view! {
        <dl class="facts">
            <dt>"Status"</dt><dd data-testid=id("status")>{status}</dd>
            <dt>{psa.fields().username}</dt><dd>{current.username.clone()}</dd>
            <dt>"API"</dt><dd>{current.api_url.clone()}</dd>
            <dt>"Open tickets"</dt><dd data-testid=id("open")>{queue.open_tickets}</dd>
            <dt>"Waiting to be sent"</dt><dd data-testid=id("pending")>{queue.pending}</dd>
            <dt>"Given up"</dt><dd>{queue.failed}</dd>
            <dt>"Changed"</dt><dd>{format!("{} by {}", format_time(current.updated_at), current.updated_by)}</dd>
        </dl>
        <div class="toolbar">
            <button type="button" on:click=move |_| editing.update(|e| *e = !*e)>"Edit credentials"</button>
            <button type="button" class="danger" on:click=move |_| deleting.set(true)>"Delete"</button>
        </div>
        <Show when=move || editing.get()>
            <CredentialsForm actions psa current=Some(stored.get_value()) />
        </Show>
        <Show when=move || deleting.get()>
            <Modal label=format!("Delete the {} integration", psa.label()) on_close=move || deleting.set(false)>
                <h2>{format!("Delete the {} integration", psa.label())}</h2>
                <p>{format!("The credentials, the ticket settings and every organization's mapping are removed, and alerts stop making tickets. The organizations stay, and so do the tickets in {}.", psa.label())}</p>
                <ActionForm action=actions.remove>
                    <input type="hidden" name="psa" value=psa.as_str() />
                    <TypeDeleteToConfirm />
                    {action_error(actions.remove.value())}
                    <div class="actions">
                        <button type="button" on:click=move |_| deleting.set(false)>"Cancel"</button>
                        <button type="submit" class="danger">"Delete"</button>
                    </div>
                </ActionForm>
            </Modal>
        </Show>
        <TicketSettings actions current=current.clone() data />
        <OrganizationSettings actions data />
        <Companies actions data />
    }
}

fn options(list: &[PickValue], none: String, chosen: Option<String>) -> impl IntoView + use<> {
    let none_chosen = chosen.is_none();
    view! {
        <option value="" selected=none_chosen>{none}</option>
        {list.iter().map(|v| {
            let selected = chosen.as_deref() == Some(v.value.as_str());
            view! { <option value=v.value.clone() selected=selected>{v.label.clone()}</option> }
        }).collect_view()}
    }
}

fn chosen(ev: &leptos::ev::Event) -> Option<String> {
    Some(event_target_value(ev)).filter(|v| !v.is_empty())
}

/// The location of the default company's tickets (BMS, Vorex): that company's locations, the
/// main one first; a new company starts at its main location. The list is read in the browser
/// whenever the company changes (the page renders the saved location only).
#[component]
fn LocationField(psa: PsaKind, form: RwSignal<DefaultsForm>, saved: Option<PickValue>) -> impl IntoView {
    let locations = RwSignal::new(saved.into_iter().collect::<Vec<_>>());
    Effect::new(move |_| {
        let company_id = form.with(|f| f.company_id);
        leptos::task::spawn_local(async move {
            let found = psa_locations(psa, company_id).await;
            if let Ok(found) = found
                && form.with_untracked(|f| f.company_id) == company_id
            {
                locations.set(found);
            }
        });
    });
    let current = move || form.with_untracked(|f| f.location.clone());
    view! {
        <label>"Location of the default company's tickets"
            <select on:change=move |ev| form.update(|f| f.location = chosen(&ev))>
                {move || options(&locations.get(), "Its main location".into(), current())}
            </select>
        </label>
    }
}

/// The fields of a set of ticket settings (spec §1.4.3), chosen from the PSA's own picklists;
/// where statuses belong to a queue (ConnectWise's boards), those of the chosen one.
fn settings_fields(
    psa: PsaKind,
    form: RwSignal<DefaultsForm>,
    choices: TicketChoices,
    (companies, saved): (Vec<PsaCompanyRow>, &TicketDefaults),
) -> impl IntoView + use<> {
    let company = saved.company.clone();
    let saved_location = saved.location.clone();
    let f = form.get_untracked();
    let psa_default = format!("{}'s default", psa.label());
    let queue = Memo::new(move |_| form.with(|f| f.queue.clone()));
    let statuses = Memo::new({
        let choices = choices.clone();
        move |_| choices.statuses_for(queue.get().as_deref())
    });
    // Statuses of one board do not exist on another: a new board starts from its defaults.
    let per_queue = !choices.queue_statuses.is_empty();
    let choose_queue = move |queue: Option<String>| {
        form.update(|f| {
            f.queue = queue;
            if per_queue {
                f.new_status = None;
                f.close_status = None;
            }
        })
    };
    let new_status = move || form.with_untracked(|f| f.new_status.clone());
    let close_status = move || form.with_untracked(|f| f.close_status.clone());
    view! {
        <label>"Default company (organizations not mapped)"
            <select on:change=move |ev| form.update(|f| {
                f.company_id = chosen(&ev).and_then(|v| v.parse().ok());
                f.location = None;
            })>
                <option value="" selected=company.is_none()>"None: no ticket"</option>
                {company.clone().map(|c| view! { <option value=c.id.to_string() selected=true>{c.name}</option> })}
                {companies.into_iter().filter(|c| Some(c.id) != company.as_ref().map(|d| d.id)).map(|c| view! {
                    <option value=c.id.to_string()>{c.name}</option>
                }).collect_view()}
            </select>
        </label>
        <label>{psa.fields().queue}
            <select on:change=move |ev| choose_queue(chosen(&ev))>
                {options(&choices.queues, psa_default.clone(), f.queue.clone())}
            </select>
        </label>
        <label>"Status of new tickets"
            <select on:change=move |ev| form.update(|f| f.new_status = chosen(&ev))>
                {move || options(&statuses.get(), psa_default.clone(), new_status())}
            </select>
        </label>
        <label>"Close ticket status"
            <select on:change=move |ev| form.update(|f| f.close_status = chosen(&ev))>
                {move || options(&statuses.get(), "Do not close automatically".into(), close_status())}
            </select>
        </label>
        <label>"Priority of critical alerts"
            <select on:change=move |ev| form.update(|f| f.critical_priority = chosen(&ev))>
                {options(&choices.priorities, "Do not sync".into(), f.critical_priority.clone())}
            </select>
        </label>
        <label>"Priority of warnings"
            <select on:change=move |ev| form.update(|f| f.warning_priority = chosen(&ev))>
                {options(&choices.priorities, "Do not sync".into(), f.warning_priority.clone())}
            </select>
        </label>
        {psa.needs_type_and_source().then(|| view! {
            <label>"Ticket type"
                <select on:change=move |ev| form.update(|f| f.ticket_type = chosen(&ev))>
                    {options(&choices.types, "Choose one".into(), f.ticket_type.clone())}
                </select>
            </label>
            <label>"Ticket source"
                <select on:change=move |ev| form.update(|f| f.source = chosen(&ev))>
                    {options(&choices.sources, "Choose one".into(), f.source.clone())}
                </select>
            </label>
            <LocationField psa form saved=saved_location.clone() />
        })}
        <fieldset>
            <legend>"Alerts that make tickets"</legend>
            {AlertKind::ALL.into_iter().filter(|k| k.makes_tickets()).map(|kind| {
                let name = kind.as_str();
                view! {
                    <label class="check">
                        <input type="checkbox"
                            prop:checked=move || form.with(|f| f.kinds.iter().any(|k| k == name))
                            on:change=move |ev| {
                                let on = event_target_checked(&ev);
                                form.update(|f| {
                                    f.kinds.retain(|k| k != name);
                                    if on { f.kinds.push(name.to_owned()); }
                                });
                            } />
                        {kind.label()}
                    </label>
                }
            }).collect_view()}
        </fieldset>
    }
}

/// The integration's ticket settings, a test ticket, and Reset For All Organizations.
#[component]
fn TicketSettings(actions: Actions, current: PsaSettings, data: Data) -> impl IntoView {
    let psa = data.psa;
    let form = RwSignal::new(DefaultsForm::from_defaults(&current.defaults));
    let saved = current.defaults.clone();
    view! {
        <h3>"Ticket settings"</h3>
        <Transition fallback=Loading>
            {move || data.choices.get().map(|result| match result {
                Err(error) => view! { <ErrorBox error /> }.into_any(),
                Ok(choices) => {
                    let companies = data.companies.get().and_then(Result::ok).map(|p| p.items).unwrap_or_default();
                    view! {
                        <form class="ticket-settings" aria-label="Ticket settings" on:submit=move |ev| {
                            ev.prevent_default();
                            actions.save.dispatch(SavePsaDefaults { psa, form: form.get_untracked() });
                        }>
                            {settings_fields(psa, form, choices, (companies, &saved))}
                            {action_error(actions.save.value())}
                            {move || actions.save.value().get().and_then(Result::ok).map(|_| view! { <p role="status">"Ticket settings saved."</p> })}
                            {move || actions.test.value().get().map(|result| match result {
                                Ok(ticket) => view! { <p role="status">{format!("Test ticket {} created in {}.", ticket.number, psa.label())}</p> }.into_any(),
                                Err(error) => view! { <ErrorBox error /> }.into_any(),
                            })}
                            {move || actions.reset_all.value().get().map(|result| match result {
                                Ok(count) => view! { <p role="status">{format!("{count} organization(s) follow these settings again.")}</p> }.into_any(),
                                Err(error) => view! { <ErrorBox error /> }.into_any(),
                            })}
                            <div class="actions">
                                <button type="button" on:click=move |_| { actions.reset_all.dispatch(ResetPsaOrganizations { psa }); }>"Reset for all organizations"</button>
                                <button type="button" disabled=actions.test.pending() on:click=move |_| {
                                    actions.test.dispatch(PsaTestTicket { psa, form: form.get_untracked() });
                                }>"Create test ticket"</button>
                                <button type="submit" class="primary" disabled=actions.save.pending()>"Save"</button>
                            </div>
                        </form>
                    }.into_any()
                }
            })}
        </Transition>
    }
}

/// One organization's own settings (spec §1.4.7): shown as they apply, "Use default settings"
/// or "Overwrite settings".
#[component]
fn OrganizationSettings(actions: Actions, data: Data) -> impl IntoView {
    let psa = data.psa;
    let on_pick = Callback::new(move |pick: Option<OrgChoice>| data.organization.set(pick.map(|p| p.id)));
    view! {
        <h3>"An organization's own ticket settings"</h3>
        <label class="picker-label">"Organization"
            <OrganizationPicker label="Organization of the settings" on_pick />
        </label>
        {action_error(actions.overwrite.value())}
        {action_error(actions.use_defaults.value())}
        <Transition fallback=Loading>
            {move || data.organization_settings.get().flatten().map(|result| match result {
                Err(error) => view! { <ErrorBox error /> }.into_any(),
                Ok(current) => {
                    let choices = data.choices.get().and_then(Result::ok).unwrap_or_default();
                    let companies = data.companies.get().and_then(Result::ok).map(|p| p.items).unwrap_or_default();
                    let form = RwSignal::new(DefaultsForm::from_defaults(&current.settings));
                    let id = current.organization.id;
                    view! {
                        <form class="ticket-settings" aria-label="Organization ticket settings" on:submit=move |ev| {
                            ev.prevent_default();
                            actions.overwrite.dispatch(OverwritePsa { psa, organization_id: id, form: form.get_untracked() });
                        }>
                            <p data-testid="organization-settings-source">{if current.own {
                                format!("{} has its own settings.", current.organization.name)
                            } else {
                                format!("{} follows the integration's settings.", current.organization.name)
                            }}</p>
                            {settings_fields(psa, form, choices, (companies, &current.settings))}
                            <div class="actions">
                                <button type="button" on:click=move |_| {
                                    actions.use_defaults.dispatch(PsaUseDefaults { psa, organization_id: id });
                                }>"Use default settings"</button>
                                <button type="submit" class="primary">"Overwrite settings"</button>
                            </div>
                        </form>
                    }.into_any()
                }
            })}
        </Transition>
    }
}

/// The PSA's companies, 100 a page and searchable: import some into a scope, or map one.
#[component]
fn Companies(actions: Actions, data: Data) -> impl IntoView {
    let psa = data.psa;
    let chosen = RwSignal::new(BTreeSet::<i64>::new());
    let scope = RwSignal::new(None::<i64>);
    let mapping = RwSignal::new(None::<PsaCompanyRow>);
    let import = move |_| {
        actions.import.dispatch(ImportPsaCompanies {
            psa,
            company_ids: Some(chosen.get_untracked().into_iter().collect()),
            scope_id: scope.get_untracked(),
        });
        chosen.set(BTreeSet::new());
    };
    let Data {
        page,
        search,
        companies,
        scopes,
        ..
    } = data;
    view! {
        <h3>{format!("{} companies", psa.label())}</h3>
        <div class="toolbar">
            <label>"Search"
                <input type="search" prop:value=move || search.get()
                    on:change=move |ev| { search.set(event_target_value(&ev)); page.set(1); } />
            </label>
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
            <button type="button" on:click=move |_| { actions.by_name.dispatch(MapPsaByName { psa }); }>"Map by name"</button>
        </div>
        {move || actions.import.value().get().map(|result| match result {
            Ok(count) => view! { <p role="status">{format!("{count} organization(s) imported.")}</p> }.into_any(),
            Err(error) => view! { <ErrorBox error /> }.into_any(),
        })}
        {move || actions.by_name.value().get().map(|result| match result {
            Ok(count) => view! { <p role="status">{format!("{count} organization(s) mapped by name.")}</p> }.into_any(),
            Err(error) => view! { <ErrorBox error /> }.into_any(),
        })}
        {action_error(actions.map.value())}
        <Transition fallback=Loading>
            {move || companies.get().map(|result| match result {
                Ok(found) => {
                    let pages = found.total_pages;
                    view! {
                        <table class="list" aria-label=format!("{} companies", psa.label())>
                            <thead><tr><th><span class="sr-only">"Select"</span></th><th>"Company"</th><th>"Mapped to"</th><th><span class="sr-only">"Actions"</span></th></tr></thead>
                            <tbody>
                                {found.items.into_iter().map(|c| {
                                    let id = c.id;
                                    let name = c.name.clone();
                                    let row = c.clone();
                                    view! {
                                        <tr>
                                            <td>{c.mapped_to.is_none().then(|| view! {
                                                <input type="checkbox" aria-label=format!("Select {name}")
                                                    prop:checked=move || chosen.get().contains(&id)
                                                    on:change=move |ev| {
                                                        let on = event_target_checked(&ev);
                                                        chosen.update(|c| { if on { c.insert(id); } else { c.remove(&id); } });
                                                    } />
                                            })}</td>
                                            <td>{c.name.clone()}</td>
                                            <td>{c.mapped_to.clone().map(|o| o.name).unwrap_or_else(|| "—".into())}</td>
                                            <td class="row-actions">
                                                {match c.mapped_to.clone() {
                                                    Some(o) => view! { <button type="button" on:click=move |_| {
                                                        actions.map.dispatch(MapPsa { psa, organization_id: o.id, company_id: None });
                                                    }>"Unmap"</button> }.into_any(),
                                                    None => view! { <button type="button" on:click=move |_| mapping.set(Some(row.clone()))>"Map…"</button> }.into_any(),
                                                }}
                                            </td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                        <PageButtons page pages label=format!("{} company pages", psa.label()) />
                    }.into_any()
                }
                Err(error) => view! { <ErrorBox error /> }.into_any(),
            })}
        </Transition>
        {move || mapping.get().map(|target| {
            let on_pick = Callback::new(move |pick: Option<OrgChoice>| {
                if let Some(pick) = pick {
                    actions.map.dispatch(MapPsa { psa, organization_id: pick.id, company_id: Some(target.id) });
                    mapping.set(None);
                }
            });
            view! {
                <Modal label="Map to an organization" on_close=move || mapping.set(None)>
                    <h2>{format!("Map {} to", target.name)}</h2>
                    <label class="picker-label">"Organization"
                        <OrganizationPicker label="Organization" on_pick />
                    </label>
                    <div class="actions">
                        <button type="button" on:click=move |_| mapping.set(None)>"Cancel"</button>
                    </div>
                </Modal>
            }
        })}
    }
}
