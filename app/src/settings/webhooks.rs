//! Settings → Webhooks (Superusers): endpoints that receive signed deliveries of events, each
//! with its delivery log and Resend. A new endpoint's signing secret is shown once.

use leptos::prelude::*;
use leptos_meta::Title;
use model::webhooks::{DeliveryState, NewWebhookEndpoint, WebhookEndpoint, WebhookEvent};

use super::api::{
    CreateWebhook, DeleteWebhook, ResendWebhook, SetWebhookEnabled, list_webhooks, webhook_deliveries,
};
use crate::components::{ErrorBox, Loading, Modal, action_error, format_time};
use crate::organizations::{OrgChoice, OrganizationPicker};

#[component]
pub fn WebhooksPage() -> impl IntoView {
    let create = ServerAction::<CreateWebhook>::new();
    let enabled = ServerAction::<SetWebhookEnabled>::new();
    let delete = ServerAction::<DeleteWebhook>::new();
    let resend = ServerAction::<ResendWebhook>::new();
    let adding = RwSignal::new(false);
    let endpoints = Resource::new(
        move || {
            (
                create.version().get(),
                enabled.version().get(),
                delete.version().get(),
            )
        },
        |_| list_webhooks(),
    );
    view! {
        <Title text="Webhooks · Backplane" />
        <h1>"Webhooks"</h1>
        <p class="muted">
            "Each event is POSTed as JSON to the endpoints that subscribe to it, signed as the Standard Webhooks "
            "specification describes (headers webhook-id, webhook-timestamp, webhook-signature). A receiver that "
            "is down gets it later, with the same webhook-id."
        </p>
        <div class="toolbar">
            <button type="button" class="primary" on:click=move |_| adding.set(true)>"+ New"</button>
        </div>
        {action_error(enabled.value())}
        {action_error(delete.value())}
        {action_error(resend.value())}
        <Transition fallback=Loading>
            {move || endpoints.get().map(|result| match result {
                Ok(list) if list.is_empty() => view! { <p class="empty">"No webhook endpoints yet."</p> }.into_any(),
                Ok(list) => view! {
                    <table class="list" aria-label="Webhook endpoints">
                        <thead><tr>
                            <th>"URL"</th><th>"Events"</th><th>"Organization"</th><th>"Status"</th><th>"Created"</th>
                            <th><span class="sr-only">"Actions"</span></th>
                        </tr></thead>
                        <tbody>
                            {list.into_iter().map(|endpoint| view! { <EndpointRows endpoint enabled delete resend /> }).collect_view()}
                        </tbody>
                    </table>
                }.into_any(),
                Err(error) => view! { <ErrorBox error /> }.into_any(),
            })}
        </Transition>
        <Show when=move || adding.get()>
            <NewEndpointDialog create on_close=move || { adding.set(false); create.clear(); } />
        </Show>
    }
}

#[component]
fn EndpointRows(
    endpoint: WebhookEndpoint,
    enabled: ServerAction<SetWebhookEnabled>,
    delete: ServerAction<DeleteWebhook>,
    resend: ServerAction<ResendWebhook>,
) -> impl IntoView {
    let id = endpoint.id;
    let is_enabled = endpoint.enabled;
    let showing_log = RwSignal::new(false);
    let url = endpoint.url.clone();
    let events = endpoint
        .events
        .iter()
        .map(|e| e.label())
        .collect::<Vec<_>>()
        .join(", ");
    view! {
        <tr>
            <td><code>{endpoint.url}</code></td>
            <td>{events}</td>
            <td>{endpoint.organization_name.unwrap_or_else(|| "All".into())}</td>
            <td>{if is_enabled { "Enabled" } else { "Disabled" }}</td>
            <td>{format!("{} by {}", format_time(endpoint.created_at), endpoint.created_by)}</td>
            <td class="row-actions">
                <button type="button" aria-expanded=move || showing_log.get().to_string()
                    on:click=move |_| showing_log.update(|s| *s = !*s)>"Deliveries"</button>
                <button type="button" on:click=move |_| {
                    enabled.dispatch(SetWebhookEnabled { id, enabled: !is_enabled });
                }>{if is_enabled { "Disable" } else { "Enable" }}</button>
                <button type="button" class="danger" on:click=move |_| {
                    let question = format!("Delete the endpoint {url} and its delivery log?");
                    if window().confirm_with_message(&question).unwrap_or(false) {
                        delete.dispatch(DeleteWebhook { id });
                    }
                }>"Delete"</button>
            </td>
        </tr>
        <Show when=move || showing_log.get()>
            <tr class="detail-row"><td colspan="6"><DeliveryLog id resend /></td></tr>
        </Show>
    }
}

#[component]
fn DeliveryLog(id: i64, resend: ServerAction<ResendWebhook>) -> impl IntoView {
    let log = Resource::new(move || resend.version().get(), move |_| webhook_deliveries(id));
    view! {
        <Transition fallback=Loading>
            {move || log.get().map(|result| match result {
                Ok(list) if list.is_empty() => view! { <p class="empty">"No deliveries yet."</p> }.into_any(),
                Ok(list) => view! {
                    <table class="list" aria-label="Deliveries">
                        <thead><tr>
                            <th>"Event"</th><th>"Message id"</th><th>"State"</th><th>"Attempts"</th>
                            <th>"Last attempt"</th><th>"Result"</th><th><span class="sr-only">"Actions"</span></th>
                        </tr></thead>
                        <tbody>
                            {list.into_iter().map(|delivery| {
                                let delivery_id = delivery.id;
                                view! {
                                    <tr>
                                        <td>{delivery.event.label()}</td>
                                        <td><code>{delivery.message_id}</code></td>
                                        <td>{match delivery.state {
                                            DeliveryState::Pending => "Pending",
                                            DeliveryState::Delivered => "Delivered",
                                            DeliveryState::Failed => "Failed",
                                        }}</td>
                                        <td class="num">{delivery.attempts}</td>
                                        <td>{delivery.last_attempt_at.map(format_time).unwrap_or_default()}</td>
                                        <td>{delivery.last_result.unwrap_or_default()}</td>
                                        <td><button type="button" on:click=move |_| {
                                            resend.dispatch(ResendWebhook { id: delivery_id });
                                        }>"Resend"</button></td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any(),
                Err(error) => view! { <ErrorBox error /> }.into_any(),
            })}
        </Transition>
    }
}

/// URL, events and an optional organization; once saved, the secret, this one time.
#[component]
fn NewEndpointDialog(
    create: ServerAction<CreateWebhook>,
    on_close: impl Fn() + Send + Sync + Clone + 'static,
) -> impl IntoView {
    let close = on_close.clone();
    view! {
        <Modal label="New webhook endpoint" on_close=on_close>
            {move || match create.value().get() {
                Some(Ok(made)) => view! { <CreatedEndpoint made on_close=close.clone() /> }.into_any(),
                _ => view! { <EndpointForm create on_cancel=close.clone() /> }.into_any(),
            }}
        </Modal>
    }
}

#[component]
fn EndpointForm(
    create: ServerAction<CreateWebhook>,
    on_cancel: impl Fn() + Send + Sync + 'static,
) -> impl IntoView {
    let url = RwSignal::new(String::new());
    let chosen = RwSignal::new(WebhookEvent::ALL.to_vec());
    let organization = RwSignal::new(None::<OrgChoice>);
    let on_pick = Callback::new(move |pick: Option<OrgChoice>| organization.set(pick));
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        create.dispatch(CreateWebhook {
            url: url.get_untracked(),
            events: Some(chosen.get_untracked()),
            organization_id: organization.get_untracked().map(|o| o.id),
        });
    };
    view! {
        <h2>"New webhook endpoint"</h2>
        <form on:submit=submit>
            <label>"URL" <input type="url" required placeholder="https://" prop:value=move || url.get()
                on:input=move |ev| url.set(event_target_value(&ev)) /></label>
            <fieldset>
                <legend>"Events"</legend>
                {WebhookEvent::ALL.into_iter().map(|event| view! {
                    <label class="check">
                        <input type="checkbox" prop:checked=move || chosen.get().contains(&event)
                            on:change=move |ev| {
                                let on = event_target_checked(&ev);
                                chosen.update(|list| {
                                    list.retain(|e| *e != event);
                                    if on { list.push(event); }
                                });
                            } />
                        {event.label()}
                    </label>
                }).collect_view()}
            </fieldset>
            <label class="picker-label">"Only this organization (empty: all)"
                <OrganizationPicker label="Only this organization" on_pick placeholder="All organizations" />
            </label>
            {action_error(create.value())}
            <div class="actions">
                <button type="button" on:click=move |_| on_cancel()>"Cancel"</button>
                <button type="submit" class="primary" disabled=create.pending()>"Save"</button>
            </div>
        </form>
    }
}

#[component]
fn CreatedEndpoint(made: NewWebhookEndpoint, on_close: impl Fn() + Send + Sync + 'static) -> impl IntoView {
    let copied = RwSignal::new(false);
    let secret = made.secret.clone();
    let copy = move |_| {
        let _ = window().navigator().clipboard().write_text(&secret);
        copied.set(true);
    };
    view! {
        <h2>"Webhook endpoint created"</h2>
        <p class="warning" role="alert">
            "Copy the signing secret now: the receiver needs it to check each delivery's webhook-signature. It will never be shown again."
        </p>
        <dl class="credential">
            <dt>"URL"</dt><dd><code>{made.endpoint.url}</code></dd>
            <dt>"Signing secret"</dt>
            <dd>
                <code data-testid="Signing secret">{made.secret}</code>" "
                <button type="button" aria-label="Copy Signing secret" on:click=copy>
                    {move || if copied.get() { "Copied" } else { "Copy" }}
                </button>
            </dd>
        </dl>
        <div class="actions">
            <button type="button" class="primary" on:click=move |_| on_close()>"Close"</button>
        </div>
    }
}
