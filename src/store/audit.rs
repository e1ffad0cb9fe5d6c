//! The audit chain: each entry's hash covers its sequence number, the
//! previous entry's hash and the canonical JSON of the record, so editing,
//! deleting or reordering any entry breaks the chain at a place
//! [`verify`] names. Store-agnostic: backends persist [`AuditEntry`] rows.

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// `prev_hash` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One persisted entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    pub seq: u64,
    pub id: String,
    pub prev_hash: String,
    pub entry_hash: String,
    /// The record as appended (canonical JSON when hashed).
    pub body: Value,
}

/// Canonical JSON: object keys sorted at every level, no whitespace. Numbers
/// and strings are written by serde_json (shortest round-trip form).
pub fn canonical(v: &Value) -> String {
    let mut out = String::new();
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String((*k).clone()).to_string());
                out.push(':');
                write_canonical(&map[k.as_str()], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// The hash of an entry: SHA-256 over a domain tag, the sequence number,
/// the previous hash and the canonical record.
pub fn entry_hash(seq: u64, prev_hash: &str, body: &Value) -> String {
    entry_hash_canonical(seq, prev_hash, &canonical(body))
}

/// [`entry_hash`] of a record already in canonical form.
pub fn entry_hash_canonical(seq: u64, prev_hash: &str, canonical_body: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"tudi-audit-v1\n");
    h.update(seq.to_string().as_bytes());
    h.update(b"\n");
    h.update(prev_hash.as_bytes());
    h.update(b"\n");
    h.update(canonical_body.as_bytes());
    hex::encode(h.finalize())
}

/// One problem found by [`verify`], located by sequence number and id.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Problem {
    /// The record's content no longer matches its hash.
    Edited { seq: u64, id: String },
    /// Entries are missing before this one (deleted).
    Missing {
        from_seq: u64,
        to_seq: u64,
        next_id: String,
    },
    /// The entry does not link to its predecessor (reordered, or a
    /// predecessor was replaced).
    BrokenLink { seq: u64, id: String },
    /// A sequence number appears twice or goes backwards.
    OutOfOrder { seq: u64, id: String },
}

/// The result of verifying a whole chain.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub ok: bool,
    pub entries: u64,
    /// Hash of the last entry (publish it elsewhere to anchor the chain).
    pub head: String,
    pub problems: Vec<Problem>,
}

/// Verifies entries given in storage order (ascending `seq`).
pub fn verify(entries: impl IntoIterator<Item = AuditEntry>) -> VerifyReport {
    let mut expected_seq = 1u64;
    let mut prev = GENESIS.to_string();
    let mut count = 0u64;
    let mut problems = Vec::new();
    for e in entries {
        count += 1;
        if e.seq < expected_seq {
            problems.push(Problem::OutOfOrder {
                seq: e.seq,
                id: e.id.clone(),
            });
        } else if e.seq > expected_seq {
            problems.push(Problem::Missing {
                from_seq: expected_seq,
                to_seq: e.seq - 1,
                next_id: e.id.clone(),
            });
        }
        if entry_hash(e.seq, &e.prev_hash, &e.body) != e.entry_hash {
            problems.push(Problem::Edited {
                seq: e.seq,
                id: e.id.clone(),
            });
        }
        if e.prev_hash != prev {
            problems.push(Problem::BrokenLink {
                seq: e.seq,
                id: e.id.clone(),
            });
        }
        prev = e.entry_hash;
        expected_seq = e.seq.max(expected_seq.saturating_sub(1)) + 1;
    }
    VerifyReport {
        ok: problems.is_empty(),
        entries: count,
        head: prev,
        problems,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn chain(n: u64) -> Vec<AuditEntry> {
        let mut prev = GENESIS.to_string();
        (1..=n)
            .map(|seq| {
                let body = json!({"id": format!("r{seq}"), "outcome": "pass", "n": seq});
                let h = entry_hash(seq, &prev, &body);
                let e = AuditEntry {
                    seq,
                    id: format!("r{seq}"),
                    prev_hash: prev.clone(),
                    entry_hash: h.clone(),
                    body,
                };
                prev = h;
                e
            })
            .collect()
    }

    #[test]
    fn canonical_sorts_keys_at_every_level() {
        let a = json!({"b": 1, "a": {"d": [1, {"z": 1, "y": 2}], "c": "x"}});
        assert_eq!(
            canonical(&a),
            r#"{"a":{"c":"x","d":[1,{"y":2,"z":1}]},"b":1}"#
        );
    }

    #[test]
    fn intact_chain_verifies() {
        let r = verify(chain(5));
        assert!(r.ok, "{r:?}");
        assert_eq!(r.entries, 5);
    }

    #[test]
    fn edited_entry_is_located() {
        let mut c = chain(5);
        c[2].body["outcome"] = json!("fail");
        let r = verify(c);
        assert!(!r.ok);
        assert_eq!(
            r.problems,
            vec![Problem::Edited {
                seq: 3,
                id: "r3".into()
            }]
        );
    }

    #[test]
    fn deleted_entry_is_located() {
        let mut c = chain(5);
        c.remove(1);
        let r = verify(c);
        assert!(!r.ok);
        assert!(r.problems.contains(&Problem::Missing {
            from_seq: 2,
            to_seq: 2,
            next_id: "r3".into()
        }));
        assert!(r.problems.contains(&Problem::BrokenLink {
            seq: 3,
            id: "r3".into()
        }));
    }

    #[test]
    fn reordered_entries_are_located() {
        let mut c = chain(5);
        // Swap the contents of rows 2 and 3 but keep the row numbers.
        let (b2, b3) = (c[1].clone(), c[2].clone());
        c[1] = AuditEntry { seq: 2, ..b3 };
        c[2] = AuditEntry { seq: 3, ..b2 };
        let r = verify(c);
        assert!(!r.ok);
        assert!(
            r.problems
                .iter()
                .any(|p| matches!(p, Problem::BrokenLink { seq: 2, .. }))
        );
    }

    #[test]
    fn truncated_tail_is_not_an_error_but_changes_head() {
        let full = verify(chain(5));
        let short = verify(chain(4));
        assert!(short.ok);
        assert_ne!(full.head, short.head);
    }
}
