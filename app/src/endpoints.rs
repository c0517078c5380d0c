//! Who may call each server function. Every function is listed here; a server test walks the
//! registered functions and fails if one is missing, or if one declared to need a signed-in
//! user answers an anonymous caller.

use model::Action;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone (login steps, links whose token is the credential, first run).
    Public,
    /// The caller's own half-finished login (after the password, before the second factor).
    OwnLogin,
    /// A fully signed-in user whose role allows the action.
    Signed(Action),
}

pub const ENDPOINTS: &[(&str, Access)] = &[
    ("/api/auth/state", Access::Public),
    ("/api/auth/homerealm", Access::Public),
    ("/api/auth/password", Access::Public),
    ("/api/auth/verify", Access::OwnLogin),
    ("/api/auth/enrol/begin", Access::OwnLogin),
    ("/api/auth/enrol/confirm", Access::OwnLogin),
    ("/api/auth/logout", Access::Public),
    ("/api/auth/whoami", Access::Public),
    ("/api/auth/forgot-password", Access::Public),
    ("/api/auth/link-status", Access::Public),
    ("/api/auth/set-password", Access::Public),
    ("/api/setup/status", Access::Public),
    ("/api/setup/complete", Access::Public),
    ("/api/account/theme", Access::Signed(Action::ManageOwnAccount)),
    ("/api/settings/outbox", Access::Signed(Action::ReadOutbox)),
    ("/api/orgs/list", Access::Signed(Action::View)),
    ("/api/orgs/get", Access::Signed(Action::View)),
    ("/api/orgs/create", Access::Signed(Action::ManageOrganizations)),
    ("/api/orgs/update", Access::Signed(Action::ManageOrganizations)),
    ("/api/orgs/delete", Access::Signed(Action::ManageOrganizations)),
    ("/api/scopes/list", Access::Signed(Action::View)),
    ("/api/scopes/create", Access::Signed(Action::ManageScopes)),
    ("/api/scopes/rename", Access::Signed(Action::ManageScopes)),
    ("/api/scopes/delete", Access::Signed(Action::ManageScopes)),
    ("/api/users/list", Access::Signed(Action::ManageUsers)),
    ("/api/users/invite", Access::Signed(Action::ManageUsers)),
    ("/api/users/access", Access::Signed(Action::ManageUsers)),
    ("/api/users/enabled", Access::Signed(Action::ManageUsers)),
    ("/api/users/reset-2fa", Access::Signed(Action::ManageUsers)),
    ("/api/users/password", Access::Signed(Action::ManageUsers)),
    (
        "/api/users/resend-activation",
        Access::Signed(Action::ManageUsers),
    ),
    ("/api/audit/search", Access::Signed(Action::ReadAuditLog)),
    ("/api/appliances/list", Access::Signed(Action::View)),
    ("/api/appliances/get", Access::Signed(Action::View)),
    ("/api/appliances/commands", Access::Signed(Action::View)),
    (
        "/api/appliances/registration",
        Access::Signed(Action::ManageAppliances),
    ),
    ("/api/appliances/delete", Access::Signed(Action::ManageAppliances)),
    ("/api/assets/list", Access::Signed(Action::View)),
    ("/api/assets/recovery-points", Access::Signed(Action::View)),
    ("/api/assets/detail", Access::Signed(Action::View)),
    ("/api/appliances/copy-target", Access::Signed(Action::View)),
    (
        "/api/appliances/copy-target/set",
        Access::Signed(Action::ManageAppliances),
    ),
    (
        "/api/appliances/copy-target/remove",
        Access::Signed(Action::ManageAppliances),
    ),
    ("/api/orgs/copy-target", Access::Signed(Action::View)),
    (
        "/api/orgs/copy-target/set",
        Access::Signed(Action::ManageAppliances),
    ),
    (
        "/api/orgs/copy-target/remove",
        Access::Signed(Action::ManageAppliances),
    ),
    ("/api/assets/copy-now", Access::Signed(Action::StartBackup)),
    ("/api/assets/verify-now", Access::Signed(Action::StartBackup)),
    ("/api/assets/backup-now", Access::Signed(Action::StartBackup)),
    ("/api/assets/restore", Access::Signed(Action::StartBackup)),
    ("/api/assets/add", Access::Signed(Action::ManageAppliances)),
    ("/api/assets/remove", Access::Signed(Action::ManageAppliances)),
    (
        "/api/assets/remove-many",
        Access::Signed(Action::ManageAppliances),
    ),
    ("/api/appliances/completed-jobs", Access::Signed(Action::View)),
    ("/api/jobs/list", Access::Signed(Action::View)),
    ("/api/jobs/recent", Access::Signed(Action::View)),
    ("/api/jobs/active", Access::Signed(Action::View)),
    ("/api/policies/set", Access::Signed(Action::ConfigurePolicies)),
    ("/api/policies/remove", Access::Signed(Action::ConfigurePolicies)),
    ("/api/policies/retention", Access::Signed(Action::ChangeRetention)),
    ("/api/schedules/list", Access::Signed(Action::View)),
    ("/api/schedules/enable", Access::Signed(Action::ConfigurePolicies)),
    ("/api/schedules/delete", Access::Signed(Action::ConfigurePolicies)),
    ("/api/jobs/log", Access::Signed(Action::View)),
    ("/api/jobs/cancel", Access::Signed(Action::CancelJob)),
    ("/api/dashboard", Access::Signed(Action::View)),
    ("/api/alerts/count", Access::Signed(Action::View)),
    ("/api/alerts/groups", Access::Signed(Action::View)),
    ("/api/alerts/members", Access::Signed(Action::View)),
    ("/api/alerts/of-appliance", Access::Signed(Action::View)),
    ("/api/alerts/dismiss", Access::Signed(Action::DismissAlert)),
    (
        "/api/alerts/dismiss-group",
        Access::Signed(Action::DismissAlertGroups),
    ),
    (
        "/api/alerts/dismiss-all",
        Access::Signed(Action::DismissAlertGroups),
    ),
    (
        "/api/alerts/dismiss-matching",
        Access::Signed(Action::BulkDismissAlerts),
    ),
    (
        "/api/alerts/settings",
        Access::Signed(Action::ManageAlertSettings),
    ),
    (
        "/api/alerts/category",
        Access::Signed(Action::ManageAlertSettings),
    ),
    (
        "/api/alerts/recipients/add",
        Access::Signed(Action::ManageAlertSettings),
    ),
    (
        "/api/alerts/recipients/remove",
        Access::Signed(Action::ManageAlertSettings),
    ),
    (
        "/api/alarms/settings",
        Access::Signed(Action::ManageAlertSettings),
    ),
    ("/api/alarms/global", Access::Signed(Action::ManageAlertSettings)),
    ("/api/security/ip", Access::Signed(Action::ManageSecurity)),
    ("/api/security/ip/add", Access::Signed(Action::ManageSecurity)),
    ("/api/security/ip/delete", Access::Signed(Action::ManageSecurity)),
    ("/api/security/ip/enabled", Access::Signed(Action::ManageSecurity)),
    ("/api/security/embedding", Access::Signed(Action::ManageSecurity)),
    (
        "/api/security/embedding/save",
        Access::Signed(Action::ManageSecurity),
    ),
    ("/api/api-access/list", Access::Signed(Action::ViewApiAccess)),
    ("/api/api-access/create", Access::Signed(Action::ManageApiAccess)),
    ("/api/api-access/enabled", Access::Signed(Action::ManageApiAccess)),
    ("/api/api-access/delete", Access::Signed(Action::ManageApiAccess)),
    ("/api/webhooks/list", Access::Signed(Action::ManageWebhooks)),
    ("/api/webhooks/create", Access::Signed(Action::ManageWebhooks)),
    ("/api/webhooks/enabled", Access::Signed(Action::ManageWebhooks)),
    ("/api/webhooks/delete", Access::Signed(Action::ManageWebhooks)),
    ("/api/webhooks/deliveries", Access::Signed(Action::ManageWebhooks)),
    ("/api/webhooks/resend", Access::Signed(Action::ManageWebhooks)),
    ("/api/itglue/settings", Access::Signed(Action::ManageIntegrations)),
    (
        "/api/itglue/integrate",
        Access::Signed(Action::ManageIntegrations),
    ),
    ("/api/itglue/remove", Access::Signed(Action::ManageIntegrations)),
    (
        "/api/itglue/organizations",
        Access::Signed(Action::ManageIntegrations),
    ),
    ("/api/itglue/import", Access::Signed(Action::ManageIntegrations)),
    ("/api/itglue/link", Access::Signed(Action::ManageIntegrations)),
    (
        "/api/itglue/link-by-name",
        Access::Signed(Action::ManageIntegrations),
    ),
    ("/api/itglue/sync", Access::Signed(Action::ManageIntegrations)),
    ("/api/psa/settings", Access::Signed(Action::ManageIntegrations)),
    ("/api/psa/integrate", Access::Signed(Action::ManageIntegrations)),
    ("/api/psa/remove", Access::Signed(Action::ManageIntegrations)),
    ("/api/psa/choices", Access::Signed(Action::ManageIntegrations)),
    ("/api/psa/defaults", Access::Signed(Action::ManageIntegrations)),
    ("/api/psa/test-ticket", Access::Signed(Action::ManageIntegrations)),
    ("/api/psa/companies", Access::Signed(Action::ManageIntegrations)),
    ("/api/psa/locations", Access::Signed(Action::ManageIntegrations)),
    ("/api/psa/import", Access::Signed(Action::ManageIntegrations)),
    ("/api/psa/map", Access::Signed(Action::ManageIntegrations)),
    ("/api/psa/map-by-name", Access::Signed(Action::ManageIntegrations)),
    (
        "/api/psa/organization",
        Access::Signed(Action::ManageIntegrations),
    ),
    ("/api/psa/overwrite", Access::Signed(Action::ManageIntegrations)),
    (
        "/api/psa/use-defaults",
        Access::Signed(Action::ManageIntegrations),
    ),
    ("/api/psa/reset-all", Access::Signed(Action::ManageIntegrations)),
    ("/api/psa/mappings", Access::Signed(Action::View)),
    (
        "/api/alarms/custom/save",
        Access::Signed(Action::ManageAlertSettings),
    ),
    (
        "/api/alarms/custom/delete",
        Access::Signed(Action::ManageAlertSettings),
    ),
];

/// Plain HTTP routes outside the server functions, with the same declaration.
pub const DOWNLOADS: &[(&str, Access)] =
    &[("/settings/audit/export.csv", Access::Signed(Action::ReadAuditLog))];
