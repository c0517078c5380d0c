use leptos::prelude::*;
use leptos_meta::Title;
use model::auth::OutboxView;

use super::api::outbox_list;
use crate::components::{ErrorBox, Loading};

#[component]
pub fn OutboxPage() -> impl IntoView {
    let outbox = Resource::new(|| (), |_| outbox_list());
    view! {
        <Title text="Outbox · Backplane" />
        <h1>"Outbox"</h1>
        <Suspense fallback=Loading>
            {move || outbox.get().map(|result| match result {
                Ok(view) => view! { <OutboxTable view /> }.into_any(),
                Err(error) => view! { <ErrorBox error /> }.into_any(),
            })}
        </Suspense>
    }
}

#[component]
fn OutboxTable(view: OutboxView) -> impl IntoView {
    let notice = (!view.smtp_configured).then(|| view! {
        <p class="notice">"SMTP is not configured, so e-mail waits here and is not delivered. Set BACKPLANE_SMTP_URL to send it."</p>
    });
    let empty = view
        .mails
        .is_empty()
        .then(|| view! { <p class="empty">"No e-mail yet."</p> });
    view! {
        {notice}
        {empty}
        <ul class="outbox">
            {view.mails.into_iter().map(|mail| view! {
                <li class="mail">
                    <details>
                        <summary>
                            <span class="subject">{mail.subject}</span>
                            <span class="muted">{format!(" to {} · {}", mail.recipient, crate::components::format_time(mail.created_at))}</span>
                            <span class=format!("badge {}", mail.status.as_str())>{mail.status.as_str()}</span>
                        </summary>
                        <pre class="mail-body">{mail.body}</pre>
                        {mail.last_error.map(|e| view! { <p class="error">{format!("Last error (attempt {}): {e}", mail.attempts)}</p> })}
                    </details>
                </li>
            }).collect_view()}
        </ul>
    }
}
