//! Secrets the portal must read back (copy targets' keys, their repositories' passwords) are
//! stored sealed with the instance key: XChaCha20-Poly1305 with a random nonce per secret.
//! The key lives in a file under the data directory, created on first start (mode 0600); a
//! database backup is useless for these secrets without it, so back up both (docs/security.md).

use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::Rng;

use crate::secrets::system_random;
use crate::{DomainError, DomainResult};

/// What every sealed value starts with (the format's version).
const PREFIX: &str = "sealed1:";
const NONCE_BYTES: usize = 24;

pub struct Vault {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault(…)")
    }
}

impl Vault {
    /// The instance key in `path`, created with a new random key if the file does not exist.
    pub fn load_or_create(path: &Path) -> Result<Vault, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let key = STANDARD_NO_PAD
                    .decode(text.trim())
                    .ok()
                    .filter(|key| key.len() == 32)
                    .ok_or_else(|| format!("{}: not an instance key (32 bytes, base64)", path.display()))?;
                Ok(Vault::with_key(&key))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                system_random().fill_bytes(&mut key);
                write_new_private(path, STANDARD_NO_PAD.encode(key).as_bytes())?;
                tracing::info!(path = %path.display(), "created the instance key");
                Ok(Vault::with_key(&key))
            }
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    /// A key that lives as long as the process: for tests and benchmarks.
    pub fn ephemeral() -> Vault {
        let mut key = [0u8; 32];
        system_random().fill_bytes(&mut key);
        Vault::with_key(&key)
    }

    fn with_key(key: &[u8]) -> Vault {
        Vault {
            cipher: XChaCha20Poly1305::new(chacha20poly1305::Key::from_slice(key)),
        }
    }

    pub fn seal(&self, secret: &str) -> String {
        let mut nonce = [0u8; NONCE_BYTES];
        system_random().fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), secret.as_bytes())
            .unwrap_or_default();
        let mut bytes = nonce.to_vec();
        bytes.extend(sealed);
        format!("{PREFIX}{}", STANDARD_NO_PAD.encode(bytes))
    }

    /// The secret, or an error if `sealed` was not sealed with this instance's key.
    pub fn open(&self, sealed: &str) -> DomainResult<String> {
        let refused = || {
            DomainError::internal(
                "a stored secret cannot be opened with this instance key (was the key file replaced?)",
            )
        };
        let bytes = sealed
            .strip_prefix(PREFIX)
            .and_then(|text| STANDARD_NO_PAD.decode(text).ok())
            .filter(|bytes| bytes.len() > NONCE_BYTES)
            .ok_or_else(refused)?;
        let (nonce, sealed) = bytes.split_at(NONCE_BYTES);
        let plain = self
            .cipher
            .decrypt(XNonce::from_slice(nonce), sealed)
            .map_err(|_| refused())?;
        String::from_utf8(plain).map_err(|_| refused())
    }
}

/// Creates `path` readable by the owner only; never overwrites (two portals starting at once
/// must not end up with different keys).
fn write_new_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_their_key_and_differ_each_time() {
        let vault = Vault::ephemeral();
        let once = vault.seal("s3 secret");
        let twice = vault.seal("s3 secret");
        assert_ne!(once, twice, "a fresh nonce each time");
        assert!(!once.contains("s3 secret"));
        assert_eq!(vault.open(&once).unwrap(), "s3 secret");
        assert!(Vault::ephemeral().open(&once).is_err(), "another key");
        let mut tampered = once.clone();
        tampered.pop();
        tampered.push(if once.ends_with('A') { 'B' } else { 'A' });
        assert!(vault.open(&tampered).is_err(), "tampering is detected");
        assert!(vault.open("plain text").is_err());
    }

    #[test]
    fn the_key_file_is_created_once_private_and_read_back() {
        let dir = std::env::temp_dir().join(format!("bp-vault-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("instance.key");
        let sealed = Vault::load_or_create(&path).unwrap().seal("password");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = Vault::load_or_create(&path).unwrap();
        assert_eq!(again.open(&sealed).unwrap(), "password");
        std::fs::write(&path, "garbage").unwrap();
        assert!(Vault::load_or_create(&path).unwrap_err().contains("instance key"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
