//! Test support: synthetic layers built in code around lon 113.0, lat 23.0,
//! laid out in local Gauss-Krüger metres (EPSG:4547, CM 114°E) so that
//! distances and areas are exact by construction, then stored like real
//! layers (EPSG:3857, R-tree).
//!
//! Layout of [`world`] (local metres, origin at lon 113.0 / lat 23.0):
//!
//! | layer | where |
//! |---|---|
//! | village_boundary | x, y in -1000..1000 |
//! | zoning | 可建 x -1000..200; 限建 x 200..300, y 0..100; 禁建 x 300..400, y 0..100; elsewhere uncovered |
//! | roads | national, centreline y = -300, half width 10 m; village road y = -400 |
//! | power_lines | 220 kV x = -600; 20 kV x = -700; 500 kV x = -800 |
//! | rivers / levees | water y 500..540 (protection 12 m); levee y = 600 (protection 30 m) |
//! | farmland | x -200..-100, y 100..200 |
//! | eco_redline | x -400..-350, y 100..200 |
//! | heritage | protection x -200..-150, y -150..-100; control belt x -150..-100, y -150..-100 |
//! | hazard / flood | x 100..150, y -150..-100 / x 100..150, y -220..-170 |
//! | homestead_parcels | H1 registered x 0..10; H2 approved x 20..30; H3 to_return x 40..50 (all y 300..310) |
//! | households | H1, H2, H3 (sold), H4 (no parcel) |

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use geo::{Coord, Geometry, LineString, MapCoords, MultiPolygon, Point, Polygon};

use crate::crs::{gk_to_lonlat, lonlat_to_gk, lonlat_to_mercator};
use crate::layer::registry::Snapshot;
use crate::layer::{FieldType, GeomKind, Layer, LayerDef, NewFeature, Value};
use crate::review::{Applicant, Application, ReviewInput, RuleSet};

pub const LON0: f64 = 113.0;
pub const LAT0: f64 = 23.0;
pub const CM: f64 = 114.0;

/// GK (easting, northing) of the local origin.
pub fn origin() -> (f64, f64) {
    lonlat_to_gk(LON0, LAT0, CM)
}

/// Local metres -> lon/lat.
pub fn ll(x: f64, y: f64) -> Coord {
    let (e0, n0) = origin();
    let (lon, lat) = gk_to_lonlat(e0 + x, n0 + y, CM);
    Coord { x: lon, y: lat }
}

/// A rectangle in local metres as a lon/lat polygon.
pub fn rect(x0: f64, y0: f64, x1: f64, y1: f64) -> Polygon {
    Polygon::new(
        LineString::new(vec![
            ll(x0, y0),
            ll(x1, y0),
            ll(x1, y1),
            ll(x0, y1),
            ll(x0, y0),
        ]),
        vec![],
    )
}

/// A square plot of `area` m² with its lower-left corner at (x, y).
pub fn square(x: f64, y: f64, area: f64) -> MultiPolygon {
    let s = area.sqrt();
    MultiPolygon::new(vec![rect(x, y, x + s, y + s)])
}

/// A line in local metres as a lon/lat line string.
pub fn line(pts: &[(f64, f64)]) -> LineString {
    LineString::new(pts.iter().map(|&(x, y)| ll(x, y)).collect())
}

static NEXT: AtomicU64 = AtomicU64::new(1);

/// A string attribute value.
pub fn s(v: &str) -> Value {
    Value::String(Arc::from(v))
}

/// Builds a layer from lon/lat geometries and attributes.
pub fn layer(id: &str, fields: &[&str], features: Vec<(Geometry, Vec<(&str, Value)>)>) -> Layer {
    let attrs: Vec<String> = fields.iter().map(|f| format!("\"{f}\"")).collect();
    let toml = format!(
        "id = \"{id}\"\ntitle = \"{id}\"\ncategory = \"test\"\nsource = \"Cargo.toml\"\n\
         format = \"geojson\"\ncrs = \"EPSG:4326\"\nattributes = [{}]\n",
        attrs.join(", ")
    );
    let def = LayerDef::from_str(Path::new("Cargo.toml"), &toml).expect("test layer def");
    let mut types: Vec<(String, FieldType)> = fields
        .iter()
        .map(|f| (f.to_string(), FieldType::String))
        .collect();
    let mut kind = GeomKind::Polygon;
    let feats: Vec<NewFeature> = features
        .into_iter()
        .enumerate()
        .map(|(i, (g, props))| {
            kind = GeomKind::of(&g).expect("simple geometry");
            let merc = g.map_coords(|c| {
                let (x, y) = lonlat_to_mercator(c.x, c.y);
                Coord { x, y }
            });
            let props = props
                .into_iter()
                .map(|(name, v)| {
                    let fi = fields
                        .iter()
                        .position(|f| *f == name)
                        .expect("declared field");
                    types[fi].1 = v.field_type();
                    (fi as u16, v)
                })
                .collect();
            NewFeature::new(i as u64 + 1, merc, props).expect("non-empty")
        })
        .collect();
    let hash = format!("t{:015}", NEXT.fetch_add(1, Ordering::Relaxed));
    Layer::build(
        def,
        1,
        hash,
        kind,
        std::mem::take(&mut types),
        feats,
        vec![],
    )
    .expect("attributes fit")
}

fn poly(p: Polygon) -> Geometry {
    Geometry::Polygon(p)
}

/// The synthetic world (see the module docs).
pub fn world_layers() -> Vec<Layer> {
    let parcel = |x: f64, hh: &str, status: &str, n: u32| {
        (
            poly(rect(x, 300.0, x + 10.0, 310.0)),
            vec![
                ("zddm", s(&format!("440605001001JC{n:05}"))),
                ("household_id", s(hh)),
                ("qlr", s("某某")),
                ("zldwdm", s("440605001001")),
                ("zdmj", Value::Float(100.0)),
                ("status", s(status)),
            ],
        )
    };
    let hh = |x: f64, id: &str, t: Option<&str>| {
        let mut p = vec![
            ("household_id", s(id)),
            ("village", s("平地村")),
            ("members", Value::Int(4)),
        ];
        if let Some(t) = t {
            p.push(("transferred", s(t)));
        }
        (Geometry::Point(Point(ll(x, 320.0))), p)
    };
    let zone = |p: Polygon, c: &str| {
        (
            poly(p),
            vec![("zone_class", s(c)), ("plan_id", s("NH-2023-01"))],
        )
    };
    let road = |y: f64, class: &str, hw: f64| {
        (
            Geometry::LineString(line(&[(-1000.0, y), (0.0, y), (1000.0, y)])),
            vec![
                ("road_class", s(class)),
                ("name", s("G321")),
                ("half_width_m", Value::Float(hw)),
            ],
        )
    };
    let power = |x: f64, kv: i64| {
        (
            Geometry::LineString(line(&[(x, -1000.0), (x, 1000.0)])),
            vec![("kv", Value::Int(kv))],
        )
    };
    vec![
        layer(
            "village_boundary",
            &["zldwdm", "version", "doc_no"],
            vec![(
                poly(rect(-1000.0, -1000.0, 1000.0, 1000.0)),
                vec![
                    ("zldwdm", s("440605001001")),
                    ("doc_no", s("南府复〔2021〕1号")),
                ],
            )],
        ),
        layer(
            "zoning",
            &["zone_class", "plan_id", "effective_date"],
            vec![
                zone(rect(-1000.0, -1000.0, 200.0, 1000.0), "可建"),
                zone(rect(200.0, 0.0, 300.0, 100.0), "限建"),
                zone(rect(300.0, 0.0, 400.0, 100.0), "禁建"),
            ],
        ),
        layer(
            "roads",
            &["road_class", "name", "half_width_m"],
            vec![road(-300.0, "national", 10.0), road(-400.0, "village", 3.0)],
        ),
        layer(
            "power_lines",
            &["kv"],
            vec![power(-600.0, 220), power(-700.0, 20), power(-800.0, 500)],
        ),
        layer(
            "rivers",
            &["name", "grade", "width_m", "protection_m"],
            vec![(
                poly(rect(-1000.0, 500.0, 1000.0, 540.0)),
                vec![
                    ("name", s("佛山水道")),
                    ("protection_m", Value::Float(12.0)),
                ],
            )],
        ),
        layer(
            "levees",
            &["name", "protection_m"],
            vec![(
                Geometry::LineString(line(&[(-1000.0, 600.0), (1000.0, 600.0)])),
                vec![("protection_m", Value::Float(30.0))],
            )],
        ),
        layer(
            "farmland",
            &["id", "version", "doc_no"],
            vec![(poly(rect(-200.0, 100.0, -100.0, 200.0)), vec![])],
        ),
        layer(
            "eco_redline",
            &["core"],
            vec![(
                poly(rect(-400.0, 100.0, -350.0, 200.0)),
                vec![("core", Value::Bool(true))],
            )],
        ),
        layer(
            "heritage",
            &["name", "level", "zone", "type"],
            vec![
                (
                    poly(rect(-200.0, -150.0, -150.0, -100.0)),
                    vec![("name", s("康有为故居")), ("zone", s("protection"))],
                ),
                (
                    poly(rect(-150.0, -150.0, -100.0, -100.0)),
                    vec![("name", s("康有为故居")), ("zone", s("control_belt"))],
                ),
            ],
        ),
        layer(
            "hazard",
            &["type", "level"],
            vec![(
                poly(rect(100.0, -150.0, 150.0, -100.0)),
                vec![("type", s("landslide"))],
            )],
        ),
        layer(
            "flood",
            &["level"],
            vec![(
                poly(rect(100.0, -220.0, 150.0, -170.0)),
                vec![("level", s("high"))],
            )],
        ),
        layer(
            "homestead_parcels",
            &[
                "zddm",
                "household_id",
                "qlr",
                "zldwdm",
                "zdmj",
                "jzmj",
                "floors",
                "status",
            ],
            vec![
                parcel(0.0, "H1", "registered", 1),
                parcel(20.0, "H2", "approved", 2),
                parcel(40.0, "H3", "to_return", 3),
            ],
        ),
        layer(
            "households",
            &["household_id", "village", "members", "transferred"],
            vec![
                hh(0.0, "H1", None),
                hh(20.0, "H2", None),
                hh(40.0, "H3", Some("sold")),
                hh(60.0, "H4", None),
            ],
        ),
    ]
}

pub fn snapshot_of(layers: Vec<Layer>) -> Snapshot {
    Snapshot {
        layers: layers
            .into_iter()
            .map(|l| (l.def.id.clone(), Arc::new(l)))
            .collect(),
    }
}

pub fn world() -> Snapshot {
    snapshot_of(world_layers())
}

/// Attribute names of every layer in a snapshot (the `available_layers` of
/// `RuleSet::load`).
pub fn catalog(snap: &Snapshot) -> BTreeMap<String, Vec<String>> {
    snap.layers
        .iter()
        .map(|(id, l)| {
            (
                id.clone(),
                l.fields.iter().map(|(n, _)| n.clone()).collect(),
            )
        })
        .collect()
}

/// `rules/homestead.toml` checked against the world's layers.
pub fn homestead_rules(snap: &Snapshot) -> RuleSet {
    let cat = catalog(snap);
    RuleSet::load(Path::new("rules/homestead.toml"), &|id: &str| {
        cat.get(id).cloned()
    })
    .expect("rules/homestead.toml loads")
}

/// An application by household H4 (registered, no parcel) on plain land.
pub fn input(plot: MultiPolygon) -> ReviewInput {
    ReviewInput {
        plot,
        applicant: Applicant {
            household_id: "H4".into(),
            name: "张三".into(),
        },
        application: Application {
            terrain_class: "plain".into(),
            floors: 3,
            floor_area_m2: 240.0,
            replaces_parcel: None,
        },
    }
}
