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
];
