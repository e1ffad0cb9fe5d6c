//! Property tests (proptest) of the geometry the server computes:
//!
//! * **tiles**: random polygons (holes, multipolygons, slivers, tiny and
//!   tile-covering shapes) go through the real pipeline (`Layer::build`,
//!   `render_layer`) and the MVT is decoded twice (raw commands and
//!   `mvt-reader`). Each output polygon is valid (OGC, geo's `Validation`),
//!   lies within the tile plus buffer, starts with an exterior ring of
//!   positive area in tile coordinates (y down) with holes negative, and its
//!   area is within [`area_tolerance`] of the exact clip computed with
//!   `geo::BooleanOps` on the unsimplified polygon.
//! * **reprojection**: Gauss-Krüger forward/inverse (the fast series of
//!   `tudi::crs::gk` and proj4rs behind `Transformer`, every allow-listed
//!   zone, both axis orders) and lon/lat <-> EPSG:3857 round-trip within
//!   1 mm on the ground; the two Gauss-Krüger implementations agree within
//!   1 mm.
//! * **review measures**: the plot area and the setback distance the review
//!   engine reports (`review::evaluate`, measured in the plot's
//!   Gauss-Krüger zone) agree with geodesic area and distance on the
//!   CGCS2000 ellipsoid (`geographiclib-rs`) within 0.05 % in the district,
//!   and within the Gauss-Krüger scale factor's prediction anywhere in the
//!   allow-listed zones.
//!
//! Case counts keep the whole file under ~30 s in a debug build; set
//! `PROPTEST_CASES` to run more.

#![allow(clippy::unwrap_used)]

use std::f64::consts::PI;
use std::path::Path;
use std::sync::Arc;

use geo::{Area, BooleanOps, Coord, LineString, MultiPolygon, Polygon, Validation};
use geographiclib_rs::{DirectGeodesic, Geodesic, PolygonArea, Winding};
use geozero::mvt::{Message, Tile};
use proptest::prelude::*;
use proptest::test_runner::Config;

use tudi::crs::{
    AxisOrder, Crs, MAX_LAT, Transformer, gk_to_lonlat, lonlat_to_gk, lonlat_to_mercator,
    mercator_to_lonlat,
};
use tudi::layer::{GeomKind, Layer, LayerDef, NewFeature, Registry};
use tudi::tiles::{RenderOptions, TileCoord, render_layer};

fn config(cases: u32) -> Config {
    Config {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(cases),
        ..Config::default()
    }
}

// ---------------------------------------------------------------- tiles

const EXTENT: f64 = 4096.0;
const BUFFER: f64 = 64.0;

/// A star-shaped ring around `(cx, cy)` in tile units: `n >= 6` rays at
/// jittered angles (adjacent rays less than 120° apart, so the disk of
/// radius `min(r) / 2` lies inside), stretched by `(sx, sy)` and rotated by
/// `rot`. Simple by construction; `sx` or `sy` near 0 makes a sliver.
#[derive(Debug, Clone)]
struct Star {
    cx: f64,
    cy: f64,
    radii: Vec<f64>,
    jitter: Vec<f64>,
    sx: f64,
    sy: f64,
    rot: f64,
}

impl Star {
    fn ring(&self, scale: f64) -> Vec<Coord> {
        let n = self.radii.len();
        let (s, c) = self.rot.sin_cos();
        (0..n)
            .map(|i| {
                let a = (i as f64 + 0.4 * self.jitter[i]) * 2.0 * PI / n as f64;
                let (x, y) = (
                    self.radii[i] * scale * a.cos() * self.sx,
                    self.radii[i] * scale * a.sin() * self.sy,
                );
                Coord {
                    x: self.cx + x * c - y * s,
                    y: self.cy + x * s + y * c,
                }
            })
            .collect()
    }

    fn min_radius(&self) -> f64 {
        self.radii.iter().copied().fold(f64::INFINITY, f64::min)
    }
}

/// One polygon of the generated shape: a star, optionally with a star hole
/// of `hole` x its inner radius (< 0.45: inside the exterior).
#[derive(Debug, Clone)]
struct Part {
    star: Star,
    hole: Option<f64>,
}

impl Part {
    fn polygon(&self) -> Polygon {
        let ext = LineString::new(self.star.ring(1.0));
        let holes = match self.hole {
            Some(h) => {
                let scale = h * self.star.min_radius()
                    / self.star.radii.iter().copied().fold(0.0, f64::max);
                vec![LineString::new(self.star.ring(scale))]
            }
            None => vec![],
        };
        Polygon::new(ext, holes)
    }
}

fn star(size: std::ops::Range<f64>, centre: std::ops::Range<f64>) -> impl Strategy<Value = Star> {
    (6usize..40).prop_flat_map(move |n| {
        (
            centre.clone(),
            centre.clone(),
            proptest::collection::vec(size.clone(), n),
            proptest::collection::vec(-1.0f64..1.0, n),
            prop_oneof![3 => Just(1.0), 1 => 0.0005f64..1.0],
            prop_oneof![3 => Just(1.0), 1 => 0.0005f64..1.0],
            0.0f64..(2.0 * PI),
        )
            .prop_map(|(cx, cy, radii, jitter, sx, sy, rot)| Star {
                cx,
                cy,
                radii,
                jitter,
                sx,
                sy,
                rot,
            })
    })
}

fn part(size: std::ops::Range<f64>, centre: std::ops::Range<f64>) -> impl Strategy<Value = Part> {
    (
        star(size, centre),
        prop_oneof![1 => Just(None), 1 => (0.05f64..0.45).prop_map(Some)],
    )
        .prop_map(|(star, hole)| Part { star, hole })
}

/// A shape in tile units: one polygon or a multipolygon of disjoint parts,
/// of one of several size classes (tiny to larger than the tile).
fn shape() -> impl Strategy<Value = Vec<Part>> {
    let any_size = prop_oneof![
        1 => Just(0.2..3.0),      // around the grid size
        2 => Just(3.0..60.0),     // plots at low zoom
        3 => Just(60.0..1500.0),  // typical
        1 => Just(1500.0..6000.0) // covering the tile
    ];
    prop_oneof![
        // A single polygon anywhere, also across the tile and buffer edges.
        3 => any_size.prop_flat_map(|s| part(s, -600.0..4700.0)).prop_map(|p| vec![p]),
        // A multipolygon: parts in disjoint 1200-unit cells (radius < 580).
        2 => proptest::collection::vec((part(1.0..580.0, 0.0..1.0), 0i32..5, 0i32..5), 2..5)
            .prop_map(|parts| {
                let mut used = Vec::new();
                let mut out = Vec::new();
                for (mut p, i, j) in parts {
                    if used.contains(&(i, j)) {
                        continue;
                    }
                    used.push((i, j));
                    p.star.cx = -700.0 + 1200.0 * f64::from(i);
                    p.star.cy = -700.0 + 1200.0 * f64::from(j);
                    out.push(p);
                }
                out
            }),
    ]
}

/// Tile units (x right, y down) of `t` -> EPSG:3857.
fn to_merc(t: TileCoord, c: Coord) -> Coord {
    let b = t.bounds();
    let unit = b.width() / EXTENT;
    Coord {
        x: b.min().x + c.x * unit,
        y: b.max().y - c.y * unit,
    }
}

fn layer_def(extra: &str) -> LayerDef {
    let text = format!(
        "id = \"shapes\"\ntitle = \"Shapes\"\ncategory = \"test\"\nsource = \"Cargo.toml\"\n\
         format = \"geojson\"\ncrs = \"EPSG:4326\"\n{extra}\n"
    );
    LayerDef::from_str(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"),
        &text,
    )
    .unwrap()
}

/// Rings of each polygon feature as the raw MVT commands give them (open,
/// integer tile coordinates), checking command sanity on the way.
fn raw_rings(bytes: &[u8]) -> Vec<Vec<Vec<(i64, i64)>>> {
    let tile = Tile::decode(bytes).unwrap();
    let mut out = Vec::new();
    for l in &tile.layers {
        for f in &l.features {
            assert_eq!(f.r#type, Some(3), "a polygon layer emitted a non-polygon");
            let g = &f.geometry;
            let (mut x, mut y) = (0i64, 0i64);
            let mut rings: Vec<Vec<(i64, i64)>> = Vec::new();
            let mut i = 0;
            while i < g.len() {
                let (id, count) = (g[i] & 7, (g[i] >> 3) as usize);
                i += 1;
                match id {
                    1 | 2 => {
                        if id == 1 {
                            assert_eq!(count, 1);
                            rings.push(Vec::new());
                        }
                        for _ in 0..count {
                            let dx = i64::from(((g[i] >> 1) as i32) ^ -((g[i] & 1) as i32));
                            let dy = i64::from(((g[i + 1] >> 1) as i32) ^ -((g[i + 1] & 1) as i32));
                            i += 2;
                            x += dx;
                            y += dy;
                            rings.last_mut().unwrap().push((x, y));
                        }
                    }
                    7 => assert!(rings.last().unwrap().len() >= 3, "ring under 3 points"),
                    _ => panic!("unknown command {id}"),
                }
            }
            out.push(rings);
        }
    }
    out
}

/// Twice the signed area of an open ring, y down: positive = clockwise on
/// screen = MVT exterior.
fn area2(r: &[(i64, i64)]) -> i64 {
    (0..r.len())
        .map(|i| {
            let (a, b) = (r[i], r[(i + 1) % r.len()]);
            a.0 * b.1 - b.0 * a.1
        })
        .sum()
}

fn perimeter(mp: &MultiPolygon) -> f64 {
    let ring = |l: &LineString| {
        l.lines()
            .map(|s| (s.end.x - s.start.x).hypot(s.end.y - s.start.y))
            .sum::<f64>()
    };
    mp.iter()
        .map(|p| ring(p.exterior()) + p.interiors().iter().map(ring).sum::<f64>())
        .sum()
}

/// The stated tolerance (tile units²) between the tile's polygon area and
/// the exact clip of the unsimplified polygon to the buffered tile:
///
/// `(simplify + 0.71) x P + 2 x parts`
///
/// * Douglas-Peucker keeps the boundary within `simplify` units of the
///   original, so it moves at most `simplify x P` of area (P: perimeter of
///   the exact clip);
/// * snapping to the integer grid moves each vertex at most `sqrt(2)/2`
///   units, so each edge sweeps at most `0.71 x` its length;
/// * a part below the grid may vanish or (legal layers) become a 1-unit
///   square: at most 2 units² each.
fn area_tolerance(simplify: f64, exact: &MultiPolygon, parts: usize) -> f64 {
    (simplify + 0.71) * perimeter(exact) + 2.0 * parts as f64
}

fn check_tile_polygon(
    parts: &[Part],
    simplify_px: f64,
    drop_small: bool,
) -> Result<(), TestCaseError> {
    let t = TileCoord::new(14, 13363, 7150).unwrap();
    let tile_units = MultiPolygon::new(parts.iter().map(Part::polygon).collect());
    prop_assume!(tile_units.is_valid());
    let merc = MultiPolygon::new(
        tile_units
            .iter()
            .map(|p| {
                let m =
                    |l: &LineString| LineString::new(l.coords().map(|c| to_merc(t, *c)).collect());
                Polygon::new(m(p.exterior()), p.interiors().iter().map(m).collect())
            })
            .collect(),
    );
    let def = layer_def(&format!(
        "simplify_px = {simplify_px}\ndrop_small = {drop_small}\nmaxzoom = 20"
    ));
    let f = NewFeature::new(1, merc.into(), vec![]).unwrap();
    let layer = Layer::build(
        def,
        1,
        "h".into(),
        GeomKind::Polygon,
        vec![],
        vec![f],
        vec![],
    )
    .expect("attributes fit");
    let opts = RenderOptions::default();
    let r = render_layer(&layer, t, &opts);
    let bytes = r.tile_bytes();

    let square = Polygon::new(
        LineString::from(vec![
            (-BUFFER, -BUFFER),
            (EXTENT + BUFFER, -BUFFER),
            (EXTENT + BUFFER, EXTENT + BUFFER),
            (-BUFFER, EXTENT + BUFFER),
        ]),
        vec![],
    );
    let exact = tile_units.intersection(&square);
    let want = exact.unsigned_area();
    let tol = area_tolerance(simplify_px, &exact, parts.len());

    let features = raw_rings(&bytes);
    prop_assert!(features.len() <= 1);
    let Some(rings) = features.first() else {
        // Dropped (too small) or outside: the exact clip must be negligible.
        prop_assert!(
            want <= tol,
            "nothing drawn, exact clip {want} > tolerance {tol}"
        );
        return Ok(());
    };
    // Within the tile plus buffer.
    for r in rings {
        for &(x, y) in r {
            prop_assert!(
                (-64..=4160).contains(&x) && (-64..=4160).contains(&y),
                "({x}, {y}) outside the buffered tile"
            );
        }
    }
    // Winding: the first ring is an exterior (positive, y down); every ring
    // has area; exteriors and holes alternate as MVT 2.1 groups them.
    prop_assert!(
        area2(&rings[0]) > 0,
        "first ring is not exterior: {rings:?}"
    );
    prop_assert!(rings.iter().all(|r| area2(r) != 0), "zero-area ring");
    let exteriors = rings.iter().filter(|r| area2(r) > 0).count();
    // Valid: mvt-reader groups the rings by winding into polygons, which
    // must be OGC-valid (holes inside their exterior, no crossings).
    let reader = mvt_reader::Reader::new(bytes.clone()).unwrap();
    let decoded = reader.get_features_as::<f64>(0).unwrap();
    let mp: MultiPolygon = match &decoded[0].geometry {
        geo::Geometry::Polygon(p) => MultiPolygon::new(vec![p.clone()]),
        geo::Geometry::MultiPolygon(mp) => mp.clone(),
        g => return Err(TestCaseError::fail(format!("decoded as {g:?}"))),
    };
    prop_assert!(
        mp.is_valid(),
        "invalid tile polygon: {:?}\n{rings:?}",
        mp.validation_errors()
    );
    prop_assert_eq!(mp.0.len(), exteriors, "exterior rings vs polygons");
    // Holes have the opposite winding: the signed sum is the decoded area.
    let signed: f64 = rings.iter().map(|r| area2(r) as f64 / 2.0).sum();
    prop_assert!((signed - mp.unsigned_area()).abs() < 1e-6, "hole winding");
    // Area against the exact clip.
    prop_assert!(
        (signed - want).abs() <= tol,
        "area {signed} vs exact clip {want}: off by {} > tolerance {tol}",
        (signed - want).abs()
    );
    Ok(())
}

proptest! {
    #![proptest_config(config(200))]

    #[test]
    fn tile_polygons_are_valid_in_the_buffer_wound_and_area_preserving(
        parts in shape(),
        simplify_px in prop_oneof![Just(0.5), Just(1.0), Just(2.0)],
        drop_small in any::<bool>(),
    ) {
        check_tile_polygon(&parts, simplify_px, drop_small)?;
    }
}

// ---------------------------------------------------------- reprojection

/// Metres on the ground between two lon/lat points (local flat Earth on the
/// CGCS2000 sphere of equal area: good to 1e-3 relative for the
/// millimetre-scale differences compared here).
fn ground_m(a: (f64, f64), b: (f64, f64)) -> f64 {
    let r = 6_371_008.8;
    let lat = a.1.to_radians();
    let dx = (b.0 - a.0).to_radians() * lat.cos() * r;
    let dy = (b.1 - a.1).to_radians() * r;
    dx.hypot(dy)
}

/// A point inside a Gauss-Krüger zone of the allow-list (zones 25..=45,
/// up to 1.5° from the central meridian; China spans 18-54°N).
fn zone_point() -> impl Strategy<Value = (u32, f64, f64)> {
    (25u32..=45, -1.5f64..1.5, 0.0f64..60.0)
        .prop_map(|(z, dl, lat)| (z, f64::from(3 * z) + dl, lat))
}

proptest! {
    #![proptest_config(config(2000))]

    /// The fast Krüger series: lon/lat -> GK -> lon/lat within 1 mm, and
    /// GK -> lon/lat -> GK within 1 mm.
    #[test]
    fn gauss_krueger_fast_series_round_trips_within_1mm((zone, lon, lat) in zone_point()) {
        let cm = f64::from(3 * zone);
        let (e, n) = lonlat_to_gk(lon, lat, cm);
        prop_assert!(e.is_finite() && n.is_finite());
        let back = gk_to_lonlat(e, n, cm);
        prop_assert!(ground_m((lon, lat), back) < 1e-3, "{lon},{lat} -> {e},{n} -> {back:?}");
        let (e2, n2) = lonlat_to_gk(back.0, back.1, cm);
        prop_assert!((e2 - e).hypot(n2 - n) < 1e-3);
    }
}

proptest! {
    #![proptest_config(config(300))]

    /// `Transformer` (proj4rs) over every allow-listed zone, with and
    /// without the zone prefix and in both axis orders: round trip within
    /// 1 mm, and the same easting/northing as the fast series within 1 mm.
    #[test]
    fn gauss_krueger_transformer_round_trips_within_1mm(
        (zone, lon, lat) in zone_point(),
        prefixed in any::<bool>(),
        north_east in any::<bool>(),
    ) {
        let epsg = if prefixed { 4513 + zone - 25 } else { 4534 + zone - 25 };
        let crs = Crs::GaussKruger { epsg };
        let axis = if north_east { AxisOrder::NorthEast } else { AxisOrder::EastNorth };
        let t = Transformer::new(crs, axis).unwrap();
        let (e, n) = t.from_lonlat(lon, lat).unwrap();
        let (fe, fnn) = lonlat_to_gk(lon, lat, f64::from(3 * zone));
        let prefix = if prefixed { f64::from(zone) * 1e6 } else { 0.0 };
        prop_assert!((e - prefix - fe).hypot(n - fnn) < 1e-3, "proj4rs {e},{n} vs fast {fe},{fnn}");
        let (x, y) = if north_east { (n, e) } else { (e, n) };
        let back = t.to_lonlat(x, y).unwrap();
        prop_assert!(ground_m((lon, lat), back) < 1e-3, "{lon},{lat} -> {back:?}");
    }
}

proptest! {
    #![proptest_config(config(2000))]

    /// lon/lat -> EPSG:3857 -> lon/lat within 1 mm on the ground, and
    /// EPSG:3857 -> lon/lat -> EPSG:3857 within 1 mm of Mercator metres.
    #[test]
    fn web_mercator_round_trips_within_1mm(lon in -180.0f64..180.0, lat in -MAX_LAT..MAX_LAT) {
        let (x, y) = lonlat_to_mercator(lon, lat);
        let back = mercator_to_lonlat(x, y);
        prop_assert!(ground_m((lon, lat), back) < 1e-3, "{lon},{lat} -> {back:?}");
        let (x2, y2) = lonlat_to_mercator(back.0, back.1);
        prop_assert!((x2 - x).hypot(y2 - y) < 1e-3);
    }

    /// Through `Transformer` for the geographic CRSs (axis swap, range checks).
    #[test]
    fn geographic_transformer_to_mercator_matches(lon in -180.0f64..180.0, lat in -MAX_LAT..MAX_LAT) {
        for crs in [Crs::Wgs84, Crs::Cgcs2000] {
            let t = Transformer::new(crs, AxisOrder::NorthEast).unwrap();
            let (x, y) = t.to_mercator(lat, lon).unwrap();
            let (x0, y0) = lonlat_to_mercator(lon, lat);
            prop_assert!((x - x0).hypot(y - y0) < 1e-3);
        }
    }
}

// -------------------------------------------------------- review measures

/// CGCS2000 ellipsoid (GRS80 shape).
fn cgcs2000() -> Geodesic {
    Geodesic::new(6_378_137.0, 1.0 / 298.257_222_101)
}

/// A plot: a star of `radii` metres around (lon, lat), built with geodesic
/// directions (so its shape does not come from any projection).
fn plot_ring(lon: f64, lat: f64, radii: &[f64], jitter: &[f64]) -> Vec<(f64, f64)> {
    let g = cgcs2000();
    let n = radii.len();
    (0..n)
        .map(|i| {
            let az = 360.0 - (i as f64 + 0.4 * jitter[i]) * 360.0 / n as f64; // counter-clockwise
            let (la, lo): (f64, f64) = g.direct(lat, lon, az, radii[i]);
            (lo, la)
        })
        .collect()
}

fn geodesic_area(ring: &[(f64, f64)]) -> f64 {
    let g = cgcs2000();
    let mut pa = PolygonArea::new(&g, Winding::CounterClockwise);
    for &(lon, lat) in ring {
        pa.add_point(lat, lon);
    }
    pa.compute(true).1.abs()
}

/// Rule set with an area cap (reports the plot area) and a setback from a
/// point layer `pts` whose `d` attribute (metres) is the required distance.
fn review_rules() -> tudi::review::RuleSet {
    let text = r#"
id = "props"
version = "1"
title = "property tests"

[[rule]]
id = "area"
title = "area"
basis = "-"
predicate = "area_cap"
caps = { plain = 1e9 }

[[rule]]
id = "near"
title = "near"
basis = "-"
predicate = "min_distance"
layer = "pts"
distance_field = "d"
"#;
    let lookup = |id: &str| (id == "pts").then(|| vec!["d".to_string()]);
    tudi::review::RuleSet::from_str(Path::new("props.toml"), text, &lookup).unwrap()
}

/// Reviews a lon/lat plot next to one point at (plon, plat) through the
/// public engine; returns (plot area m², reported distance m).
fn review_measures(ring: &[(f64, f64)], point: (f64, f64)) -> (f64, Option<f64>) {
    let (x, y) = lonlat_to_mercator(point.0, point.1);
    let text = "id = \"pts\"\ntitle = \"P\"\ncategory = \"t\"\nsource = \"Cargo.toml\"\n\
                format = \"geojson\"\ncrs = \"EPSG:4326\"\nattributes = [\"d\"]\n";
    let def = LayerDef::from_str(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"),
        text,
    )
    .unwrap();
    let f = NewFeature::new(
        1,
        geo::Point::new(x, y).into(),
        vec![(0, tudi::layer::Value::Float(1e6))],
    )
    .unwrap();
    let layer = Layer::build(
        def,
        1,
        "h".into(),
        GeomKind::Point,
        vec![("d".into(), tudi::layer::FieldType::Number)],
        vec![f],
        vec![],
    )
    .expect("attributes fit");
    let snap = Registry::new(vec![layer]).snapshot();
    let mut coords: Vec<[f64; 2]> = ring.iter().map(|&(a, b)| [a, b]).collect();
    coords.push(coords[0]);
    let body = serde_json::json!({
        "plot": {"type": "Polygon", "coordinates": [coords]},
        "applicant": {"household_id": "H1", "name": "n"},
        "application": {"terrain_class": "plain", "floors": 1, "floor_area_m2": 10, "replaces_parcel": null},
    });
    let req = tudi::review::input::parse_value(&body, None).unwrap();
    let rules = Arc::new(review_rules());
    let v = tudi::review::evaluate(&rules, &snap, &req.input);
    let near = v.findings.iter().find(|f| f.rule == "near").unwrap();
    (v.plot_area_m2, near.measured)
}

/// Scale factor of transverse Mercator at `e` metres from the central
/// meridian (second order; good to 2e-6 relative inside a 3° zone).
fn gk_scale(lat: f64, e: f64) -> f64 {
    let a: f64 = 6_378_137.0;
    let f = 1.0 / 298.257_222_101;
    let e2 = f * (2.0 - f);
    let s = lat.to_radians().sin();
    let w = 1.0 - e2 * s * s;
    let r2 = a * a * (1.0 - e2) / (w * w); // M x N
    1.0 + e * e / (2.0 * r2)
}

fn plot_strategy(
    lon: std::ops::Range<f64>,
    lat: std::ops::Range<f64>,
) -> impl Strategy<Value = (f64, f64, Vec<f64>, Vec<f64>)> {
    (6usize..24).prop_flat_map(move |n| {
        (
            lon.clone(),
            lat.clone(),
            proptest::collection::vec(6.0f64..40.0, n),
            proptest::collection::vec(-1.0f64..1.0, n),
        )
    })
}

proptest! {
    #![proptest_config(config(150))]

    /// In the district (Nanhai, 112.8-113.3°E, 22.8-23.3°N, Gauss-Krüger
    /// CM 114°): the reviewed plot area is the geodesic area within 0.05 %.
    #[test]
    fn review_area_matches_geodesic_in_the_district(
        (lon, lat, radii, jitter) in plot_strategy(112.84..113.26, 22.8..23.3),
    ) {
        let ring = plot_ring(lon, lat, &radii, &jitter);
        let want = geodesic_area(&ring);
        let (area, _) = review_measures(&ring, (lon + 0.01, lat + 0.01));
        prop_assert!((area / want - 1.0).abs() < 5e-4, "area {area} vs geodesic {want}");
    }

    /// In the district: the reported setback distance to a point is the
    /// geodesic distance within 0.05 % (+ 1 mm, the reported rounding). The
    /// plot is convex (vertices on a geodesic circle) and the point lies on
    /// the continuation of the radius through vertex `v`, so `v` is the
    /// plot's nearest point and the geodesic distance is known exactly.
    #[test]
    fn review_distance_matches_geodesic_in_the_district(
        (lon, lat, radii, jitter) in plot_strategy(112.84..113.26, 22.8..23.3),
        v in 0usize..6,
        dist in 0.5f64..400.0,
    ) {
        let r = radii[0];
        let ring = plot_ring(lon, lat, &vec![r; radii.len()], &jitter);
        let n = ring.len();
        let az = 360.0 - (v as f64 + 0.4 * jitter[v]) * 360.0 / n as f64;
        let g = cgcs2000();
        let (_, _, az_v): (f64, f64, f64) = g.direct(lat, lon, az, r);
        let (plat, plon): (f64, f64) = g.direct(ring[v].1, ring[v].0, az_v, dist);
        let (_, measured) = review_measures(&ring, (plon, plat));
        let m = measured.unwrap();
        prop_assert!(
            (m - dist).abs() <= 5e-4 * dist + 1e-3,
            "measured {m} vs geodesic {dist}"
        );
    }

    /// Anywhere in the allow-listed zones (73.5-136.5°E, 18-54°N): the
    /// reviewed area is the geodesic area times k² (k: the Gauss-Krüger
    /// scale factor at the plot, up to 1.0003 at a zone's edge) within
    /// 0.002 %.
    #[test]
    fn review_area_is_geodesic_area_times_scale_squared_in_every_zone(
        (lon, lat, radii, jitter) in plot_strategy(73.6..136.4, 18.0..54.0),
    ) {
        let ring = plot_ring(lon, lat, &radii, &jitter);
        let want = geodesic_area(&ring);
        let (area, _) = review_measures(&ring, (lon + 0.01, lat + 0.01));
        let cm = 3.0 * ((lon + 1.5) / 3.0).floor();
        let (e, _) = lonlat_to_gk(lon, lat, cm);
        let k = gk_scale(lat, e - 500_000.0);
        prop_assert!(
            (area / (want * k * k) - 1.0).abs() < 2e-5,
            "area {area} vs geodesic {want} x k² {}", k * k
        );
    }
}
