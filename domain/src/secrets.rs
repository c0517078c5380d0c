//! Random tokens, their hashes, and password hashing (argon2id).

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::rand_core::UnwrapErr;
use rand::rngs::SysRng;
use rand::{Rng, RngExt};
use sha2::{Digest, Sha256};

use crate::{DomainError, DomainResult};

/// 256 random bits, URL-safe: session ids and one-time link tokens.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    system_random().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The operating system's generator (getrandom), for everything secret. It cannot fail on the
/// systems the portal runs on; if it ever did, panicking beats handing out a guessable token.
pub fn system_random() -> UnwrapErr<SysRng> {
    UnwrapErr(SysRng)
}

/// Tokens are stored only as this hash, so a database leak does not hand out sessions or links.
pub fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A recovery code: 16 characters from an unambiguous alphabet (80 bits) in groups of four.
pub fn recovery_code() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789"; // 31 symbols, no 0/o/1/l/i
    let mut rng = system_random();
    let chars: Vec<char> = (0..16)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

/// Recovery codes are compared without dashes, spaces or case.
pub fn normalize_recovery_code(input: &str) -> String {
    input
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

pub fn hash_password(password: &str) -> DomainResult<String> {
    let mut salt_bytes = [0u8; 16];
    system_random().fill_bytes(&mut salt_bytes);
    let salt = SaltString::encode_b64(&salt_bytes)
        .map_err(|e| DomainError::internal(format!("a password salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| DomainError::internal(format!("hashing a password: {e}")))
}

pub fn verify_password(password: &str, stored_hash: &str) -> bool {
    PasswordHash::new(stored_hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Burns the same time as a real check, so an unknown e-mail cannot be told apart by timing.
pub fn verify_password_against_nothing(password: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let hash = DUMMY.get_or_init(|| hash_password("Dummy-password-1").unwrap_or_default());
    let _ = verify_password(password, hash);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_hashes_verify_only_the_right_password() {
        let hash = hash_password("Secret-1").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("Secret-1", &hash));
        assert!(!verify_password("Secret-2", &hash));
        assert!(!verify_password("Secret-1", "not a hash"));
    }

    #[test]
    fn tokens_are_random_and_hash_stably() {
        let (a, b) = (random_token(), random_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(token_hash(&a), token_hash(&a));
        assert_ne!(token_hash(&a), token_hash(&b));
    }

    #[test]
    fn recovery_codes_normalize_for_comparison() {
        let code = recovery_code();
        assert_eq!(code.len(), 19);
        assert_eq!(
            normalize_recovery_code(&code.to_uppercase().replace('-', " ")),
            code.replace('-', "")
        );
    }
}

/// A URL fit for messages and logs: the password of `scheme://user:password@host` replaced.
pub fn redacted_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((credentials, host)) => {
            let user = credentials.split(':').next().unwrap_or("");
            let hidden = if credentials.contains(':') { ":***" } else { "" };
            format!("{scheme}://{user}{hidden}@{host}{}", redact_query(tail))
        }
        None => format!("{scheme}://{authority}{}", redact_query(tail)),
    }
}

/// Query parameters that carry secrets (`password`, `token`, …) with their values hidden.
fn redact_query(tail: &str) -> String {
    let Some((path, query)) = tail.split_once('?') else {
        return tail.to_owned();
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if is_secret_name(name) => format!("{name}=***"),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{path}?{}", query.join("&"))
}

fn is_secret_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["password", "token", "secret", "key"]
        .iter()
        .any(|s| name.contains(s))
}

#[cfg(test)]
mod redaction_tests {
    use super::redacted_url;

    #[test]
    fn passwords_and_tokens_never_reach_a_message() {
        assert_eq!(
            redacted_url("postgres://backplane:s3cret@db.internal:5432/backplane?sslmode=require"),
            "postgres://backplane:***@db.internal:5432/backplane?sslmode=require"
        );
        assert_eq!(
            redacted_url("smtp://mailer:p%40ss@mail.example.com:587?tls=required"),
            "smtp://mailer:***@mail.example.com:587?tls=required"
        );
        assert_eq!(redacted_url("smtp://127.0.0.1:25"), "smtp://127.0.0.1:25");
        assert_eq!(
            redacted_url("postgres://db/x?password=hunter2&user=a"),
            "postgres://db/x?password=***&user=a"
        );
        assert_eq!(
            redacted_url("sqlite://data/backplane.db?mode=rwc"),
            "sqlite://data/backplane.db?mode=rwc"
        );
    }
}
