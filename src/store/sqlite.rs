//! The embedded store: SQLite (WAL, `synchronous=FULL`) in the data folder.
//!
//! Audit appends go through one writer thread that takes every append
//! waiting in its queue (up to [`MAX_GROUP`]) and commits them in one
//! transaction: one fsync for the group. Each caller is answered only after
//! its group's commit returned, so an acknowledged entry is on disk.
//!
//! Tables: `audit(seq, id, prev_hash, entry_hash, body)` holds the chain
//! (`body` is the record's canonical JSON, the bytes the hash covers);
//! `rulesets(hash, source)` holds each rule file's text once, written in
//! the same transaction as the first entry that refers to it.
//!
//! WAL checkpoints are split so that a commit rarely waits for one: every
//! [`CHECKPOINT_BYTES`] of records the checkpointer thread copies the WAL
//! into the database (`PASSIVE`: it never blocks the writer); when it is
//! done the writer copies the few frames appended meanwhile itself, so the
//! checkpoint is complete and the next commit starts the WAL from its
//! beginning again (otherwise, under steady load, the WAL would grow for as
//! long as the load lasts).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::oneshot;

use super::StoreError;
use super::audit::{
    AuditEntry, ChainLink, GENESIS, RuleSetSource, Verifier, VerifyReport, link_group,
};
use super::audit_store::{Append, AuditStore, next_group};

/// Page size of a new database, bytes.
const PAGE_SIZE: i64 = 16384;

/// Most appends committed in one transaction.
pub const MAX_GROUP: usize = 1024;

/// Bytes of records committed after which the writer asks for a checkpoint.
/// Small on purpose: after a 16 MB checkpoint the writer's finishing pass
/// took 14 ms and the first commit on the rewound WAL 35 ms (both stall every
/// waiting review: p99 47 ms at one connection); at 2 MB neither reaches
/// 5 ms (p99 3.2 ms; BENCHMARKS.md, "Review through the API").
const CHECKPOINT_BYTES: usize = 2 << 20;

pub use super::audit_store::AppendReply;

pub struct SqliteStore {
    path: PathBuf,
    writer: Mutex<Option<mpsc::Sender<Append>>>,
    reader: Mutex<Connection>,
}

fn open(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(conn)
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS audit (
    seq        INTEGER PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    prev_hash  TEXT NOT NULL,
    entry_hash TEXT NOT NULL,
    body       TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS rulesets (
    hash   TEXT PRIMARY KEY,
    source TEXT NOT NULL
);
";

impl SqliteStore {
    /// Opens (creating if needed) `dir/tudi.sqlite` and starts the writer.
    pub fn open(dir: &Path) -> Result<SqliteStore, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Io(dir.to_path_buf(), e))?;
        let path = dir.join("tudi.sqlite");
        if !path.exists() {
            // Records are ~5 KB: with 4 KB pages each would spill into an
            // overflow page and every page is its own WAL write. The page
            // size must be set before the first table (and before WAL).
            let c = Connection::open(&path)?;
            c.pragma_update(None, "page_size", PAGE_SIZE)?;
            c.execute_batch(SCHEMA)?;
        }
        let conn = open(&path)?;
        conn.execute_batch(SCHEMA)?;
        let head: Option<(u64, String)> = conn
            .query_row(
                "SELECT seq, entry_hash FROM audit ORDER BY seq DESC LIMIT 1",
                [],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)),
            )
            .optional()?;
        let known: HashSet<String> = conn
            .prepare("SELECT hash FROM rulesets")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let (tx, rx) = mpsc::channel::<Append>();
        let wconn = open(&path)?;
        // Checkpoints are the checkpointer thread's job (see the module docs).
        wconn.pragma_update(None, "wal_autocheckpoint", 0)?;
        // The WAL is reused from its start after a complete checkpoint;
        // this truncates what a long batch grew it to.
        wconn.pragma_update(None, "journal_size_limit", 64i64 << 20)?;
        let (ck_tx, ck_rx) = mpsc::sync_channel::<()>(1);
        let done = Arc::new(AtomicBool::new(false));
        let cconn = open(&path)?;
        let ck_done = done.clone();
        std::thread::Builder::new()
            .name("tudi-audit-ckpt".into())
            .spawn(move || checkpointer(cconn, ck_rx, &ck_done))
            .map_err(|e| StoreError::Io(path.clone(), e))?;
        let start = head.unwrap_or((0, GENESIS.to_string()));
        let checkpoints = Checkpoints {
            ask: ck_tx,
            done,
            since: 0,
        };
        std::thread::Builder::new()
            .name("tudi-audit-writer".into())
            .spawn(move || writer(wconn, rx, start, known, checkpoints))
            .map_err(|e| StoreError::Io(path.clone(), e))?;
        Ok(SqliteStore {
            path,
            writer: Mutex::new(Some(tx)),
            reader: Mutex::new(conn),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock_reader(&self) -> std::sync::MutexGuard<'_, Connection> {
        match self.reader.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }
}

impl AuditStore for SqliteStore {
    /// Queues a record (`body`: its canonical JSON) that refers to
    /// `ruleset` (stored with the first entry that names it); the receiver
    /// yields the entry's place in the chain (or the error) once its group
    /// is committed.
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
            Ok(g) => g.as_ref().map(|tx| tx.send(job)),
            Err(p) => p.into_inner().as_ref().map(|tx| tx.send(job)),
        };
        if let Some(Err(mpsc::SendError(job))) = sent {
            let _ = job.reply.send(Err(StoreError::Closed));
        }
        rx
    }

    /// The entry with this id.
    fn get(&self, id: &str) -> Result<Option<AuditEntry>, StoreError> {
        let conn = self.lock_reader();
        Ok(conn
            .query_row(
                "SELECT seq, id, prev_hash, entry_hash, body FROM audit WHERE id = ?1",
                params![id],
                |r| {
                    Ok(AuditEntry {
                        seq: r.get::<_, i64>(0)? as u64,
                        id: r.get(1)?,
                        prev_hash: r.get(2)?,
                        entry_hash: r.get(3)?,
                        body: r.get(4)?,
                    })
                },
            )
            .optional()?)
    }

    /// The stored text of the rule set with this hash (as stored: check it
    /// against the hash before trusting it).
    fn ruleset_source(&self, hash: &str) -> Result<Option<String>, StoreError> {
        let conn = self.lock_reader();
        Ok(conn
            .query_row(
                "SELECT source FROM rulesets WHERE hash = ?1",
                params![hash],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Verifies the whole chain in storage order, then the rule-set texts.
    fn verify(&self) -> Result<VerifyReport, StoreError> {
        let conn = self.lock_reader();
        let mut v = Verifier::default();
        let mut stmt =
            conn.prepare("SELECT seq, id, prev_hash, entry_hash, body FROM audit ORDER BY seq")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let seq = r.get::<_, i64>(0)? as u64;
            let text = |i: usize| -> Result<&str, StoreError> {
                r.get_ref(i)?
                    .as_str()
                    .map_err(|e| StoreError::Corrupt(format!("audit entry {seq}: {e}")))
            };
            v.push(seq, text(1)?, text(2)?, text(3)?, text(4)?);
        }
        let mut stmt = conn.prepare("SELECT hash, source FROM rulesets ORDER BY hash")?;
        let rulesets: Vec<(String, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        Ok(v.finish(rulesets.iter().map(|(h, s)| (h.as_str(), s.as_str()))))
    }

    /// Number of entries.
    fn count(&self) -> Result<u64, StoreError> {
        let conn = self.lock_reader();
        Ok(conn.query_row("SELECT COUNT(*) FROM audit", [], |r| r.get::<_, i64>(0))? as u64)
    }
}

/// The writer's side of checkpointing (see the module docs).
struct Checkpoints {
    ask: mpsc::SyncSender<()>,
    /// Set by the checkpointer when a pass is done.
    done: Arc<AtomicBool>,
    /// Record bytes committed since the last request.
    since: usize,
}

impl Checkpoints {
    /// After a commit of `bytes`: finish a checkpoint the checkpointer
    /// completed, or ask for one when enough was written.
    fn after_commit(&mut self, conn: &Connection, bytes: usize) {
        if self.done.swap(false, Ordering::AcqRel)
            && let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
        {
            tracing::warn!("audit checkpoint failed: {e}");
        }
        self.since += bytes;
        if self.since >= CHECKPOINT_BYTES {
            self.since = 0;
            let _ = self.ask.try_send(());
        }
    }
}

fn writer(
    mut conn: Connection,
    rx: mpsc::Receiver<Append>,
    head: (u64, String),
    mut known: HashSet<String>,
    mut checkpoints: Checkpoints,
) {
    let (mut seq, mut prev) = head;
    let mut group = Vec::with_capacity(MAX_GROUP);
    while let Ok(first) = rx.recv() {
        next_group(first, &rx, MAX_GROUP, &mut group);
        let mut links = link_group(seq, &prev, group.iter().map(|j| j.body.as_bytes()));
        let mut new_rulesets: Vec<&RuleSetSource> = Vec::new();
        for rs in group.iter().filter_map(|j| j.ruleset.as_deref()) {
            if !known.contains(&rs.hash) && !new_rulesets.iter().any(|n| n.hash == rs.hash) {
                new_rulesets.push(rs);
            }
        }
        match commit(&mut conn, &group, &links, &new_rulesets) {
            Ok(()) => {
                if let Some(last) = links.last() {
                    seq = last.seq;
                    prev = last.entry_hash.clone();
                }
                known.extend(new_rulesets.iter().map(|r| r.hash.clone()));
                let bytes = group.iter().map(|j| j.body.len()).sum::<usize>();
                for (job, link) in group.drain(..).zip(links.drain(..)) {
                    let _ = job.reply.send(Ok(link));
                }
                checkpoints.after_commit(&conn, bytes);
            }
            Err(e) => {
                let msg = e.to_string();
                tracing::error!("audit commit failed: {msg}");
                for job in group.drain(..) {
                    let _ = job.reply.send(Err(StoreError::WriteFailed(msg.clone())));
                }
            }
        }
    }
}

fn commit(
    conn: &mut Connection,
    group: &[Append],
    links: &[ChainLink],
    new_rulesets: &[&RuleSetSource],
) -> Result<(), StoreError> {
    let tx = conn.transaction()?;
    {
        let mut stmt =
            tx.prepare_cached("INSERT OR IGNORE INTO rulesets (hash, source) VALUES (?1, ?2)")?;
        for rs in new_rulesets {
            stmt.execute(params![rs.hash, &*rs.text])?;
        }
        let mut stmt = tx.prepare_cached(
            "INSERT INTO audit (seq, id, prev_hash, entry_hash, body) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for (job, l) in group.iter().zip(links) {
            stmt.execute(params![
                l.seq as i64,
                job.id,
                l.prev_hash,
                l.entry_hash,
                job.body
            ])?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// Runs a passive checkpoint whenever the writer asks (it never blocks the
/// writer; the writer copies the frames appended meanwhile once `done`).
fn checkpointer(conn: Connection, rx: mpsc::Receiver<()>, done: &AtomicBool) {
    while rx.recv().is_ok() {
        match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            Ok(()) => done.store(true, Ordering::Release),
            Err(e) => tracing::warn!("audit checkpoint failed: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Problem;
    use crate::store::audit::canonical;
    use serde_json::json;

    fn append_n(store: &SqliteStore, n: usize, tag: &str) -> Vec<ChainLink> {
        let rs = Arc::new(RuleSetSource::new("rules v1"));
        let rxs: Vec<_> = (0..n)
            .map(|i| {
                let body = json!({"i": i, "tag": tag, "ruleset": {"hash": rs.hash}});
                store.append(format!("{tag}{i}"), canonical(&body), Some(&rs))
            })
            .collect();
        rxs.into_iter()
            .map(|rx| rx.blocking_recv().expect("reply").expect("durable"))
            .collect()
    }

    #[test]
    fn appends_survive_reopen_and_chain_continues() {
        let dir = tempfile::tempdir().expect("tmp");
        {
            let s = SqliteStore::open(dir.path()).expect("open");
            let e = append_n(&s, 300, "a");
            assert_eq!(e.last().map(|e| e.seq), Some(300));
            assert!(s.verify().expect("verify").ok);
        }
        let s = SqliteStore::open(dir.path()).expect("reopen");
        let e = append_n(&s, 5, "b");
        assert_eq!(e[0].seq, 301);
        let r = s.verify().expect("verify");
        assert!(r.ok, "{r:?}");
        assert_eq!(r.entries, 305);
        assert_eq!(s.get("a7").expect("get").expect("found").seq, 8);
        assert!(s.get("nope").expect("get").is_none());
        let hash = RuleSetSource::new("rules v1").hash;
        assert_eq!(
            s.ruleset_source(&hash).expect("get").as_deref(),
            Some("rules v1")
        );
    }

    #[test]
    fn tampering_in_the_database_is_located() {
        let dir = tempfile::tempdir().expect("tmp");
        let s = SqliteStore::open(dir.path()).expect("open");
        append_n(&s, 10, "r");
        let raw = Connection::open(dir.path().join("tudi.sqlite")).expect("raw");
        raw.execute(
            "UPDATE audit SET body = replace(body, '\"i\":4', '\"i\":40') WHERE seq = 5",
            [],
        )
        .expect("edit");
        raw.execute("DELETE FROM audit WHERE seq = 8", [])
            .expect("delete");
        raw.execute("UPDATE rulesets SET source = 'rules v2'", [])
            .expect("edit rule set");
        let r = s.verify().expect("verify");
        assert!(!r.ok);
        assert!(r.problems.contains(&Problem::Edited {
            seq: 5,
            id: "r4".into()
        }));
        assert!(r.problems.iter().any(|p| matches!(
            p,
            Problem::Missing {
                from_seq: 8,
                to_seq: 8,
                ..
            }
        )));
        assert!(
            r.problems
                .iter()
                .any(|p| matches!(p, Problem::RulesetEdited { entries: 8, .. })),
            "{:?}",
            r.problems
        );
    }
}
