//! The embedded store: SQLite (WAL, `synchronous=FULL`) in the data folder.
//!
//! Audit appends go through one writer thread that takes every append
//! waiting in its queue (up to [`MAX_GROUP`]) and commits them in one
//! transaction: one fsync for the group. Each caller is answered only after
//! its group's commit returned, so an acknowledged entry is on disk.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::mpsc;

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;
use tokio::sync::oneshot;

use super::StoreError;
use super::audit::{AuditEntry, GENESIS, VerifyReport, entry_hash_canonical, verify};

/// Most appends committed in one transaction.
pub const MAX_GROUP: usize = 1024;

struct Append {
    id: String,
    body: Value,
    /// `body` in canonical form, made on the caller's thread.
    canonical: String,
    reply: oneshot::Sender<Result<AuditEntry, StoreError>>,
}

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
";

impl SqliteStore {
    /// Opens (creating if needed) `dir/tudi.sqlite` and starts the writer.
    pub fn open(dir: &Path) -> Result<SqliteStore, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Io(dir.to_path_buf(), e))?;
        let path = dir.join("tudi.sqlite");
        let conn = open(&path)?;
        conn.execute_batch(SCHEMA)?;
        let head: Option<(u64, String)> = conn
            .query_row(
                "SELECT seq, entry_hash FROM audit ORDER BY seq DESC LIMIT 1",
                [],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)),
            )
            .optional()?;
        let (tx, rx) = mpsc::channel::<Append>();
        let wconn = open(&path)?;
        std::thread::Builder::new()
            .name("tudi-audit-writer".into())
            .spawn(move || writer(wconn, rx, head.unwrap_or((0, GENESIS.to_string()))))
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

    /// Queues a record; the receiver yields the durable entry (or the
    /// error) once its group is committed.
    pub fn append(
        &self,
        id: String,
        body: Value,
    ) -> oneshot::Receiver<Result<AuditEntry, StoreError>> {
        let (reply, rx) = oneshot::channel();
        let canonical = super::audit::canonical(&body);
        let job = Append {
            id,
            body,
            canonical,
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
    pub fn get(&self, id: &str) -> Result<Option<AuditEntry>, StoreError> {
        let conn = self.lock_reader();
        conn.query_row(
            "SELECT seq, id, prev_hash, entry_hash, body FROM audit WHERE id = ?1",
            params![id],
            row_to_entry,
        )
        .optional()?
        .transpose()
    }

    /// Verifies the whole chain in storage order.
    pub fn verify(&self) -> Result<VerifyReport, StoreError> {
        let conn = self.lock_reader();
        let mut stmt =
            conn.prepare("SELECT seq, id, prev_hash, entry_hash, body FROM audit ORDER BY seq")?;
        let rows = stmt.query_map([], row_to_entry)?;
        let mut entries = Vec::new();
        for r in rows {
            entries.push(r??);
        }
        Ok(verify(entries))
    }

    /// Number of entries.
    pub fn count(&self) -> Result<u64, StoreError> {
        let conn = self.lock_reader();
        Ok(conn.query_row("SELECT COUNT(*) FROM audit", [], |r| r.get::<_, i64>(0))? as u64)
    }

    fn lock_reader(&self) -> std::sync::MutexGuard<'_, Connection> {
        match self.reader.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }
}

type RowEntry = Result<AuditEntry, StoreError>;

fn row_to_entry(r: &rusqlite::Row<'_>) -> rusqlite::Result<RowEntry> {
    let seq: i64 = r.get(0)?;
    let body: String = r.get(4)?;
    Ok(match serde_json::from_str(&body) {
        Ok(body) => Ok(AuditEntry {
            seq: seq as u64,
            id: r.get(1)?,
            prev_hash: r.get(2)?,
            entry_hash: r.get(3)?,
            body,
        }),
        Err(e) => Err(StoreError::Corrupt(format!("audit entry {seq}: {e}"))),
    })
}

fn writer(mut conn: Connection, rx: mpsc::Receiver<Append>, head: (u64, String)) {
    let (mut seq, mut prev) = head;
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(j) => group.push(j),
                Err(_) => break,
            }
        }
        let mut entries = Vec::with_capacity(group.len());
        let mut replies = Vec::with_capacity(group.len());
        let mut texts = Vec::with_capacity(group.len());
        let (mut s, mut p) = (seq, prev.clone());
        for job in group {
            s += 1;
            let h = entry_hash_canonical(s, &p, &job.canonical);
            entries.push(AuditEntry {
                seq: s,
                id: job.id,
                prev_hash: p,
                entry_hash: h.clone(),
                body: job.body,
            });
            texts.push(job.canonical);
            replies.push(job.reply);
            p = h;
        }
        match commit(&mut conn, &entries, &texts) {
            Ok(()) => {
                seq = s;
                prev = p;
                for (reply, e) in replies.into_iter().zip(entries) {
                    let _ = reply.send(Ok(e));
                }
            }
            Err(e) => {
                let msg = e.to_string();
                tracing::error!("audit commit failed: {msg}");
                for reply in replies {
                    let _ = reply.send(Err(StoreError::WriteFailed(msg.clone())));
                }
            }
        }
    }
}

fn commit(
    conn: &mut Connection,
    entries: &[AuditEntry],
    texts: &[String],
) -> Result<(), StoreError> {
    let tx = conn.transaction()?;
    {
        let mut stmt = tx.prepare_cached(
            "INSERT INTO audit (seq, id, prev_hash, entry_hash, body) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for (e, text) in entries.iter().zip(texts) {
            stmt.execute(params![e.seq as i64, e.id, e.prev_hash, e.entry_hash, text])?;
        }
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Problem;
    use serde_json::json;

    fn append_n(store: &SqliteStore, n: usize, tag: &str) -> Vec<AuditEntry> {
        let rxs: Vec<_> = (0..n)
            .map(|i| store.append(format!("{tag}{i}"), json!({"i": i, "tag": tag})))
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
    }
}
