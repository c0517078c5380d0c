//! RFC 6238 TOTP: SHA-1, 6 digits, 30-second steps, accepting one step either side. The step a
//! code matched is returned so that the caller can refuse any code at or before the last used one.

use model::auth::TotpEnrolment;
use qrcode::QrCode;
use qrcode::render::svg;
use rand::Rng;
use totp_rs::{Algorithm, Secret, TOTP};

use crate::{DomainError, DomainResult};

pub const STEP_SECONDS: i64 = 30;
const DIGITS: usize = 6;
const ISSUER: &str = "Backplane";

/// A fresh 160-bit secret, base32-encoded.
pub fn generate_secret() -> String {
    let mut bytes = vec![0u8; 20];
    crate::secrets::system_random().fill_bytes(&mut bytes);
    Secret::Raw(bytes).to_encoded().to_string()
}

fn totp(secret_base32: &str, account: &str) -> DomainResult<TOTP> {
    totp_for(secret_base32, account, ISSUER.to_owned())
}

fn totp_for(secret_base32: &str, account: &str, issuer: String) -> DomainResult<TOTP> {
    let bytes = Secret::Encoded(secret_base32.to_owned())
        .to_bytes()
        .map_err(|e| DomainError::internal(format!("bad TOTP secret: {e:?}")))?;
    TOTP::new(
        Algorithm::SHA1,
        DIGITS,
        1,
        STEP_SECONDS as u64,
        bytes,
        Some(issuer),
        account.into(),
    )
    .map_err(|e| DomainError::internal(format!("TOTP: {e}")))
}

pub fn step_at(now_ms: i64) -> i64 {
    now_ms.div_euclid(1000) / STEP_SECONDS
}

/// The code for a given step (used by tests and the CLI's self-check).
pub fn code_at_step(secret_base32: &str, step: i64) -> DomainResult<String> {
    Ok(totp(secret_base32, "user")?.generate((step * STEP_SECONDS) as u64))
}

/// Returns the step `code` belongs to, if it is valid at `now_ms` (±1 step) and later than
/// `last_used_step`.
pub fn verify(
    secret_base32: &str,
    code: &str,
    now_ms: i64,
    last_used_step: Option<i64>,
) -> DomainResult<Option<i64>> {
    let code = code.trim();
    if code.len() != DIGITS || !code.chars().all(|c| c.is_ascii_digit()) {
        return Ok(None);
    }
    let totp = totp(secret_base32, "user")?;
    let now_step = step_at(now_ms);
    let matched = (now_step - 1..=now_step + 1)
        .filter(|step| *step >= 0 && last_used_step.is_none_or(|last| *step > last))
        .find(|step| constant_time_eq(&totp.generate((*step * STEP_SECONDS) as u64), code));
    Ok(matched)
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The enrolment screen's content: secret, otpauth URI and its QR code as SVG.
pub fn enrolment(secret_base32: &str, account: &str, instance: &str) -> DomainResult<TotpEnrolment> {
    // The issuer names the instance, so one phone can hold accounts of several instances.
    let uri = totp_for(secret_base32, account, format!("{ISSUER} {instance}"))?.get_url();
    let qr_svg = QrCode::new(uri.as_bytes())
        .map_err(|e| DomainError::internal(format!("QR code: {e}")))?
        .render::<svg::Color>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    Ok(TotpEnrolment {
        secret: secret_base32.to_owned(),
        otpauth_uri: uri,
        qr_svg,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 6238 appendix B test secret "12345678901234567890" in base32.
    const RFC_SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

    #[test]
    fn matches_the_rfc_6238_test_vectors() {
        // RFC 6238 lists 8-digit codes; the 6-digit code is their last six digits.
        assert_eq!(code_at_step(RFC_SECRET, 59 / 30).unwrap(), "287082");
        assert_eq!(code_at_step(RFC_SECRET, 1_111_111_109 / 30).unwrap(), "081804");
        assert_eq!(code_at_step(RFC_SECRET, 2_000_000_000 / 30).unwrap(), "279037");
    }

    #[test]
    fn accepts_one_step_of_skew_either_side_and_no_more() {
        let now_ms = 1_111_111_109_000;
        let step = step_at(now_ms);
        for delta in -1..=1 {
            let code = code_at_step(RFC_SECRET, step + delta).unwrap();
            assert_eq!(
                verify(RFC_SECRET, &code, now_ms, None).unwrap(),
                Some(step + delta)
            );
        }
        for delta in [-2, 2] {
            let code = code_at_step(RFC_SECRET, step + delta).unwrap();
            assert_eq!(verify(RFC_SECRET, &code, now_ms, None).unwrap(), None);
        }
    }

    #[test]
    fn refuses_a_code_from_an_already_used_step() {
        let now_ms = 1_111_111_109_000;
        let step = step_at(now_ms);
        let code = code_at_step(RFC_SECRET, step).unwrap();
        assert_eq!(verify(RFC_SECRET, &code, now_ms, Some(step)).unwrap(), None);
        assert_eq!(
            verify(RFC_SECRET, &code, now_ms, Some(step - 1)).unwrap(),
            Some(step)
        );
    }

    #[test]
    fn refuses_malformed_codes() {
        assert_eq!(verify(RFC_SECRET, "12345", 0, None).unwrap(), None);
        assert_eq!(verify(RFC_SECRET, "abcdef", 0, None).unwrap(), None);
    }

    #[test]
    fn enrolment_renders_an_svg_qr_code_of_the_otpauth_uri() {
        let secret = generate_secret();
        let e = enrolment(&secret, "ann@example.com", "acme").unwrap();
        assert!(
            e.otpauth_uri
                .starts_with("otpauth://totp/Backplane%20acme:ann%40example.com"),
            "{}",
            e.otpauth_uri
        );
        assert!(e.otpauth_uri.contains(&format!("secret={secret}")));
        assert!(e.qr_svg.contains("<svg"));
    }
}
