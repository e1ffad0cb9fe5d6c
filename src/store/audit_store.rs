//! The [`AuditStore`] trait: what reviews need from the audit trail, so the
//! embedded SQLite store ([`super::SqliteStore`]) and the PostgreSQL one
//! ([`super::pg::PgAudit`]) are interchangeable.

use std::sync::Arc;
use std::sync::mpsc;

use tokio::sync::oneshot;

use super::StoreError;
use super::audit::{AuditEntry, ChainLink, RuleSetSource, VerifyReport};

/// Answer to one append: where the entry landed, once it is durable.
pub type AppendReply = oneshot::Receiver<Result<ChainLink, StoreError>>;

/// The append-only, hash-chained audit trail. `append` never blocks (the
/// entry is queued for a group commit and the reply comes once it is
/// durable); the other methods block: call them off the async executor.
pub trait AuditStore: Send + Sync {
    /// Queues a record (`body`: its canonical JSON) that refers to
    /// `ruleset` (stored with the first entry that names it).
    fn append(&self, id: String, body: String, ruleset: Option<&Arc<RuleSetSource>>)
    -> AppendReply;
    /// The entry with this id.
    fn get(&self, id: &str) -> Result<Option<AuditEntry>, StoreError>;
    /// The stored text of the rule set with this hash (check it against the
    /// hash before trusting it).
    fn ruleset_source(&self, hash: &str) -> Result<Option<String>, StoreError>;
    /// Verifies the whole chain in storage order, then the rule-set texts.
    fn verify(&self) -> Result<VerifyReport, StoreError>;
    /// Number of entries.
    fn count(&self) -> Result<u64, StoreError>;
}

/// One queued append, as both stores' writer threads receive it.
pub(super) struct Append {
    pub id: String,
    /// The record's canonical JSON (made on the caller's thread).
    pub body: String,
    pub ruleset: Option<Arc<RuleSetSource>>,
    pub reply: oneshot::Sender<Result<ChainLink, StoreError>>,
}

/// Fills `group` with `first` and every append already waiting, up to `max`
/// (one group commit).
pub(super) fn next_group(
    first: Append,
    rx: &mpsc::Receiver<Append>,
    max: usize,
    group: &mut Vec<Append>,
) {
    group.clear();
    group.push(first);
    while group.len() < max {
        match rx.try_recv() {
            Ok(j) => group.push(j),
            Err(_) => break,
        }
    }
}
