//! The review record: what is stored in the audit trail and returned by the
//! API for one verdict: id, time, the verdict, the rule set and layer
//! versions, the input as received (so it can be re-run) and its hash.
//!
//! Two forms, both written straight from [`Record`] by serde (no
//! intermediate `serde_json::Value`):
//!
//! * **stored** ([`Record::canonical`]): the canonical JSON the audit chain
//!   hashes (keys in order, see `store::audit`). Findings carry no `title`
//!   or `basis`: those belong to the rule set, which the record names by
//!   hash and the store keeps once.
//! * **view** ([`Record::view_prefix`] + [`finish_view`]): what the API and
//!   the CLI answer: the stored fields, each finding with its rule's title
//!   and basis, and the chain fields `seq`, `prev_hash`, `entry_hash`
//!   (added once the entry is durable). [`expand`] makes the same view from
//!   a stored body.

use std::io::Write;

use geo::MultiPolygon;
use rand::Rng;
use serde_json::{Value, json};

use super::rules::{RuleSet, RuleTexts};
use super::verdict::{GeoJsonMultiPolygon, Outcome, Verdict};
use crate::store::audit::{CanonicalValue, ChainLink, sha256_hex};

/// A new review id: `rv_` and 16 random hex digits.
pub fn new_id() -> String {
    let n: u64 = rand::thread_rng().r#gen();
    format!("rv_{n:016x}")
}

/// The current UTC time, RFC 3339 with milliseconds.
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    now.format(&fmt)
        .unwrap_or_else(|_| now.unix_timestamp().to_string())
}

/// SHA-256 of the canonical JSON of the input.
pub fn input_sha256(input: &Value) -> String {
    let bytes = serde_json::to_vec(&CanonicalValue(input)).unwrap_or_default();
    sha256_hex(&bytes)
}

/// The input part of a record: the request as the engine understood it
/// (`plot`, `crs`, `applicant`, `application`; anything else dropped),
/// moved out of the request.
pub fn input_value(mut raw: Value) -> Value {
    let mut take = |k: &str| raw.get_mut(k).map(Value::take).unwrap_or(Value::Null);
    json!({
        "plot": take("plot"),
        "crs": take("crs"),
        "applicant": take("applicant"),
        "application": take("application"),
    })
}

/// One review, ready to be audited.
#[derive(Debug, Clone)]
pub struct Record {
    pub id: String,
    pub created_at: String,
    pub verdict: Verdict,
    /// The request as understood (see [`input_value`]).
    pub input: Value,
    pub input_sha256: String,
    /// `EPSG:nnnn` the plot was submitted in.
    pub input_crs: String,
    /// The plot in lon/lat.
    pub plot_lonlat: MultiPolygon<f64>,
    /// The review this one re-runs.
    pub rerun_of: Option<String>,
}

impl Record {
    /// Builds the record of a verdict.
    pub fn new(
        input: Value,
        input_crs: u32,
        plot_lonlat: MultiPolygon<f64>,
        verdict: Verdict,
        rerun_of: Option<String>,
    ) -> Record {
        Record {
            id: new_id(),
            created_at: now_rfc3339(),
            input_sha256: input_sha256(&input),
            input,
            input_crs: format!("EPSG:{input_crs}"),
            plot_lonlat,
            verdict,
            rerun_of,
        }
    }

    pub fn outcome(&self) -> Outcome {
        self.verdict.outcome
    }

    /// The stored form: canonical JSON, the bytes the audit chain hashes.
    pub fn canonical(&self) -> String {
        self.encode(None).0
    }

    /// The view (see the module docs) without its closing brace, so that
    /// [`finish_view`] can add the chain fields once they are known.
    pub fn view_prefix(&self, rules: Option<&RuleSet>) -> Vec<u8> {
        self.encode(rules).1
    }

    /// Both forms, serialized once: the stored form is written field by
    /// field in key order, and the view copies it with each finding's
    /// title and basis spliced in (pre-escaped by the rule set when the
    /// finding belongs to `rules`, else written from the finding).
    pub fn encode(&self, rules: Option<&RuleSet>) -> (String, Vec<u8>) {
        let v = &self.verdict;
        let mut c: Vec<u8> = Vec::with_capacity(8 * 1024);
        put(&mut c, b"{\"created_at\":", &self.created_at);
        put(&mut c, b",\"crs\":", &v.crs);
        c.extend_from_slice(b",\"findings\":[");
        let findings_at = c.len();
        let mut spans = Vec::with_capacity(v.findings.len());
        for (i, f) in v.findings.iter().enumerate() {
            let start = c.len() + usize::from(i > 0);
            put(&mut c, if i > 0 { b"," } else { b"" }, &f.without_texts());
            spans.push((start, c.len()));
        }
        let findings_end = c.len();
        put(&mut c, b"],\"id\":", &self.id);
        put(&mut c, b",\"input\":", &CanonicalValue(&self.input));
        put(&mut c, b",\"input_crs\":", &self.input_crs);
        put(&mut c, b",\"input_sha256\":", &self.input_sha256);
        put(&mut c, b",\"layers\":", &v.layers);
        put(&mut c, b",\"outcome\":", &v.outcome);
        put(&mut c, b",\"plot_area_m2\":", &v.plot_area_m2);
        put(
            &mut c,
            b",\"plot_lonlat\":",
            &GeoJsonMultiPolygon(&self.plot_lonlat),
        );
        put(&mut c, b",\"rerun_of\":", &self.rerun_of);
        put(&mut c, b",\"ruleset\":", &v.rule_set);
        put(&mut c, b",\"timing_us\":", &v.timing_us);
        c.push(b'}');

        let texts = rules.map_or(0, |r| r.view_texts_len());
        let mut view = Vec::with_capacity(c.len() + texts + 512);
        view.extend_from_slice(&c[..findings_at]);
        for (i, (&(start, end), f)) in spans.iter().zip(&v.findings).enumerate() {
            if i > 0 {
                view.push(b',');
            }
            view.push(b'{');
            match rules.and_then(|r| r.view_texts(i, &f.rule)) {
                Some(t) => view.extend_from_slice(t),
                None => {
                    view.extend_from_slice(b"\"basis\":");
                    let _ = serde_json::to_writer(&mut view, &f.basis);
                    view.extend_from_slice(b",\"title\":");
                    let _ = serde_json::to_writer(&mut view, &f.title);
                    view.push(b',');
                }
            }
            // The stored finding after its opening brace.
            view.extend_from_slice(&c[start + 1..end]);
        }
        view.extend_from_slice(&c[findings_end..c.len() - 1]);
        let canonical = String::from_utf8(c).unwrap_or_default();
        (canonical, view)
    }
}

/// Appends `prefix` and the JSON of `value` (writing to a Vec cannot fail,
/// nor can the serialization of these types).
fn put<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, prefix: &[u8], value: &T) {
    out.extend_from_slice(prefix);
    let _ = serde_json::to_writer(&mut *out, value);
}

/// Completes a [`Record::view_prefix`] with the chain fields (and the batch
/// `index` when given).
pub fn finish_view(mut prefix: Vec<u8>, link: &ChainLink, index: Option<usize>) -> Vec<u8> {
    write_chain(&mut prefix, link, index);
    prefix
}

/// Appends the end of a view to `out` (which holds a
/// [`Record::view_prefix`]): the chain fields, the `index` when given, and
/// the closing brace.
pub fn write_chain(out: &mut Vec<u8>, link: &ChainLink, index: Option<usize>) {
    // Writing to a Vec cannot fail. The hashes go through the JSON string
    // writer: the head read back at start-up is whatever the table holds.
    out.extend_from_slice(b",\"entry_hash\":");
    let _ = serde_json::to_writer(&mut *out, &link.entry_hash);
    out.extend_from_slice(b",\"prev_hash\":");
    let _ = serde_json::to_writer(&mut *out, &link.prev_hash);
    let _ = write!(out, ",\"seq\":{}", link.seq);
    if let Some(i) = index {
        let _ = write!(out, ",\"index\":{i}");
    }
    out.push(b'}');
}

/// The view of a stored record: each finding gets its rule's `title` and
/// `basis` from `texts` (`null` when unknown), plus the chain fields.
pub fn expand(mut body: Value, texts: Option<&RuleTexts>, link: &ChainLink) -> Value {
    for f in body
        .get_mut("findings")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        let (title, basis) = f
            .get("rule")
            .and_then(Value::as_str)
            .and_then(|r| texts.and_then(|t| t.get(r)))
            .map_or((Value::Null, Value::Null), |(t, b)| (t.into(), b.into()));
        if let Some(o) = f.as_object_mut() {
            o.insert("title".into(), title);
            o.insert("basis".into(), basis);
        }
    }
    if let Some(o) = body.as_object_mut() {
        o.insert("seq".into(), json!(link.seq));
        o.insert("prev_hash".into(), json!(link.prev_hash));
        o.insert("entry_hash".into(), json!(link.entry_hash));
    }
    body
}
