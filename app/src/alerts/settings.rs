//! Settings → Alerts (category toggles and e-mail recipients) and Settings → Conditional alarms
//! (global thresholds and per-organization custom ones). Superusers only.

use leptos::prelude::*;
use leptos_meta::Title;
use model::alerts::{AlarmSettings, CustomThreshold, ThresholdBlock, Thresholds};

use super::api::{
    AddAlertRecipient, DeleteCustomThreshold, RemoveAlertRecipient, SaveCustomThreshold,
    SaveGlobalThresholds, SetAlertCategory, get_alarm_settings, get_alert_settings,
};
use crate::components::{ErrorBox, Icon, Loading, action_error, icon};
use crate::organizations::{OrgChoice, OrganizationPicker};

#[component]
pub fn AlertSettingsPage() -> impl IntoView {
    let toggle = ServerAction::<SetAlertCategory>::new();
    let add = ServerAction::<AddAlertRecipient>::new();
    let remove = ServerAction::<RemoveAlertRecipient>::new();
    let settings = Resource::new(
        move || {
            (
                toggle.version().get(),
                add.version().get(),
                remove.version().get(),
            )
        },
        |_| get_alert_settings(),
    );
    view! {
        <Title text="Alerts · Settings · Backplane" />
        <h1>"Alerts"</h1>
        {action_error(toggle.value())}
        <Transition fallback=Loading>
            {move || settings.get().map(|result| match result {
                Ok(settings) => view! {
                    <section>
                        <h2>"Alert categories"</h2>
                        <p class="muted">"A category that is off raises no new alerts and sends no e-mail; open alerts stay until they clear. Conditional alarms follow their own settings."</p>
                        <ul class="toggles">
                            {settings.categories.into_iter().map(|(category, enabled)| view! {
                                <li>
                                    <label class="switch" data-category=category.as_str()>
                                        <input type="checkbox" checked=enabled on:change=move |ev| {
                                            toggle.dispatch(SetAlertCategory { category, enabled: event_target_checked(&ev) });
                                        } />
                                        {category.label()}
                                    </label>
                                </li>
                            }).collect_view()}
                        </ul>
                    </section>
                    <section>
                        <h2>"E-mail settings"</h2>
                        <p class="muted">"Every new alert is e-mailed to these addresses, and a reply follows when it clears."</p>
                        <ul class="recipients">
                            {settings.recipients.into_iter().map(|email| {
                                let address = email.clone();
                                view! {
                                    <li data-recipient=email.clone()>
                                        {email.clone()}
                                        <button type="button" class="dismiss" aria-label=format!("Remove {email}")
                                            on:click=move |_| { remove.dispatch(RemoveAlertRecipient { email: address.clone() }); }>{icon(Icon::Close)}</button>
                                    </li>
                                }
                            }).collect_view()}
                        </ul>
                    </section>
                }.into_any(),
                Err(error) => view! { <ErrorBox error /> }.into_any(),
            })}
        </Transition>
        <ActionForm action=add attr:class="inline-form">
            <label>"E-mail address" <input type="email" name="email" required /></label>
            <button type="submit" class="primary">"Add Email"</button>
        </ActionForm>
        {action_error(add.value())}
        {action_error(remove.value())}
    }
}

/// The Backups and Replication offsite blocks of a thresholds form.
#[component]
fn ThresholdFields(thresholds: Thresholds) -> impl IntoView {
    let block = |prefix: &'static str, label: &'static str, block: ThresholdBlock| {
        view! {
            <fieldset class="threshold" data-block=prefix>
                <legend>{label}</legend>
                <label class="switch">
                    <input type="checkbox" name=format!("{prefix}[enabled]") checked=block.enabled />
                    "On"
                </label>
                <label>"Days" <input type="number" name=format!("{prefix}[days]") min="0" max="365" required value=block.days /></label>
                <label>"Hours" <input type="number" name=format!("{prefix}[hours]") min="0" max="23" required value=block.hours /></label>
            </fieldset>
        }
    };
    view! {
        <p class="muted">"Time without a successful backup (success or warning), counted from the backup's scheduled start."</p>
        {block("backups", "Backups", thresholds.backups)}
        {block("copies", "Replication offsite (hot backup copies)", thresholds.copies)}
    }
}

const DEFAULT_THRESHOLDS: Thresholds = Thresholds::DEFAULT;

#[component]
pub fn AlarmSettingsPage() -> impl IntoView {
    let save_global = ServerAction::<SaveGlobalThresholds>::new();
    let save_custom = ServerAction::<SaveCustomThreshold>::new();
    let delete = ServerAction::<DeleteCustomThreshold>::new();
    let settings = Resource::new(
        move || {
            (
                save_global.version().get(),
                save_custom.version().get(),
                delete.version().get(),
            )
        },
        |_| get_alarm_settings(),
    );
    let editing = RwSignal::new(None::<Option<i64>>);
    Effect::new(move || {
        if matches!(save_custom.value().get(), Some(Ok(_))) || matches!(delete.value().get(), Some(Ok(_))) {
            editing.set(None);
        }
    });
    view! {
        <Title text="Conditional alarms · Settings · Backplane" />
        <h1>"Conditional alarms"</h1>
        <Transition fallback=Loading>
            {move || settings.get().map(|result| match result {
                Ok(settings) => view! { <AlarmSettingsView settings save_global save_custom delete editing /> }.into_any(),
                Err(error) => view! { <ErrorBox error /> }.into_any(),
            })}
        </Transition>
    }
}

#[component]
fn AlarmSettingsView(
    settings: AlarmSettings,
    save_global: ServerAction<SaveGlobalThresholds>,
    save_custom: ServerAction<SaveCustomThreshold>,
    delete: ServerAction<DeleteCustomThreshold>,
    editing: RwSignal<Option<Option<i64>>>,
) -> impl IntoView {
    let configured = settings.global.is_some();
    let global = settings.global.unwrap_or(DEFAULT_THRESHOLDS);
    let custom = StoredValue::new(settings.custom.clone());
    view! {
        <section data-section="global">
            <h2>"Global thresholds"</h2>
            {(!configured).then(|| view! { <p class="notice">"Alarms start once the global thresholds are saved."</p> })}
            <ActionForm action=save_global attr:class="stacked">
                <ThresholdFields thresholds=global />
                <button type="submit" class="primary">"Save"</button>
            </ActionForm>
            {action_error(save_global.value())}
            {move || matches!(save_global.value().get(), Some(Ok(()))).then(|| view! { <p class="ok">"Saved."</p> })}
        </section>
        <section data-section="custom">
            <h2>"Custom thresholds"</h2>
            <p class="muted">"A custom threshold overrides the global one for its organizations; each organization holds at most one."</p>
            <Show when=move || editing.get().is_none()>
                <button type="button" class="primary" on:click=move |_| editing.set(Some(None))>"+ Create New"</button>
                <ul class="cards">
                    {custom.get_value().into_iter().map(|c| {
                        let id = c.id;
                        view! {
                            <li class="card" data-threshold=c.title.clone()>
                                <button type="button" class="link" on:click=move |_| editing.set(Some(Some(id)))>
                                    <strong>{c.title.clone()}</strong>
                                </button>
                                <span>{c.thresholds.backups.describe()}</span>
                                <span class="muted">{format!("{} Organizations", c.organizations.len())}</span>
                            </li>
                        }
                    }).collect_view()}
                </ul>
            </Show>
            {move || editing.get().map(|id| {
                let existing = id.and_then(|id| custom.get_value().into_iter().find(|c| c.id == id));
                view! { <CustomEditor existing all=custom.get_value() save=save_custom delete editing /> }
            })}
        </section>
    }
}

/// Create or modify a custom threshold: title, blocks, and the organizations it covers.
#[component]
fn CustomEditor(
    existing: Option<CustomThreshold>,
    all: Vec<CustomThreshold>,
    save: ServerAction<SaveCustomThreshold>,
    delete: ServerAction<DeleteCustomThreshold>,
    editing: RwSignal<Option<Option<i64>>>,
) -> impl IntoView {
    let id = existing.as_ref().map(|c| c.id);
    let title = existing.as_ref().map(|c| c.title.clone()).unwrap_or_default();
    let thresholds = existing.as_ref().map_or(DEFAULT_THRESHOLDS, |c| c.thresholds);
    let chosen = RwSignal::new(
        existing
            .as_ref()
            .map(|c| {
                c.organizations
                    .iter()
                    .map(|o| OrgChoice {
                        id: o.id,
                        name: o.name.clone(),
                    })
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default(),
    );
    let add = Callback::new(move |choice: Option<OrgChoice>| {
        if let Some(choice) = choice {
            chosen.update(|c| {
                if !c.iter().any(|o| o.id == choice.id) {
                    c.push(choice);
                }
            });
        }
    });
    // Which other threshold holds each organization (adding it here moves it).
    let held_elsewhere = move |organization: i64| {
        all.iter()
            .find(|c| Some(c.id) != id && c.organizations.iter().any(|o| o.id == organization))
            .map(|c| c.title.clone())
    };
    let held_elsewhere = StoredValue::new(held_elsewhere);
    let delete_it = move |_| {
        if let Some(id) = id
            && window()
                .confirm_with_message(
                    "Delete this custom threshold? Its organizations fall back to the global thresholds.",
                )
                .unwrap_or(false)
        {
            delete.dispatch(DeleteCustomThreshold { id });
        }
    };
    view! {
        <div class="editor" data-editor=id.map_or("new".to_string(), |i| i.to_string())>
            <button type="button" class="link" on:click=move |_| editing.set(None)>"← Back"</button>
            <h3>{if id.is_some() { "Modify settings" } else { "New custom threshold" }}</h3>
            <ActionForm action=save attr:class="stacked">
                {id.map(|id| view! { <input type="hidden" name="id" value=id /> })}
                <label>"Title" <input name="title" required maxlength="100" value=title /></label>
                <ThresholdFields thresholds />
                {move || chosen.get().into_iter().enumerate().map(|(index, organization)| view! {
                    <input type="hidden" name=format!("organization_ids[{index}]") value=organization.id />
                }).collect_view()}
                <div class="org-picker">
                    <label class="picker-label">"Add an organization"
                        <OrganizationPicker label="Add an organization" on_pick=add clear_on_pick=true />
                    </label>
                    <table class="list">
                        <thead><tr><th>"Organization"</th><th>"Threshold"</th></tr></thead>
                        <tbody>
                            {move || chosen.get().into_iter().map(|o| {
                                let org = o.id;
                                let elsewhere = held_elsewhere.with_value(|f| f(org));
                                view! {
                                    <tr data-organization=o.name.clone()>
                                        <td>{o.name.clone()}{elsewhere.map(|t| view! {
                                            <span class="muted small">{format!(" (now in {t}; saving moves it here)")}</span>
                                        })}</td>
                                        <td><button type="button" on:click=move |_| chosen.update(|c| c.retain(|x| x.id != org))>"Remove"</button></td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
                <button type="submit" class="primary">"Save"</button>
                {id.is_some().then(|| view! { <button type="button" class="danger" on:click=delete_it>"Delete"</button> })}
            </ActionForm>
            {action_error(save.value())}
            {action_error(delete.value())}
        </div>
    }
}
