//! Roles and the role × action matrix (spec portal-b §4). Defined once here; the server enforces
//! it and the UI only hides what the server would refuse.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Role {
    Monitor,
    Manage,
    Admin,
    Superuser,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Superuser, Role::Admin, Role::Manage, Role::Monitor];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Superuser => "superuser",
            Role::Admin => "admin",
            Role::Manage => "manage",
            Role::Monitor => "monitor",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            Role::Superuser => "Superuser",
            Role::Admin => "Admin",
            Role::Manage => "Manage",
            Role::Monitor => "Monitor",
        }
    }

    /// Whether a user with this role may perform `action` (on objects inside their scopes).
    pub fn can(self, action: Action) -> bool {
        self >= action.minimum_role()
    }
}

/// Everything a signed-in user can ask the portal to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Action {
    /// See the portal's pages and the objects inside one's scopes.
    View,
    /// Change one's own preferences (theme) and password.
    ManageOwnAccount,
    StartBackup,
    CancelJob,
    ChangeRetention,
    ConfigurePolicies,
    ManageAppliances,
    ManageOrganizations,
    ManageUsers,
    ManageSuperusers,
    ManageScopes,
    ManageIntegrations,
    ManageAlertSettings,
    /// Dismiss one alert in the Alert Center.
    DismissAlert,
    /// Dismiss a group of alerts, or all of them.
    DismissAlertGroups,
    /// Dismiss every alert of an organization and/or scope.
    BulkDismissAlerts,
    /// Read the mail outbox (Settings → Outbox), which holds password-reset links.
    ReadOutbox,
    ReadAuditLog,
    /// Read Settings → API Access (never a secret).
    ViewApiAccess,
    /// Create, disable, enable and delete public API credentials.
    ManageApiAccess,
    /// Settings → Webhooks: endpoints, their secrets' creation and the delivery log.
    ManageWebhooks,
    /// Settings → Security: the addresses the instance may be used from.
    ManageSecurity,
}

impl Action {
    pub const ALL: [Action; 22] = [
        Action::View,
        Action::ManageOwnAccount,
        Action::StartBackup,
        Action::CancelJob,
        Action::ChangeRetention,
        Action::ConfigurePolicies,
        Action::ManageAppliances,
        Action::ManageOrganizations,
        Action::ManageUsers,
        Action::ManageSuperusers,
        Action::ManageScopes,
        Action::ManageIntegrations,
        Action::ManageAlertSettings,
        Action::DismissAlert,
        Action::DismissAlertGroups,
        Action::BulkDismissAlerts,
        Action::ReadOutbox,
        Action::ReadAuditLog,
        Action::ViewApiAccess,
        Action::ManageApiAccess,
        Action::ManageWebhooks,
        Action::ManageSecurity,
    ];

    /// The matrix: the least privileged role allowed to perform the action.
    pub fn minimum_role(self) -> Role {
        match self {
            Action::View | Action::ManageOwnAccount => Role::Monitor,
            Action::StartBackup | Action::CancelJob | Action::ChangeRetention | Action::DismissAlert => {
                Role::Manage
            }
            Action::ConfigurePolicies
            | Action::DismissAlertGroups
            | Action::ManageAppliances
            | Action::ManageOrganizations
            | Action::ManageUsers
            | Action::ViewApiAccess => Role::Admin,
            Action::ManageSuperusers
            | Action::ManageScopes
            | Action::ManageIntegrations
            | Action::ManageAlertSettings
            | Action::BulkDismissAlerts
            | Action::ReadOutbox
            | Action::ManageApiAccess
            // Deliveries carry every scope's events.
            | Action::ManageWebhooks
            // A wrong list locks everyone out, the instance's Superusers included.
            | Action::ManageSecurity
            // The log names objects of every scope, so only those who see every scope read it.
            | Action::ReadAuditLog => Role::Superuser,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix_follows_the_spec() {
        use Action::*;
        use Role::*;
        let allowed = |role: Role| Action::ALL.into_iter().filter(move |a| role.can(*a));
        assert_eq!(allowed(Monitor).collect::<Vec<_>>(), vec![View, ManageOwnAccount]);
        assert!(Manage.can(StartBackup) && Manage.can(ChangeRetention) && !Manage.can(ConfigurePolicies));
        assert!(Admin.can(ManageUsers) && !Admin.can(ManageSuperusers));
        assert!(Manage.can(DismissAlert) && !Manage.can(DismissAlertGroups));
        assert!(Admin.can(DismissAlertGroups) && !Admin.can(BulkDismissAlerts));
        assert!(!Admin.can(ManageScopes) && !Admin.can(ManageIntegrations));
        assert!(Admin.can(ViewApiAccess) && !Admin.can(ManageApiAccess) && !Manage.can(ViewApiAccess));
        assert_eq!(allowed(Superuser).count(), Action::ALL.len());
    }

    #[test]
    fn roles_round_trip_through_their_stored_names() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
