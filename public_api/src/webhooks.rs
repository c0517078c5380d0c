//! Sends webhook deliveries, signed in the manner of the Standard Webhooks specification:
//! `webhook-id` (the same on every attempt), `webhook-timestamp` (Unix seconds of the attempt)
//! and `webhook-signature` (`v1,` and the base64 HMAC-SHA256, keyed with the secret after its
//! `whsec_` prefix, of `id.timestamp.body`). Redirects are not followed.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use domain::Portal;
use domain::webhooks::{self, Due};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How long a receiver has to answer.
const TIMEOUT: Duration = Duration::from_secs(15);
/// Deliveries claimed per pass.
const BATCH: i64 = 20;

/// The HTTP client deliveries go out with.
pub fn client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("Backplane-Webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("webhook client: {e}"))
}

/// `v1,<base64 HMAC-SHA256>` of `id.timestamp.body` under the secret.
pub fn signature(secret: &str, message_id: &str, timestamp: i64, body: &str) -> Result<String, String> {
    let key = STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .map_err(|_| "the endpoint's secret is not base64".to_owned())?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|e| e.to_string())?;
    mac.update(format!("{message_id}.{timestamp}.{body}").as_bytes());
    Ok(format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes())))
}

/// Sends every due delivery once; returns how many were delivered.
pub async fn deliver_due(portal: &Portal, client: &reqwest::Client) -> domain::DomainResult<usize> {
    let due = webhooks::claim_due(portal, portal.now(), BATCH).await?;
    let mut delivered = 0;
    for delivery in due {
        let result = send(client, &delivery, portal.now() / 1000).await;
        if result.is_ok() {
            delivered += 1;
        } else if let Err(error) = &result {
            tracing::warn!(delivery = delivery.id, attempt = delivery.attempt, %error, "webhook delivery failed");
        }
        webhooks::record_attempt(&portal.db, &delivery, result, portal.now()).await?;
    }
    Ok(delivered)
}

async fn send(client: &reqwest::Client, delivery: &Due, timestamp: i64) -> Result<u16, String> {
    let signed = signature(
        &delivery.secret,
        &delivery.message_id,
        timestamp,
        &delivery.payload,
    )?;
    let response = client
        .post(&delivery.url)
        .header("content-type", "application/json")
        .header("webhook-id", &delivery.message_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signed)
        .body(delivery.payload.clone())
        .send()
        .await
        .map_err(|e| describe(&e))?;
    let status = response.status();
    if status.is_success() {
        Ok(status.as_u16())
    } else {
        Err(format!("HTTP {}", status.as_u16()))
    }
}

fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "no answer within 15 s".into()
    } else if error.is_connect() {
        "could not connect".into()
    } else {
        error.to_string()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn signatures_match_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification.
        let signed = signature(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(signed, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }
}
