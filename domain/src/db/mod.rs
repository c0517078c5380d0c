//! One pool, SQLite or PostgreSQL, chosen at run time from the URL. All SQL in this crate uses
//! `$1`-style parameters, which both engines accept, and only types both support (i64, text).

pub mod backup;
pub(crate) mod conditions;

use std::str::FromStr;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, ConnectOptions};

use crate::DomainResult;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/postgres");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of_url(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }
}

#[derive(Clone, Debug)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
}

/// Chooses rustls's process-wide crypto provider (ring) for the database's and the mailer's TLS.
/// rustls picks one itself only when one provider is built in; a workspace build also holds
/// aws-lc-rs (the appliance's S3 client brings it), so the choice is made here, once.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl Db {
    /// Connects and applies every pending migration.
    pub async fn connect(url: &str) -> DomainResult<Db> {
        sqlx::any::install_default_drivers();
        install_crypto_provider();
        let backend = Backend::of_url(url).ok_or_else(|| {
            crate::DomainError::internal(format!(
                "unsupported database URL {:?}: use sqlite:… or postgres://…",
                crate::secrets::redacted_url(url)
            ))
        })?;
        let options = AnyConnectOptions::from_str(url)?.disable_statement_logging();
        let pool = AnyPoolOptions::new()
            .max_connections(match backend {
                Backend::Sqlite => 4,
                Backend::Postgres => 16,
            })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        sqlx::query("PRAGMA foreign_keys = ON")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA busy_timeout = 5000")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA cache_size = -32768")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        if backend == Backend::Sqlite {
            sqlx::query("PRAGMA journal_mode = WAL").execute(&pool).await?;
        }
        let db = Db { pool, backend };
        db.migrate().await?;
        Ok(db)
    }

    /// Starts a transaction that may write. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`), so a transaction that reads before it writes waits for a concurrent
    /// writer instead of failing with "database is locked".
    pub async fn begin(&self) -> DomainResult<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    fn migrator(&self) -> &'static Migrator {
        match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        }
    }

    async fn migrate(&self) -> DomainResult<()> {
        self.migrator().run(&self.pool).await?;
        Ok(())
    }

    /// Whether the database answers and has every migration this binary knows applied; the
    /// reason if not.
    pub async fn readiness(&self) -> Result<(), String> {
        let newest_known = self.migrator().iter().map(|m| m.version).max().unwrap_or(0);
        let applied: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(&self.pool)
                .await
                .map_err(|e| format!("database: {e}"))?;
        match applied {
            Some(version) if version >= newest_known => Ok(()),
            other => Err(format!(
                "migrations: {} applied, {newest_known} expected",
                other.map_or("none".into(), |v| v.to_string())
            )),
        }
    }
}

/// Ids written out for an SQL `IN (…)` list. They are integers, so inlining them is safe, and
/// a list of any length stays one statement on both databases.
pub fn id_list(ids: &[i64]) -> String {
    ids.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
}

/// The pattern of a case-insensitive "contains" filter: `%text%`, lower-cased, with LIKE's own
/// wildcards (`%`, `_`) and the escape character taken literally. Use it with
/// `LOWER(column) LIKE $n ESCAPE '\'`. `None` when the filter is empty.
pub fn contains_pattern(text: Option<&str>) -> Option<String> {
    let text = text.map(str::trim).filter(|t| !t.is_empty())?;
    let escaped = text
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    Some(format!("%{escaped}%"))
}

/// A connection taken from the pool; derefs to `AnyConnection` for the repositories.
pub type PooledConnection = sqlx::pool::PoolConnection<sqlx::Any>;

#[cfg(test)]
mod like_tests {
    use super::contains_pattern;

    #[test]
    fn contains_patterns_take_wildcards_literally() {
        assert_eq!(contains_pattern(Some(" Acme ")).as_deref(), Some("%acme%"));
        assert_eq!(
            contains_pattern(Some("50%_off")).as_deref(),
            Some("%50\\%\\_off%")
        );
        assert_eq!(contains_pattern(Some("a\\b")).as_deref(), Some("%a\\\\b%"));
        assert_eq!(contains_pattern(Some("  ")), None);
        assert_eq!(contains_pattern(None), None);
    }
}
