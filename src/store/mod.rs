//! Durable storage: the tamper-evident audit trail of review verdicts
//! ([`AuditStore`]) and the catalog of layer versions and keys
//! ([`Catalog`]). The embedded backend is SQLite (the default); the
//! PostgreSQL backend ([`pg`], `--store postgres://...`) lets several
//! instances share one catalog and one audit chain.

pub mod audit;
pub mod audit_store;
pub mod catalog;
mod catalog_sqlite;
pub mod pg;
pub mod sqlite;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use audit::{AuditEntry, Problem, VerifyReport};
pub use audit_store::{AppendReply, AuditStore};
pub use catalog::Catalog;
pub use catalog_sqlite::SqliteCatalog;
pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("database error: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("could not write to the store: {0}")]
    WriteFailed(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The store's configuration is unusable (a bad `--store` URL or TLS
    /// setting); never carries credentials.
    #[error("bad store configuration: {0}")]
    Config(String),
    #[error("the store is shut down")]
    Closed,
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// The database server cannot be reached (down, restarting, network):
    /// nothing was written; retry later. Never carries credentials.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// An error reported by the PostgreSQL server.
    #[error("database error: {0}")]
    Pg(String),
}

/// The audit trail: in PostgreSQL when `store` is a `postgres://` URL, else
/// the SQLite file in `data_dir`.
pub fn open_audit(data_dir: &Path, store: Option<&str>) -> Result<Arc<dyn AuditStore>, StoreError> {
    match store {
        Some(url) => Ok(pg::open(url, 2)?.audit),
        None => Ok(Arc::new(SqliteStore::open(data_dir)?)),
    }
}

/// The catalog: in PostgreSQL when `store` is a `postgres://` URL, else the
/// SQLite file in `data_dir`.
pub fn open_catalog(data_dir: &Path, store: Option<&str>) -> Result<Arc<dyn Catalog>, StoreError> {
    match store {
        Some(url) => Ok(pg::open(url, 2)?.catalog),
        None => Ok(Arc::new(SqliteCatalog::open(data_dir)?)),
    }
}
