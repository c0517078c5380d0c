//! Settings (the gear). Each view is listed only for the roles that may open it; the server
//! refuses the others regardless.

pub mod api;
mod api_access;
mod audit;
mod integrations;
mod outbox;
mod psa;
pub mod psa_api;
mod scopes;
mod security;
mod sso;
mod users;
mod vsa;
pub mod vsa_api;
mod webhooks;

use leptos::prelude::*;
use leptos_meta::Title;
use model::Action;
use model::auth::SessionView;

pub use api_access::ApiAccessPage;
pub use audit::AuditLogPage;
pub use integrations::IntegrationsPage;
pub use outbox::OutboxPage;
pub use scopes::ScopesPage;
pub use security::SecurityPage;
pub use users::UsersPage;
pub use webhooks::WebhooksPage;

const VIEWS: [(&str, &str, &str, Action); 10] = [
    (
        "/settings/alerts",
        "Alerts",
        "alert categories and who is e-mailed about alerts",
        Action::ManageAlertSettings,
    ),
    (
        "/settings/alarms",
        "Conditional alarms",
        "how long an asset may go without a good backup",
        Action::ManageAlertSettings,
    ),
    (
        "/settings/users",
        "Users",
        "invite people, set their role and scopes",
        Action::ManageUsers,
    ),
    (
        "/settings/scopes",
        "Scopes",
        "the groups of organizations that decide who sees what",
        Action::View,
    ),
    (
        "/settings/security",
        "Security",
        "the addresses this instance may be used from",
        Action::ManageSecurity,
    ),
    (
        "/settings/audit",
        "Audit log",
        "every change, who made it and when",
        Action::ReadAuditLog,
    ),
    (
        "/settings/outbox",
        "Outbox",
        "e-mail the portal has sent or is waiting to send",
        Action::ReadOutbox,
    ),
    (
        "/settings/api-access",
        "API Access",
        "credentials for the public REST API",
        Action::ViewApiAccess,
    ),
    (
        "/settings/webhooks",
        "Webhooks",
        "signed event deliveries to your own systems",
        Action::ManageWebhooks,
    ),
    (
        "/settings/integrations",
        "Integrations",
        "PSA tickets, IT Glue, single sign-on and Kaseya VSA",
        Action::ManageIntegrations,
    ),
];

#[component]
pub fn SettingsPage() -> impl IntoView {
    let role = use_context::<SessionView>().map(|s| s.role);
    view! {
        <Title text="Settings · Backplane" />
        <h1>"Settings"</h1>
        <ul class="settings-list">
            {VIEWS.into_iter().filter(|(.., action)| role.is_some_and(|r| r.can(*action))).map(|(href, name, about, _)| view! {
                <li><a href=href>{name}</a><span class="muted">{format!(" — {about}.")}</span></li>
            }).collect_view()}
        </ul>
    }
}
