//! Tests of the tile pipeline. Output is always decoded twice: with the
//! independent `mvt-reader` crate (ids, attributes, geometry validity via
//! geo's `Validation`) and with a raw command decoder here (ring winding,
//! coordinate range, command sanity).

#![allow(clippy::unwrap_used)]

mod attrs;
mod budget;
mod labels;
mod perf;
mod polygons;
mod render;

use std::collections::HashMap;
use std::path::Path;

use geo::{Coord, Geometry, LineString, MultiPolygon, Polygon, Rect, Validation};
use geozero::mvt::{Message, Tile};

use crate::layer::{FieldType, GeomKind, Layer, LayerDef, NewFeature, Value};
use crate::tiles::TileCoord;

/// A layer definition; `extra` is appended TOML (`drop_small = false`, ...).
pub fn def(id: &str, extra: &str) -> LayerDef {
    let text = format!(
        "id = \"{id}\"\ntitle = \"Test\"\ncategory = \"test\"\nsource = \"Cargo.toml\"\n\
         format = \"geojson\"\ncrs = \"EPSG:4326\"\n{extra}\n"
    );
    LayerDef::from_str(Path::new("Cargo.toml"), &text).unwrap()
}

pub fn layer(id: &str, extra: &str, kind: GeomKind, features: Vec<NewFeature>) -> Layer {
    let fields = vec![
        ("name".to_string(), FieldType::String),
        ("count".to_string(), FieldType::Number),
        ("ratio".to_string(), FieldType::Number),
        ("ok".to_string(), FieldType::Boolean),
    ];
    Layer::build(
        def(id, extra),
        1,
        "hash".into(),
        kind,
        fields,
        features,
        vec![],
    )
    .expect("attributes fit")
}

pub fn feature(id: u64, g: impl Into<Geometry>) -> NewFeature {
    NewFeature::new(id, g.into(), vec![]).unwrap()
}

/// Tile-unit coordinates of one tile <-> EPSG:3857, to place test shapes.
pub struct Frame {
    b: Rect,
    unit: f64,
}

impl Frame {
    pub fn new(t: TileCoord) -> Frame {
        Frame::with_extent(t, 4096.0)
    }

    pub fn with_extent(t: TileCoord, extent: f64) -> Frame {
        let b = t.bounds();
        Frame {
            b,
            unit: b.width() / extent,
        }
    }

    /// Tile units (x right, y down) -> EPSG:3857.
    pub fn at(&self, u: f64, v: f64) -> Coord {
        Coord {
            x: self.b.min().x + u * self.unit,
            y: self.b.max().y - v * self.unit,
        }
    }

    pub fn ring(&self, pts: &[(f64, f64)]) -> LineString {
        LineString::new(pts.iter().map(|&(u, v)| self.at(u, v)).collect())
    }

    pub fn poly(&self, pts: &[(f64, f64)]) -> Polygon {
        Polygon::new(self.ring(pts), vec![])
    }

    /// An axis-aligned rectangle in tile units.
    pub fn rect(&self, u0: f64, v0: f64, u1: f64, v1: f64) -> Polygon {
        self.poly(&[(u0, v0), (u1, v0), (u1, v1), (u0, v1)])
    }
}

/// One feature as decoded by the raw command decoder.
#[derive(Debug, Clone)]
pub struct RawFeature {
    pub id: Option<u64>,
    pub kind: i32,
    /// Polygon rings (open) or line strings or the points.
    pub parts: Vec<Vec<(i32, i32)>>,
}

#[derive(Debug, Clone)]
pub struct RawLayer {
    pub name: String,
    pub version: u32,
    pub extent: u32,
    pub features: Vec<RawFeature>,
}

/// Decodes the command streams of every feature, checking command sanity
/// (counts, ClosePath only after a ring of >= 3 points, no zero-length LineTo).
pub fn raw_decode(bytes: &[u8]) -> Vec<RawLayer> {
    let tile = Tile::decode(bytes).unwrap();
    tile.layers
        .iter()
        .map(|l| RawLayer {
            name: l.name.clone(),
            version: l.version,
            extent: l.extent.unwrap_or(4096),
            features: l
                .features
                .iter()
                .map(|f| RawFeature {
                    id: f.id,
                    kind: f.r#type.unwrap_or(0),
                    parts: decode_commands(&f.geometry, f.r#type.unwrap_or(0)),
                })
                .collect(),
        })
        .collect()
}

fn decode_commands(g: &[u32], kind: i32) -> Vec<Vec<(i32, i32)>> {
    let mut parts: Vec<Vec<(i32, i32)>> = Vec::new();
    let (mut x, mut y) = (0i32, 0i32);
    let mut i = 0;
    while i < g.len() {
        let (id, count) = (g[i] & 7, (g[i] >> 3) as usize);
        i += 1;
        match id {
            1 | 2 => {
                assert!(count > 0, "zero-count command");
                if id == 1 {
                    if kind != 1 {
                        assert_eq!(count, 1, "MoveTo count must be 1 for lines/polygons");
                    }
                    if kind != 1 || parts.is_empty() {
                        parts.push(Vec::new());
                    }
                }
                for _ in 0..count {
                    let dx = ((g[i] >> 1) as i32) ^ -((g[i] & 1) as i32);
                    let dy = ((g[i + 1] >> 1) as i32) ^ -((g[i + 1] & 1) as i32);
                    i += 2;
                    if id == 2 {
                        assert!(dx != 0 || dy != 0, "zero-length LineTo");
                    }
                    x += dx;
                    y += dy;
                    parts.last_mut().unwrap().push((x, y));
                }
            }
            7 => {
                assert_eq!(count, 1);
                assert_eq!(kind, 3, "ClosePath outside a polygon");
                assert!(parts.last().unwrap().len() >= 3, "ring under 3 points");
            }
            _ => panic!("unknown command {id}"),
        }
    }
    parts
}

/// Twice the signed area of an open ring (surveyor's formula, y down).
pub fn area2(r: &[(i32, i32)]) -> i64 {
    let mut s = 0i64;
    for i in 0..r.len() {
        let (a, b) = (r[i], r[(i + 1) % r.len()]);
        s += i64::from(a.0) * i64::from(b.1) - i64::from(b.0) * i64::from(a.1);
    }
    s
}

/// Checks every feature of a tile: coordinates within [-buffer,
/// extent+buffer]; polygons start with a positive (exterior) ring and have
/// no zero-area ring; mvt-reader decodes the same ids and every polygon is
/// valid by geo's `Validation`. Returns the mvt-reader features per layer.
pub fn check_tile(bytes: &[u8], buffer: i32) -> Vec<Vec<mvt_reader::feature::Feature<f64>>> {
    let raw = raw_decode(bytes);
    let reader = mvt_reader::Reader::new(bytes.to_vec()).unwrap();
    let names = reader.get_layer_names().unwrap();
    assert_eq!(
        names,
        raw.iter().map(|l| l.name.clone()).collect::<Vec<_>>()
    );
    let mut out = Vec::new();
    for (li, l) in raw.iter().enumerate() {
        assert_eq!(l.version, 2);
        let (lo, hi) = (-buffer, l.extent as i32 + buffer);
        let decoded = reader.get_features_as::<f64>(li).unwrap();
        assert_eq!(decoded.len(), l.features.len());
        for (f, d) in l.features.iter().zip(&decoded) {
            assert_eq!(f.id, d.id);
            assert!(!f.parts.is_empty(), "feature {:?} without geometry", f.id);
            for part in &f.parts {
                for &(x, y) in part {
                    assert!(
                        (lo..=hi).contains(&x) && (lo..=hi).contains(&y),
                        "feature {:?}: ({x}, {y}) outside [{lo}, {hi}]",
                        f.id
                    );
                }
            }
            if f.kind == 3 {
                assert!(
                    area2(&f.parts[0]) > 0,
                    "feature {:?}: first ring is not exterior",
                    f.id
                );
                for r in &f.parts {
                    assert_ne!(area2(r), 0, "feature {:?}: zero-area ring", f.id);
                }
                let mp: MultiPolygon = match &d.geometry {
                    Geometry::MultiPolygon(mp) => mp.clone(),
                    Geometry::Polygon(p) => MultiPolygon::new(vec![p.clone()]),
                    g => panic!("polygon decoded as {g:?}"),
                };
                if !mp.is_valid() {
                    for (i, p) in mp.0.iter().enumerate() {
                        eprintln!("POLY {i}: valid={} {:?}", p.is_valid(), p);
                    }
                }
                assert!(
                    mp.is_valid(),
                    "feature {:?} invalid: {:?}\n{:?}",
                    f.id,
                    mp.validation_errors(),
                    f.parts
                );
            }
            if f.kind == 2 {
                for line in &f.parts {
                    assert!(line.len() >= 2);
                }
            }
        }
        out.push(decoded);
    }
    out
}

/// Area of a decoded polygon feature (tile units²).
pub fn decoded_area(f: &mvt_reader::feature::Feature<f64>) -> f64 {
    use geo::Area;
    f.geometry.unsigned_area()
}

/// Properties of a decoded feature.
pub fn props(f: &mvt_reader::feature::Feature<f64>) -> HashMap<String, mvt_reader::feature::Value> {
    f.properties.clone().unwrap_or_default()
}

/// Deterministic pseudo-random numbers in [0, 1) (xorshift64*).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Small quadrilateral plots of `size` tile units on a jittered grid,
/// `n` per side, starting at `origin`, spaced `step` units (all in tile units of `frame`).
pub fn plots(
    frame: &Frame,
    n: usize,
    origin: f64,
    step: f64,
    size: f64,
    seed: u64,
) -> Vec<NewFeature> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(n * n);
    for i in 0..n {
        for j in 0..n {
            let (u, v) = (origin + i as f64 * step, origin + j as f64 * step);
            let mut j4 = || (rng.next() - 0.5) * size * 0.2;
            let p = frame.poly(&[
                (u + j4(), v + j4()),
                (u + size + j4(), v + j4()),
                (u + size + j4(), v + size + j4()),
                (u + j4(), v + size + j4()),
            ]);
            let props = vec![
                (0u16, Value::String(format!("plot-{}", i % 7).into())),
                (1u16, Value::Int((i * n + j) as i64)),
            ];
            out.push(NewFeature::new((i * n + j) as u64 + 1, p.into(), props).unwrap());
        }
    }
    out
}
