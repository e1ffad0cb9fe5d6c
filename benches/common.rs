//! Shared by the benchmarks: the district data (generated on first run from
//! seed 42 into `target/bench-data/`, or the committed small fixtures with
//! `TUDI_BENCH_SCALE=small`) and small statistics helpers.

#![allow(dead_code)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tudi::layer::{Layer, config::read_dir, load_all};

pub fn layers_dir() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if std::env::var("TUDI_BENCH_SCALE").as_deref() == Ok("small") {
        return root.join("layers");
    }
    let out = root.join("target/bench-data/district-42");
    let layers = out.join("layers");
    if !layers.join("homestead_parcels.toml").exists() {
        eprintln!("generating the district fixtures into {}", out.display());
        let t = Instant::now();
        tudi::fixtures::generate(&tudi::fixtures::FixtureOptions {
            scale: tudi::fixtures::Scale::District,
            seed: 42,
            out: out.clone(),
            layers_dir: Some(layers.clone()),
        })
        .expect("generate district fixtures");
        eprintln!("generated in {:.1} s", t.elapsed().as_secs_f64());
    }
    layers
}

pub fn load() -> Vec<Layer> {
    let defs = read_dir(&layers_dir()).expect("layer definitions");
    let t = Instant::now();
    let layers: Vec<Layer> = load_all(&defs, 2, &|_, _| {})
        .into_iter()
        .map(|r| r.expect("layer loads").0)
        .collect();
    eprintln!(
        "loaded {} layers, {} features in {:.1} s",
        layers.len(),
        layers.iter().map(|l| l.features.len()).sum::<usize>(),
        t.elapsed().as_secs_f64()
    );
    layers
}

/// The `p` quantile (0..=1) of sorted durations.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}
