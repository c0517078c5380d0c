//! Single sign-on: the providers an instance signs in with (KaseyaOne, any OpenID Connect
//! issuer), their modes, and what the login page and Settings show of them.

use serde::{Deserialize, Serialize};

use crate::{AppError, Role};

/// The kinds of provider an instance can have one of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SsoKind {
    KaseyaOne,
    /// Any other OpenID Connect issuer: Entra ID, Okta, Google, Keycloak…
    OpenIdConnect,
}

impl SsoKind {
    pub const ALL: [SsoKind; 2] = [SsoKind::KaseyaOne, SsoKind::OpenIdConnect];

    pub fn as_str(self) -> &'static str {
        match self {
            SsoKind::KaseyaOne => "kaseyaone",
            SsoKind::OpenIdConnect => "oidc",
        }
    }

    pub fn parse(text: &str) -> Option<SsoKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// The provider's name on buttons and settings ("Log in with KaseyaOne").
    pub fn label(self) -> &'static str {
        match self {
            SsoKind::KaseyaOne => "KaseyaOne",
            SsoKind::OpenIdConnect => "single sign-on",
        }
    }

    /// The issuer a new provider of this kind starts with.
    pub fn default_issuer(self) -> &'static str {
        match self {
            SsoKind::KaseyaOne => "https://one.kaseya.com",
            SsoKind::OpenIdConnect => "",
        }
    }
}

/// The login modes of the spec's table (portal-a §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SsoMode {
    /// No button; only local credentials.
    Disabled,
    /// The login page offers the button beside the local form.
    Optional,
    /// Local login is refused (except the listed exceptions, through the bypass link); the
    /// login page goes straight to the provider.
    Required,
}

impl SsoMode {
    pub const ALL: [SsoMode; 3] = [SsoMode::Disabled, SsoMode::Optional, SsoMode::Required];

    pub fn as_str(self) -> &'static str {
        match self {
            SsoMode::Disabled => "disabled",
            SsoMode::Optional => "optional",
            SsoMode::Required => "required",
        }
    }

    pub fn parse(text: &str) -> Option<SsoMode> {
        Self::ALL.into_iter().find(|m| m.as_str() == text)
    }

    pub fn label(self) -> &'static str {
        match self {
            SsoMode::Disabled => "Disabled",
            SsoMode::Optional => "Optional",
            SsoMode::Required => "Required",
        }
    }
}

/// Whether the provider's login stands in for the portal's own second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SecondFactorSource {
    /// When the ID token's `amr` says the user passed a second factor; else the portal asks its TOTP.
    ProviderWhenAsserted,
    /// Always: the provider enforces MFA itself.
    Provider,
    /// Never: the portal's TOTP is asked after every provider login.
    Portal,
}

impl SecondFactorSource {
    pub const ALL: [SecondFactorSource; 3] = [
        SecondFactorSource::ProviderWhenAsserted,
        SecondFactorSource::Provider,
        SecondFactorSource::Portal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SecondFactorSource::ProviderWhenAsserted => "amr",
            SecondFactorSource::Provider => "provider",
            SecondFactorSource::Portal => "portal",
        }
    }

    pub fn parse(text: &str) -> Option<SecondFactorSource> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    pub fn label(self) -> &'static str {
        match self {
            SecondFactorSource::ProviderWhenAsserted => "The provider's, when it reports MFA (amr)",
            SecondFactorSource::Provider => "The provider's, always",
            SecondFactorSource::Portal => "The portal's own code, always",
        }
    }
}

/// A provider the login page offers, as a button (or goes straight to, when required).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SsoButton {
    pub kind: SsoKind,
    pub label: String,
    /// Where the browser goes to start the sign-in.
    pub start_url: String,
}

/// A provider as Settings → Integrations shows it; never its client secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SsoSettings {
    pub kind: SsoKind,
    pub issuer: String,
    pub client_id: String,
    pub has_client_secret: bool,
    pub mode: SsoMode,
    pub auto_create: bool,
    pub default_role: Role,
    /// Created users see every organization…
    pub all_organizations: bool,
    /// …or the organizations of this scope (none when it was deleted since).
    pub default_scope_id: Option<i64>,
    pub second_factor: SecondFactorSource,
    /// Users allowed to sign in with their portal credentials while the mode is Required.
    pub exceptions: Vec<SsoUser>,
    /// Portal users linked to a subject of the provider.
    pub linked_users: i64,
    /// The address to register at the provider as the redirect (callback) URI.
    pub redirect_uri: String,
    /// The address to register as the post-logout redirect URI.
    pub post_logout_uri: String,
    /// The login page that still shows the local form while sign-on is required.
    pub bypass_url: String,
    pub updated_by: String,
    pub updated_at: i64,
}

/// A user named in a provider's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SsoUser {
    pub id: i64,
    pub email: String,
}

/// What a Superuser saves for a provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SsoForm {
    pub issuer: String,
    pub client_id: String,
    /// None or empty keeps the stored secret.
    pub client_secret: Option<String>,
    pub mode: SsoMode,
    pub auto_create: bool,
    pub default_role: Role,
    /// Created users see every organization (else those of `default_scope_id`).
    #[serde(default)]
    pub all_organizations: bool,
    pub default_scope_id: Option<i64>,
    pub second_factor: SecondFactorSource,
    /// E-mail addresses of the users allowed to log in locally while required, separated by
    /// commas, spaces or new lines.
    #[serde(default)]
    pub exceptions: String,
}

impl SsoForm {
    /// The exceptions' addresses, lower-cased, each once.
    pub fn exception_emails(&self) -> Vec<String> {
        let mut emails: Vec<String> = self
            .exceptions
            .split([',', ';', ' ', '\n', '\r', '\t'])
            .map(|e| e.trim().to_lowercase())
            .filter(|e| !e.is_empty())
            .collect();
        emails.sort();
        emails.dedup();
        emails
    }
}

impl SsoForm {
    /// Checks what can be checked without the database: the issuer is an https URL (http only
    /// for a loopback address, for tests and local providers) and the client id is present.
    pub fn validate(&self) -> Result<(), AppError> {
        validate_issuer(&self.issuer)?;
        let client_id = self.client_id.trim();
        if client_id.is_empty() || client_id.len() > 255 {
            return Err(AppError::invalid(
                "client_id",
                "Enter the client ID the provider issued (at most 255 characters).",
            ));
        }
        if self.client_secret.as_ref().is_some_and(|s| s.len() > 1000) {
            return Err(AppError::invalid(
                "client_secret",
                "The client secret is too long (at most 1,000 characters).",
            ));
        }
        Ok(())
    }
}

/// An issuer URL the portal may talk to: https, or http on a loopback address.
pub fn validate_issuer(issuer: &str) -> Result<(), AppError> {
    let issuer = issuer.trim();
    let (scheme, rest) = issuer.split_once("://").unwrap_or(("", issuer));
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_name = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let host_name = match host_name.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host_name.split(':').next().unwrap_or(""),
    };
    let loopback = matches!(host_name, "localhost" | "127.0.0.1" | "::1");
    let ok = !host_name.is_empty()
        && issuer.len() <= 500
        && !issuer.contains(['?', '#', ' '])
        && (scheme == "https" || (scheme == "http" && loopback));
    if ok {
        Ok(())
    } else {
        Err(AppError::invalid(
            "issuer",
            "Enter the provider's issuer URL, starting with https:// (for example https://login.microsoftonline.com/<tenant>/v2.0).",
        ))
    }
}

/// The warning the portal shows a user whose link to a provider names someone else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SsoMismatch {
    pub kind: SsoKind,
    pub provider_username: String,
}

/// Why a sign-in through a provider ended on the login page instead of in the portal. The
/// callback redirects with the code only (never a message of the provider's), and the login
/// page words it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SsoFailure {
    /// The sign-in took too long, or its link was used already.
    Expired,
    /// The answer reached a browser other than the one that started the sign-in.
    OtherBrowser,
    /// The provider reported an error or the user cancelled there.
    ProviderDenied,
    /// The provider could not be reached, or refused the portal's code exchange.
    Unreachable,
    /// The provider's ID token failed a check (signature, audience, issuer, expiry, nonce).
    BadToken,
    /// The token names no e-mail address the portal can match.
    NoEmail,
    /// No portal user matches, and automatic creation is off.
    NoUser,
    /// The matching portal user is linked to another identity of the provider.
    LinkedElsewhere,
    /// The portal user is disabled or locked.
    Disabled,
    /// The instance's IP restrictions refuse this address.
    NotAllowed,
    /// Single sign-on is not enabled for the instance.
    Off,
}

impl SsoFailure {
    const ALL: [SsoFailure; 11] = [
        SsoFailure::Expired,
        SsoFailure::OtherBrowser,
        SsoFailure::ProviderDenied,
        SsoFailure::Unreachable,
        SsoFailure::BadToken,
        SsoFailure::NoEmail,
        SsoFailure::NoUser,
        SsoFailure::LinkedElsewhere,
        SsoFailure::Disabled,
        SsoFailure::NotAllowed,
        SsoFailure::Off,
    ];

    pub fn code(self) -> &'static str {
        match self {
            SsoFailure::Expired => "expired",
            SsoFailure::OtherBrowser => "browser",
            SsoFailure::ProviderDenied => "denied",
            SsoFailure::Unreachable => "unreachable",
            SsoFailure::BadToken => "token",
            SsoFailure::NoEmail => "no_email",
            SsoFailure::NoUser => "no_user",
            SsoFailure::LinkedElsewhere => "linked_elsewhere",
            SsoFailure::Disabled => "disabled",
            SsoFailure::NotAllowed => "not_allowed",
            SsoFailure::Off => "off",
        }
    }

    pub fn parse(code: &str) -> Option<SsoFailure> {
        Self::ALL.into_iter().find(|f| f.code() == code)
    }

    pub fn message(self) -> &'static str {
        match self {
            SsoFailure::Expired => "The single sign-on took too long or was already used. Start again.",
            SsoFailure::OtherBrowser => {
                "The single sign-on was started in another browser or tab. Start again here."
            }
            SsoFailure::ProviderDenied => "The identity provider did not sign you in.",
            SsoFailure::Unreachable => {
                "The identity provider could not be reached or refused the sign-in. Try again, or ask an administrator to check the single sign-on settings."
            }
            SsoFailure::BadToken => {
                "The identity provider's answer failed the portal's checks, so it was refused. Ask an administrator to check the single sign-on settings."
            }
            SsoFailure::NoEmail => {
                "The identity provider did not tell the portal your verified e-mail address."
            }
            SsoFailure::NoUser => {
                "No user of this instance has your e-mail address. Ask an administrator to add you."
            }
            SsoFailure::LinkedElsewhere => {
                "Your portal user is linked to another identity at this provider. Sign in with that identity, or ask an administrator to remove the link."
            }
            SsoFailure::Disabled => "Your portal user is disabled or locked. Ask an administrator.",
            SsoFailure::NotAllowed => "This instance cannot be used from your IP address.",
            SsoFailure::Off => "Single sign-on is not enabled for this instance.",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuers_must_be_https_unless_on_this_machine() {
        assert!(validate_issuer("https://one.kaseya.com").is_ok());
        assert!(validate_issuer("https://login.microsoftonline.com/abc/v2.0").is_ok());
        assert!(validate_issuer("http://127.0.0.1:4000").is_ok());
        assert!(validate_issuer("http://localhost:4000/realms/x").is_ok());
        assert!(validate_issuer("http://one.kaseya.com").is_err());
        assert!(validate_issuer("http://127.0.0.1.evil.com").is_err());
        assert!(validate_issuer("http://localhost@evil.com").is_err());
        assert!(validate_issuer("https://").is_err());
        assert!(validate_issuer("https://x.com/?a=b").is_err());
        assert!(validate_issuer("one.kaseya.com").is_err());
    }

    #[test]
    fn kinds_modes_and_sources_round_trip() {
        for kind in SsoKind::ALL {
            assert_eq!(SsoKind::parse(kind.as_str()), Some(kind));
        }
        for mode in SsoMode::ALL {
            assert_eq!(SsoMode::parse(mode.as_str()), Some(mode));
        }
        for failure in SsoFailure::ALL {
            assert_eq!(SsoFailure::parse(failure.code()), Some(failure));
        }
        for source in SecondFactorSource::ALL {
            assert_eq!(SecondFactorSource::parse(source.as_str()), Some(source));
        }
    }
}
