//! Backing up the portal's own database while it runs, and putting a backup back.

use std::path::{Path, PathBuf};

use super::{Backend, Db, SQLITE_MIGRATIONS};
use crate::{DomainError, DomainResult};

impl Db {
    /// Writes a consistent copy of the SQLite database to `to` while the portal keeps running:
    /// `VACUUM INTO` reads in one transaction, so the copy is one moment's state and writers
    /// wait at most for the copy of each page. PostgreSQL is backed up with `pg_dump`.
    pub async fn back_up_to(&self, to: &Path) -> DomainResult<()> {
        if self.backend == Backend::Postgres {
            return Err(DomainError::internal(
                "this database is PostgreSQL: back it up with pg_dump (docs/upgrading.md)",
            ));
        }
        if to.exists() {
            return Err(DomainError::internal(format!(
                "{} already exists: choose a new file",
                to.display()
            )));
        }
        sqlx::query("VACUUM INTO $1")
            .bind(to.display().to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// The file of a `sqlite:` database URL.
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

/// Puts the backup `from` (made by [`Db::back_up_to`]) in place as the database file
/// `database`, after checking it is a Backplane database this binary can open. Refuses to
/// replace an existing database: the portal must be stopped and the old file moved away.
pub async fn restore_sqlite(from: &Path, database: &Path) -> DomainResult<()> {
    if database.exists() {
        return Err(DomainError::internal(format!(
            "{} already exists: stop the portal and move it away before restoring",
            database.display()
        )));
    }
    check_backup(from).await?;
    let partial = database.with_extension("restoring");
    std::fs::copy(from, &partial).map_err(|e| io_error("copy the backup", &partial, e))?;
    std::fs::rename(&partial, database).map_err(|e| io_error("put the backup in place", database, e))?;
    Ok(())
}

/// The backup is a SQLite database with this portal's migrations, none newer than this binary's.
async fn check_backup(from: &Path) -> DomainResult<()> {
    let not_a_backup =
        |why: String| DomainError::internal(format!("{} is not a Backplane backup: {why}", from.display()));
    if !from.is_file() {
        return Err(not_a_backup("no such file".into()));
    }
    sqlx::any::install_default_drivers();
    super::install_crypto_provider();
    let url = format!("sqlite://{}?mode=ro", from.display());
    let pool = sqlx::AnyPool::connect(&url)
        .await
        .map_err(|e| not_a_backup(e.to_string()))?;
    let newest: Result<Option<i64>, _> =
        sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(&pool)
            .await;
    pool.close().await;
    let newest_known = SQLITE_MIGRATIONS.iter().map(|m| m.version).max().unwrap_or(0);
    match newest.map_err(|e| not_a_backup(e.to_string()))? {
        None => Err(not_a_backup("it has no migrations".into())),
        Some(version) if version > newest_known => Err(DomainError::internal(format!(
            "{} was made by a newer Backplane (migration {version}); restore it with that version",
            from.display()
        ))),
        Some(_) => Ok(()),
    }
}

fn io_error(doing: &str, path: &Path, error: std::io::Error) -> DomainError {
    DomainError::internal(format!("could not {doing} at {}: {error}", path.display()))
}
