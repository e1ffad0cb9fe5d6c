//! Polygon edge cases: every output must decode as valid, correctly wound
//! MVT polygons, whatever the input and zoom.

use geo::{Area, BooleanOps, Coord, MultiPolygon, Polygon};

use super::{Frame, check_tile, decoded_area, feature, layer, raw_decode};
use crate::layer::GeomKind;
use crate::tiles::{RenderOptions, TileCoord, render_tile};

fn z14() -> TileCoord {
    TileCoord::new(14, 13363, 7150).unwrap()
}

fn render_one(l: &crate::layer::Layer, t: TileCoord) -> (Vec<u8>, crate::tiles::RenderedTile) {
    let r = render_tile(&[l], t, &RenderOptions::default()).unwrap();
    (r.bytes.clone(), r)
}

#[test]
fn bow_tie_becomes_two_valid_triangles() {
    let f = Frame::new(z14());
    let bow = f.poly(&[
        (100.0, 100.0),
        (900.0, 900.0),
        (900.0, 100.0),
        (100.0, 900.0),
    ]);
    let l = layer("bow", "", GeomKind::Polygon, vec![feature(7, bow)]);
    let (bytes, r) = render_one(&l, z14());
    assert_eq!(r.features, 1);
    let decoded = check_tile(&bytes, 64);
    let raw = raw_decode(&bytes);
    assert_eq!(
        raw[0].features[0].parts.len(),
        2,
        "two lobes, two exterior rings"
    );
    let area = decoded_area(&decoded[0][0]);
    assert!((area - 320_000.0).abs() < 1_000.0, "area {area}");
}

#[test]
fn hole_crossing_and_touching_the_tile_edge() {
    let f = Frame::new(z14());
    let shell = f.ring(&[
        (-500.0, 500.0),
        (1500.0, 500.0),
        (1500.0, 3500.0),
        (-500.0, 3500.0),
    ]);
    // Hole crossing the buffered edge x = -64.
    let hole = f.ring(&[
        (-200.0, 1000.0),
        (800.0, 1000.0),
        (800.0, 2000.0),
        (-200.0, 2000.0),
    ]);
    // Hole whose left side lies exactly on the buffered edge.
    let hole2 = f.ring(&[
        (-64.0, 2500.0),
        (400.0, 2500.0),
        (400.0, 3000.0),
        (-64.0, 3000.0),
    ]);
    // A hole fully inside, touching nothing.
    let hole3 = f.ring(&[
        (1000.0, 2500.0),
        (1200.0, 2500.0),
        (1200.0, 2700.0),
        (1000.0, 2700.0),
    ]);
    let p = Polygon::new(shell, vec![hole, hole2, hole3]);
    let l = layer("holes", "", GeomKind::Polygon, vec![feature(1, p)]);
    let (bytes, r) = render_one(&l, z14());
    assert_eq!(r.features, 1);
    let decoded = check_tile(&bytes, 64);
    let want = 1564.0 * 3000.0 - 864.0 * 1000.0 - 464.0 * 500.0 - 200.0 * 200.0;
    let area = decoded_area(&decoded[0][0]);
    assert!((area - want).abs() < 10.0, "area {area}, want {want}");
    // The inside hole stays a hole (a negative ring).
    let raw = raw_decode(&bytes);
    assert!(raw[0].features[0].parts.iter().any(|r| super::area2(r) < 0));
}

/// A comb: a base bar with teeth 0.3 units wide at z10, 19 units at z16.
fn comb(f: &Frame, tooth: f64, base: f64) -> Polygon {
    let mut pts = vec![(100.0, 180.0 + base)];
    pts.push((1100.0, 180.0 + base));
    pts.push((1100.0, 180.0));
    let mut u = 1100.0;
    while u > 102.0 {
        u -= 2.0;
        pts.push((u + tooth, 180.0));
        pts.push((u + tooth, 100.0));
        pts.push((u, 100.0));
        pts.push((u, 180.0));
    }
    pts.push((100.0, 180.0));
    f.poly(&pts)
}

#[test]
fn comb_collapses_at_low_zoom_and_stays_valid() {
    let t10 = TileCoord::new(10, 836, 446).unwrap();
    let f = Frame::new(t10);
    let l = layer(
        "comb",
        "maxzoom = 16",
        GeomKind::Polygon,
        vec![feature(1, comb(&f, 0.3, 10.0))],
    );
    let (bytes, r) = render_one(&l, t10);
    assert_eq!(r.features, 1);
    let decoded = check_tile(&bytes, 64);
    let area = decoded_area(&decoded[0][0]);
    // The teeth (500 x 0.3 x 80 = 12000) vanish or shrink; the base (1000 x 10) stays.
    assert!((9_000.0..25_000.0).contains(&area), "area {area}");

    // At z16 the teeth are 19 units wide and must survive.
    let t16 = TileCoord::new(16, 836 * 64 + 2, 446 * 64 + 2).unwrap();
    let (bytes, r) = render_one(&l, t16);
    assert_eq!(r.features, 1);
    let decoded = check_tile(&bytes, 64);
    let raw = raw_decode(&bytes);
    assert!(raw[0].features[0].parts[0].len() > 20, "teeth kept at z16");
    assert!(decoded_area(&decoded[0][0]) > 100_000.0);

    // A comb whose base is also sub-unit collapses entirely: dropped in a
    // drop_small layer, kept as a minimal square in a legal layer.
    let thin = comb(&f, 0.3, 0.3);
    let l = layer(
        "comb",
        "maxzoom = 16",
        GeomKind::Polygon,
        vec![feature(1, thin.clone())],
    );
    let (bytes, r) = render_one(&l, t10);
    check_tile(&bytes, 64);
    assert!(r.features <= 1);
    let legal = layer(
        "zones",
        "maxzoom = 16\ndrop_small = false",
        GeomKind::Polygon,
        vec![feature(1, thin)],
    );
    let (bytes, r) = render_one(&legal, t10);
    assert_eq!(r.features, 1);
    check_tile(&bytes, 64);
}

#[test]
fn huge_polygon_is_the_buffered_square() {
    let f = Frame::new(z14());
    let p = f.rect(-100_000.0, -90_000.0, 80_000.0, 70_000.0);
    let l = layer("big", "", GeomKind::Polygon, vec![feature(1, p)]);
    let (bytes, _) = render_one(&l, z14());
    check_tile(&bytes, 64);
    let raw = raw_decode(&bytes);
    let ring = &raw[0].features[0].parts;
    assert_eq!(ring.len(), 1);
    let mut pts = ring[0].clone();
    pts.sort();
    assert_eq!(
        pts,
        vec![(-64, -64), (-64, 4160), (4160, -64), (4160, 4160)]
    );
    assert_eq!(super::area2(&ring[0]), 2 * 4224 * 4224);
}

/// A sinuous river polygon 30 units wide crossing 12 z12 tiles.
fn river(f: &Frame, n: usize) -> Polygon {
    let (mut left, mut right) = (Vec::new(), Vec::new());
    for i in 0..=n {
        let u = -300.0 + i as f64 * (12.0 * 4096.0 + 600.0) / n as f64;
        let w = std::f64::consts::TAU / 3000.0;
        let v = 2048.0 + 500.0 * (u * w).sin();
        let (du, dv) = (1.0, 500.0 * w * (u * w).cos());
        let len = (du * du + dv * dv).sqrt();
        let (nu, nv) = (-dv / len * 15.0, du / len * 15.0);
        left.push((u + nu, v + nv));
        right.push((u - nu, v - nv));
    }
    right.reverse();
    left.extend(right);
    f.poly(&left)
}

#[test]
fn long_river_polygon_across_many_tiles() {
    let t0 = TileCoord::new(12, 3340, 1787).unwrap();
    let f = Frame::new(t0);
    let p = river(&f, 4000);
    let l = layer(
        "river",
        "maxzoom = 14",
        GeomKind::Polygon,
        vec![feature(1, p.clone())],
    );
    let unit = t0.bounds().width() / 4096.0;
    let total = p.unsigned_area() / (unit * unit);
    let mut sum = 0.0;
    for dx in -1..=13i64 {
        let t = TileCoord::new(12, (3340 + dx) as u64, 1787).unwrap();
        let r = render_tile(&[&l], t, &RenderOptions::default()).unwrap();
        if r.bytes.is_empty() {
            continue;
        }
        let decoded = check_tile(&r.bytes, 64);
        // Area inside the tile proper (without the buffer).
        let tile_sq = geo::Rect::new(
            Coord { x: 0.0, y: 0.0 },
            Coord {
                x: 4096.0,
                y: 4096.0,
            },
        );
        let mp = match &decoded[0][0].geometry {
            geo::Geometry::MultiPolygon(mp) => mp.clone(),
            g => panic!("{g:?}"),
        };
        sum += mp.intersection(&tile_sq.to_polygon()).unsigned_area();
    }
    let rel = (sum - total).abs() / total;
    assert!(rel < 0.01, "sum {sum} vs {total} ({rel})");
}

#[test]
fn sub_pixel_polygon_kept_in_legal_layer_dropped_elsewhere() {
    let t8 = TileCoord::new(8, 208, 111).unwrap();
    let f = Frame::new(t8);
    let tiny = f.rect(1000.2, 1000.3, 1000.4, 1000.5);
    let edge = f.rect(-64.3, 500.1, -63.9, 500.4); // straddles the buffer edge
    let thin = f.poly(&[
        (2000.0, 2000.0),
        (2100.0, 2100.0),
        (2100.3, 2100.0),
        (2000.3, 2000.0),
    ]);
    let feats = || {
        vec![
            feature(1, tiny.clone()),
            feature(2, edge.clone()),
            feature(3, thin.clone()),
        ]
    };
    let legal = layer("zones", "drop_small = false", GeomKind::Polygon, feats());
    let r = render_tile(&[&legal], t8, &RenderOptions::default()).unwrap();
    assert_eq!(r.features, 3);
    assert!(r.layers[0].1.features_enlarged >= 2);
    let decoded = check_tile(&r.bytes, 64);
    let ids: Vec<_> = decoded[0].iter().map(|f| f.id.unwrap()).collect();
    assert_eq!(ids, vec![1, 2, 3]);
    assert_eq!(decoded_area(&decoded[0][0]), 1.0);
    // The square sits where the polygon is.
    let raw = raw_decode(&r.bytes);
    assert!(raw[0].features[0].parts[0].contains(&(1000, 1000)));

    let plain = layer("plots", "", GeomKind::Polygon, feats());
    let r = render_tile(&[&plain], t8, &RenderOptions::default()).unwrap();
    check_tile(&r.bytes, 64);
    assert!(r.features <= 1, "only the thin strip may survive");
}

#[test]
fn overlapping_multipolygon_parts_are_unioned() {
    let f = Frame::new(z14());
    let a = f.rect(100.0, 100.0, 600.0, 600.0);
    let b = f.rect(400.0, 400.0, 900.0, 900.0);
    // And two parts that touch along a line after rounding.
    let c = f.rect(1000.0, 100.0, 1100.2, 200.0);
    let d = f.rect(1100.4, 100.0, 1200.0, 200.0);
    let mp = MultiPolygon::new(vec![a, b, c, d]);
    let l = layer("mp", "", GeomKind::Polygon, vec![feature(1, mp)]);
    let (bytes, _) = render_one(&l, z14());
    let decoded = check_tile(&bytes, 64);
    let area = decoded_area(&decoded[0][0]);
    let want = 2.0 * 250_000.0 - 40_000.0 + 20_000.0;
    assert!((area - want).abs() < 100.0, "area {area}");
}

/// An irregular star polygon of `n` vertices around (cx, cy).
fn star(f: &Frame, cx: f64, cy: f64, r: f64, n: usize, seed: u64) -> Polygon {
    let mut rng = super::Rng::new(seed);
    let pts: Vec<(f64, f64)> = (0..n)
        .map(|i| {
            let a = i as f64 / n as f64 * std::f64::consts::TAU;
            let rr = r * (0.7 + 0.3 * rng.next()) + 40.0 * (a * 7.0).sin();
            (cx + rr * a.cos(), cy + rr * a.sin())
        })
        .collect();
    f.poly(&pts)
}

/// Fidelity: symmetric difference between the output and the exact clip of
/// the input (geo BooleanOps in f64) stays under 0.5% of the area at z15
/// (tolerance 1 unit) and z16 = maxzoom (0.5 unit).
#[test]
fn geometric_fidelity_against_exact_clip() {
    for (z, x, y) in [(15u32, 26726u64, 14300u64), (16, 53452, 28600)] {
        let t = TileCoord::new(z, x, y).unwrap();
        let f = Frame::new(t);
        let p = star(&f, 3500.0, 2000.0, 1500.0, 600, 42);
        let l = layer(
            "star",
            "maxzoom = 16",
            GeomKind::Polygon,
            vec![feature(1, p.clone())],
        );
        let r = render_tile(&[&l], t, &RenderOptions::default()).unwrap();
        let decoded = check_tile(&r.bytes, 64);
        let out = match &decoded[0][0].geometry {
            geo::Geometry::MultiPolygon(mp) => mp.clone(),
            g => panic!("{g:?}"),
        };
        // The input in tile units (y down), clipped exactly.
        let b = t.bounds();
        let unit = b.width() / 4096.0;
        let to_units = |c: Coord| Coord {
            x: (c.x - b.min().x) / unit,
            y: (b.max().y - c.y) / unit,
        };
        let input: Polygon = geo::MapCoords::map_coords(&p, to_units);
        let sq = geo::Rect::new(
            Coord { x: -64.0, y: -64.0 },
            Coord {
                x: 4160.0,
                y: 4160.0,
            },
        );
        let exact = input.intersection(&sq.to_polygon());
        let diff = exact.xor(&out).unsigned_area();
        let rel = diff / exact.unsigned_area();
        eprintln!(
            "z{z}: exact {:.0} out {:.0} sym-diff {:.0} ({:.4}%), vertices {}",
            exact.unsigned_area(),
            out.unsigned_area(),
            diff,
            rel * 100.0,
            r.layers[0].1.vertices
        );
        assert!(rel < 0.005, "z{z}: relative symmetric difference {rel}");
    }
}

#[test]
fn rings_are_valid_for_random_jittered_polygons() {
    // Random, often self-intersecting rings of 3..60 vertices at various zooms.
    let mut rng = super::Rng::new(7);
    for z in [6u32, 10, 14] {
        let t = TileCoord::new(z, (1u64 << z) / 2, (1u64 << z) / 3).unwrap();
        let f = Frame::new(t);
        let mut feats = Vec::new();
        for id in 0..120u64 {
            let n = 3 + (rng.next() * 57.0) as usize;
            let (cx, cy) = (rng.next() * 4600.0 - 250.0, rng.next() * 4600.0 - 250.0);
            let s = 0.5 + rng.next() * rng.next() * 300.0;
            let pts: Vec<(f64, f64)> = (0..n)
                .map(|_| (cx + (rng.next() - 0.5) * s, cy + (rng.next() - 0.5) * s))
                .collect();
            feats.push(feature(id + 1, f.poly(&pts)));
        }
        for extra in ["", "drop_small = false"] {
            let l = layer("rnd", extra, GeomKind::Polygon, feats.clone());
            let r = render_tile(&[&l], t, &RenderOptions::default()).unwrap();
            check_tile(&r.bytes, 64);
        }
    }
}

/// Random multipolygons with holes, many seeds and zooms; run in release:
/// `cargo test --release --lib tiles::tests::polygons::stress -- --ignored`.
#[test]
#[ignore]
fn stress_random_polygons_with_holes() {
    for seed in 1..=40u64 {
        let mut rng = super::Rng::new(seed);
        for z in [4u32, 8, 12, 16] {
            let t = TileCoord::new(z, (1u64 << z) / 2, (1u64 << z) / 3).unwrap();
            let f = Frame::new(t);
            let mut feats = Vec::new();
            for id in 0..200u64 {
                let parts = 1 + (rng.next() * 3.0) as usize;
                let mut polys = Vec::new();
                for _ in 0..parts {
                    let (cx, cy) = (rng.next() * 4600.0 - 250.0, rng.next() * 4600.0 - 250.0);
                    let s = 0.5 + rng.next() * rng.next() * 600.0;
                    let ring = |rng: &mut super::Rng, scale: f64, n: usize| {
                        let pts: Vec<(f64, f64)> = (0..n)
                            .map(|_| {
                                let dx = (rng.next() - 0.5) * s * scale;
                                (cx + dx, cy + (rng.next() - 0.5) * s * scale)
                            })
                            .collect();
                        f.ring(&pts)
                    };
                    let n = 3 + (rng.next() * 40.0) as usize;
                    let shell = ring(&mut rng, 1.0, n);
                    let holes = (0..(rng.next() * 3.0) as usize)
                        .map(|_| ring(&mut rng, 0.5, 3 + n / 3))
                        .collect();
                    polys.push(Polygon::new(shell, holes));
                }
                feats.push(feature(id + 1, MultiPolygon::new(polys)));
            }
            for extra in ["", "drop_small = false", "simplify_px = 8"] {
                let l = layer("rnd", extra, GeomKind::Polygon, feats.clone());
                let r = render_tile(&[&l], t, &RenderOptions::default()).unwrap();
                check_tile(&r.bytes, 64);
            }
        }
    }
}
