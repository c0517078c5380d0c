//! Signing in and out, first-run setup, password reset and account activation.

pub mod api;
mod enrol;
mod login;
mod password;
mod setup;

pub use login::LoginPage;
pub use password::{ActivatePage, ForgotPasswordPage, ResetPasswordPage};
pub use setup::SetupPage;
