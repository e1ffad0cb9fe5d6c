//! Offline commands that share the server's engine: `tudi review` (a file
//! of plots, with a progress bar, every verdict audited) and
//! `tudi audit verify`.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use serde_json::{Value, json};

use crate::layer::{LayerDef, Registry, config::read_dir, load_all};
use crate::review::RuleSet;
use crate::review::record::with_chain;
use crate::review::run::{collection_crs, district_lonlat, feature_request, review};
use crate::store::SqliteStore;

/// Loads the rule set, checking its layers and attributes against the
/// configured layer definitions.
pub fn load_rules(path: &Path, defs: &[LayerDef]) -> anyhow::Result<RuleSet> {
    let lookup = |id: &str| {
        defs.iter()
            .find(|d| d.id == id)
            .map(|d| d.attributes.clone())
    };
    Ok(RuleSet::load(path, &lookup)?)
}

fn load_registry(layers: &Path) -> anyhow::Result<(Vec<LayerDef>, Registry)> {
    let defs = read_dir(layers)?;
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut loaded = Vec::new();
    for r in load_all(&defs, threads, &|_, _| {}) {
        loaded.push(r?.0);
    }
    Ok((defs, Registry::new(loaded)))
}

/// `tudi review plots.geojson --out verdicts.ndjson`.
pub fn review_file(
    plots: &Path,
    out: &Path,
    layers: &Path,
    rules: &Path,
    data_dir: &Path,
) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(plots)
        .with_context(|| format!("cannot read {}", plots.display()))?;
    let fc: Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON", plots.display()))?;
    let features = fc
        .get("features")
        .and_then(Value::as_array)
        .with_context(|| format!("{} is not a GeoJSON FeatureCollection", plots.display()))?;
    let (defs, registry) = load_registry(layers)?;
    let rules = Arc::new(load_rules(rules, &defs)?);
    let store = SqliteStore::open(data_dir)?;
    let snap = registry.snapshot();
    crate::review::prepare(&rules, &snap);
    let district = district_lonlat(&snap);
    let crs = collection_crs(&fc);
    let tmp = out.with_extension("ndjson.partial");
    let mut w = std::io::BufWriter::new(
        std::fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?,
    );
    let bar = indicatif::ProgressBar::new(features.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} plots ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let (mut pass, mut fail, mut manual, mut invalid) = (0usize, 0usize, 0usize, 0usize);
    for (chunk_no, chunk) in features.chunks(512).enumerate() {
        let reqs: Vec<Value> = chunk
            .iter()
            .map(|f| feature_request(crs.as_ref(), f))
            .collect();
        let results = crate::http::reviews::evaluate_parallel(&reqs, |raw| {
            review(&rules, &snap, district.as_ref(), raw, None)
                .map(|rev| store.append(rev.id, rev.record))
        });
        let pending: Vec<_> = results
            .into_iter()
            .enumerate()
            .map(|(i, r)| (chunk_no * 512 + i, r))
            .collect();
        for (index, p) in pending {
            let line = match p {
                Ok(rx) => {
                    let e = rx
                        .blocking_recv()
                        .context("the audit writer stopped")?
                        .context("could not record a verdict")?;
                    match e.body["outcome"].as_str() {
                        Some("pass") => pass += 1,
                        Some("fail") => fail += 1,
                        _ => manual += 1,
                    }
                    let mut v = with_chain(e.body, e.seq, &e.prev_hash, &e.entry_hash);
                    v["index"] = json!(index);
                    v
                }
                Err(problems) => {
                    invalid += 1;
                    json!({"index": index, "error": "invalid", "problems": problems})
                }
            };
            serde_json::to_writer(&mut w, &line)?;
            w.write_all(b"\n")?;
            bar.inc(1);
        }
    }
    w.flush()?;
    w.get_ref().sync_all()?;
    drop(w);
    std::fs::rename(&tmp, out)?;
    bar.finish();
    eprintln!(
        "{} plots: {pass} pass, {fail} fail, {manual} manual, {invalid} invalid -> {}",
        features.len(),
        out.display()
    );
    Ok(())
}

/// `tudi audit verify`.
pub fn audit_verify(data_dir: &Path) -> anyhow::Result<()> {
    let store = SqliteStore::open(data_dir)?;
    let report = store.verify()?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    if !report.ok {
        anyhow::bail!(
            "the audit chain is broken: {} problem(s)",
            report.problems.len()
        );
    }
    Ok(())
}
