//! Settings → Security (Superusers): the addresses the instance may be used from. While IP
//! restrictions are on, the portal, sign-in and the public API refuse every other address;
//! appliances are not affected. The page shows the caller's own address, and the server refuses
//! any change that would leave it outside the list.

use leptos::prelude::*;
use leptos_meta::Title;
use model::security::{IpRestrictions, IpRule};

use super::api::{
    AddIpRule, DeleteIpRule, SaveEmbeddingOrigins, SetIpRestrictions, embedding_origins,
    ip_restriction_settings,
};
use crate::components::{ErrorBox, Loading, action_error, format_time};

#[component]
pub fn SecurityPage() -> impl IntoView {
    let add = ServerAction::<AddIpRule>::new();
    let delete = ServerAction::<DeleteIpRule>::new();
    let toggle = ServerAction::<SetIpRestrictions>::new();
    let current = Resource::new(
        move || {
            (
                add.version().get(),
                delete.version().get(),
                toggle.version().get(),
            )
        },
        |_| ip_restriction_settings(),
    );
    view! {
        <Title text="Security · Backplane" />
        <h1>"Security"</h1>
        <h2>"IP restrictions"</h2>
        <p class="muted">
            "While IP restrictions are on, this instance's portal, sign-in and public API answer only the addresses below: "
            "single addresses, CIDR ranges (10.0.0.0/8, 2001:db8::/32) and ranges (192.0.2.1-192.0.2.40), IPv4 or IPv6. "
            "Appliances are not affected. Add your own static address first: a list without it would lock you out, "
            "so the portal refuses it. Every change is e-mailed to the instance's Superusers."
        </p>
        {action_error(delete.value())}
        {action_error(toggle.value())}
        <Transition fallback=Loading>
            {move || current.get().map(|result| match result {
                Ok(found) => view! { <Restrictions found delete toggle /> }.into_any(),
                Err(error) => view! { <ErrorBox error /> }.into_any(),
            })}
        </Transition>
        <h3>"Add allowed addresses"</h3>
        <ActionForm action=add attr:aria-label="Add allowed addresses">
            <label>"Description (optional)" <input name="description" maxlength="100" placeholder="Office" /></label>
            <label>"Addresses and ranges"
                <textarea name="entries" rows="3" required placeholder="192.0.2.7, 198.51.100.0/24, 203.0.113.1-203.0.113.40"></textarea>
            </label>
            {action_error(add.value())}
            <div class="actions"><button type="submit" class="primary">"Add"</button></div>
        </ActionForm>
        <Embedding />
    }
}

/// The sites (RMM and PSA consoles) allowed to show this instance's portal in a frame.
#[component]
fn Embedding() -> impl IntoView {
    let save = ServerAction::<SaveEmbeddingOrigins>::new();
    let origins = Resource::new(move || save.version().get(), |_| embedding_origins());
    view! {
        <h2>"Embedding"</h2>
        <p class="muted">
            "Consoles that may show this instance's portal inside a frame, one origin per line (https://rmm.example.com). "
            "They are added to the server's own list for this instance's pages and its login page opened as "
            "/login?homerealm=…; on https, sign-ins then keep a session cookie the frame can use."
        </p>
        <Transition fallback=Loading>
            {move || origins.get().map(|result| match result {
                Ok(list) => view! {
                    <ActionForm action=save attr:aria-label="Embedding">
                        <label>"Origins allowed to embed this instance"
                            <textarea name="origins" rows="3" placeholder="https://rmm.example.com">{list.join("\n")}</textarea>
                        </label>
                        {action_error(save.value())}
                        {move || save.value().get().and_then(Result::ok).map(|_| view! { <p role="status">"Embedding saved."</p> })}
                        <div class="actions"><button type="submit" class="primary">"Save"</button></div>
                    </ActionForm>
                }.into_any(),
                Err(error) => view! { <ErrorBox error /> }.into_any(),
            })}
        </Transition>
    }
}

#[component]
fn Restrictions(
    found: IpRestrictions,
    delete: ServerAction<DeleteIpRule>,
    toggle: ServerAction<SetIpRestrictions>,
) -> impl IntoView {
    let address = found.your_address.clone().unwrap_or_else(|| "unknown".into());
    let on = found.enabled;
    let standing = match (on, found.you_are_allowed) {
        (_, true) => "it is on the list.",
        (true, false) => "it is not on the list.",
        (false, false) => "it is not on the list yet: add it before turning restrictions on.",
    };
    view! {
        <p data-testid="your-address">{format!("Your IP address: {address} — {standing}")}</p>
        <p data-testid="ip-restrictions-status">{if on { "IP restrictions are on." } else { "IP restrictions are off." }}</p>
        <div class="toolbar">
            <button type="button" class=if on { "" } else { "primary" }
                on:click=move |_| { toggle.dispatch(SetIpRestrictions { enabled: !on }); }>
                {if on { "Turn restrictions off" } else { "Turn restrictions on" }}
            </button>
        </div>
        {if found.rules.is_empty() {
            view! { <p class="empty">"No allowed addresses yet."</p> }.into_any()
        } else {
            view! {
                <table class="list" aria-label="Allowed addresses">
                    <thead><tr>
                        <th>"Description"</th><th>"Addresses"</th><th>"Added"</th>
                        <th><span class="sr-only">"Actions"</span></th>
                    </tr></thead>
                    <tbody>
                        {found.rules.into_iter().map(|rule| view! { <RuleRow rule delete /> }).collect_view()}
                    </tbody>
                </table>
            }.into_any()
        }}
    }
}

#[component]
fn RuleRow(rule: IpRule, delete: ServerAction<DeleteIpRule>) -> impl IntoView {
    let id = rule.id;
    let name = if rule.description.is_empty() {
        rule.entries.clone()
    } else {
        rule.description.clone()
    };
    view! {
        <tr>
            <td>{rule.description.clone()}</td>
            <td>{rule.entries.clone()}</td>
            <td>{format!("{} by {}", format_time(rule.created_at), rule.created_by)}</td>
            <td class="row-actions">
                <button type="button" aria-label=format!("Delete {name}")
                    on:click=move |_| { delete.dispatch(DeleteIpRule { id }); }>"Delete"</button>
            </td>
        </tr>
    }
}
