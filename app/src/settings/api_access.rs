//! Settings → API Access (spec portal-c §2.1): the public API's credentials. Superusers add,
//! disable, enable and delete them; Admins read the list. A new credential's secret is shown
//! once, in the dialog that created it.

use leptos::prelude::*;
use leptos_meta::Title;
use model::Action;
use model::api_access::{ApiCredential, NewApiCredential};
use model::auth::SessionView;

use super::api::{CreateApiCredential, DeleteApiCredential, SetApiCredentialEnabled, list_api_credentials};
use crate::components::{ErrorBox, Loading, Modal, action_error, format_time};

#[component]
pub fn ApiAccessPage() -> impl IntoView {
    let may_manage = use_context::<SessionView>().is_some_and(|s| s.role.can(Action::ManageApiAccess));
    let create = ServerAction::<CreateApiCredential>::new();
    let enabled = ServerAction::<SetApiCredentialEnabled>::new();
    let delete = ServerAction::<DeleteApiCredential>::new();
    let adding = RwSignal::new(false);
    let credentials = Resource::new(
        move || {
            (
                create.version().get(),
                enabled.version().get(),
                delete.version().get(),
            )
        },
        |_| list_api_credentials(),
    );
    view! {
        <Title text="API Access · Backplane" />
        <h1>"API Access"</h1>
        <p class="muted">
            "Credentials for the public REST API. A program exchanges a credential for an access token at "
            <code>"/connect/token"</code>" (OAuth 2.0 client credentials) and acts with its creator's role and scopes. "
            <a href="/api/v1/docs/" rel="external">"API reference"</a>
        </p>
        {may_manage.then(|| view! {
            <div class="toolbar">
                <button type="button" class="primary" on:click=move |_| adding.set(true)>"+ New"</button>
            </div>
        })}
        {action_error(enabled.value())}
        {action_error(delete.value())}
        <Transition fallback=Loading>
            {move || credentials.get().map(|result| match result {
                Ok(list) if list.is_empty() => view! { <p class="empty">"No API credentials yet."</p> }.into_any(),
                Ok(list) => view! {
                    <table class="list" aria-label="API Access Credentials">
                        <thead><tr>
                            <th>"Name"</th><th>"Client ID"</th><th>"Creator"</th><th>"Created"</th>
                            <th>"Last used"</th><th>"Status"</th>
                            {may_manage.then(|| view! { <th><span class="sr-only">"Actions"</span></th> })}
                        </tr></thead>
                        <tbody>
                            {list.into_iter().map(|credential| view! {
                                <CredentialRow credential may_manage enabled delete />
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any(),
                Err(error) => view! { <ErrorBox error /> }.into_any(),
            })}
        </Transition>
        <Show when=move || adding.get()>
            <NewCredentialDialog create on_close=move || { adding.set(false); create.clear(); } />
        </Show>
    }
}

#[component]
fn CredentialRow(
    credential: ApiCredential,
    may_manage: bool,
    enabled: ServerAction<SetApiCredentialEnabled>,
    delete: ServerAction<DeleteApiCredential>,
) -> impl IntoView {
    let id = credential.id;
    let is_enabled = credential.enabled;
    let name = credential.name.clone();
    view! {
        <tr>
            <td>{credential.name}</td>
            <td><code>{credential.client_id}</code></td>
            <td>{credential.creator}</td>
            <td>{format_time(credential.created_at)}</td>
            <td>{credential.last_used_at.map(format_time).unwrap_or_else(|| "Never".into())}</td>
            <td>{if is_enabled { "Enabled" } else { "Disabled" }}</td>
            {may_manage.then(|| view! {
                <td class="row-actions">
                    <button type="button" on:click=move |_| {
                        enabled.dispatch(SetApiCredentialEnabled { id, enabled: !is_enabled });
                    }>{if is_enabled { "Disable" } else { "Enable" }}</button>
                    <button type="button" class="danger" on:click=move |_| {
                        let question = format!("Delete the credential {name}? Programs using it stop working at once.");
                        if window().confirm_with_message(&question).unwrap_or(false) {
                            delete.dispatch(DeleteApiCredential { id });
                        }
                    }>"Delete"</button>
                </td>
            })}
        </tr>
    }
}

/// Asks the name; once saved, shows the client id and the secret, this one time.
#[component]
fn NewCredentialDialog(
    create: ServerAction<CreateApiCredential>,
    on_close: impl Fn() + Send + Sync + Clone + 'static,
) -> impl IntoView {
    let close = on_close.clone();
    view! {
        <Modal label="New API credential" on_close=on_close>
            {move || match create.value().get() {
                Some(Ok(made)) => view! { <CreatedCredential made on_close=close.clone() /> }.into_any(),
                _ => {
                    let close = close.clone();
                    view! {
                        <h2>"New API credential"</h2>
                        <ActionForm action=create>
                            <label>"Name" <input name="name" required maxlength="100" autofocus /></label>
                            {action_error(create.value())}
                            <div class="actions">
                                <button type="button" on:click=move |_| close()>"Cancel"</button>
                                <button type="submit" class="primary" disabled=create.pending()>"Save"</button>
                            </div>
                        </ActionForm>
                    }.into_any()
                }
            }}
        </Modal>
    }
}

#[component]
fn CreatedCredential(made: NewApiCredential, on_close: impl Fn() + Send + Sync + 'static) -> impl IntoView {
    view! {
        <h2>"API credential created"</h2>
        <p class="warning" role="alert">
            "Copy the client secret now. It will never be shown again; if it is lost, delete the credential and create a new one."
        </p>
        <dl class="credential">
            <dt>"Name"</dt><dd>{made.credential.name}</dd>
            <dt>"Client ID"</dt><dd><CopyableValue label="Client ID" value=made.credential.client_id /></dd>
            <dt>"Client Secret"</dt><dd><CopyableValue label="Client Secret" value=made.client_secret /></dd>
        </dl>
        <div class="actions">
            <button type="button" class="primary" on:click=move |_| on_close()>"Close"</button>
        </div>
    }
}

#[component]
fn CopyableValue(label: &'static str, value: String) -> impl IntoView {
    let copied = RwSignal::new(false);
    let text = value.clone();
    let copy = move |_| {
        let _ = window().navigator().clipboard().write_text(&text);
        copied.set(true);
    };
    view! {
        <code data-testid=label>{value}</code>
        " "
        <button type="button" aria-label=format!("Copy {label}") on:click=copy>
            {move || if copied.get() { "Copied" } else { "Copy" }}
        </button>
    }
}
