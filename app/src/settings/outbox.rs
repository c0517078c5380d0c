use leptos::prelude::*;
use leptos_meta::Title;
use model::AppError;
use model::auth::OutboxView;

use crate::components::{ErrorBox, Loading};

/// Superuser: the newest mails of this instance. With no SMTP configured this is where
/// password-reset and activation links can be read.
#[server(prefix = "/api", endpoint = "settings/outbox")]
pub async fn outbox_list() -> Result<OutboxView, AppError> {
    use crate::server::{authorize, portal, to_app_error};
    let session = authorize(model::Action::ReadOutbox)?;
    let portal = portal();
    let mut conn = portal
        .db
        .pool
        .acquire()
        .await
        .map_err(|e| to_app_error(e.into()))?;
    let mails = domain::outbox::list(&mut conn, session.instance_id, 200)
        .await
        .map_err(to_app_error)?;
    Ok(OutboxView {
        smtp_configured: portal.smtp_configured,
        mails,
    })
}

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
