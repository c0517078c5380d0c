//! The password policy (spec portal-b §3.8): 6–100 characters with at least one upper-case
//! letter, one lower-case letter and one non-alphanumeric character.

use crate::AppError;

pub const MIN_LEN: usize = 6;
pub const MAX_LEN: usize = 100;

/// Checks `password` against the policy; the error names the first rule it breaks.
pub fn validate_password(field: &str, password: &str) -> Result<(), AppError> {
    let len = password.chars().count();
    let problem = if len < MIN_LEN {
        Some(format!("Password must be at least {MIN_LEN} characters long."))
    } else if len > MAX_LEN {
        Some(format!("Password must be at most {MAX_LEN} characters long."))
    } else if !password.chars().any(char::is_uppercase) {
        Some("Password must contain an upper-case letter.".to_owned())
    } else if !password.chars().any(char::is_lowercase) {
        Some("Password must contain a lower-case letter.".to_owned())
    } else if password.chars().all(char::is_alphanumeric) {
        Some("Password must contain a character that is not a letter or digit.".to_owned())
    } else {
        None
    };
    match problem {
        Some(message) => Err(AppError::invalid(field, message)),
        None => Ok(()),
    }
}

/// Checks that the confirmation matches, after the policy itself.
pub fn validate_new_password(password: &str, confirm: &str) -> Result<(), AppError> {
    validate_password("password", password)?;
    if password != confirm {
        return Err(AppError::invalid("confirm", "The two passwords do not match."));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(p: &str) -> String {
        validate_password("password", p).unwrap_err().to_string()
    }

    #[test]
    fn accepts_a_password_meeting_every_rule() {
        assert!(validate_password("password", "Abc-de").is_ok());
        assert!(validate_password("password", &format!("Aa!{}", "x".repeat(97))).is_ok());
    }

    #[test]
    fn names_the_rule_that_is_broken() {
        assert!(message("Ab-de").contains("at least 6"));
        assert!(message(&format!("Aa!{}", "x".repeat(98))).contains("at most 100"));
        assert!(message("abc-def").contains("upper-case"));
        assert!(message("ABC-DEF").contains("lower-case"));
        assert!(message("Abcdef1").contains("not a letter or digit"));
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        // Five two-byte characters plus "A!" = 7 characters, 12 bytes.
        assert!(validate_password("password", "Aéééé!").is_ok());
        assert!(message("Aéé!").contains("at least 6"));
    }

    #[test]
    fn confirmation_must_match() {
        let e = validate_new_password("Abc-def", "Abc-deg").unwrap_err();
        assert_eq!(e.field(), Some("confirm"));
    }
}
