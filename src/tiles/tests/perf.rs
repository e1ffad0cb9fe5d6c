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
