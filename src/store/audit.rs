//! The audit chain: each entry's hash covers its sequence number, the
//! previous entry's hash and the record's canonical JSON, so editing,
//! deleting or reordering any entry breaks the chain at a place [`verify`]
//! names. Store-agnostic: backends persist [`AuditEntry`] rows and
//! [`RuleSetSource`] rows.
//!
//! # Canonical JSON
//!
//! A record is stored exactly in its canonical form and the entry hash is
//! taken over those stored bytes, so an auditor can recompute every hash
//! from the table alone:
//!
//! * UTF-8, no insignificant whitespace;
//! * object keys sorted by their UTF-8 bytes, at every level, no duplicates;
//! * strings escaped as serde_json 1.x writes them: `"` `\` and control
//!   characters only (`\n`, `\t`, ..., else `\u00XX`), everything else,
//!   Chinese included, written as is;
//! * integers in decimal; other numbers in the shortest form that reads
//!   back to the same `f64` (`73.272`, `0.0`, `1e-7`); a non-finite number
//!   is `null`.
//!
//! Records are written straight to this form by serde with fields declared
//! in key order (`review::record`); [`canonical`] makes it from any
//! [`Value`], and a test checks the two agree.
//!
//! # Rule sets
//!
//! Texts shared by every verdict of a rule set (rule titles, legal bases)
//! are not repeated in each entry: a record names its rule set by the
//! SHA-256 of the rule file, and the file's text is stored once under that
//! hash ([`RuleSetSource`]). The entry hash covers the record, the record
//! covers the rule-set hash, the hash covers the text: [`Verifier`] checks
//! each stored text against its hash and that every referenced text exists.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Serialize, Serializer};
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
    /// The record as stored: its canonical JSON, the bytes the hash covers.
    pub body: String,
}

/// Where a new entry landed in the chain (what an append answers once the
/// entry is durable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainLink {
    pub seq: u64,
    pub prev_hash: String,
    pub entry_hash: String,
}

/// A rule file's text, stored once under its SHA-256 (`hash`, hex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSetSource {
    pub hash: String,
    pub text: Arc<str>,
}

impl RuleSetSource {
    /// The source of `text`, hashed.
    pub fn new(text: &str) -> RuleSetSource {
        RuleSetSource {
            hash: sha256_hex(text.as_bytes()),
            text: Arc::from(text),
        }
    }
}

/// SHA-256 of `bytes`, lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Serializes a [`Value`] in canonical form (object keys sorted whatever
/// the map type; see the module docs).
pub struct CanonicalValue<'a>(pub &'a Value);

impl Serialize for CanonicalValue<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort_unstable();
                let mut m = s.serialize_map(Some(keys.len()))?;
                for k in keys {
                    m.serialize_entry(k, &CanonicalValue(&map[k.as_str()]))?;
                }
                m.end()
            }
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&CanonicalValue(item))?;
                }
                seq.end()
            }
            other => other.serialize(s),
        }
    }
}

/// Canonical JSON of a value (see the module docs).
pub fn canonical(v: &Value) -> String {
    serde_json::to_string(&CanonicalValue(v)).unwrap_or_default()
}

/// The chain links of a group of records appended after the entry
/// (`seq`, `prev_hash`), in order: each entry's hash covers the one before.
/// Both audit stores link their groups here.
pub fn link_group<'a>(
    mut seq: u64,
    prev_hash: &str,
    bodies: impl Iterator<Item = &'a [u8]>,
) -> Vec<ChainLink> {
    let mut prev = prev_hash.to_string();
    bodies
        .map(|body| {
            seq += 1;
            let h = entry_hash(seq, &prev, body);
            ChainLink {
                seq,
                prev_hash: std::mem::replace(&mut prev, h.clone()),
                entry_hash: h,
            }
        })
        .collect()
}

/// The hash of an entry: SHA-256 over a domain tag, the sequence number,
/// the previous hash and the stored (canonical) record.
pub fn entry_hash(seq: u64, prev_hash: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(b"tudi-audit-v1\n");
    h.update(seq.to_string().as_bytes());
    h.update(b"\n");
    h.update(prev_hash.as_bytes());
    h.update(b"\n");
    h.update(body);
    hex::encode(h.finalize())
}

/// One problem found by [`verify`], located by sequence number and id (or,
/// for rule-set texts, by the rule-set hash).
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
    /// A stored rule-set text no longer matches the hash it is stored
    /// under; `entries` verdicts refer to it.
    RulesetEdited { hash: String, entries: u64 },
    /// Verdicts refer to a rule set whose text is not stored (deleted, or
    /// stored under another hash); the first one is named.
    RulesetMissing {
        hash: String,
        first_seq: u64,
        first_id: String,
        entries: u64,
    },
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

#[derive(Deserialize)]
struct RuleSetOf {
    ruleset: Option<HashOnly>,
}

#[derive(Deserialize)]
struct HashOnly {
    hash: String,
}

/// Verifies a chain entry by entry, in storage order (ascending `seq`),
/// without holding the entries: feed them to [`Verifier::push`], then the
/// stored rule-set texts to [`Verifier::finish`].
pub struct Verifier {
    expected_seq: u64,
    prev: String,
    count: u64,
    problems: Vec<Problem>,
    /// Rule-set hash -> (first seq, first id, entries referring to it).
    rulesets: BTreeMap<String, (u64, String, u64)>,
}

impl Default for Verifier {
    fn default() -> Self {
        Verifier {
            expected_seq: 1,
            prev: GENESIS.to_string(),
            count: 0,
            problems: Vec::new(),
            rulesets: BTreeMap::new(),
        }
    }
}

impl Verifier {
    /// Checks the next entry.
    pub fn push(&mut self, seq: u64, id: &str, prev_hash: &str, hash: &str, body: &str) {
        self.count += 1;
        if seq < self.expected_seq {
            self.problems.push(Problem::OutOfOrder {
                seq,
                id: id.to_string(),
            });
        } else if seq > self.expected_seq {
            self.problems.push(Problem::Missing {
                from_seq: self.expected_seq,
                to_seq: seq - 1,
                next_id: id.to_string(),
            });
        }
        let intact = entry_hash(seq, prev_hash, body.as_bytes()) == hash;
        if !intact {
            self.problems.push(Problem::Edited {
                seq,
                id: id.to_string(),
            });
        }
        if prev_hash != self.prev {
            self.problems.push(Problem::BrokenLink {
                seq,
                id: id.to_string(),
            });
        }
        // Only an intact record's reference is trusted (an edited one is
        // already reported).
        if intact
            && let Ok(RuleSetOf {
                ruleset: Some(HashOnly { hash: rs }),
            }) = serde_json::from_str::<RuleSetOf>(body)
        {
            self.rulesets
                .entry(rs)
                .or_insert_with(|| (seq, id.to_string(), 0))
                .2 += 1;
        }
        self.prev = hash.to_string();
        self.expected_seq = seq.max(self.expected_seq.saturating_sub(1)) + 1;
    }

    /// Checks the stored rule-set texts (`(hash it is stored under, text)`)
    /// against their hashes and the references seen, and gives the report.
    pub fn finish<'a>(
        mut self,
        rulesets: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> VerifyReport {
        let mut referenced = std::mem::take(&mut self.rulesets);
        for (hash, text) in rulesets {
            let entries = referenced.remove(hash).map_or(0, |r| r.2);
            if sha256_hex(text.as_bytes()) != hash {
                self.problems.push(Problem::RulesetEdited {
                    hash: hash.to_string(),
                    entries,
                });
            }
        }
        for (hash, (first_seq, first_id, entries)) in referenced {
            self.problems.push(Problem::RulesetMissing {
                hash,
                first_seq,
                first_id,
                entries,
            });
        }
        VerifyReport {
            ok: self.problems.is_empty(),
            entries: self.count,
            head: self.prev,
            problems: self.problems,
        }
    }
}

/// Verifies entries given in storage order (ascending `seq`) and the stored
/// rule-set texts.
pub fn verify<'a>(
    entries: impl IntoIterator<Item = &'a AuditEntry>,
    rulesets: &[RuleSetSource],
) -> VerifyReport {
    let mut v = Verifier::default();
    for e in entries {
        v.push(e.seq, &e.id, &e.prev_hash, &e.entry_hash, &e.body);
    }
    v.finish(rulesets.iter().map(|r| (r.hash.as_str(), &*r.text)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const RULES: &str = "id = \"r\"\nversion = \"1\"\n";

    fn chain(n: u64) -> Vec<AuditEntry> {
        let rs = RuleSetSource::new(RULES);
        let mut prev = GENESIS.to_string();
        (1..=n)
            .map(|seq| {
                let body = canonical(&json!({"id": format!("r{seq}"), "outcome": "pass",
                    "n": seq, "ruleset": {"hash": rs.hash}}));
                let h = entry_hash(seq, &prev, body.as_bytes());
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

    fn check(c: &[AuditEntry]) -> VerifyReport {
        verify(c, &[RuleSetSource::new(RULES)])
    }

    #[test]
    fn canonical_sorts_keys_at_every_level() {
        let a = json!({"b": 1, "a": {"d": [1, {"z": 1, "y": 2}], "c": "x"}, "e": 0.5, "f": "引\n"});
        assert_eq!(
            canonical(&a),
            r#"{"a":{"c":"x","d":[1,{"y":2,"z":1}]},"b":1,"e":0.5,"f":"引\n"}"#
        );
    }

    #[test]
    fn intact_chain_verifies() {
        let r = check(&chain(5));
        assert!(r.ok, "{r:?}");
        assert_eq!(r.entries, 5);
    }

    #[test]
    fn edited_entry_is_located() {
        let mut c = chain(5);
        c[2].body = c[2].body.replace("pass", "fail");
        let r = check(&c);
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
        let r = check(&c);
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
        let r = check(&c);
        assert!(!r.ok);
        assert!(
            r.problems
                .iter()
                .any(|p| matches!(p, Problem::BrokenLink { seq: 2, .. }))
        );
    }

    #[test]
    fn truncated_tail_is_not_an_error_but_changes_head() {
        let full = check(&chain(5));
        let short = check(&chain(4));
        assert!(short.ok);
        assert_ne!(full.head, short.head);
    }

    #[test]
    fn edited_or_missing_rule_set_text_is_located() {
        let c = chain(3);
        let good = RuleSetSource::new(RULES);
        let edited = RuleSetSource {
            hash: good.hash.clone(),
            text: Arc::from(RULES.replace('1', "2").as_str()),
        };
        let r = verify(&c, &[edited]);
        assert_eq!(
            r.problems,
            vec![Problem::RulesetEdited {
                hash: good.hash.clone(),
                entries: 3
            }]
        );
        // Re-keyed under the hash of its new text: the old one is missing.
        let rekeyed = RuleSetSource::new(&RULES.replace('1', "2"));
        let r = verify(&c, &[rekeyed]);
        assert_eq!(
            r.problems,
            vec![Problem::RulesetMissing {
                hash: good.hash,
                first_seq: 1,
                first_id: "r1".into(),
                entries: 3
            }]
        );
    }
}
