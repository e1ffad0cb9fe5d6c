//! Offline commands that share the server's engine: `tudi review` (a file
//! of plots, with a progress bar, every verdict audited) and
//! `tudi audit verify`.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use serde_json::{Value, json};

use crate::layer::{LayerDef, Registry, config::read_dir, load_all};
use crate::review::record::write_chain;
use crate::review::run::{collection_crs, district_lonlat, feature_request, review};
use crate::review::{Outcome, RuleSet};

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
    store_url: Option<&str>,
) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(plots)
        .with_context(|| format!("cannot read {}", plots.display()))?;
    let mut fc: Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON", plots.display()))?;
    drop(text);
    let Some(Value::Array(features)) = fc.get_mut("features").map(Value::take) else {
        anyhow::bail!("{} is not a GeoJSON FeatureCollection", plots.display());
    };
    let (defs, registry) = load_registry(layers)?;
    let rules = Arc::new(load_rules(rules, &defs)?);
    let store = crate::store::open_audit(data_dir, store_url)?;
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
    let total = features.len();
    let mut features = features.into_iter();
    let mut index = 0usize;
    let mut line: Vec<u8> = Vec::new();
    loop {
        let chunk: Vec<Value> = features.by_ref().take(512).collect();
        if chunk.is_empty() {
            break;
        }
        let results = evaluate_parallel(chunk, |f| {
            let raw = feature_request(crs.as_ref(), f);
            review(&rules, &snap, district.as_ref(), raw, None).map(|rev| {
                let reply = store.append(rev.id, rev.body, Some(&rules.source));
                (rev.outcome, rev.view, reply)
            })
        });
        for r in results {
            line.clear();
            match r {
                Ok((outcome, view, reply)) => {
                    let link = reply
                        .blocking_recv()
                        .context("the audit writer stopped")?
                        .context("could not record a verdict")?;
                    match outcome {
                        Outcome::Pass => pass += 1,
                        Outcome::Fail => fail += 1,
                        Outcome::Manual => manual += 1,
                    }
                    line.extend_from_slice(&view);
                    write_chain(&mut line, &link, Some(index));
                }
                Err(problems) => {
                    invalid += 1;
                    serde_json::to_writer(
                        &mut line,
                        &json!({"index": index, "error": "invalid", "problems": problems}),
                    )?;
                }
            }
            line.push(b'\n');
            w.write_all(&line)?;
            bar.inc(1);
            index += 1;
        }
    }
    w.flush()?;
    w.get_ref().sync_all()?;
    drop(w);
    std::fs::rename(&tmp, out)?;
    bar.finish();
    eprintln!(
        "{total} plots: {pass} pass, {fail} fail, {manual} manual, {invalid} invalid -> {}",
        out.display()
    );
    Ok(())
}

/// `tudi audit verify`.
pub fn audit_verify(data_dir: &Path, store_url: Option<&str>) -> anyhow::Result<()> {
    let store = crate::store::open_audit(data_dir, store_url)?;
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

/// Runs `f` over `items` on up to four threads (the machine's cores),
/// keeping order; the items are moved to the threads.
pub fn evaluate_parallel<T: Send, R: Send>(items: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 4);
    if items.len() < 8 || threads == 1 {
        return items.into_iter().map(&f).collect();
    }
    let per = items.len().div_ceil(threads);
    let mut parts = Vec::with_capacity(threads);
    let mut it = items.into_iter();
    loop {
        let part: Vec<T> = it.by_ref().take(per).collect();
        if part.is_empty() {
            break;
        }
        parts.push(part);
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = parts
            .into_iter()
            .map(|part| {
                let f = &f;
                s.spawn(move || part.into_iter().map(f).collect::<Vec<R>>())
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}
