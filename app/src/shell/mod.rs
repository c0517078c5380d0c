//! The HTML document, the routes, and the signed-in frame (top bar, menus).

mod top_bar;

use leptos::prelude::*;
use leptos_meta::{MetaTags, Title, provide_meta_context};
use leptos_router::components::{Outlet, ParentRoute, Redirect, Route, Router, Routes};
use leptos_router::path;

use crate::alerts::{AlarmSettingsPage, AlertPanelOpen, AlertSettingsPage, DashboardPage};
use crate::auth::api::whoami;
use crate::auth::{ActivatePage, ForgotPasswordPage, LoginPage, ResetPasswordPage, SetupPage};
use crate::components::{ErrorBox, Loading};
use crate::jobs::{ActiveJobsPage, RecentJobsPage, ScheduledJobsPage};
use crate::live::provide_live;
use crate::organizations::OrganizationsPage;
use crate::protect::{ApplianceDetailPage, AssetsPage, ProtectPage};
use crate::sections::NotFound;
use crate::settings::{AuditLogPage, OutboxPage, ScopesPage, SettingsPage, UsersPage};
use top_bar::TopBar;

/// The document around the app. The theme is decided here, on the server, from the session,
/// so a dark page never flashes light first.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    let theme = if initial_dark_theme() { "dark" } else { "light" };
    view! {
        <!DOCTYPE html>
        <html lang="en" data-theme=theme>
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light dark" />
                <AutoReload options=options.clone() />
                <link rel="stylesheet" href=stylesheet_href(&options) />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// `/pkg/<name>.css`, or the content-hashed name the build's hash file gives (`css: <hash>`).
fn stylesheet_href(options: &LeptosOptions) -> String {
    let hash = options
        .hash_files
        .then(|| std::fs::read_to_string(&*options.hash_file).ok())
        .flatten()
        .and_then(|hashes| {
            hashes
                .lines()
                .find_map(|line| Some(line.strip_prefix("css:")?.trim().to_owned()))
        });
    let name = &options.output_name;
    let pkg = &options.site_pkg_dir;
    match hash {
        Some(hash) => format!("/{pkg}/{name}.{hash}.css"),
        None => format!("/{pkg}/{name}.css"),
    }
}

#[cfg(feature = "ssr")]
fn initial_dark_theme() -> bool {
    crate::server::dark_theme()
}

#[cfg(not(feature = "ssr"))]
fn initial_dark_theme() -> bool {
    false
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Lets end-to-end tests wait for hydration instead of sleeping.
    Effect::new(|| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });
    view! {
        <Title text="Backplane" />
        <Router>
            <Routes fallback=NotFound>
                <Route path=path!("/setup") view=SetupPage />
                <Route path=path!("/login") view=LoginPage />
                <Route path=path!("/forgot-password") view=ForgotPasswordPage />
                <Route path=path!("/reset-password") view=ResetPasswordPage />
                <Route path=path!("/activate") view=ActivatePage />
                <ParentRoute path=path!("") view=PortalLayout>
                    <Route path=path!("") view=DashboardPage />
                    <Route path=path!("protect") view=ProtectPage />
                    <Route path=path!("protect/assets") view=AssetsPage />
                    <Route path=path!("protect/appliances/:id") view=ApplianceDetailPage />
                    <Route path=path!("jobs") view=RecentJobsPage />
                    <Route path=path!("jobs/active") view=ActiveJobsPage />
                    <Route path=path!("jobs/scheduled") view=ScheduledJobsPage />
                    <Route path=path!("organizations") view=OrganizationsPage />
                    <Route path=path!("settings") view=SettingsPage />
                    <Route path=path!("settings/outbox") view=OutboxPage />
                    <Route path=path!("settings/scopes") view=ScopesPage />
                    <Route path=path!("settings/users") view=UsersPage />
                    <Route path=path!("settings/audit") view=AuditLogPage />
                    <Route path=path!("settings/alerts") view=AlertSettingsPage />
                    <Route path=path!("settings/alarms") view=AlarmSettingsPage />
                </ParentRoute>
            </Routes>
        </Router>
    }
}

/// The frame of every signed-in page. The server already redirects anonymous page loads to
/// the login page; the redirect here covers a session that ended while the app was open.
#[component]
fn PortalLayout() -> impl IntoView {
    let session = Resource::new_blocking(|| (), |_| whoami());
    provide_live();
    provide_context(AlertPanelOpen(RwSignal::new(false)));
    view! {
        <Suspense fallback=Loading>
            {move || session.get().map(|result| match result {
                Ok(Some(session)) => {
                    provide_context(session.clone());
                    view! {
                    <TopBar session=session.clone() />
                    <main class="page">
                        <Outlet />
                    </main>
                }.into_any()
                }
                Ok(None) => view! { <Redirect path="/login" /> }.into_any(),
                Err(error) => view! { <main class="page"><ErrorBox error /></main> }.into_any(),
            })}
        </Suspense>
    }
}
