//! The review record: what is stored in the audit trail and returned by the
//! API for one verdict: id, time, the verdict, the rule set and layer
//! versions, the input as received (so it can be re-run) and its hash.

use geo::MultiPolygon;
use rand::Rng;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::input::ReviewRequest;
use super::verdict::Verdict;
use crate::store::audit::canonical;

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
    hex::encode(Sha256::digest(canonical(input).as_bytes()))
}

/// The input part of a record: the request as the engine understood it.
pub fn input_value(raw: &Value) -> Value {
    json!({
        "plot": raw.get("plot").cloned().unwrap_or(Value::Null),
        "crs": raw.get("crs").cloned().unwrap_or(Value::Null),
        "applicant": raw.get("applicant").cloned().unwrap_or(Value::Null),
        "application": raw.get("application").cloned().unwrap_or(Value::Null),
    })
}

fn multipolygon_json(mp: &MultiPolygon) -> Value {
    let polys: Vec<Value> = mp
        .0
        .iter()
        .map(|p| {
            let ring =
                |r: &geo::LineString| -> Value { r.0.iter().map(|c| json!([c.x, c.y])).collect() };
            let mut rings = vec![ring(p.exterior())];
            rings.extend(p.interiors().iter().map(ring));
            Value::Array(rings)
        })
        .collect();
    json!({"type": "MultiPolygon", "coordinates": polys})
}

/// Builds the record stored in the audit trail (everything but the chain
/// fields `seq`, `prev_hash`, `entry_hash`).
pub fn build(
    id: &str,
    created_at: &str,
    input: Value,
    req: &ReviewRequest,
    verdict: &Verdict,
    rerun_of: Option<&str>,
) -> Value {
    let mut v = serde_json::to_value(verdict).unwrap_or(Value::Null);
    // Move the verdict's parts into the record (no deep copies).
    let mut take = |k: &str| {
        v.as_object_mut()
            .and_then(|o| o.remove(k))
            .unwrap_or(Value::Null)
    };
    let mut rec = serde_json::Map::new();
    rec.insert("id".into(), json!(id));
    rec.insert("created_at".into(), json!(created_at));
    rec.insert("outcome".into(), take("outcome"));
    rec.insert("plot_area_m2".into(), take("plot_area_m2"));
    rec.insert("crs".into(), take("crs"));
    rec.insert("findings".into(), take("findings"));
    rec.insert("ruleset".into(), take("rule_set"));
    rec.insert("layers".into(), take("layers"));
    rec.insert("timing_us".into(), take("timing_us"));
    rec.insert("input_sha256".into(), json!(input_sha256(&input)));
    rec.insert("input".into(), input);
    rec.insert(
        "input_crs".into(),
        json!(format!("EPSG:{}", req.input_crs.epsg())),
    );
    rec.insert("plot_lonlat".into(), multipolygon_json(&req.input.plot));
    rec.insert("rerun_of".into(), json!(rerun_of));
    Value::Object(rec)
}

/// The API's view of a stored record: the record plus its chain fields.
pub fn with_chain(mut body: Value, seq: u64, prev_hash: &str, entry_hash: &str) -> Value {
    if let Some(o) = body.as_object_mut() {
        o.insert("seq".into(), json!(seq));
        o.insert("prev_hash".into(), json!(prev_hash));
        o.insert("entry_hash".into(), json!(entry_hash));
    }
    body
}
