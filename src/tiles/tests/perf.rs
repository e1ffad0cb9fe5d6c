//! Rough timings (run in release: `cargo test --release --lib tiles::tests::perf
//! -- --ignored --nocapture`). The criterion benchmark lives in `benches/`.

use std::time::Instant;

use super::{Frame, feature, layer, plots};
use crate::layer::GeomKind;
use crate::tiles::{RenderOptions, TileCoord, render_tile};

/// Runs `f` once to warm up, then `runs` times; prints the minimum and the
/// median (the machine may be shared: the minimum is the better estimate).
fn time<T>(label: &str, runs: u32, mut f: impl FnMut() -> T) -> T {
    let mut out = f();
    let mut ms = Vec::new();
    for _ in 0..runs {
        let start = Instant::now();
        out = f();
        ms.push(start.elapsed().as_secs_f64() * 1e3);
    }
    ms.sort_by(f64::total_cmp);
    eprintln!(
        "{label}: min {:.3} ms, median {:.3} ms",
        ms[0],
        ms[ms.len() / 2]
    );
    out
}

#[test]
#[ignore]
fn timing_z14_5000_plots() {
    let t = TileCoord::new(14, 13363, 7150).unwrap();
    let f = Frame::new(t);
    let l = layer(
        "plots",
        "maxzoom = 16",
        GeomKind::Polygon,
        plots(&f, 71, 0.0, 57.0, 40.0, 3),
    );
    let r = time("z14, 5041 plots (40 units)", 50, || {
        render_tile(&[&l], t, &RenderOptions::default()).unwrap()
    });
    eprintln!("  {:?}, {} bytes", r.layers[0].1, r.bytes.len());
    let legal = layer(
        "zones",
        "maxzoom = 16\ndrop_small = false",
        GeomKind::Polygon,
        plots(&f, 71, 0.0, 57.0, 40.0, 3),
    );
    time("z14, 5041 plots, legal layer", 50, || {
        render_tile(&[&legal], t, &RenderOptions::default()).unwrap()
    });
}

#[test]
#[ignore]
fn timing_z10_small_plots() {
    // 40,000 plots of 3 units: visible, so each is transformed and validated.
    let t = TileCoord::new(10, 836, 446).unwrap();
    let f = Frame::new(t);
    let l = layer(
        "plots",
        "maxzoom = 16",
        GeomKind::Polygon,
        plots(&f, 200, 10.0, 20.0, 3.0, 5),
    );
    let r = time("z10, 40k plots (3 units)", 10, || {
        render_tile(&[&l], t, &RenderOptions::default()).unwrap()
    });
    eprintln!("  {:?}, {} bytes", r.layers[0].1, r.bytes.len());
}

#[test]
#[ignore]
fn timing_z8_100k_subpixel_plots() {
    let t = TileCoord::new(8, 208, 111).unwrap();
    let f = Frame::new(t);
    let l = layer(
        "plots",
        "maxzoom = 16",
        GeomKind::Polygon,
        plots(&f, 317, 100.0, 12.0, 0.6, 1),
    );
    let r = time("z8, 100k sub-pixel plots", 20, || {
        render_tile(&[&l], t, &RenderOptions::default()).unwrap()
    });
    eprintln!("  {:?}, {} bytes", r.layers[0].1, r.bytes.len());
    let legal = layer(
        "zones",
        "maxzoom = 16\ndrop_small = false",
        GeomKind::Polygon,
        plots(&f, 317, 100.0, 12.0, 0.6, 1),
    );
    let r = time("z8, 100k sub-pixel plots, legal layer", 5, || {
        render_tile(&[&legal], t, &RenderOptions::default()).unwrap()
    });
    eprintln!("  {:?}, {} bytes", r.layers[0].1, r.bytes.len());
}

#[test]
#[ignore]
fn timing_big_polygon_crossing_tiles() {
    // One 100k-vertex circle of radius 3000 units around the tile corner.
    let t = TileCoord::new(14, 13363, 7150).unwrap();
    let f = Frame::new(t);
    let n = 100_000;
    let pts: Vec<(f64, f64)> = (0..n)
        .map(|k| {
            let a = k as f64 / n as f64 * std::f64::consts::TAU;
            let r = 3000.0 + 20.0 * (a * 500.0).sin();
            (4096.0 + r * a.cos(), 4096.0 + r * a.sin())
        })
        .collect();
    let l = layer(
        "lake",
        "maxzoom = 16",
        GeomKind::Polygon,
        vec![feature(1, f.poly(&pts))],
    );
    let r = time("z14, 100k-vertex polygon crossing the tile", 20, || {
        render_tile(&[&l], t, &RenderOptions::default()).unwrap()
    });
    eprintln!("  {:?}, {} bytes", r.layers[0].1, r.bytes.len());
}

/// The cold z14-z17 list of `benches/tiles_ab.sh`, rendered in process (no
/// HTTP, no cache): per zoom the full render and, separately, the geometry
/// alone (the per-feature pipeline without attribute encoding). Needs the
/// district data in `target/bench-data` (`benches/load.sh` makes it):
/// `cargo test --release --lib tiles::tests::perf::timing_district_list -- --ignored --nocapture`.
#[test]
#[ignore]
fn timing_district_list() {
    use crate::tiles::worker::{Outcome, Params, Worker};
    use rstar::AABB;
    use std::collections::BTreeMap;
    use std::path::Path;

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    let toml = root.join("district-42/layers/homestead_parcels.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    let text = text.replace("access = \"restricted\"", "access = \"public\"");
    let def = crate::layer::LayerDef::from_str(&toml, &text).unwrap();
    let (l, _) = crate::layer::load::load_layer(&def, 1).unwrap();
    let list = std::fs::read_to_string(root.join("tiles-z14-17.txt")).unwrap();
    let tiles: Vec<TileCoord> = list
        .lines()
        .filter_map(|p| {
            let s: Vec<&str> = p.trim().split('/').collect();
            (s.len() == 6).then(|| TileCoord::parse(s[3], s[4], s[5]).unwrap())
        })
        .collect();
    let opts = RenderOptions::default();
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    // (full render s, geometry s, features, overlay calls, bytes), per zoom; best of the rounds.
    let mut best: BTreeMap<u8, (f64, f64, usize, usize, usize)> = BTreeMap::new();
    let mut max_ms: BTreeMap<u8, f64> = BTreeMap::new();
    // (zoom, coarsening level) -> (tiles, seconds), last round.
    let mut levels: BTreeMap<(u8, u32), (usize, f64)> = BTreeMap::new();
    for _ in 0..rounds {
        let mut tot: BTreeMap<u8, (f64, f64, usize, usize, usize)> = BTreeMap::new();
        for &t in &tiles {
            let e = tot.entry(t.z).or_default();
            let s = Instant::now();
            let r = render_tile(&[&l], t, &opts).unwrap();
            let d = s.elapsed().as_secs_f64();
            e.0 += d;
            let m = max_ms.entry(t.z).or_default();
            *m = m.max(d * 1e3);
            e.2 += r.features;
            let lv = levels.entry((t.z, r.coarsen)).or_default();
            lv.0 += 1;
            lv.1 += d;
            e.3 += r.layers[0].1.overlay_calls;
            e.4 += r.bytes.len();
            let s = Instant::now();
            let p = Params::new(&l, t, 4096, 64, r.coarsen);
            let b = p.buffered;
            let env = AABB::from_corners([b.min().x, b.min().y], [b.max().x, b.max().y]);
            let mut ids: Vec<u32> = l
                .tree
                .locate_in_envelope_intersecting(&env)
                .map(|e| e.data)
                .collect();
            ids.sort_unstable();
            let mut w = Worker::new(&p);
            let mut kept = 0;
            for i in ids {
                if matches!(
                    w.polygon(&l.shapes, &l.features[i as usize]),
                    Outcome::Kept | Outcome::Enlarged
                ) {
                    kept += w.writer.cmds.len();
                }
            }
            std::hint::black_box(kept);
            e.1 += s.elapsed().as_secs_f64();
        }
        for (z, v) in tot {
            let b = best.entry(z).or_insert(v);
            if v.0 < b.0 {
                b.0 = v.0;
            }
            if v.1 < b.1 {
                b.1 = v.1;
            }
        }
    }
    for ((z, c), (n, secs)) in levels {
        eprintln!("z{z} coarsen {c}: {n} tiles, {secs:.3} s in total (all rounds)");
    }
    for (z, (full, geom, n, ov, bytes)) in best {
        eprintln!(
            "z{z}: render {full:.3} s, geometry {geom:.3} s, max {:.1} ms, {n} features, {ov} overlay calls, {bytes} bytes",
            max_ms[&z]
        );
    }
}
