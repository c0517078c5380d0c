//! Kaseya VSA 9's REST API (research §6): `https://<vsa>/api/v1.0`, `GET /auth` with the
//! hashed Basic credentials to a bearer token (a personal access token takes the password's
//! place, as Kaseya requires of integrations), the `{TotalRecords, Result, ResponseCode,
//! Status, Error}` envelope in which a failure can come as HTTP 200, OData paging and filters.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngExt;
use serde_json::{Value, json};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

/// Why a call did not succeed, in words an administrator can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VsaError {
    #[error(
        "VSA refused the user name or personal access token (check both, and that the token has the REST API scope)."
    )]
    BadCredentials,
    #[error("VSA could not be reached at {0}.")]
    Unreachable(String),
    #[error("VSA is unavailable (HTTP {0}); it is tried again later.")]
    Unavailable(u16),
    #[error("VSA does not know {0}.")]
    NotFound(String),
    #[error("VSA refused the request: {0}")]
    Refused(String),
    #[error("VSA's answer was not understood: {0}")]
    Malformed(String),
}

/// An alarm in VSA's Alarm Summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VsaAlarm {
    pub id: String,
    pub machine_name: String,
    pub message: String,
    pub open: bool,
}

#[derive(Debug)]
pub struct VsaClient {
    http: reqwest::Client,
    api_url: String,
    username: String,
    token: String,
    bearer: Mutex<Option<String>>,
}

/// The hex digest of `text` under `D` (VSA hashes hex strings of hex strings).
fn hex_digest<D: Digest>(text: &str) -> String {
    D::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The `Authorization: Basic` value of `GET /auth`: the secret never travels, only its hashes
/// salted with the user name and a random number.
pub fn auth_header(username: &str, secret: &str, random: u32) -> String {
    let salted = format!("{secret}{username}");
    let pass2 = hex_digest::<Sha256>(&format!("{}{random}", hex_digest::<Sha256>(&salted)));
    let pass1 = hex_digest::<Sha1>(&format!("{}{random}", hex_digest::<Sha1>(&salted)));
    let fields = format!(
        "user={username},pass2={pass2},pass1={pass1},rpass2={},rpass1={},rand2={random}",
        hex_digest::<Sha256>(secret),
        hex_digest::<Sha1>(secret)
    );
    format!("Basic {}", STANDARD.encode(fields))
}

/// An OData string literal: quotes doubled.
fn odata_text(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

impl VsaClient {
    /// A client of the VSA server at `server_url` (its address, without `/api/v1.0`).
    pub fn new(server_url: &str, username: &str, token: &str) -> Result<VsaClient, VsaError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| VsaError::Unreachable(e.to_string()))?;
        Ok(VsaClient {
            http,
            api_url: format!("{}/api/v1.0", server_url.trim_end_matches('/')),
            username: username.trim().to_owned(),
            token: token.trim().to_owned(),
            bearer: Mutex::new(None),
        })
    }

    /// Signs in, which checks the server, the user and the token.
    pub async fn test(&self) -> Result<(), VsaError> {
        self.sign_in().await.map(|_| ())
    }

    async fn sign_in(&self) -> Result<String, VsaError> {
        let random: u32 = rand::rng().random_range(100_000..u32::MAX);
        let response = self
            .http
            .get(format!("{}/auth", self.api_url))
            .header("authorization", auth_header(&self.username, &self.token, random))
            .send()
            .await
            .map_err(|_| VsaError::Unreachable(self.api_url.clone()))?;
        let result = self
            .envelope(response, "the sign-in")
            .await
            .map_err(|e| match e {
                VsaError::NotFound(_) | VsaError::Refused(_) => VsaError::BadCredentials,
                other => other,
            })?;
        let token = result["ApiToken"]
            .as_str()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| VsaError::Malformed("the sign-in carried no ApiToken".into()))?
            .to_owned();
        *self.bearer.lock().await = Some(token.clone());
        Ok(token)
    }

    /// Sends a call with the bearer token, signing in first when there is none and once more
    /// when VSA says the session ended.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, VsaError> {
        let mut signed_in_now = false;
        loop {
            let stored = self.bearer.lock().await.clone();
            let bearer = match stored {
                Some(token) => token,
                None => {
                    signed_in_now = true;
                    self.sign_in().await?
                }
            };
            let mut request = self
                .http
                .request(method.clone(), format!("{}{path}", self.api_url))
                .bearer_auth(&bearer);
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = request
                .send()
                .await
                .map_err(|_| VsaError::Unreachable(self.api_url.clone()))?;
            match self.envelope(response, path).await {
                Err(VsaError::BadCredentials) if !signed_in_now => {
                    *self.bearer.lock().await = None;
                }
                other => return other,
            }
        }
    }

    /// The envelope's `Result`, or why there is none.
    async fn envelope(&self, response: reqwest::Response, what: &str) -> Result<Value, VsaError> {
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|e| VsaError::Malformed(e.to_string()))?;
        let body: Option<Value> = serde_json::from_str(&text).ok();
        let error = || {
            body.as_ref()
                .and_then(|b| b["Error"].as_str())
                .filter(|e| !e.is_empty() && *e != "None")
                .map_or_else(|| format!("HTTP {status}"), str::to_owned)
        };
        match status {
            401 | 403 => return Err(VsaError::BadCredentials),
            200..=299 => {}
            404 => return Err(VsaError::NotFound(what.to_owned())),
            500..=599 => return Err(VsaError::Unavailable(status)),
            _ => return Err(VsaError::Refused(error())),
        }
        let Some(envelope) = &body else {
            return Err(VsaError::Malformed(format!("{what}: not JSON")));
        };
        match envelope["ResponseCode"].as_i64().unwrap_or(0) {
            0 => Ok(envelope["Result"].clone()),
            404 => Err(VsaError::NotFound(what.to_owned())),
            401 | 403 => Err(VsaError::BadCredentials),
            _ => Err(VsaError::Refused(error())),
        }
    }

    /// Raises an alarm through the system-alert trigger (VSA documents no alarm creation; see
    /// `super::AlarmSink`), with VSA's e-mail to `email_to` when there is anyone to mail.
    /// Returns VSA's alarm id when VSA tells it.
    pub async fn trigger_alarm(&self, alarm: &NewAlarm<'_>) -> Result<Option<String>, VsaError> {
        let body = json!({
            "CreateAlarm": true,
            "CreateTicket": false,
            "SendEmail": !alarm.email_to.is_empty(),
            "UsersToEmail": alarm.email_to.join(";"),
            "Attributes": {
                "MachineName": alarm.machine,
                "OrgName": alarm.organization,
                "Message": alarm.message,
                "Source": "Backplane",
            },
        });
        let path = format!("/automation/systemalerts/{}", alarm.alert_id);
        let result = self.call(reqwest::Method::POST, &path, Some(&body)).await?;
        Ok(id_text(&result["AlarmId"]))
    }

    /// The alarms (open and closed) whose message contains `text`.
    pub async fn alarms_containing(&self, text: &str) -> Result<Vec<VsaAlarm>, VsaError> {
        let filter = format!("substringof({}, Message)", odata_text(text));
        let query: String =
            reqwest::Url::parse_with_params("http://x/", [("$filter", filter.as_str()), ("$top", "100")])
                .map_err(|e| VsaError::Malformed(e.to_string()))?
                .query()
                .unwrap_or("")
                .to_owned();
        let result = self
            .call(
                reqwest::Method::GET,
                &format!("/assetmgmt/alarms/true?{query}"),
                None,
            )
            .await?;
        let items = result
            .as_array()
            .ok_or_else(|| VsaError::Malformed("the alarm list is not a list".into()))?;
        Ok(items
            .iter()
            .filter_map(|a| {
                Some(VsaAlarm {
                    id: id_text(&a["AlarmId"])?,
                    machine_name: a["MachineName"].as_str().unwrap_or("").to_owned(),
                    message: a["Message"].as_str().unwrap_or("").to_owned(),
                    open: a["AlarmState"].as_str() != Some("Closed"),
                })
            })
            .filter(|a| a.message.contains(text))
            .collect())
    }

    /// Closes the alarm with a note.
    pub async fn close_alarm(&self, alarm_id: &str, note: &str) -> Result<(), VsaError> {
        if alarm_id.is_empty() || !alarm_id.chars().all(|c| c.is_ascii_digit()) {
            return Err(VsaError::NotFound(format!("alarm “{alarm_id}”")));
        }
        let body = json!({"key": "notes", "value": note});
        self.call(
            reqwest::Method::PUT,
            &format!("/assetmgmt/alarms/{alarm_id}/close"),
            Some(&body),
        )
        .await
        .map(|_| ())
    }
}

/// An id VSA writes as a number or as text.
fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// What a raised alarm says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAlarm<'a> {
    /// The portal's alert id, the system alert's id in VSA.
    pub alert_id: i64,
    pub machine: &'a str,
    pub organization: &'a str,
    /// Ends with the alarm's marker.
    pub message: &'a str,
    pub email_to: &'a [String],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_auth_header_carries_hashes_never_the_secret() {
        let header = auth_header("api", "s3cret", 123_456);
        let decoded =
            String::from_utf8(STANDARD.decode(header.strip_prefix("Basic ").unwrap()).unwrap()).unwrap();
        assert!(!decoded.contains("s3cret"));
        let inner = hex_digest::<Sha256>("s3cretapi");
        assert!(decoded.contains(&format!(
            "pass2={}",
            hex_digest::<Sha256>(&format!("{inner}123456"))
        )));
        assert!(decoded.starts_with("user=api,"));
        assert!(decoded.ends_with(",rand2=123456"));
        assert_eq!(odata_text("it's"), "'it''s'");
    }
}
