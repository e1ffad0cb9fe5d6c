//! [`AuditStore`] on PostgreSQL: one chain shared by every instance.
//!
//! Appends go through one writer thread per instance that takes every
//! append waiting (up to [`MAX_GROUP`]) and commits them in one transaction
//! (group commit). The transaction first locks the chain head
//! (`SELECT ... FROM tudi.audit_head FOR UPDATE`): appends of all instances
//! take turns there, each group reads the previous entry's hash inside its
//! transaction, so the chain never forks nor skips a number. A caller is
//! answered only after `COMMIT` returned; a lost connection answers an
//! error (the entry is then either absent or, if the commit reached the
//! server just before, present but never acknowledged).

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use super::Pool;
use crate::store::StoreError;
use crate::store::audit::{
    AuditEntry, ChainLink, RuleSetSource, Verifier, VerifyReport, link_group,
};
use crate::store::audit_store::{Append, AppendReply, AuditStore, next_group};

/// Most appends committed in one transaction.
pub const MAX_GROUP: usize = 1024;

/// Rows fetched at a time by `verify`.
const VERIFY_BATCH: i32 = 2000;

pub struct PgAudit {
    pool: Arc<Pool>,
    writer: Mutex<mpsc::Sender<Append>>,
}

impl PgAudit {
    /// Starts the writer thread.
    pub fn open(pool: Arc<Pool>) -> Result<PgAudit, StoreError> {
        let (tx, rx) = mpsc::channel::<Append>();
        let wpool = pool.clone();
        std::thread::Builder::new()
            .name("tudi-pg-audit".into())
            .spawn(move || writer(&wpool, rx))
            .map_err(|e| StoreError::Io("audit writer thread".into(), e))?;
        Ok(PgAudit {
            pool,
            writer: Mutex::new(tx),
        })
    }
}

fn writer(pool: &Pool, rx: mpsc::Receiver<Append>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while let Ok(first) = rx.recv() {
        next_group(first, &rx, MAX_GROUP, &mut group);
        match commit(pool, &group) {
            Ok(links) => {
                for (job, link) in group.drain(..).zip(links) {
                    let _ = job.reply.send(Ok(link));
                }
            }
            Err(e) => {
                tracing::error!("audit commit failed: {e}");
                for job in group.drain(..) {
                    let err = match &e {
                        StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
                        other => StoreError::WriteFailed(other.to_string()),
                    };
                    let _ = job.reply.send(Err(err));
                }
            }
        }
    }
}

/// One group in one transaction, after the chain head; the links once
/// committed.
fn commit(pool: &Pool, group: &[Append]) -> Result<Vec<ChainLink>, StoreError> {
    let mut c = pool.get()?;
    let mut tx = c.transaction()?;
    let head = tx.query_one(
        "SELECT seq, entry_hash FROM tudi.audit_head FOR UPDATE",
        &[],
    )?;
    let head_seq = head.try_get::<_, i64>(0)? as u64;
    let head_hash: String = head.try_get(1)?;
    let links = link_group(
        head_seq,
        &head_hash,
        group.iter().map(|j| j.body.as_bytes()),
    );
    let (seq, prev) = match links.last() {
        Some(l) => (l.seq, l.entry_hash.clone()),
        None => (head_seq, head_hash),
    };
    let mut rs_hash: Vec<&str> = Vec::new();
    let mut rs_text: Vec<&str> = Vec::new();
    for rs in group.iter().filter_map(|j| j.ruleset.as_deref()) {
        if !rs_hash.contains(&rs.hash.as_str()) {
            rs_hash.push(&rs.hash);
            rs_text.push(&rs.text);
        }
    }
    if !rs_hash.is_empty() {
        tx.execute(
            "INSERT INTO tudi.rulesets (hash, source)
             SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT (hash) DO NOTHING",
            &[&rs_hash, &rs_text],
        )?;
    }
    let seqs: Vec<i64> = links.iter().map(|l| l.seq as i64).collect();
    let ids: Vec<&str> = group.iter().map(|j| j.id.as_str()).collect();
    let prevs: Vec<&str> = links.iter().map(|l| l.prev_hash.as_str()).collect();
    let hashes: Vec<&str> = links.iter().map(|l| l.entry_hash.as_str()).collect();
    let bodies: Vec<&str> = group.iter().map(|j| j.body.as_str()).collect();
    tx.execute(
        "INSERT INTO tudi.audit (seq, id, prev_hash, entry_hash, body)
         SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[])",
        &[&seqs, &ids, &prevs, &hashes, &bodies],
    )?;
    tx.execute(
        "UPDATE tudi.audit_head SET seq = $1, entry_hash = $2",
        &[&(seq as i64), &prev],
    )?;
    tx.commit()?;
    Ok(links)
}

impl AuditStore for PgAudit {
    fn append(
        &self,
        id: String,
        body: String,
        ruleset: Option<&Arc<RuleSetSource>>,
    ) -> AppendReply {
        let (reply, rx) = oneshot::channel();
        let job = Append {
            id,
            body,
            ruleset: ruleset.cloned(),
            reply,
        };
        let sent = match self.writer.lock() {
            Ok(g) => g.send(job),
            Err(p) => p.into_inner().send(job),
        };
        if let Err(mpsc::SendError(job)) = sent {
            let _ = job.reply.send(Err(StoreError::Closed));
        }
        rx
    }

    fn get(&self, id: &str) -> Result<Option<AuditEntry>, StoreError> {
        let mut c = self.pool.get()?;
        let Some(r) = c.query_opt(
            "SELECT seq, id, prev_hash, entry_hash, body FROM tudi.audit WHERE id = $1",
            &[&id],
        )?
        else {
            return Ok(None);
        };
        Ok(Some(AuditEntry {
            seq: r.try_get::<_, i64>(0)? as u64,
            id: r.try_get(1)?,
            prev_hash: r.try_get(2)?,
            entry_hash: r.try_get(3)?,
            body: r.try_get(4)?,
        }))
    }

    fn ruleset_source(&self, hash: &str) -> Result<Option<String>, StoreError> {
        let mut c = self.pool.get()?;
        Ok(
            c.query_opt("SELECT source FROM tudi.rulesets WHERE hash = $1", &[&hash])?
                .map(|r| r.try_get(0))
                .transpose()?,
        )
    }

    fn verify(&self) -> Result<VerifyReport, StoreError> {
        let mut c = self.pool.get()?;
        // One snapshot for the chain and the rule sets.
        let mut tx = c
            .build_transaction()
            .isolation_level(postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()?;
        let mut v = Verifier::default();
        let portal = tx.bind(
            "SELECT seq, id, prev_hash, entry_hash, body FROM tudi.audit ORDER BY seq",
            &[],
        )?;
        loop {
            let rows = tx.query_portal(&portal, VERIFY_BATCH)?;
            if rows.is_empty() {
                break;
            }
            for r in &rows {
                let seq = r.try_get::<_, i64>(0)? as u64;
                v.push(
                    seq,
                    r.try_get(1)?,
                    r.try_get(2)?,
                    r.try_get(3)?,
                    r.try_get(4)?,
                );
            }
        }
        let rulesets: Vec<(String, String)> = tx
            .query("SELECT hash, source FROM tudi.rulesets ORDER BY hash", &[])?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<Result<_, StoreError>>()?;
        tx.commit()?;
        Ok(v.finish(rulesets.iter().map(|(h, s)| (h.as_str(), s.as_str()))))
    }

    fn count(&self) -> Result<u64, StoreError> {
        let mut c = self.pool.get()?;
        Ok(c.query_one("SELECT COUNT(*) FROM tudi.audit", &[])?
            .try_get::<_, i64>(0)? as u64)
    }
}
