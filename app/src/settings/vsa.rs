//! Settings → Integrations → Kaseya VSA (Superusers): the VSA server with its REST API user and
//! personal access token (Test & Save signs in first), which conditional alarms VSA receives,
//! the module package to install in VSA (Download Manifest), where alarms stand, and the
//! caller's own VSA e-mail actions.

use leptos::prelude::*;
use model::vsa::{AlarmCategory, MANIFEST_FILE_NAME, MANIFEST_PATH, VsaEmailAction, VsaForm, VsaSettings};

use super::vsa_api::{
    DeleteVsaEmailAction, IntegrateVsa, RemoveVsa, SaveVsaEmailAction, vsa_email_actions, vsa_integration,
};
use crate::components::{ErrorBox, Loading, Modal, TypeDeleteToConfirm, action_error, format_time};

#[component]
pub fn VsaCard() -> impl IntoView {
    let save = ServerAction::<IntegrateVsa>::new();
    let remove = ServerAction::<RemoveVsa>::new();
    // Reloaded only after a save went through: a refused one keeps what the user typed.
    let saved = RwSignal::new(0u32);
    Effect::new(move || {
        if let Some(Ok(_)) = save.value().get() {
            saved.update(|n| *n += 1);
        }
    });
    let current = Resource::new(
        move || (saved.get(), remove.version().get()),
        |_| vsa_integration(),
    );
    // Made here, outside the Transition: a resource made inside a suspended view is not matched
    // with its server-rendered data when the page hydrates.
    let mail = MailActions::new(remove);
    view! {
        <section class="card" aria-labelledby="vsa-title" data-testid="vsa">
            <h2 id="vsa-title">"Kaseya VSA"</h2>
            <p class="muted">
                "VSA 9: the portal as a module inside VSA, and conditional alarms raised as VSA alarms (optionally with VSA e-mails). "
                "Use the server's direct address and a REST API user with a personal access token (VSA: System → User Security → Users → Access Tokens)."
            </p>
            <p class="muted">
                "Alarms need VSA 9.5.0.28 or later, reachable from this server, with “Enable VSA API Web Service” on and the user's role and scope granted. "
                "VSA 10 takes no alerts or conditional alarms: frame the portal there through Settings → Security → Embedding."
            </p>
            <Transition fallback=Loading>
                {move || current.get().map(|found| match found {
                    Ok(found) => view! { <VsaForm found save remove mail /> }.into_any(),
                    Err(error) => view! { <ErrorBox error /> }.into_any(),
                })}
            </Transition>
        </section>
    }
}

fn status(s: &VsaSettings) -> String {
    match (&s.last_error, s.paused) {
        (Some(error), true) => format!("Paused — {error} Alarms wait until a working token is saved."),
        (Some(error), false) => format!(
            "Integration complete — alarms failing since {}: {error}",
            s.failing_since.map(format_time).unwrap_or_default()
        ),
        (None, _) => "Integration complete".to_owned(),
    }
}

#[component]
fn VsaForm(
    found: Option<VsaSettings>,
    save: ServerAction<IntegrateVsa>,
    remove: ServerAction<RemoveVsa>,
    mail: MailActions,
) -> impl IntoView {
    let server_url = RwSignal::new(found.as_ref().map(|f| f.server_url.clone()).unwrap_or_default());
    let username = RwSignal::new(found.as_ref().map(|f| f.username.clone()).unwrap_or_default());
    let token = RwSignal::new(String::new());
    let backups = RwSignal::new(found.as_ref().is_none_or(|f| f.forward_backups));
    let copies = RwSignal::new(found.as_ref().is_none_or(|f| f.forward_copies));
    let removing = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        save.dispatch(IntegrateVsa {
            form: VsaForm {
                server_url: server_url.get_untracked(),
                username: username.get_untracked(),
                token: token.get_untracked(),
                forward_backups: backups.get_untracked(),
                forward_copies: copies.get_untracked(),
            },
        });
    };
    let integrated = found.is_some();
    view! {
        {found.clone().map(|s| view! {
            <dl class="facts">
                <dt>"Status"</dt><dd data-testid="vsa-status">{status(&s)}</dd>
                <dt>"VSA"</dt><dd>{s.server_url.clone()}</dd>
                <dt>"Alarms waiting"</dt><dd data-testid="vsa-pending">{s.pending}</dd>
                <dt>"Changed"</dt><dd>{format!("{} by {}", format_time(s.updated_at), s.updated_by)}</dd>
            </dl>
            <p>
                <a class="button" href=MANIFEST_PATH download=MANIFEST_FILE_NAME rel="external">"Download Manifest"</a>
                <span class="muted">" Install it in VSA (License Manager → Third Party → Install); the installer asks for this instance's homerealm."</span>
            </p>
        })}
        <form on:submit=submit aria-label="Kaseya VSA settings">
            <label>"VSA server address"
                <input required prop:value=move || server_url.get() on:input=move |ev| server_url.set(event_target_value(&ev))
                    placeholder="https://vsa.example.com" />
            </label>
            <label>"REST API user"
                <input required prop:value=move || username.get() on:input=move |ev| username.set(event_target_value(&ev)) />
            </label>
            <label>"Personal access token"
                <input type="password" autocomplete="off" prop:value=move || token.get()
                    on:input=move |ev| token.set(event_target_value(&ev))
                    placeholder=if integrated { "Unchanged" } else { "" } />
            </label>
            <fieldset>
                <legend>"Alerts pushed to VSA"</legend>
                <label class="checkbox">
                    <input type="checkbox" prop:checked=move || backups.get() on:change=move |ev| backups.set(event_target_checked(&ev)) />
                    "Backups (conditional alarms on backups)"
                </label>
                <label class="checkbox">
                    <input type="checkbox" prop:checked=move || copies.get() on:change=move |ev| copies.set(event_target_checked(&ev)) />
                    "Replication Offsite (conditional alarms on copies)"
                </label>
            </fieldset>
            {action_error(save.value())}
            {move || save.value().get().and_then(Result::ok).map(|_| view! { <p role="status">"Kaseya VSA saved."</p> })}
            <div class="actions">
                <button type="submit" class="primary" disabled=save.pending()>
                    {move || if save.pending().get() { "Testing…" } else { "Test & Save" }}
                </button>
                {integrated.then(|| view! {
                    <button type="button" class="danger" on:click=move |_| removing.set(true)>"Remove"</button>
                })}
            </div>
        </form>
        {integrated.then(|| view! { <EmailActions mail /> })}
        <Show when=move || removing.get()>
            <Modal label="Remove Kaseya VSA" on_close=move || removing.set(false)>
                <h2>"Remove Kaseya VSA"</h2>
                <p>"Alarms waiting for VSA are dropped and every user's VSA e-mail actions are removed. Alarms already in VSA stay there."</p>
                <ActionForm action=remove>
                    <TypeDeleteToConfirm />
                    {action_error(remove.value())}
                    <div class="actions">
                        <button type="button" on:click=move |_| removing.set(false)>"Cancel"</button>
                        <button type="submit" class="danger">"Remove"</button>
                    </div>
                </ActionForm>
            </Modal>
        </Show>
    }
}

/// The caller's e-mail actions and what changes them.
#[derive(Clone, Copy)]
struct MailActions {
    save: ServerAction<SaveVsaEmailAction>,
    delete: ServerAction<DeleteVsaEmailAction>,
    list: Resource<Result<Vec<VsaEmailAction>, model::AppError>>,
}

impl MailActions {
    fn new(remove: ServerAction<RemoveVsa>) -> MailActions {
        let save = ServerAction::<SaveVsaEmailAction>::new();
        let delete = ServerAction::<DeleteVsaEmailAction>::new();
        let saved = RwSignal::new(0u32);
        Effect::new(move || {
            if let Some(Ok(_)) = save.value().get() {
                saved.update(|n| *n += 1);
            }
        });
        let list = Resource::new(
            move || (saved.get(), delete.version().get(), remove.version().get()),
            |_| vsa_email_actions(),
        );
        MailActions { save, delete, list }
    }
}

/// "VSA Alert Settings": the caller's own e-mail actions, per category (nobody else sees them).
#[component]
fn EmailActions(mail: MailActions) -> impl IntoView {
    let MailActions {
        save,
        delete,
        list: actions,
    } = mail;
    let editing = RwSignal::new(None::<i64>);
    let category = RwSignal::new(AlarmCategory::Backups);
    let recipients = RwSignal::new(String::new());
    Effect::new(move || {
        if let Some(Ok(_)) = save.value().get() {
            editing.set(None);
            recipients.set(String::new());
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        save.dispatch(SaveVsaEmailAction {
            id: editing.get_untracked(),
            alarm_category: category.get_untracked(),
            recipients: recipients.get_untracked(),
        });
    };
    let edit = move |action: VsaEmailAction| {
        editing.set(Some(action.id));
        category.set(action.category);
        recipients.set(action.recipients.join(", "));
    };
    view! {
        <h3>"My VSA e-mail actions"</h3>
        <p class="muted">"Besides the alarm, VSA mails these addresses (through VSA's own mail server) for alarms of organizations you see. Only you see your actions."</p>
        <Transition fallback=Loading>
            {move || actions.get().map(|found| match found {
                Ok(list) if list.is_empty() => view! { <p class="muted">"No e-mail actions: alarms reach VSA as alarms only."</p> }.into_any(),
                Ok(list) => view! {
                    <table class="list" aria-label="My VSA e-mail actions">
                        <thead><tr><th>"Trigger"</th><th>"VSA actions"</th><th></th></tr></thead>
                        <tbody>
                            {list.into_iter().map(|action| {
                                let id = action.id;
                                let shown = action.clone();
                                view! {
                                    <tr>
                                        <td>{format!("Conditional Alarms — {}", action.category.label())}</td>
                                        <td>{format!("Alert (default), Email: {}", action.recipients.join(", "))}</td>
                                        <td class="actions">
                                            <button type="button" on:click=move |_| edit(shown.clone())>"Edit"</button>
                                            <button type="button" class="danger" on:click=move |_| { delete.dispatch(DeleteVsaEmailAction { id }); }>"Remove"</button>
                                        </td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any(),
                Err(error) => view! { <ErrorBox error /> }.into_any(),
            })}
        </Transition>
        <form on:submit=submit aria-label="VSA e-mail action">
            <label>"Alarm category"
                <select on:change=move |ev| if let Some(c) = AlarmCategory::parse(&event_target_value(&ev)) { category.set(c) }>
                    {AlarmCategory::ALL.into_iter().map(|c| view! {
                        <option value=c.as_str() selected=move || category.get() == c>{c.label()}</option>
                    }).collect_view()}
                </select>
            </label>
            <label>"Recipients (separated by commas or spaces)"
                <input prop:value=move || recipients.get() on:input=move |ev| recipients.set(event_target_value(&ev)) />
            </label>
            {action_error(save.value())}
            {action_error(delete.value())}
            <div class="actions">
                <button type="submit" disabled=save.pending()>
                    {move || if editing.get().is_some() { "Save e-mail action" } else { "Add e-mail action" }}
                </button>
                {move || editing.get().is_some().then(|| view! {
                    <button type="button" on:click=move |_| { editing.set(None); recipients.set(String::new()); }>"Cancel"</button>
                })}
            </div>
        </form>
    }
}
