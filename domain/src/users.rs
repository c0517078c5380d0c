//! Portal users: credentials, second factor state and preferences.

use model::{AppError, Role};
use sqlx::{AnyConnection, AssertSqlSafe};

use crate::DomainResult;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserStatus {
    Active,
    PendingActivation,
    Disabled,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Active => "active",
            UserStatus::PendingActivation => "pending_activation",
            UserStatus::Disabled => "disabled",
        }
    }

    fn parse(s: &str) -> UserStatus {
        match s {
            "active" => UserStatus::Active,
            "pending_activation" => UserStatus::PendingActivation,
            _ => UserStatus::Disabled,
        }
    }
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: i64,
    pub instance_id: i64,
    pub email: String,
    pub role: Role,
    pub status: UserStatus,
    pub password_hash: Option<String>,
    pub totp_secret: Option<String>,
    pub totp_pending_secret: Option<String>,
    pub totp_last_step: Option<i64>,
    pub second_factor_failures: i64,
    pub second_factor_locked: bool,
    pub dark_theme: bool,
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: i64,
    instance_id: i64,
    email: String,
    role: String,
    status: String,
    password_hash: Option<String>,
    totp_secret: Option<String>,
    totp_pending_secret: Option<String>,
    totp_last_step: Option<i64>,
    second_factor_failures: i64,
    second_factor_locked_at: Option<i64>,
    dark_theme: i64,
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> Self {
        User {
            id: r.id,
            instance_id: r.instance_id,
            email: r.email,
            // An unknown stored role degrades to the least privilege rather than failing.
            role: Role::parse(&r.role).unwrap_or(Role::Monitor),
            status: UserStatus::parse(&r.status),
            password_hash: r.password_hash,
            totp_secret: r.totp_secret,
            totp_pending_secret: r.totp_pending_secret,
            totp_last_step: r.totp_last_step,
            second_factor_failures: r.second_factor_failures,
            second_factor_locked: r.second_factor_locked_at.is_some(),
            dark_theme: r.dark_theme != 0,
        }
    }
}

const COLUMNS: &str = "id, instance_id, email, role, status, password_hash, totp_secret, totp_pending_secret, \
     totp_last_step, second_factor_failures, second_factor_locked_at, dark_theme";

/// Lower-cased and trimmed; e-mail addresses identify users case-insensitively.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

pub fn validate_email(email: &str) -> Result<String, AppError> {
    let email = normalize_email(email);
    let valid = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
        })
        && !email.chars().any(char::is_whitespace);
    if valid {
        Ok(email)
    } else {
        Err(AppError::invalid("email", "Enter a valid e-mail address."))
    }
}

#[tracing::instrument(skip_all, fields(id = id))]
pub async fn get(conn: &mut AnyConnection, id: i64) -> DomainResult<Option<User>> {
    let row: Option<UserRow> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM users WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(User::from))
}

#[tracing::instrument(skip_all, fields(instance_id = instance_id))]
pub async fn find_by_email(
    conn: &mut AnyConnection,
    instance_id: i64,
    email: &str,
) -> DomainResult<Option<User>> {
    let row: Option<UserRow> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM users WHERE instance_id = $1 AND email = $2"
    )))
    .bind(instance_id)
    .bind(normalize_email(email))
    .fetch_optional(conn)
    .await?;
    Ok(row.map(User::from))
}

pub struct NewUser<'a> {
    pub instance_id: i64,
    pub email: &'a str,
    pub role: Role,
    pub status: UserStatus,
    pub password_hash: Option<String>,
    pub global_scope: bool,
}

#[tracing::instrument(skip_all)]
pub async fn insert(conn: &mut AnyConnection, user: NewUser<'_>, now_ms: i64) -> DomainResult<i64> {
    let email = normalize_email(user.email);
    if find_by_email(conn, user.instance_id, &email).await?.is_some() {
        return Err(
            AppError::invalid("email", format!("A user with the e-mail {email} already exists.")).into(),
        );
    }
    Ok(sqlx::query_scalar(
        "INSERT INTO users (instance_id, email, role, status, password_hash, global_scope, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(user.instance_id)
    .bind(email)
    .bind(user.role.as_str())
    .bind(user.status.as_str())
    .bind(user.password_hash)
    .bind(i64::from(user.global_scope))
    .bind(now_ms)
    .fetch_one(conn)
    .await?)
}

#[tracing::instrument(skip_all, fields(id = id))]
pub async fn set_password_hash(conn: &mut AnyConnection, id: i64, hash: &str) -> DomainResult<()> {
    sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
        .bind(hash)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

#[tracing::instrument(skip_all, fields(id = id))]
pub async fn set_status(conn: &mut AnyConnection, id: i64, status: UserStatus) -> DomainResult<()> {
    sqlx::query("UPDATE users SET status = $1 WHERE id = $2")
        .bind(status.as_str())
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

#[tracing::instrument(skip_all, fields(id = id))]
pub async fn set_pending_totp_secret(conn: &mut AnyConnection, id: i64, secret: &str) -> DomainResult<()> {
    sqlx::query("UPDATE users SET totp_pending_secret = $1 WHERE id = $2")
        .bind(secret)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Makes the pending secret the enrolled one, recording the step its confirming code used.
#[tracing::instrument(skip_all, fields(id = id))]
pub async fn activate_totp(
    conn: &mut AnyConnection,
    id: i64,
    secret: &str,
    used_step: i64,
) -> DomainResult<()> {
    sqlx::query(
        "UPDATE users SET totp_secret = $1, totp_pending_secret = NULL, totp_last_step = $2,
           second_factor_failures = 0, second_factor_locked_at = NULL WHERE id = $3",
    )
    .bind(secret)
    .bind(used_step)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records a TOTP step as used, only if it is later than the last one (compare-and-swap), so a
/// code replayed concurrently is accepted at most once. Returns whether this call won.
#[tracing::instrument(skip_all, fields(id = id))]
pub async fn claim_totp_step(conn: &mut AnyConnection, id: i64, step: i64) -> DomainResult<bool> {
    let done = sqlx::query(
        "UPDATE users SET totp_last_step = $1 WHERE id = $2 AND (totp_last_step IS NULL OR totp_last_step < $1)",
    )
    .bind(step)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Counts a wrong second factor; locks the second factor when `lock_at` is reached.
/// Returns the new count.
/// Counts a second-factor attempt before its code is checked (in one statement, so parallel
/// guesses cannot outrun the lock); returns the count, or `None` if the factor is locked.
#[tracing::instrument(skip_all, fields(id = id))]
pub async fn begin_second_factor_attempt(
    conn: &mut AnyConnection,
    id: i64,
    lock_at: i64,
    now_ms: i64,
) -> DomainResult<Option<i64>> {
    let failures: Option<i64> = sqlx::query_scalar(
        "UPDATE users SET second_factor_failures = second_factor_failures + 1
         WHERE id = $1 AND second_factor_locked_at IS NULL RETURNING second_factor_failures",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    match failures {
        Some(failures) if failures > lock_at => {
            lock_second_factor(conn, id, now_ms).await?;
            Ok(None)
        }
        other => Ok(other),
    }
}

#[tracing::instrument(skip_all, fields(id = id))]
pub async fn lock_second_factor(conn: &mut AnyConnection, id: i64, now_ms: i64) -> DomainResult<()> {
    sqlx::query(
        "UPDATE users SET second_factor_locked_at = $1 WHERE id = $2 AND second_factor_locked_at IS NULL",
    )
    .bind(now_ms)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

#[tracing::instrument(skip_all, fields(id = id))]
pub async fn clear_second_factor_failures(conn: &mut AnyConnection, id: i64) -> DomainResult<()> {
    sqlx::query("UPDATE users SET second_factor_failures = 0 WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Wipes the enrolment: secret, pending secret, recovery codes, failures and lock.
#[tracing::instrument(skip_all, fields(id = id))]
pub async fn reset_second_factor(conn: &mut AnyConnection, id: i64) -> DomainResult<()> {
    sqlx::query(
        "UPDATE users SET totp_secret = NULL, totp_pending_secret = NULL, totp_last_step = NULL,
           second_factor_failures = 0, second_factor_locked_at = NULL WHERE id = $1",
    )
    .bind(id)
    .execute(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

#[tracing::instrument(skip_all, fields(id = id))]
pub async fn set_dark_theme(conn: &mut AnyConnection, id: i64, dark: bool) -> DomainResult<()> {
    sqlx::query("UPDATE users SET dark_theme = $1 WHERE id = $2")
        .bind(i64::from(dark))
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

#[tracing::instrument(skip_all, fields(id = id))]
pub async fn touch_last_seen(conn: &mut AnyConnection, id: i64, now_ms: i64) -> DomainResult<()> {
    sqlx::query("UPDATE users SET last_seen_at = $1 WHERE id = $2")
        .bind(now_ms)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Replaces the user's recovery codes with the hashes given.
#[tracing::instrument(skip_all, fields(id = id))]
pub async fn replace_recovery_codes(
    conn: &mut AnyConnection,
    id: i64,
    hashes: &[String],
) -> DomainResult<()> {
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    for hash in hashes {
        sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
            .bind(id)
            .bind(hash)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Uses up an unused recovery code with this hash; true if one was consumed.
#[tracing::instrument(skip_all, fields(id = id))]
pub async fn consume_recovery_code(
    conn: &mut AnyConnection,
    id: i64,
    hash: &str,
    now_ms: i64,
) -> DomainResult<bool> {
    let done = sqlx::query(
        "UPDATE recovery_codes SET used_at = $1 WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL",
    )
    .bind(now_ms)
    .bind(id)
    .bind(hash)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() >= 1)
}

#[tracing::instrument(skip_all, fields(id = id))]
pub async fn unused_recovery_codes(conn: &mut AnyConnection, id: i64) -> DomainResult<i64> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL")
            .bind(id)
            .fetch_one(conn)
            .await?,
    )
}

/// Replaces the scopes a user holds.
#[tracing::instrument(skip_all, fields(id = id))]
pub async fn set_scopes(conn: &mut AnyConnection, id: i64, scope_ids: &[i64]) -> DomainResult<()> {
    sqlx::query("DELETE FROM user_scopes WHERE user_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    for scope_id in scope_ids {
        sqlx::query("INSERT INTO user_scopes (user_id, scope_id) VALUES ($1, $2)")
            .bind(id)
            .bind(scope_id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_validation_normalizes_and_names_the_field() {
        assert_eq!(validate_email(" Ann@Example.COM ").unwrap(), "ann@example.com");
        for bad in [
            "",
            "ann",
            "ann@",
            "@example.com",
            "ann@example",
            "a nn@example.com",
        ] {
            assert_eq!(validate_email(bad).unwrap_err().field(), Some("email"), "{bad}");
        }
    }
}
