//! One-time tokens behind e-mailed links and the first-run URL: stored hashed, single use,
//! with an expiry. Consumption is a compare-and-swap, so two concurrent uses cannot both win.

use model::AppError;
use sqlx::AnyConnection;

use crate::DomainResult;
use crate::clock::HOUR_MS;
use crate::secrets::{random_token, token_hash};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The first-run setup URL printed on the console.
    Setup,
    /// Activation of an invited user: set a password (48 h).
    Activation,
    /// Password reset by e-mailed link (1 h).
    PasswordReset,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Setup => "setup",
            Purpose::Activation => "activation",
            Purpose::PasswordReset => "password_reset",
        }
    }

    pub fn lifetime_ms(self) -> i64 {
        match self {
            Purpose::Setup => 24 * HOUR_MS,
            Purpose::Activation => 48 * HOUR_MS,
            Purpose::PasswordReset => HOUR_MS,
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Purpose::Setup => "setup link",
            Purpose::Activation => "activation link",
            Purpose::PasswordReset => "password reset link",
        }
    }
}

/// Why a token cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenProblem {
    Unknown,
    Used,
    Expired,
}

/// The rule, apart from storage: a token works once, before it expires.
pub fn check_usable(expires_at: i64, used_at: Option<i64>, now_ms: i64) -> Result<(), TokenProblem> {
    if used_at.is_some() {
        Err(TokenProblem::Used)
    } else if now_ms >= expires_at {
        Err(TokenProblem::Expired)
    } else {
        Ok(())
    }
}

pub fn problem_message(purpose: Purpose, problem: TokenProblem) -> AppError {
    let noun = purpose.noun();
    let advice = match purpose {
        Purpose::Setup => "Restart the server to print a new setup URL.",
        Purpose::Activation => "Ask your administrator to send a new activation e-mail.",
        Purpose::PasswordReset => "Request a new password reset e-mail.",
    };
    let what = match problem {
        TokenProblem::Unknown => format!("This {noun} is not valid."),
        TokenProblem::Used => format!("This {noun} has already been used."),
        TokenProblem::Expired => format!("This {noun} has expired."),
    };
    AppError::conflict(format!("{what} {advice}"))
}

/// Creates a token and returns its plaintext (which is never stored).
#[tracing::instrument(skip_all, fields(user_id = ?user_id))]
pub async fn issue(
    conn: &mut AnyConnection,
    purpose: Purpose,
    user_id: Option<i64>,
    now_ms: i64,
) -> DomainResult<String> {
    let token = random_token();
    sqlx::query(
        "INSERT INTO one_time_tokens (token_hash, purpose, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token_hash(&token))
    .bind(purpose.as_str())
    .bind(user_id)
    .bind(now_ms)
    .bind(now_ms + purpose.lifetime_ms())
    .execute(conn)
    .await?;
    Ok(token)
}

/// Checks a token without using it up; returns its user, if it has one.
#[tracing::instrument(skip_all)]
pub async fn peek(
    conn: &mut AnyConnection,
    purpose: Purpose,
    token: &str,
    now_ms: i64,
) -> DomainResult<Option<i64>> {
    let row: Option<(Option<i64>, i64, Option<i64>)> = sqlx::query_as(
        "SELECT user_id, expires_at, used_at FROM one_time_tokens WHERE token_hash = $1 AND purpose = $2",
    )
    .bind(token_hash(token))
    .bind(purpose.as_str())
    .fetch_optional(conn)
    .await?;
    let (user_id, expires_at, used_at) = row.ok_or(problem_message(purpose, TokenProblem::Unknown))?;
    check_usable(expires_at, used_at, now_ms).map_err(|p| problem_message(purpose, p))?;
    Ok(user_id)
}

/// Uses the token up; exactly one caller wins. Returns its user, if it has one.
#[tracing::instrument(skip_all)]
pub async fn consume(
    conn: &mut AnyConnection,
    purpose: Purpose,
    token: &str,
    now_ms: i64,
) -> DomainResult<Option<i64>> {
    let won: Option<Option<i64>> = sqlx::query_scalar(
        "UPDATE one_time_tokens SET used_at = $1
         WHERE token_hash = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $1
         RETURNING user_id",
    )
    .bind(now_ms)
    .bind(token_hash(token))
    .bind(purpose.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    match won {
        Some(user_id) => Ok(user_id),
        // Lost or invalid: peek explains which.
        None => {
            peek(conn, purpose, token, now_ms).await?;
            Err(problem_message(purpose, TokenProblem::Used).into())
        }
    }
}

/// Voids every unused token of a purpose (for one user, or all of them).
#[tracing::instrument(skip_all, fields(user_id = ?user_id))]
pub async fn void_all(
    conn: &mut AnyConnection,
    purpose: Purpose,
    user_id: Option<i64>,
    now_ms: i64,
) -> DomainResult<()> {
    sqlx::query(
        "UPDATE one_time_tokens SET used_at = $1
         WHERE purpose = $2 AND used_at IS NULL AND ($3 IS NULL OR user_id = $3)",
    )
    .bind(now_ms)
    .bind(purpose.as_str())
    .bind(user_id)
    .execute(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_works_until_it_expires_and_only_once() {
        let expires = 1_000;
        assert_eq!(check_usable(expires, None, 999), Ok(()));
        assert_eq!(check_usable(expires, None, 1_000), Err(TokenProblem::Expired));
        assert_eq!(check_usable(expires, Some(500), 600), Err(TokenProblem::Used));
    }

    #[test]
    fn lifetimes_follow_the_spec() {
        assert_eq!(Purpose::Activation.lifetime_ms(), 48 * HOUR_MS);
        assert_eq!(Purpose::PasswordReset.lifetime_ms(), HOUR_MS);
    }

    #[test]
    fn messages_say_what_is_wrong_and_what_to_do() {
        let m = problem_message(Purpose::PasswordReset, TokenProblem::Expired).to_string();
        assert_eq!(
            m,
            "This password reset link has expired. Request a new password reset e-mail."
        );
    }
}
