//! The key access tokens are signed with: Ed25519 (JWS `EdDSA`), kept as PKCS #8 PEM in a file
//! under the data directory, created on first start. Its public half is published as a JWK Set;
//! the key id is the key's RFC 7638 thumbprint, so a replaced key gets a new id by itself.

use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::secrets::system_random;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, OctetKeyPairParameters,
    OctetKeyPairType, PublicKeyUse, ThumbprintHash,
};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// The audience of every access token (spec portal-c §2.4).
pub const AUDIENCE: &str = "public_api";
/// The JWT `typ` of access tokens (RFC 9068).
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";

/// The claims of an access token (RFC 9068 and spec portal-c §2.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// The client id, as is `client_id`.
    pub sub: String,
    pub client_id: String,
    /// The instance's homerealm.
    pub tenant: String,
    /// Space-separated scopes.
    pub scope: String,
    pub exp: u64,
    pub iat: u64,
    pub jti: String,
}

pub struct SigningKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    public: Jwk,
    kid: String,
}

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKeys({})", self.kid)
    }
}

impl SigningKeys {
    /// The key in `path` (PKCS #8 PEM), created with a new random key if there is no file.
    pub fn load_or_create(path: &Path) -> Result<SigningKeys, String> {
        match std::fs::read_to_string(path) {
            Ok(pem) => {
                let key = SigningKey::from_pkcs8_pem(&pem)
                    .map_err(|e| format!("{}: not an Ed25519 PKCS #8 key: {e}", path.display()))?;
                SigningKeys::of(&key)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = random_key();
                let pem = key
                    .to_pkcs8_pem(LineEnding::LF)
                    .map_err(|e| format!("encoding the API signing key: {e}"))?;
                write_new_private(path, pem.as_bytes())?;
                tracing::info!(path = %path.display(), "created the API token signing key");
                SigningKeys::of(&key)
            }
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    /// A key that lives as long as the process: for tests.
    pub fn ephemeral() -> SigningKeys {
        // A freshly generated key always encodes; a failure here is a bug in the crates.
        #[allow(clippy::expect_used)]
        SigningKeys::of(&random_key()).expect("a new Ed25519 key encodes")
    }

    fn of(key: &SigningKey) -> Result<SigningKeys, String> {
        let der = key
            .to_pkcs8_der()
            .map_err(|e| format!("encoding the API signing key: {e}"))?;
        let encoding = EncodingKey::from_ed_der(der.as_bytes());
        let x = URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes());
        let mut public = Jwk {
            common: CommonParameters {
                public_key_use: Some(PublicKeyUse::Signature),
                key_algorithm: Some(KeyAlgorithm::EdDSA),
                ..Default::default()
            },
            algorithm: AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
                key_type: OctetKeyPairType::OctetKeyPair,
                curve: EllipticCurve::Ed25519,
                x,
            }),
        };
        let kid = public
            .thumbprint(ThumbprintHash::SHA256)
            .map_err(|e| e.to_string())?;
        public.common.key_id = Some(kid.clone());
        Ok(SigningKeys {
            encoding,
            decoding: DecodingKey::from_ed_der(key.verifying_key().as_bytes()),
            public,
            kid,
        })
    }

    /// The public keys, as `jwks_uri` serves them.
    pub fn jwks(&self) -> JwkSet {
        JwkSet {
            keys: vec![self.public.clone()],
        }
    }

    pub fn sign(&self, claims: &Claims) -> Result<String, String> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some(ACCESS_TOKEN_TYPE.into());
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).map_err(|e| e.to_string())
    }

    /// The claims of a token this key signed for `issuer`, unexpired, of the right type and
    /// audience; otherwise why not, in words a client may read.
    pub fn verify(&self, token: &str, issuer: &str) -> Result<Claims, String> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| "The access token is malformed.".to_owned())?;
        if header.typ.as_deref() != Some(ACCESS_TOKEN_TYPE) || header.alg != Algorithm::EdDSA {
            return Err("The token is not an access token of this portal.".into());
        }
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 30;
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                    "The access token has expired.".to_owned()
                }
                jsonwebtoken::errors::ErrorKind::InvalidAudience => {
                    "The access token is for another audience.".to_owned()
                }
                jsonwebtoken::errors::ErrorKind::InvalidIssuer => {
                    "The access token is from another issuer.".to_owned()
                }
                _ => "The access token is not valid.".to_owned(),
            })
    }
}

fn random_key() -> SigningKey {
    let mut seed = [0u8; 32];
    system_random().fill_bytes(&mut seed);
    SigningKey::from_bytes(&seed)
}

/// Writes a file only the owner may read, refusing to replace one.
fn write_new_private(path: &Path, contents: &[u8]) -> Result<(), String> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn claims(exp: u64) -> Claims {
        Claims {
            iss: "https://backup.example.com".into(),
            aud: AUDIENCE.into(),
            sub: "c1".into(),
            client_id: "c1".into(),
            tenant: "acme".into(),
            scope: "public_api".into(),
            exp,
            iat: 0,
            jti: "j".into(),
        }
    }

    fn now() -> u64 {
        jsonwebtoken::get_current_timestamp()
    }

    #[test]
    fn a_signed_token_verifies_and_anything_else_is_refused_with_the_reason() {
        let keys = SigningKeys::ephemeral();
        let good = claims(now() + 3600);
        let token = keys.sign(&good).unwrap();
        assert_eq!(keys.verify(&token, "https://backup.example.com").unwrap(), good);
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));

        assert!(
            keys.verify(&token, "https://other.example.com")
                .unwrap_err()
                .contains("issuer")
        );
        let expired = keys.sign(&claims(now() - 120)).unwrap();
        assert!(
            keys.verify(&expired, "https://backup.example.com")
                .unwrap_err()
                .contains("expired")
        );
        let other_audience = keys
            .sign(&Claims {
                aud: "other".into(),
                ..good.clone()
            })
            .unwrap();
        assert!(
            keys.verify(&other_audience, "https://backup.example.com")
                .unwrap_err()
                .contains("audience")
        );
        let foreign = SigningKeys::ephemeral().sign(&good).unwrap();
        assert!(keys.verify(&foreign, "https://backup.example.com").is_err());
        let (head, rest) = token.split_once('.').unwrap();
        let (_, signature) = rest.split_once('.').unwrap();
        let tampered_claims = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            serde_json::to_vec(&Claims {
                tenant: "other".into(),
                ..good
            })
            .unwrap(),
        );
        let tampered = format!("{head}.{tampered_claims}.{signature}");
        assert!(keys.verify(&tampered, "https://backup.example.com").is_err());
        assert!(keys.verify("not a token", "https://backup.example.com").is_err());
    }

    #[test]
    fn the_key_file_is_created_once_private_and_read_back() {
        let dir = std::env::temp_dir().join(format!("backplane-keys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("api-signing.key");
        let _ = std::fs::remove_file(&path);
        let first = SigningKeys::load_or_create(&path).unwrap();
        let again = SigningKeys::load_or_create(&path).unwrap();
        assert_eq!(first.kid, again.kid);
        let token = first.sign(&claims(now() + 60)).unwrap();
        assert!(again.verify(&token, "https://backup.example.com").is_ok());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "garbage").unwrap();
        assert!(SigningKeys::load_or_create(&path).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
