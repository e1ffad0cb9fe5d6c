//! Durable storage: the tamper-evident audit trail of review verdicts
//! (and, with the publishing work, the catalog of layer versions and keys).
//! The embedded backend is SQLite; the interface is kept narrow so a
//! PostgreSQL backend can stand beside it.

pub mod audit;
pub mod catalog;
mod catalog_sqlite;
pub mod sqlite;

use std::path::PathBuf;

pub use audit::{AuditEntry, Problem, VerifyReport};
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
    #[error("the store is shut down")]
    Closed,
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
}
