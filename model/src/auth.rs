//! What the login, first-run and account pages exchange with the server.

use serde::{Deserialize, Serialize};

use crate::Role;

/// The signed-in user as the UI needs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionView {
    pub user_id: i64,
    pub email: String,
    pub role: Role,
    pub homerealm: String,
    pub instance_name: String,
    pub dark_theme: bool,
    /// Links to single sign-on providers whose username differs from this user's (the
    /// warning banner, and "Disable Login with …" in the user menu).
    pub sso_mismatches: Vec<crate::sso::SsoMismatch>,
}

/// Where a login stands; the login page renders the step the server says is next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum LoginStep {
    /// Ask for the homerealm (the server hosts several instances).
    Homerealm,
    /// Ask for e-mail and password; `homerealm` is the instance chosen (or the only one).
    /// `providers` are its single sign-on buttons; `required`, the provider the page goes
    /// straight to (sign-on required, and not the bypass link).
    Credentials {
        homerealm: String,
        providers: Vec<crate::sso::SsoButton>,
        required: Option<crate::sso::SsoButton>,
    },
    /// Password accepted; ask for a TOTP code or a recovery code.
    SecondFactor { email: String },
    /// Password accepted but no authenticator is enrolled yet (first login, or after a reset).
    EnrolTotp { email: String },
    /// Fully signed in.
    Done,
}

/// A new authenticator secret, shown once while enrolling.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TotpEnrolment {
    /// Base32 secret for "Can't scan?".
    pub secret: String,
    pub otpauth_uri: String,
    /// The otpauth URI as an SVG QR code.
    pub qr_svg: String,
}

/// The one-time recovery codes, shown once after enrolment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecoveryCodes {
    pub codes: Vec<String>,
}

impl RecoveryCodes {
    /// The text a user downloads or copies: one code per line with a short header.
    pub fn as_text(&self, account: &str) -> String {
        let mut text = format!("Backplane recovery codes for {account}.\nEach code works once.\n\n");
        for code in &self.codes {
            text.push_str(code);
            text.push('\n');
        }
        text
    }
}

/// The first-run page's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SetupState {
    /// No instance exists yet; setup needs the token printed on the server console.
    Required,
    /// Setup has been done.
    Complete,
}

/// The e-mailed links that lead to a set-password form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LinkPurpose {
    Activation,
    PasswordReset,
}

/// The Settings → Outbox view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxView {
    /// Whether the server has SMTP settings (else mail only waits here).
    pub smtp_configured: bool,
    pub mails: Vec<crate::outbox::OutboxMail>,
}
