//! The one error type that crosses the client/server boundary.
//!
//! Messages here are shown to users as they are. Internal causes (database, I/O) never travel:
//! the server logs them with a request id and sends [`AppError::Internal`] carrying only that id.

use serde::{Deserialize, Serialize};
use server_fn::codec::JsonEncoding;
use server_fn::error::{FromServerFnError, ServerFnErrorErr};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AppError {
    /// Input that fails validation; `field` names the form field at fault.
    #[error("{message}")]
    Invalid { field: String, message: String },
    #[error("Please log in to continue.")]
    Unauthenticated,
    #[error("You do not have permission to do that.")]
    Forbidden,
    /// Refused for a reason the user should read (e.g. an address outside the allow-list).
    #[error("{message}")]
    Denied { message: String },
    #[error("{what} was not found.")]
    NotFound { what: String },
    /// The request is valid but the current state refuses it (duplicate, expired link, …).
    #[error("{message}")]
    Conflict { message: String },
    #[error("Too many attempts — try again in {} {}.", minutes_until(*retry_after_secs), plural_minutes(*retry_after_secs))]
    Throttled { retry_after_secs: u64 },
    #[error("Something went wrong on the server. Quote request id {request_id} when reporting it.")]
    Internal { request_id: String },
    /// The request never got a proper answer (network down, server restarting, bad encoding).
    #[error("The server could not be reached ({message}). Check your connection and try again.")]
    Transport { message: String },
}

fn minutes_until(secs: u64) -> u64 {
    secs.div_ceil(60).max(1)
}

fn plural_minutes(secs: u64) -> &'static str {
    if minutes_until(secs) == 1 {
        "minute"
    } else {
        "minutes"
    }
}

impl AppError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::Conflict {
            message: message.into(),
        }
    }

    pub fn denied(message: impl Into<String>) -> Self {
        Self::Denied {
            message: message.into(),
        }
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Self::NotFound { what: what.into() }
    }

    /// The form field this error belongs to, if it is a validation error.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Invalid { field, .. } => Some(field),
            _ => None,
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        Self::Transport {
            message: value.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_message_rounds_up_to_whole_minutes() {
        let e = AppError::Throttled {
            retry_after_secs: 14 * 60 + 1,
        };
        assert_eq!(e.to_string(), "Too many attempts — try again in 15 minutes.");
        let e = AppError::Throttled { retry_after_secs: 30 };
        assert_eq!(e.to_string(), "Too many attempts — try again in 1 minute.");
    }

    #[test]
    fn errors_round_trip_as_tagged_json() {
        let e = AppError::invalid("email", "Enter an e-mail address.");
        let json = serde_json::to_string(&e).unwrap();
        assert!(json.contains(r#""kind":"invalid""#), "{json}");
        assert_eq!(serde_json::from_str::<AppError>(&json).unwrap(), e);
    }
}
