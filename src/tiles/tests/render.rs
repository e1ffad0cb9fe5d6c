//! Layer/tile assembly: attributes, ids, layer order, zoom rules, lines,
//! points, small-feature handling and the size budget.

use geo::{LineString, MultiPoint, Point};
use geozero::mvt::{Message, Tile};
use mvt_reader::feature::Value as MV;

use super::{Frame, check_tile, feature, layer, plots, props, raw_decode};
use crate::layer::{GeomKind, NewFeature, Value};
use crate::tiles::{RenderOptions, TileCoord, TileError, render_layer, render_tile};

fn z14() -> TileCoord {
    TileCoord::new(14, 13363, 7150).unwrap()
}

#[test]
fn ids_and_typed_attributes_round_trip() {
    let f = Frame::new(z14());
    let mk = |id: u64, name: &str, count: i64, ratio: f64, ok: bool| {
        let props = vec![
            (0u16, Value::String(name.into())),
            (1, Value::Int(count)),
            (2, Value::Float(ratio)),
            (3, Value::Bool(ok)),
        ];
        NewFeature::new(
            id,
            f.rect(100.0 * id as f64, 100.0, 100.0 * id as f64 + 50.0, 150.0)
                .into(),
            props,
        )
        .unwrap()
    };
    let feats = vec![
        mk(1, "耕地", 12, 0.5, true),
        mk(2, "耕地", -3, 0.25, false),
        mk(3, "林地", 12, 0.5, true),
        // A feature with a missing attribute and an unknown field index.
        NewFeature::new(
            u64::MAX,
            f.rect(400.0, 400.0, 500.0, 500.0).into(),
            vec![(0, Value::String("x".into())), (99, Value::Int(1))],
        )
        .unwrap(),
    ];
    let l = layer("plots", "", GeomKind::Polygon, feats);
    let r = render_tile(&[&l], z14(), &RenderOptions::default()).unwrap();
    assert_eq!(r.features, 4);
    let decoded = check_tile(&r.bytes, 64);
    let ids: Vec<u64> = decoded[0].iter().map(|f| f.id.unwrap()).collect();
    assert_eq!(ids, vec![1, 2, 3, u64::MAX]);
    let p1 = props(&decoded[0][0]);
    assert_eq!(p1["name"], MV::String("耕地".into()));
    assert_eq!(p1["count"], MV::Int(12));
    assert_eq!(p1["ratio"], MV::Double(0.5));
    assert_eq!(p1["ok"], MV::Bool(true));
    let p2 = props(&decoded[0][1]);
    assert_eq!(p2["count"], MV::SInt(-3));
    assert_eq!(p2["ok"], MV::Bool(false));
    let p4 = props(&decoded[0][3]);
    assert_eq!(p4.len(), 1);
    // Keys and values are de-duplicated.
    let raw = Tile::decode(r.bytes.as_slice()).unwrap();
    let l = &raw.layers[0];
    assert_eq!(l.keys, vec!["name", "count", "ratio", "ok"]);
    assert_eq!(l.values.len(), 3 + 2 + 2 + 2);
    assert_eq!(l.extent, Some(4096));
    assert_eq!(l.name, "plots");
}

#[test]
fn empty_tile_is_empty_bytes_and_minzoom_is_respected() {
    let f = Frame::new(z14());
    let l = layer(
        "plots",
        "minzoom = 12",
        GeomKind::Polygon,
        vec![feature(1, f.rect(10.0, 10.0, 90.0, 90.0))],
    );
    let far = TileCoord::new(14, 0, 0).unwrap();
    let r = render_tile(&[&l], far, &RenderOptions::default()).unwrap();
    assert!(r.bytes.is_empty());
    assert_eq!(r.features, 0);
    assert!(!r.over_budget);
    // Below minzoom: nothing, although the feature is inside.
    let z11 = TileCoord::new(11, 13363 / 8, 7150 / 8).unwrap();
    let rl = render_layer(&l, z11, &RenderOptions::default());
    assert!(rl.is_empty());
    assert_eq!(rl.stats.features_in, 0);
    let r = render_tile(&[&l], z11, &RenderOptions::default()).unwrap();
    assert!(r.bytes.is_empty());
}

#[test]
fn layers_keep_the_given_order_and_empty_ones_are_omitted() {
    let f = Frame::new(z14());
    let a = layer(
        "a",
        "",
        GeomKind::Polygon,
        vec![feature(1, f.rect(10.0, 10.0, 90.0, 90.0))],
    );
    let b = layer(
        "b",
        "",
        GeomKind::Point,
        vec![feature(2, Point::from(f.at(5.0, 5.0)))],
    );
    let empty = layer(
        "c",
        "",
        GeomKind::Point,
        vec![feature(3, Point::from(f.at(-900.0, 5.0)))],
    );
    let r = render_tile(&[&b, &empty, &a], z14(), &RenderOptions::default()).unwrap();
    let names: Vec<_> = raw_decode(&r.bytes).into_iter().map(|l| l.name).collect();
    assert_eq!(names, vec!["b", "a"]);
    assert_eq!(r.layers.len(), 3);
    assert_eq!(r.layers[1].1.features_in, 0);
    check_tile(&r.bytes, 64);
}

#[test]
fn lines_are_clipped_deduplicated_and_small_ones_handled() {
    let f = Frame::new(z14());
    // In, out beyond the buffer, back in; with repeated points.
    let zig = LineString::new(vec![
        f.at(100.0, 100.0),
        f.at(100.0, 100.0),
        f.at(2000.0, 100.0),
        f.at(2000.0, 9000.0),
        f.at(3000.0, 9000.0),
        f.at(3000.0, 200.0),
    ]);
    let tiny = LineString::new(vec![f.at(500.0, 500.0), f.at(500.3, 500.2)]);
    let outside = LineString::new(vec![f.at(-500.0, -500.0), f.at(-200.0, -100.0)]);
    let feats = || {
        vec![
            feature(1, zig.clone()),
            feature(2, tiny.clone()),
            feature(3, outside.clone()),
        ]
    };
    let l = layer("roads", "", GeomKind::Line, feats());
    let r = render_tile(&[&l], z14(), &RenderOptions::default()).unwrap();
    check_tile(&r.bytes, 64);
    let raw = raw_decode(&r.bytes);
    assert_eq!(
        raw[0].features.len(),
        1,
        "tiny line dropped, outside line absent"
    );
    let parts = &raw[0].features[0].parts;
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0], vec![(100, 100), (2000, 100), (2000, 4160)]);
    assert_eq!(parts[1], vec![(3000, 4160), (3000, 200)]);
    let s = &r.layers[0].1;
    assert_eq!(
        (s.features_in, s.features_kept, s.features_dropped),
        (2, 1, 1)
    );

    let legal = layer("borders", "drop_small = false", GeomKind::Line, feats());
    let r = render_tile(&[&legal], z14(), &RenderOptions::default()).unwrap();
    check_tile(&r.bytes, 64);
    let raw = raw_decode(&r.bytes);
    assert_eq!(raw[0].features.len(), 2, "tiny line kept in a legal layer");
    assert_eq!(raw[0].features[1].parts[0].len(), 2);
}

#[test]
fn points_inside_the_buffer_are_kept_and_thinned_at_low_zoom() {
    let t = TileCoord::new(8, 208, 111).unwrap();
    let f = Frame::new(t);
    let mut feats = Vec::new();
    // 100 points within one grid cell, plus one outside the buffer, plus a
    // multipoint with one point in and one out.
    for i in 0..100u64 {
        let d = i as f64 * 0.004;
        feats.push(feature(i + 1, Point::from(f.at(1000.1 + d, 2000.1 + d))));
    }
    feats.push(feature(500, Point::from(f.at(4200.0, 10.0))));
    feats.push(feature(
        501,
        MultiPoint::new(vec![
            Point::from(f.at(3000.0, 3000.0)),
            Point::from(f.at(-100.0, 0.0)),
        ]),
    ));
    let l = layer("wells", "maxzoom = 14", GeomKind::Point, feats.clone());
    let r = render_tile(&[&l], t, &RenderOptions::default()).unwrap();
    check_tile(&r.bytes, 64);
    let raw = raw_decode(&r.bytes);
    let ids: Vec<_> = raw[0].features.iter().map(|f| f.id.unwrap()).collect();
    assert_eq!(
        ids,
        vec![1, 501],
        "one point per cell, first in layer order"
    );
    assert_eq!(raw[0].features[1].parts, vec![vec![(3000, 3000)]]);
    let s = &r.layers[0].1;
    assert_eq!(
        (s.features_in, s.features_kept, s.features_dropped),
        (101, 2, 99)
    );

    // At maxzoom - 2 and above nothing is thinned; legal layers never are.
    let l13 = layer("wells", "maxzoom = 10", GeomKind::Point, feats.clone());
    let r = render_tile(&[&l13], t, &RenderOptions::default()).unwrap();
    assert_eq!(r.features, 101);
    let legal = layer(
        "marks",
        "maxzoom = 14\ndrop_small = false",
        GeomKind::Point,
        feats,
    );
    let r = render_tile(&[&legal], t, &RenderOptions::default()).unwrap();
    assert_eq!(r.features, 101);
}

#[test]
fn sub_pixel_plots_at_z8_are_rejected_by_box() {
    let t = TileCoord::new(8, 208, 111).unwrap();
    let f = Frame::new(t);
    // 40,000 plots of 0.6 units (about 23 m at z8) on a 2-unit grid.
    let l = layer(
        "plots",
        "maxzoom = 16",
        GeomKind::Polygon,
        plots(&f, 200, 100.0, 2.0, 0.6, 1),
    );
    let start = std::time::Instant::now();
    let r = render_tile(&[&l], t, &RenderOptions::default()).unwrap();
    eprintln!(
        "z8, 40k sub-pixel plots: {:?} (debug build)",
        start.elapsed()
    );
    assert!(r.bytes.is_empty());
    let s = &r.layers[0].1;
    assert_eq!(s.features_in, 40_000);
    assert_eq!(s.features_dropped, 40_000);
    assert_eq!(s.overlay_calls, 0);
}

#[test]
fn z14_plots_are_all_kept_and_valid() {
    let f = Frame::new(z14());
    let l = layer(
        "plots",
        "maxzoom = 16",
        GeomKind::Polygon,
        plots(&f, 70, -100.0, 62.0, 40.0, 3),
    );
    let r = render_tile(&[&l], z14(), &RenderOptions::default()).unwrap();
    let s = &r.layers[0].1;
    // Plots start at -100; those entirely left/above -64 are outside the buffer.
    assert_eq!(
        s.features_kept + s.features_outside + s.features_dropped,
        s.features_in
    );
    assert!(
        s.features_dropped < 140,
        "only edge slivers may collapse: {s:?}"
    );
    assert!(s.features_kept > 4500, "{s:?}");
    let decoded = check_tile(&r.bytes, 64);
    assert_eq!(decoded[0].len(), s.features_kept);
    eprintln!("z14 plots: {s:?}, {} bytes", r.bytes.len());
}

/// Many wiggly polygons (8100 x 50 vertices): over 500 KB at coarsen 0.
fn heavy_layer(t: TileCoord, drop_small: bool) -> crate::layer::Layer {
    let f = Frame::new(t);
    let mut rng = super::Rng::new(11);
    let mut feats = Vec::new();
    let mut id = 0;
    for i in 0..90 {
        for j in 0..90 {
            let (cx, cy) = (25.0 + i as f64 * 45.0, 25.0 + j as f64 * 45.0);
            let n = 50;
            let pts: Vec<(f64, f64)> = (0..n)
                .map(|k| {
                    let a = k as f64 / n as f64 * std::f64::consts::TAU;
                    let r = 14.0 + 6.0 * rng.next();
                    (cx + r * a.cos(), cy + r * a.sin())
                })
                .collect();
            id += 1;
            feats.push(feature(id, f.poly(&pts)));
        }
    }
    let extra = if drop_small {
        "maxzoom = 16"
    } else {
        "maxzoom = 16\ndrop_small = false"
    };
    layer("heavy", extra, GeomKind::Polygon, feats)
}

#[test]
fn size_cap_brings_a_heavy_tile_under_budget() {
    let t = TileCoord::new(10, 836, 446).unwrap();
    for drop_small in [true, false] {
        let l = heavy_layer(t, drop_small);
        let first = render_layer(&l, t, &RenderOptions::default());
        let size0 = first.tile_bytes().len();
        assert!(size0 > 500_000, "fixture too light: {size0}");
        let r = render_tile(&[&l], t, &RenderOptions::default()).unwrap();
        eprintln!(
            "drop_small={drop_small}: {size0} B -> {} B at coarsen {}, {} features",
            r.bytes.len(),
            r.coarsen,
            r.features
        );
        assert!(!r.over_budget);
        assert!(r.bytes.len() <= 500_000);
        assert!(r.coarsen >= 1);
        assert_eq!(
            r.features,
            90 * 90,
            "nothing dropped: the features are large"
        );
        check_tile(&r.bytes, 64);
    }
}

#[test]
fn size_cap_gives_up_flagged_not_panicking() {
    let t = TileCoord::new(10, 836, 446).unwrap();
    let l = heavy_layer(t, false);
    let opts = RenderOptions {
        max_bytes: 100,
        max_attempts: 3,
        ..RenderOptions::default()
    };
    let r = render_tile(&[&l], t, &opts).unwrap();
    assert!(r.over_budget);
    assert_eq!(r.coarsen, 3);
    assert!(!r.bytes.is_empty());
    check_tile(&r.bytes, 64);
}

#[test]
fn bad_options_are_rejected() {
    let l = layer("x", "", GeomKind::Point, vec![]);
    for (opts, msg) in [
        (
            RenderOptions {
                extent: 0,
                ..Default::default()
            },
            "extent 0",
        ),
        (
            RenderOptions {
                extent: 256,
                buffer: 300,
                ..Default::default()
            },
            "buffer 300",
        ),
    ] {
        let e = render_tile(&[&l], z14(), &opts).unwrap_err();
        assert!(matches!(e, TileError::Options(_)));
        assert!(e.to_string().contains(msg), "{e}");
    }
}

#[test]
fn other_extents_scale_everything() {
    let t = z14();
    let f = Frame::with_extent(t, 512.0);
    let l = layer(
        "plots",
        "",
        GeomKind::Polygon,
        vec![feature(1, f.rect(10.0, 10.0, 100.0, 600.0))],
    );
    let opts = RenderOptions {
        extent: 512,
        buffer: 8,
        ..Default::default()
    };
    let r = render_tile(&[&l], t, &opts).unwrap();
    check_tile(&r.bytes, 8);
    let raw = raw_decode(&r.bytes);
    assert_eq!(raw[0].extent, 512);
    let mut pts = raw[0].features[0].parts[0].clone();
    pts.sort();
    assert_eq!(pts, vec![(10, 10), (10, 520), (100, 10), (100, 520)]);
}

#[test]
fn output_is_deterministic() {
    let f = Frame::new(z14());
    let l = layer(
        "plots",
        "",
        GeomKind::Polygon,
        plots(&f, 30, 0.0, 130.0, 90.0, 9),
    );
    let a = render_tile(&[&l], z14(), &RenderOptions::default()).unwrap();
    let b = render_tile(&[&l], z14(), &RenderOptions::default()).unwrap();
    assert_eq!(a.bytes, b.bytes);
}

/// Regression: a dense layer of equal-sized plots over the budget used to
/// coarsen until every plot was dropped (an empty z14 parcel tile on the
/// district data). It must thin out and stay visible.
#[test]
fn dense_equal_plots_over_budget_thin_out_instead_of_vanishing() {
    let t = TileCoord::new(14, 13363, 7150).unwrap();
    let f = Frame::new(t);
    // 160 x 160 = 25,600 plots of 12 units on a 25-unit grid, ids and two
    // attributes each: well over 500 KB.
    let l = layer(
        "plots",
        "maxzoom = 20",
        GeomKind::Polygon,
        plots(&f, 160, 10.0, 25.0, 12.0, 5),
    );
    let r = render_tile(&[&l], t, &RenderOptions::default()).unwrap();
    assert!(!r.over_budget);
    assert!(r.bytes.len() <= 500_000, "{} bytes", r.bytes.len());
    assert!(
        r.features > 25_600 / 8,
        "kept only {} of 25,600 plots (coarsen {})",
        r.features,
        r.coarsen
    );
    check_tile(&r.bytes, 64);
}
