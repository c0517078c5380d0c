//! Failed-login throttling, per account and per client IP, stored in the database so that every
//! server replica sees the same counts.
//!
//! A key collects failures inside a window; reaching the limit blocks the key for a while.
//! The decisions are pure functions; the repository only counts.

use sqlx::AnyConnection;

use crate::DomainResult;
use crate::clock::MINUTE_MS;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub max_failures: i64,
    pub window_ms: i64,
    pub block_ms: i64,
}

/// Five wrong passwords for one account within 15 minutes block it for 15 minutes.
pub const PER_ACCOUNT: Limit = Limit {
    max_failures: 5,
    window_ms: 15 * MINUTE_MS,
    block_ms: 15 * MINUTE_MS,
};
/// Thirty failures (any account, any factor) from one IP within 15 minutes block the IP.
pub const PER_CLIENT_IP: Limit = Limit {
    max_failures: 30,
    window_ms: 15 * MINUTE_MS,
    block_ms: 15 * MINUTE_MS,
};

pub fn account_key(instance_id: i64, email: &str) -> String {
    format!("account:{instance_id}:{}", email.to_lowercase())
}

pub fn ip_key(ip: &str) -> String {
    format!("ip:{ip}")
}

/// Password reset requests for one account (counted whether or not it exists).
pub fn reset_account_key(instance_id: i64, email: &str) -> String {
    format!("reset:{instance_id}:{}", email.to_lowercase())
}

/// Password reset requests from one address.
pub fn reset_ip_key(ip: &str) -> String {
    format!("reset-ip:{ip}")
}

/// Seconds until `blocked_until`, if it is still in the future.
pub fn retry_after_secs(blocked_until: Option<i64>, now_ms: i64) -> Option<u64> {
    blocked_until
        .filter(|until| *until > now_ms)
        .map(|until| ((until - now_ms) as u64).div_ceil(1000))
}

/// Whether the failure count just recorded reaches the limit.
pub fn reaches_limit(failures: i64, limit: Limit) -> bool {
    failures >= limit.max_failures
}

/// Seconds the key stays blocked, if it is blocked now.
#[tracing::instrument(skip_all)]
pub async fn blocked_for(conn: &mut AnyConnection, key: &str, now_ms: i64) -> DomainResult<Option<u64>> {
    let until: Option<Option<i64>> =
        sqlx::query_scalar("SELECT blocked_until FROM login_throttle WHERE key = $1")
            .bind(key)
            .fetch_optional(conn)
            .await?;
    Ok(retry_after_secs(until.flatten(), now_ms))
}

/// Counts a failure; returns the block in seconds if this failure reached the limit.
#[tracing::instrument(skip_all)]
pub async fn record_failure(
    conn: &mut AnyConnection,
    key: &str,
    limit: Limit,
    now_ms: i64,
) -> DomainResult<Option<u64>> {
    let window_start_cutoff = now_ms - limit.window_ms;
    let failures: i64 = sqlx::query_scalar(
        "INSERT INTO login_throttle (key, failures, window_started_at, blocked_until) VALUES ($1, 1, $2, NULL)
         ON CONFLICT (key) DO UPDATE SET
           failures = CASE WHEN login_throttle.window_started_at < $3 THEN 1 ELSE login_throttle.failures + 1 END,
           window_started_at = CASE WHEN login_throttle.window_started_at < $3 THEN $2 ELSE login_throttle.window_started_at END
         RETURNING failures",
    )
    .bind(key)
    .bind(now_ms)
    .bind(window_start_cutoff)
    .fetch_one(&mut *conn)
    .await?;
    if !reaches_limit(failures, limit) {
        return Ok(None);
    }
    let until = now_ms + limit.block_ms;
    sqlx::query(
        "UPDATE login_throttle SET blocked_until = $1, failures = 0, window_started_at = $2 WHERE key = $3",
    )
    .bind(until)
    .bind(now_ms)
    .bind(key)
    .execute(conn)
    .await?;
    Ok(retry_after_secs(Some(until), now_ms))
}

/// Counts an attempt before its secret is checked, and says whether it may go ahead (else the
/// seconds the key stays blocked). The count and the block are read and written in one
/// statement, so attempts racing in parallel cannot all pass a check made before any of them
/// was counted: at most `max_failures` of them are ever checked. A successful attempt is then
/// [`clear`]ed or [`refund`]ed; a failed one stays counted and [`conclude_failure`] blocks the
/// key once it reaches the limit.
#[tracing::instrument(skip_all)]
pub async fn begin_attempt(
    conn: &mut AnyConnection,
    key: &str,
    limit: Limit,
    now_ms: i64,
) -> DomainResult<Option<u64>> {
    let (failures, blocked_until): (i64, Option<i64>) = sqlx::query_as(
        "INSERT INTO login_throttle (key, failures, window_started_at, blocked_until) VALUES ($1, 1, $2, NULL)
         ON CONFLICT (key) DO UPDATE SET
           failures = CASE WHEN login_throttle.blocked_until > $2 THEN login_throttle.failures
                           WHEN login_throttle.window_started_at < $3 THEN 1
                           ELSE login_throttle.failures + 1 END,
           window_started_at = CASE WHEN login_throttle.blocked_until > $2 THEN login_throttle.window_started_at
                                    WHEN login_throttle.window_started_at < $3 THEN $2
                                    ELSE login_throttle.window_started_at END
         RETURNING failures, blocked_until",
    )
    .bind(key)
    .bind(now_ms)
    .bind(now_ms - limit.window_ms)
    .fetch_one(&mut *conn)
    .await?;
    if let Some(secs) = retry_after_secs(blocked_until, now_ms) {
        return Ok(Some(secs));
    }
    if failures > limit.max_failures {
        // More attempts in flight than the limit allows: this one is refused unchecked.
        block(conn, key, limit, now_ms).await?;
        return blocked_for(conn, key, now_ms).await;
    }
    Ok(None)
}

/// After a failed attempt counted by [`begin_attempt`]: blocks the key if it reached the limit;
/// returns the block in seconds if the key is blocked now.
#[tracing::instrument(skip_all)]
pub async fn conclude_failure(
    conn: &mut AnyConnection,
    key: &str,
    limit: Limit,
    now_ms: i64,
) -> DomainResult<Option<u64>> {
    block(conn, key, limit, now_ms).await?;
    blocked_for(conn, key, now_ms).await
}

/// Blocks the key if its count reached the limit and it is not blocked already.
async fn block(conn: &mut AnyConnection, key: &str, limit: Limit, now_ms: i64) -> DomainResult<()> {
    sqlx::query(
        "UPDATE login_throttle SET blocked_until = $1, failures = 0, window_started_at = $2
         WHERE key = $3 AND failures >= $4 AND (blocked_until IS NULL OR blocked_until <= $2)",
    )
    .bind(now_ms + limit.block_ms)
    .bind(now_ms)
    .bind(key)
    .bind(limit.max_failures)
    .execute(conn)
    .await?;
    Ok(())
}

/// Takes back the count of an attempt that succeeded, for a key others share (an address).
#[tracing::instrument(skip_all)]
pub async fn refund(conn: &mut AnyConnection, key: &str) -> DomainResult<()> {
    sqlx::query("UPDATE login_throttle SET failures = failures - 1 WHERE key = $1 AND failures > 0")
        .bind(key)
        .execute(conn)
        .await?;
    Ok(())
}

#[tracing::instrument(skip_all)]
pub async fn clear(conn: &mut AnyConnection, key: &str) -> DomainResult<()> {
    sqlx::query("DELETE FROM login_throttle WHERE key = $1")
        .bind(key)
        .execute(conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_counts_down_in_whole_seconds_and_then_lifts() {
        assert_eq!(retry_after_secs(Some(10_500), 10_000), Some(1));
        assert_eq!(retry_after_secs(Some(70_000), 10_000), Some(60));
        assert_eq!(retry_after_secs(Some(10_000), 10_000), None);
        assert_eq!(retry_after_secs(None, 10_000), None);
    }

    #[test]
    fn the_limit_is_reached_at_the_configured_count() {
        assert!(!reaches_limit(PER_ACCOUNT.max_failures - 1, PER_ACCOUNT));
        assert!(reaches_limit(PER_ACCOUNT.max_failures, PER_ACCOUNT));
    }

    #[test]
    fn account_keys_ignore_email_case_and_keep_instances_apart() {
        assert_eq!(
            account_key(1, "Ann@Example.com"),
            account_key(1, "ann@example.com")
        );
        assert_ne!(
            account_key(1, "ann@example.com"),
            account_key(2, "ann@example.com")
        );
    }
}
