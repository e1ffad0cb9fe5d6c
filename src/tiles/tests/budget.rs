//! The size budget's shortcut at low zooms (`render::THIN_AT_ONCE_MAX_ZOOM`):
//! a `drop_small` layer whose level 0 gave up with too little geometry for
//! level 1 to save the excess goes to thinning without trying level 1;
//! above that zoom, for legal layers, and when the geometry could make the
//! difference, level 1 (tolerance doubled) is still tried.

use super::{Frame, check_tile, feature, layer, plots};
use crate::layer::{GeomKind, Layer};
use crate::tiles::render::{THIN_AT_ONCE_MAX_ZOOM, level1_cannot_fit};
use crate::tiles::{RenderOptions, TileCoord, render_tile};

/// A square of side `side` units at (`u`, `v`) whose edges zigzag by `amp`
/// units every 4 units: kept by the tolerance of level 0 (1 unit), flattened
/// by that of level 1 (2 units) when `amp` lies between.
fn wiggly(f: &Frame, u: f64, v: f64, side: f64, amp: f64) -> geo::Polygon {
    let steps = (side / 4.0) as usize;
    let z = |k: usize| if k % 2 == 1 { amp } else { 0.0 };
    let mut pts = Vec::new();
    pts.extend((0..steps).map(|k| (u + k as f64 * 4.0, v - z(k))));
    pts.extend((0..steps).map(|k| (u + side + z(k), v + k as f64 * 4.0)));
    pts.extend((0..steps).map(|k| (u + side - k as f64 * 4.0, v + side + z(k))));
    pts.extend((0..steps).map(|k| (u - z(k), v + side - k as f64 * 4.0)));
    f.poly(&pts)
}

/// 100 zigzag squares (a `drop_small` layer) in tile `t`.
fn wiggles(t: TileCoord) -> Layer {
    wiggles_layer(t, "wiggles", "maxzoom = 20")
}

/// 100 zigzag squares in tile `t`, as layer `id` with the given settings.
fn wiggles_layer(t: TileCoord, id: &str, settings: &str) -> Layer {
    let f = Frame::new(t);
    let features = (0..100)
        .map(|i| {
            let (u, v) = (
                20.0 + (i % 10) as f64 * 400.0,
                20.0 + (i / 10) as f64 * 400.0,
            );
            feature(i as u64 + 1, wiggly(&f, u, v, 300.0, 1.5))
        })
        .collect();
    layer(id, settings, GeomKind::Polygon, features)
}

/// `n` x `n` plots of side `size` every `step` units (a `drop_small` layer)
/// in a tile at [`THIN_AT_ONCE_MAX_ZOOM`].
fn dense_plots(n: usize, step: f64, size: f64, seed: u64) -> (TileCoord, Layer) {
    let at = TileCoord::new(u32::from(THIN_AT_ONCE_MAX_ZOOM), 13363, 7150).unwrap();
    let f = Frame::new(at);
    let features = plots(&f, n, 10.0, step, size, seed);
    (
        at,
        layer("plots", "maxzoom = 20", GeomKind::Polygon, features),
    )
}

fn budget(max_bytes: usize) -> RenderOptions {
    RenderOptions {
        max_bytes,
        ..RenderOptions::default()
    }
}

#[test]
fn level_one_is_skipped_only_when_geometry_cannot_make_up_the_excess() {
    // A dense z14 parcel tile: ~2,300 plots of 5 vertices fitted in 500 KB
    // of ~3,000 candidates; even without any geometry the rest would not fit.
    assert!(level1_cannot_fit(
        500_000,
        3000.0 / 2300.0,
        2300 * 5,
        2300,
        3
    ));
    // Just over the budget: level 1 could make it (two of five vertices
    // of each plot may go).
    assert!(!level1_cannot_fit(500_000, 1.03, 2300 * 5, 2300, 3));
    // Quadrilaterals 20% over: simplification cannot drop a corner, the
    // fourth vertex of each is all it could save (the district's z14).
    assert!(level1_cannot_fit(500_000, 1.2, 4255 * 4, 4255, 3));
    // ... where the bound on every vertex would have tried level 1.
    assert!(!level1_cannot_fit(500_000, 1.2, 4255 * 4, 4255, 0));
    // Geometry-heavy features: level 1 could save enough.
    assert!(!level1_cannot_fit(30_000, 3.0, 33 * 300, 33, 3));
}

#[test]
fn geometry_heavy_layers_at_z14_still_try_level_one() {
    // Level 0 (all zigzags) is ~3x the budget; level 1 (flattened) fits.
    let opts = budget(30_000);
    for z in [THIN_AT_ONCE_MAX_ZOOM, THIN_AT_ONCE_MAX_ZOOM + 1] {
        let t = TileCoord::new(u32::from(z), 13363, 7150).unwrap();
        let r = render_tile(&[&wiggles(t)], t, &opts).unwrap();
        assert_eq!(r.coarsen, 1, "z{z} tries level 1, which fits");
        assert_eq!(r.features, 100, "nothing thinned at z{z}");
        check_tile(&r.bytes, 64);
    }
}

#[test]
fn half_or_more_fitting_at_z14_still_tries_level_one() {
    // About two thirds of level 0 fits: level 1 is tried, and fits.
    let at = TileCoord::new(u32::from(THIN_AT_ONCE_MAX_ZOOM), 13363, 7150).unwrap();
    let r = render_tile(&[&wiggles(at)], at, &budget(60_000)).unwrap();
    assert_eq!(r.coarsen, 1);
    assert_eq!(r.features, 100);
    check_tile(&r.bytes, 64);
}

#[test]
fn legal_layers_never_skip_level_one() {
    // drop_small = false: no thinning exists, so nothing to jump to.
    let at = TileCoord::new(u32::from(THIN_AT_ONCE_MAX_ZOOM), 13363, 7150).unwrap();
    let l = wiggles_layer(at, "zones", "maxzoom = 20\ndrop_small = false");
    let r = render_tile(&[&l], at, &budget(30_000)).unwrap();
    assert_eq!(r.coarsen, 1);
    assert_eq!(r.features, 100);
    check_tile(&r.bytes, 64);
}

#[test]
fn dense_plots_at_z14_fit_the_budget_after_thinning_at_once() {
    let (at, l) = dense_plots(40, 90.0, 40.0, 9);
    let r = render_tile(&[&l], at, &budget(20_000)).unwrap();
    assert!(r.coarsen >= 2);
    assert!(!r.over_budget && r.bytes.len() <= 20_000);
    assert!(r.features >= 1600 / 16, "{}", r.features);
    check_tile(&r.bytes, 64);
}

#[test]
fn a_sampled_estimate_picks_the_thinning_level_a_full_render_would() {
    // 3,600 plots (more than the sample threshold): the full level-0 layer
    // is three times the budget, so the largest quarter must be kept (the
    // share that fits, 1/3, rounded down to a power of two). A sample
    // that overestimated by a third would keep an eighth; one that
    // underestimated would overflow first (and still end at a quarter).
    let (at, l) = dense_plots(60, 66.0, 30.0, 5);
    let full = render_tile(&[&l], at, &budget(10_000_000)).unwrap();
    assert_eq!(full.features, 3600);
    let r = render_tile(&[&l], at, &budget(full.bytes.len() / 3)).unwrap();
    assert!(!r.over_budget);
    assert!(r.coarsen >= 2, "{}", r.coarsen);
    assert!((850..=950).contains(&r.features), "{} features", r.features);
    check_tile(&r.bytes, 64);
}
