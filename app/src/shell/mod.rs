//! The HTML document, the routes, and the signed-in frame (top bar, menus).

mod toasts;
mod top_bar;

use leptos::prelude::*;
use leptos_meta::{MetaTags, Title, provide_meta_context};
use leptos_router::components::{Outlet, ParentRoute, Redirect, Route, Router, Routes};
use leptos_router::path;
use leptos_router::{Lazy, LazyRoute, lazy_route};

use crate::alerts::{AlarmSettingsPage, AlertPanelOpen, AlertSettingsPage, DashboardPage};
use crate::auth::api::whoami;
use crate::auth::{ActivatePage, ForgotPasswordPage, LoginPage, ResetPasswordPage, SetupPage};
use crate::components::{ErrorBox, Loading};
use crate::jobs::{ActiveJobsPage, RecentJobsPage, ScheduledJobsPage};
use crate::live::provide_live;
use crate::organizations::OrganizationsPage;
use crate::protect::{ApplianceDetailPage, AssetsPage, OrganizationPage, ProtectPage};
use crate::sections::NotFound;
use crate::settings::{
    ApiAccessPage, AuditLogPage, IntegrationsPage, OutboxPage, ScopesPage, SecurityPage, SettingsPage,
    UsersPage, WebhooksPage,
};
use toasts::CommandToasts;
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
    view! {
        <Title text="Backplane" />
        <Router>
            <Routes fallback=NotFound>
                <Route path=path!("/setup") view={Lazy::<SetupRoute>::new()} />
                <Route path=path!("/login") view=LoginPage />
                <Route path=path!("/forgot-password") view={Lazy::<ForgotPasswordRoute>::new()} />
                <Route path=path!("/reset-password") view={Lazy::<ResetPasswordRoute>::new()} />
                <Route path=path!("/activate") view={Lazy::<ActivateRoute>::new()} />
                <ParentRoute path=path!("") view=PortalLayout>
                    <Route path=path!("") view=DashboardPage />
                    <Route path=path!("protect") view={Lazy::<ProtectRoute>::new()} />
                    <Route path=path!("protect/assets") view={Lazy::<AssetsRoute>::new()} />
                    <Route path=path!("protect/appliances/:id") view={Lazy::<ApplianceDetailRoute>::new()} />
                    <Route path=path!("jobs") view={Lazy::<RecentJobsRoute>::new()} />
                    <Route path=path!("jobs/active") view={Lazy::<ActiveJobsRoute>::new()} />
                    <Route path=path!("jobs/scheduled") view={Lazy::<ScheduledJobsRoute>::new()} />
                    <Route path=path!("organizations") view={Lazy::<OrganizationsRoute>::new()} />
                    <Route path=path!("organizations/:id") view={Lazy::<OrganizationRoute>::new()} />
                    <Route path=path!("settings") view={Lazy::<SettingsRoute>::new()} />
                    <Route path=path!("settings/outbox") view={Lazy::<OutboxRoute>::new()} />
                    <Route path=path!("settings/scopes") view={Lazy::<ScopesRoute>::new()} />
                    <Route path=path!("settings/users") view={Lazy::<UsersRoute>::new()} />
                    <Route path=path!("settings/audit") view={Lazy::<AuditLogRoute>::new()} />
                    <Route path=path!("settings/alerts") view={Lazy::<AlertSettingsRoute>::new()} />
                    <Route path=path!("settings/alarms") view={Lazy::<AlarmSettingsRoute>::new()} />
                    <Route path=path!("settings/api-access") view={Lazy::<ApiAccessRoute>::new()} />
                    <Route path=path!("settings/security") view={Lazy::<SecurityRoute>::new()} />
                    <Route path=path!("settings/webhooks") view={Lazy::<WebhooksRoute>::new()} />
                    <Route path=path!("settings/integrations") view={Lazy::<IntegrationsRoute>::new()} />
                </ParentRoute>
            </Routes>
        </Router>
    }
}

/// A page whose code the browser fetches the first time it is shown: the wasm is split at each
/// of these (`site-build`), so the login page and the Dashboard load without the rest.
macro_rules! lazy_page {
    ($($route:ident => $page:ident),* $(,)?) => {$(
        struct $route;

        #[lazy_route]
        impl LazyRoute for $route {
            fn data() -> Self {
                $route
            }

            fn view(_this: Self) -> AnyView {
                view! { <$page /> }.into_any()
            }
        }
    )*};
}

lazy_page! {
    SetupRoute => SetupPage,
    ForgotPasswordRoute => ForgotPasswordPage,
    ResetPasswordRoute => ResetPasswordPage,
    ActivateRoute => ActivatePage,
    ProtectRoute => ProtectPage,
    AssetsRoute => AssetsPage,
    ApplianceDetailRoute => ApplianceDetailPage,
    RecentJobsRoute => RecentJobsPage,
    ActiveJobsRoute => ActiveJobsPage,
    ScheduledJobsRoute => ScheduledJobsPage,
    OrganizationsRoute => OrganizationsPage,
    OrganizationRoute => OrganizationPage,
    SettingsRoute => SettingsPage,
    OutboxRoute => OutboxPage,
    ScopesRoute => ScopesPage,
    UsersRoute => UsersPage,
    AuditLogRoute => AuditLogPage,
    AlertSettingsRoute => AlertSettingsPage,
    AlarmSettingsRoute => AlarmSettingsPage,
    ApiAccessRoute => ApiAccessPage,
    SecurityRoute => SecurityPage,
    WebhooksRoute => WebhooksPage,
    IntegrationsRoute => IntegrationsPage,
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
                    <CommandToasts email=session.email.clone() />
                }.into_any()
                }
                Ok(None) => view! { <Redirect path="/login" /> }.into_any(),
                Err(error) => view! { <main class="page"><ErrorBox error /></main> }.into_any(),
            })}
        </Suspense>
    }
}
