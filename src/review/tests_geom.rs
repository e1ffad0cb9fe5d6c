//! The measuring shortcuts of `geom` against geo's general algorithms on
//! seeded random shapes: convex overlaps (no polygon overlay), distances
//! with the crossing and containment tests, the sum of disjoint convex
//! pieces, and window clipping of large polygons (thinned vertex runs,
//! whole-window detection).

use geo::{
    Area, BooleanOps, Coord, Distance, Euclidean, Geometry, LineString, MultiLineString,
    MultiPolygon, Polygon,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::eval::num;
use super::geom::{
    Plot, Shape, convex_overlap, disjoint_convex_area, nearest, project_clipped_areal,
};

/// A plot of about `size` metres near 113.1°E 23.0°N, possibly rotated.
fn plot(rng: &mut ChaCha8Rng, size: f64) -> Plot {
    let (lon, lat) = (113.1, 23.0);
    let d = size / 111_000.0;
    let a: f64 = rng.gen_range(0.0..std::f64::consts::PI);
    let (s, c) = a.sin_cos();
    let pts: Vec<Coord> = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0), (0.0, 0.0)]
        .iter()
        .map(|(x, y)| Coord {
            x: lon + d * (x * c - y * s),
            y: lat + d * (x * s + y * c),
        })
        .collect();
    Plot::new(&MultiPolygon::new(vec![Polygon::new(
        LineString::new(pts),
        vec![],
    )]))
    .expect("measurable plot")
}

/// A random convex polygon (a regular-ish n-gon with jittered angles)
/// around `centre`, radius `r` metres, either orientation.
fn convex(rng: &mut ChaCha8Rng, centre: Coord, r: f64) -> Polygon {
    let n = rng.gen_range(3..8);
    let mut angles: Vec<f64> = (0..n)
        .map(|i| (i as f64 + rng.gen_range(0.1..0.9)) * std::f64::consts::TAU / n as f64)
        .collect();
    if rng.gen_bool(0.5) {
        angles.reverse();
    }
    let mut pts: Vec<Coord> = angles
        .iter()
        .map(|a| Coord {
            x: centre.x + r * a.cos(),
            y: centre.y + r * a.sin(),
        })
        .collect();
    pts.push(pts[0]);
    Polygon::new(LineString::new(pts), vec![])
}

fn centre(p: &Plot) -> Coord {
    let b = p.gk_bbox;
    b.center()
}

#[test]
fn convex_overlap_matches_polygon_overlay() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for i in 0..500 {
        let size = rng.gen_range(5.0..20.0);
        let p = plot(&mut rng, size);
        let c = centre(&p);
        let off = Coord {
            x: c.x + rng.gen_range(-25.0..25.0),
            y: c.y + rng.gen_range(-25.0..25.0),
        };
        let shape = MultiPolygon::new(vec![{
            let r = rng.gen_range(2.0..30.0);
            convex(&mut rng, off, r)
        }]);
        let (overlap, area) = convex_overlap(&p, &shape).expect("both convex");
        let want = p.gk.intersection(&shape).unsigned_area();
        assert!(
            (area - want).abs() <= 1e-6 * want.max(1.0),
            "case {i}: {area} vs {want}"
        );
        assert!((overlap.unsigned_area() - area).abs() <= 1e-9 * area.max(1.0));
    }
}

#[test]
fn a_concave_shape_is_left_to_the_overlay() {
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let p = plot(&mut rng, 10.0);
    let c = centre(&p);
    let l = Polygon::new(
        LineString::from(vec![
            (c.x - 20.0, c.y - 20.0),
            (c.x + 20.0, c.y - 20.0),
            (c.x + 20.0, c.y),
            (c.x, c.y),
            (c.x, c.y + 20.0),
            (c.x - 20.0, c.y + 20.0),
            (c.x - 20.0, c.y - 20.0),
        ]),
        vec![],
    );
    assert!(convex_overlap(&p, &MultiPolygon::new(vec![l])).is_none());
}

#[test]
fn disjoint_convex_pieces_sum_and_overlapping_ones_do_not() {
    let sq = |x: f64, y: f64, d: f64| {
        MultiPolygon::new(vec![Polygon::new(
            LineString::from(vec![(x, y), (x + d, y), (x + d, y + d), (x, y + d), (x, y)]),
            vec![],
        )])
    };
    let (a, b, c) = (sq(0.0, 0.0, 2.0), sq(2.0, 0.0, 2.0), sq(1.0, 1.0, 2.0));
    assert_eq!(disjoint_convex_area(&[&a, &b], 1e-9), Some(8.0));
    assert_eq!(disjoint_convex_area(&[&a, &b, &c], 1e-9), None);
}

#[test]
fn nearest_matches_euclidean_distance() {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    for i in 0..500 {
        let size = rng.gen_range(5.0..20.0);
        let p = plot(&mut rng, size);
        let c = centre(&p);
        let off = Coord {
            x: c.x + rng.gen_range(-60.0..60.0),
            y: c.y + rng.gen_range(-60.0..60.0),
        };
        let (shape, geom): (Shape, Geometry) = match i % 3 {
            0 => {
                let m = MultiPolygon::new(vec![{
                    let r = rng.gen_range(1.0..40.0);
                    convex(&mut rng, off, r)
                }]);
                (Shape::Areal(m.clone()), m.into())
            }
            1 => {
                let l = LineString::from(vec![
                    off,
                    Coord {
                        x: off.x + rng.gen_range(-80.0..80.0),
                        y: off.y + rng.gen_range(-80.0..80.0),
                    },
                    Coord {
                        x: off.x + rng.gen_range(-80.0..80.0),
                        y: off.y + rng.gen_range(-80.0..80.0),
                    },
                ]);
                let m = MultiLineString::new(vec![l]);
                (Shape::Lineal(m.clone()), m.into())
            }
            _ => {
                // A large polygon that may contain the plot.
                let m = MultiPolygon::new(vec![{
                    let r = rng.gen_range(60.0..120.0);
                    convex(&mut rng, off, r)
                }]);
                (Shape::Areal(m.clone()), m.into())
            }
        };
        let n = nearest(&p, &shape);
        let want = Euclidean.distance(&Geometry::MultiPolygon(p.gk.clone()), &geom);
        assert!(
            (n.distance - want).abs() <= 1e-6,
            "case {i}: {} vs {want}",
            n.distance
        );
        assert_eq!(n.line.is_none(), want == 0.0, "case {i}");
    }
}

#[test]
fn clipping_a_large_polygon_keeps_its_area_in_the_window() {
    let mut rng = ChaCha8Rng::seed_from_u64(10);
    for i in 0..200 {
        let p = plot(&mut rng, 10.0);
        let window = p.window(rng.gen_range(0.0..30.0));
        // A large many-vertex polygon in Web Mercator around or beside the
        // window: a jittered circle of 400 vertices.
        let w = window.center();
        let cx = w.x + rng.gen_range(-300.0..300.0);
        let cy = w.y + rng.gen_range(-300.0..300.0);
        let r = rng.gen_range(100.0..500.0);
        let mut ring: Vec<Coord> = (0..400)
            .map(|k| {
                let a = k as f64 * std::f64::consts::TAU / 400.0;
                let rr = r * rng.gen_range(0.9..1.1);
                Coord {
                    x: cx + rr * a.cos(),
                    y: cy + rr * a.sin(),
                }
            })
            .collect();
        ring.push(ring[0]);
        let poly = Polygon::new(LineString::new(ring), vec![]);
        let g = Geometry::Polygon(poly.clone());
        let bbox = geo::BoundingRect::bounding_rect(&poly).expect("bbox");
        let got = project_clipped_areal(&g, &bbox, &window, &p.frame);
        // Reference: geo's overlay of the polygon and the window, in Web
        // Mercator, projected afterwards. The two differ by where a point
        // inserted on a long edge lands (straight in Web Mercator there,
        // straight in Gauss-Krüger here): under a millimetre.
        let reference = MultiPolygon::new(vec![poly]).intersection(&window.to_polygon());
        let to_gk = |m: &MultiPolygon| {
            use geo::MapCoords;
            m.map_coords(|c| p.frame.merc_to_gk(c))
        };
        let want = to_gk(&reference).unsigned_area();
        let got_area = got.as_ref().map_or(0.0, |(m, _)| m.unsigned_area());
        assert!(
            (got_area - want).abs() <= 1e-5 * want + 1e-5,
            "case {i}: {got_area} vs {want}"
        );
        let whole_window = to_gk(&MultiPolygon::new(vec![window.to_polygon()])).unsigned_area();
        if let Some((_, covers)) = got {
            assert_eq!(
                covers,
                (want - whole_window).abs() < 1e-6 * whole_window,
                "case {i}"
            );
        }
    }
}

#[test]
fn message_numbers_have_at_most_two_decimals() {
    for (v, s) in [
        (80.0, "80"),
        (73.272, "73.27"),
        (12.346, "12.35"),
        (0.004, "0"),
        (-0.001, "0"),
        (1.5, "1.5"),
        (-2.25, "-2.25"),
        (1e7, "10000000"),
        (0.1 + 0.2, "0.3"),
    ] {
        assert_eq!(num(v), s, "{v}");
    }
}
