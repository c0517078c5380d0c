use model::AppError;

/// A service's failure: either a refusal the user should read, or an internal fault that is
/// logged and shown only as a request id.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    #[error(transparent)]
    Rejected(#[from] AppError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("{0}")]
    Internal(String),
}

pub type DomainResult<T> = Result<T, DomainError>;

impl DomainError {
    pub fn internal(message: impl Into<String>) -> Self {
        Self::Internal(message.into())
    }
}
