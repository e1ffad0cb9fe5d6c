//! Review evaluation in-process on the synthetic district (~1 M parcels,
//! every control layer): all 13 rules per plot. Plots are the generator's
//! labelled applications plus homestead-sized squares dropped at random
//! parcels (seeded), so most find candidates in every index.
//!
//! Prints p50 / p99 / max over all plots once, then criterion measures the
//! mean per plot.

use std::time::{Duration, Instant};

#[path = "common.rs"]
mod common;

use criterion::{Criterion, criterion_group, criterion_main};
use geo::{Coord, LineString, MultiPolygon, Polygon};
use rand::{Rng, SeedableRng};
use serde_json::Value;
use tudi::layer::Registry;
use tudi::review::input::parse_value;
use tudi::review::{ReviewInput, evaluate, prepare};

fn plots(registry: &Registry) -> Vec<ReviewInput> {
    let snap = registry.snapshot();
    let mut out = Vec::new();
    let apps = common::layers_dir().join("../applications.geojson");
    if let Ok(text) = std::fs::read_to_string(&apps) {
        let fc: Value = serde_json::from_str(&text).expect("applications");
        for f in fc["features"].as_array().into_iter().flatten() {
            let req = tudi::review::run::feature_request(None, f.clone());
            if let Ok(r) = parse_value(&req, None) {
                out.push(r.input);
            }
        }
    }
    let parcels = snap.get("homestead_parcels").expect("parcels");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let template = out.first().cloned().expect("at least one application");
    for _ in 0..5000 {
        let f = &parcels.features[rng.gen_range(0..parcels.features.len())];
        let c = parcels.bbox(f).center();
        let (lon, lat) = tudi::crs::mercator_to_lonlat(c.x + rng.gen_range(-30.0..30.0), c.y);
        let d = 0.00008;
        let ring = LineString::from(vec![
            Coord { x: lon, y: lat },
            Coord { x: lon + d, y: lat },
            Coord {
                x: lon + d,
                y: lat + d,
            },
            Coord { x: lon, y: lat + d },
            Coord { x: lon, y: lat },
        ]);
        let mut input = template.clone();
        input.plot = MultiPolygon::new(vec![Polygon::new(ring, vec![])]);
        out.push(input);
    }
    out
}

fn bench(c: &mut Criterion) {
    let layers = common::load();
    let registry = Registry::new(layers);
    let defs: Vec<_> = registry
        .snapshot()
        .layers
        .values()
        .map(|l| l.def.clone())
        .collect();
    let rules_path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/homestead.toml");
    let rules = tudi::offline::load_rules(&rules_path, &defs).expect("rules");
    let snap = registry.snapshot();
    let t = Instant::now();
    prepare(&rules, &snap);
    eprintln!(
        "prepared side indexes in {:.2} s",
        t.elapsed().as_secs_f64()
    );
    let plots = plots(&registry);
    let mut times: Vec<Duration> = plots
        .iter()
        .map(|p| {
            let s = Instant::now();
            let v = evaluate(&rules, &snap, p);
            let d = s.elapsed();
            std::hint::black_box(v);
            d
        })
        .collect();
    times.sort();
    println!("| plots | p50 µs | p99 µs | max µs |");
    println!("|---|---|---|---|");
    println!(
        "| {} | {:.0} | {:.0} | {:.0} |",
        times.len(),
        common::percentile(&times, 0.5).as_secs_f64() * 1e6,
        common::percentile(&times, 0.99).as_secs_f64() * 1e6,
        times.last().map_or(0.0, |d| d.as_secs_f64() * 1e6)
    );
    let mut i = 0;
    c.bench_function("review all rules per plot", |b| {
        b.iter(|| {
            let p = &plots[i % plots.len()];
            i += 1;
            evaluate(&rules, &snap, p)
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
