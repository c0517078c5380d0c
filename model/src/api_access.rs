//! Settings → API Access (spec portal-c §2.1): credentials of the public API's client
//! credentials grant, as the portal shows them. The secret is shown once, at creation.

use serde::{Deserialize, Serialize};

use crate::AppError;

/// One credential as Settings → API Access lists it; never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiCredential {
    pub id: i64,
    pub name: String,
    /// 32 hexadecimal characters.
    pub client_id: String,
    /// The creator's e-mail: the credential acts with this user's role and scopes.
    pub creator: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub enabled: bool,
}

/// A credential just made, with the secret the portal keeps only as a hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewApiCredential {
    pub credential: ApiCredential,
    pub client_secret: String,
}

/// The longest credential name.
pub const NAME_MAX_CHARS: usize = 100;

/// A credential's name, trimmed: 1–100 characters.
pub fn check_credential_name(name: &str) -> Result<String, AppError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(AppError::invalid("name", "Enter a name for the credential."));
    }
    if name.chars().count() > NAME_MAX_CHARS {
        return Err(AppError::invalid(
            "name",
            format!("The name is longer than {NAME_MAX_CHARS} characters."),
        ));
    }
    Ok(name.to_owned())
}

/// The scopes a token may carry: read, and write (dismiss alerts, set policies).
pub const READ_SCOPE: &str = "public_api";
pub const WRITE_SCOPE: &str = "public_api.write";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(check_credential_name("  Billing sync ").unwrap(), "Billing sync");
        assert_eq!(check_credential_name("   ").unwrap_err().field(), Some("name"));
        assert!(check_credential_name(&"x".repeat(100)).is_ok());
        assert!(check_credential_name(&"x".repeat(101)).is_err());
    }
}
