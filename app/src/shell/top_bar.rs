use leptos::prelude::*;
use leptos_router::components::A;
use model::auth::SessionView;

use crate::alerts::AlertBell;
use crate::auth::api::{Logout, RemoveSsoLink, SetTheme};
use crate::components::{Icon, Modal, action_error, icon, load_page};

/// Dashboard, Protect, Jobs, Organizations; the gear for Settings; the user menu. Below
/// 48 rem the navigation collapses behind a menu button.
#[component]
pub fn TopBar(session: SessionView) -> impl IntoView {
    let mismatches = session.sso_mismatches.clone();
    let email = session.email.clone();
    let nav_open = RwSignal::new(false);
    let close = move |_| nav_open.set(false);
    view! {
        <header class="top-bar">
            <a class="brand" href="/">"Backplane"</a>
            <button
                type="button"
                class="nav-toggle"
                aria-label="Menu"
                aria-expanded=move || nav_open.get().to_string()
                aria-controls="main-nav"
                on:click=move |_| nav_open.update(|open| *open = !*open)
            >
                {icon(Icon::Menu)}
            </button>
            <nav id="main-nav" class="main-nav" class:open=move || nav_open.get() aria-label="Main">
                <A href="/" exact=true on:click=close>"Dashboard"</A>
                <A href="/protect" on:click=close>"Protect"</A>
                <A href="/jobs" on:click=close>"Jobs"</A>
                <A href="/organizations" on:click=close>"Organizations"</A>
                <A href="/settings" on:click=close attr:class="settings-link" attr:aria-label="Settings" attr:title="Settings">
                    {icon(Icon::Settings)}
                    <span class="label">"Settings"</span>
                </A>
            </nav>
            <LiveIndicator />
            <AlertBell />
            <UserMenu session />
        </header>
        {mismatches.into_iter().map(|m| view! {
            <p class="banner warning" role="alert">
                {format!(
                    "Your {} username ({}) does not match your portal username ({}). Use “Disable Login with {}” in your user menu, then log in with {} again to link the right identity.",
                    m.kind.label(), m.provider_username, email, m.kind.label(), m.kind.label()
                )}
            </p>
        }).collect_view()}
    }
}

/// A dot that says whether live updates are flowing; pages stay usable without them.
#[component]
fn LiveIndicator() -> impl IntoView {
    let live = crate::live::use_live();
    let connected = move || live.connected.get();
    view! {
        <span class="live-indicator" class:connected=connected
            data-live=move || if connected() { "connected" } else { "connecting" }
            title=move || if connected() { "Live updates on" } else { "Live updates reconnecting…" }
            role="img" aria-label=move || if connected() { "Live updates on" } else { "Live updates reconnecting" }>
        </span>
    }
}

#[component]
fn UserMenu(session: SessionView) -> impl IntoView {
    let dark = RwSignal::new(session.dark_theme);
    let set_theme = ServerAction::<SetTheme>::new();
    let logout = ServerAction::<Logout>::new();
    let unlink = ServerAction::<RemoveSsoLink>::new();
    let confirming = RwSignal::new(None::<model::sso::SsoKind>);
    Effect::new(move || match logout.value().get() {
        // A session from single sign-on ends at the provider too.
        Some(Ok(Some(provider_logout))) => load_page(&provider_logout),
        Some(_) => load_page("/login"),
        None => {}
    });
    Effect::new(move || {
        if let Some(Ok(())) = unlink.value().get() {
            load_page("/");
        }
    });
    let toggle_theme = move |_| {
        let now_dark = !dark.get_untracked();
        dark.set(now_dark);
        if let Some(root) = document().document_element() {
            let _ = root.set_attribute("data-theme", if now_dark { "dark" } else { "light" });
        }
        set_theme.dispatch(SetTheme { dark: now_dark });
    };
    view! {
        <details class="user-menu">
            <summary aria-label="User menu">{session.email.clone()}</summary>
            <div class="menu" role="menu">
                <p class="muted">{format!("{} · {}", session.role.label(), session.instance_name)}</p>
                <button type="button" class="theme-switch" role="menuitemcheckbox"
                    aria-checked=move || dark.get().to_string() on:click=toggle_theme>
                    <span class="toggle" aria-hidden="true"></span>
                    "Dark theme"
                </button>
                <a href="/forgot-password" role="menuitem">"Reset password"</a>
                {session.sso_mismatches.iter().map(|m| {
                    let kind = m.kind;
                    view! {
                        <button type="button" role="menuitem" on:click=move |_| confirming.set(Some(kind))>
                            {format!("Disable Login with {}", kind.label())}
                        </button>
                    }
                }).collect_view()}
                <button type="button" role="menuitem" on:click=move |_| { logout.dispatch(Logout {}); }>"Log out"</button>
            </div>
        </details>
        {move || confirming.get().map(|kind| view! {
            <Modal label="Disable login with a provider" on_close=move || confirming.set(None)>
                <h2>{format!("Disable Login with {}", kind.label())}</h2>
                <p>{format!("Your link to {} is removed. Log in with {} again afterwards to link the identity whose username matches yours.", kind.label(), kind.label())}</p>
                {action_error(unlink.value())}
                <div class="actions">
                    <button type="button" on:click=move |_| confirming.set(None)>"Cancel"</button>
                    <button type="button" class="danger" on:click=move |_| { unlink.dispatch(RemoveSsoLink { provider: kind }); }>"Disable"</button>
                </div>
            </Modal>
        })}
    }
}
