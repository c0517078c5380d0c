//! Instances ("homerealms"): one MSP tenant each. Nothing crosses between them.

use model::AppError;
use sqlx::AnyConnection;

use crate::DomainResult;

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Instance {
    pub id: i64,
    pub homerealm: String,
    pub display_name: String,
}

/// A homerealm is a DNS label: 2–63 lower-case letters, digits and inner hyphens.
pub fn validate_homerealm(homerealm: &str) -> Result<String, AppError> {
    let h = homerealm.trim().to_lowercase();
    let ok_chars = h
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if h.len() < 2 || h.len() > 63 || !ok_chars || h.starts_with('-') || h.ends_with('-') {
        return Err(AppError::invalid(
            "homerealm",
            "Homerealm must be 2–63 characters: lower-case letters, digits and inner hyphens.",
        ));
    }
    Ok(h)
}

pub fn validate_display_name(name: &str) -> Result<String, AppError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(AppError::invalid(
            "display_name",
            "Name must be 1–100 characters.",
        ));
    }
    Ok(name.to_owned())
}

#[tracing::instrument(skip_all)]
pub async fn count(conn: &mut AnyConnection) -> DomainResult<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM instances")
        .fetch_one(conn)
        .await?)
}

#[tracing::instrument(skip_all)]
pub async fn find_by_homerealm(conn: &mut AnyConnection, homerealm: &str) -> DomainResult<Option<Instance>> {
    Ok(
        sqlx::query_as("SELECT id, homerealm, display_name FROM instances WHERE homerealm = $1")
            .bind(homerealm.trim().to_lowercase())
            .fetch_optional(conn)
            .await?,
    )
}

/// The instance when the server hosts exactly one (then login skips the homerealm step).
#[tracing::instrument(skip_all)]
pub async fn only_one(conn: &mut AnyConnection) -> DomainResult<Option<Instance>> {
    let all: Vec<Instance> =
        sqlx::query_as("SELECT id, homerealm, display_name FROM instances ORDER BY id LIMIT 2")
            .fetch_all(conn)
            .await?;
    Ok(if all.len() == 1 {
        all.into_iter().next()
    } else {
        None
    })
}

#[tracing::instrument(skip_all, fields(id = id))]
pub async fn get(conn: &mut AnyConnection, id: i64) -> DomainResult<Instance> {
    Ok(
        sqlx::query_as("SELECT id, homerealm, display_name FROM instances WHERE id = $1")
            .bind(id)
            .fetch_one(conn)
            .await?,
    )
}

#[tracing::instrument(skip_all)]
pub async fn list(conn: &mut AnyConnection) -> DomainResult<Vec<Instance>> {
    Ok(
        sqlx::query_as("SELECT id, homerealm, display_name FROM instances ORDER BY homerealm")
            .fetch_all(conn)
            .await?,
    )
}

#[tracing::instrument(skip_all)]
pub async fn insert(
    conn: &mut AnyConnection,
    homerealm: &str,
    display_name: &str,
    now_ms: i64,
) -> DomainResult<Instance> {
    if find_by_homerealm(conn, homerealm).await?.is_some() {
        return Err(AppError::invalid(
            "homerealm",
            format!("The homerealm \"{homerealm}\" is already taken."),
        )
        .into());
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO instances (homerealm, display_name, created_at) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(homerealm)
    .bind(display_name)
    .bind(now_ms)
    .fetch_one(&mut *conn)
    .await?;
    crate::alerts::settings::insert_default_global(conn, id, now_ms).await?;
    Ok(Instance {
        id,
        homerealm: homerealm.to_owned(),
        display_name: display_name.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn homerealms_are_dns_labels() {
        assert_eq!(validate_homerealm(" Acme-IT ").unwrap(), "acme-it");
        for bad in ["a", "-acme", "acme-", "ac me", "acmé", &"a".repeat(64)] {
            assert!(validate_homerealm(bad).is_err(), "{bad}");
        }
    }
}
