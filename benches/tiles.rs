//! Tile cutting on the synthetic district (~1 M parcels): z8, z12, z14, z16.
//!
//! The data is generated on first run into `target/bench-data/` from seed 42
//! (`TUDI_BENCH_SCALE=small` uses the committed small fixtures instead). For
//! each zoom a list of tiles over the villages is cut once cold to report the
//! median, p99 and max time and bytes per tile; criterion then measures the
//! per-tile time over the same list.

use std::time::{Duration, Instant};

#[path = "common.rs"]
mod common;
use common::load;

use criterion::{Criterion, criterion_group, criterion_main};
use rand::{Rng, SeedableRng};
use tudi::layer::Layer;
use tudi::tiles::{RenderOptions, TileCoord, render_tile};

/// Tiles containing randomly chosen parcels (seeded), one list per zoom.
fn tile_list(parcels: &Layer, z: u8, n: usize) -> Vec<TileCoord> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut out: Vec<TileCoord> = Vec::new();
    let half = tudi::crs::MERCATOR_HALF;
    let scale = 2f64.powi(z as i32);
    for _ in 0..n * 20 {
        if out.len() >= n || parcels.features.is_empty() {
            break;
        }
        let f = &parcels.features[rng.gen_range(0..parcels.features.len())];
        let c = parcels.bbox(f).center();
        let x = ((c.x + half) / (2.0 * half) * scale) as u64;
        let y = ((half - c.y) / (2.0 * half) * scale) as u64;
        if let Ok(t) = TileCoord::new(z as u32, x, y)
            && !out.contains(&t)
        {
            out.push(t);
        }
    }
    out
}

use common::percentile;

fn bench(c: &mut Criterion) {
    let layers = load();
    let parcels = layers
        .iter()
        .find(|l| l.def.id == "homestead_parcels")
        .expect("homestead_parcels layer");
    let all: Vec<&Layer> = layers.iter().collect();
    let opts = RenderOptions::default();
    println!("| zoom | layers | tiles | median ms | p99 ms | max ms | median bytes | max bytes |");
    println!("|---|---|---|---|---|---|---|---|");
    for z in [8u8, 12, 14, 16] {
        let n = if z == 8 { 8 } else { 60 };
        let tiles = tile_list(parcels, z, n);
        for (name, set) in [("parcels", vec![parcels]), ("all", all.clone())] {
            let mut times = Vec::new();
            let mut sizes = Vec::new();
            for t in &tiles {
                let s = Instant::now();
                let r = render_tile(&set, *t, &opts).expect("render");
                times.push(s.elapsed());
                sizes.push(r.bytes.len());
            }
            times.sort();
            sizes.sort();
            println!(
                "| {z} | {name} | {} | {:.2} | {:.2} | {:.2} | {} | {} |",
                tiles.len(),
                percentile(&times, 0.5).as_secs_f64() * 1e3,
                percentile(&times, 0.99).as_secs_f64() * 1e3,
                times.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
                sizes[sizes.len() / 2],
                sizes.last().copied().unwrap_or(0),
            );
            let mut i = 0;
            c.bench_function(&format!("cut z{z} {name}"), |b| {
                b.iter(|| {
                    let t = tiles[i % tiles.len()];
                    i += 1;
                    render_tile(&set, t, &opts).expect("render")
                })
            });
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
