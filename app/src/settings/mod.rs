//! Settings (the gear). Views appear here as their areas arrive; each is listed only for the
//! roles that may open it.

mod outbox;

use leptos::prelude::*;
use leptos_meta::Title;

pub use outbox::OutboxPage;

#[component]
pub fn SettingsPage() -> impl IntoView {
    view! {
        <Title text="Settings · Backplane" />
        <h1>"Settings"</h1>
        <ul class="settings-list">
            <li>
                <a href="/settings/outbox">"Outbox"</a>
                <span class="muted">" — e-mail the portal has sent or is waiting to send (Superusers)."</span>
            </li>
        </ul>
    }
}
