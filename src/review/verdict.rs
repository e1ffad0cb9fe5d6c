//! What a review takes ([`ReviewInput`]) and gives ([`Verdict`]).
//!
//! A verdict is a plain value: every rule of the rule set gives one
//! [`Finding`] (in rule-file order), whatever happened while evaluating it.
//! A layer that is missing makes its rule [`Outcome::Manual`], never `Pass`.
//! Geometries in findings (`conflicts`) are in lon/lat degrees and serialize
//! as GeoJSON geometry objects, ready for a map.

use std::collections::BTreeMap;

use geo::{Geometry, MultiPolygon};
use serde::{Serialize, Serializer};

/// The status of one rule, and the outcome of a whole review. Ordered from
/// best to worst, so the worst of several is their `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    /// A person has to decide (restricted zone, missing data, ...).
    Manual,
    Fail,
}

impl Outcome {
    /// `pass`, `manual`, `fail`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Manual => "manual",
            Outcome::Fail => "fail",
        }
    }

    /// Parses `pass`, `manual`, `fail`.
    pub fn parse(s: &str) -> Option<Outcome> {
        match s {
            "pass" => Some(Outcome::Pass),
            "manual" => Some(Outcome::Manual),
            "fail" => Some(Outcome::Fail),
            _ => None,
        }
    }

    /// Chinese label used in messages.
    pub fn zh(self) -> &'static str {
        match self {
            Outcome::Pass => "通过",
            Outcome::Manual => "需人工审核",
            Outcome::Fail => "不通过",
        }
    }

    /// The overall outcome of several rule statuses: `fail` if any fails,
    /// else `manual` if any needs a person, else `pass` (also for none).
    pub fn combine(statuses: impl IntoIterator<Item = Outcome>) -> Outcome {
        statuses.into_iter().max().unwrap_or(Outcome::Pass)
    }
}

/// The person applying.
#[derive(Debug, Clone, Serialize)]
pub struct Applicant {
    pub household_id: String,
    pub name: String,
}

/// What the application declares.
#[derive(Debug, Clone, Serialize)]
pub struct Application {
    /// `plain`, `urban_suburb`, `hilly`, `mountainous` (the keys of the
    /// `area_cap` rule's `caps`).
    pub terrain_class: String,
    pub floors: u32,
    pub floor_area_m2: f64,
    /// The parcel (its `zddm`) this application demolishes and returns
    /// (建新拆旧), if any.
    pub replaces_parcel: Option<String>,
}

/// One review request. The plot is in lon/lat degrees (CGCS2000 ≈ WGS84),
/// already converted from the submitted CRS and validated by the caller.
#[derive(Debug, Clone)]
pub struct ReviewInput {
    pub plot: MultiPolygon<f64>,
    pub applicant: Applicant,
    pub application: Application,
}

/// Which rule set gave the verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleSetRef {
    pub id: String,
    pub version: String,
    /// SHA-256 (hex) of the rule file's bytes.
    pub hash: String,
}

/// The result of reviewing one plot.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub outcome: Outcome,
    pub rule_set: RuleSetRef,
    /// Plot area in m², measured in `crs`.
    pub plot_area_m2: f64,
    /// The CRS the plot was measured in, e.g. `EPSG:4547`.
    pub crs: String,
    /// One per rule, in rule-file order.
    pub findings: Vec<Finding>,
    /// Every layer a rule consulted -> its version tag (`version.hash`), or
    /// `missing` when the layer was not loaded.
    pub layers: BTreeMap<String, String>,
    /// Evaluation time in microseconds.
    pub timing_us: u64,
}

/// The result of one rule.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub rule: String,
    pub title: String,
    pub status: Outcome,
    /// The decisive measured value (area, distance, count, floors, ...).
    pub measured: Option<f64>,
    /// The threshold it was compared with.
    pub threshold: Option<f64>,
    /// Unit of `measured` and `threshold`: `m2`, `m`, `floors`, `count`, ...
    pub unit: &'static str,
    /// Offending (or, when none offend, the nearest) features.
    pub features: Vec<FeatureRef>,
    /// Each comparison of a rule that checks several values (e.g. floors and
    /// floor area); empty for single-value rules.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<Check>,
    /// Legal basis.
    pub basis: String,
    /// Chinese and English, with the numbers.
    pub message: String,
    /// Geometries to draw (lon/lat, GeoJSON): overlap areas, the part of the
    /// plot outside a boundary, the line between nearest points.
    #[serde(serialize_with = "ser_geometries")]
    pub conflicts: Vec<Geometry<f64>>,
}

/// One comparison inside a multi-value rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    pub field: String,
    pub status: Outcome,
    pub measured: f64,
    pub threshold: f64,
    /// `<=` or `<`.
    pub comparison: &'static str,
    pub unit: &'static str,
}

/// A feature a finding refers to.
#[derive(Debug, Clone, Serialize)]
pub struct FeatureRef {
    pub layer: String,
    pub id: u64,
    /// The attributes the rule used or reports (e.g. `zddm`, `road_class`, `kv`).
    pub attributes: BTreeMap<String, serde_json::Value>,
    /// What this feature alone makes of the rule.
    pub status: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overlap_m2: Option<f64>,
    /// Overlap area divided by the plot area.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overlap_ratio: Option<f64>,
    /// Distance in metres (for setbacks: from the protected edge).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distance_m: Option<f64>,
    /// The setback this feature requires, metres.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required_m: Option<f64>,
}

fn ser_geometries<S: Serializer>(gs: &[Geometry<f64>], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = s.serialize_seq(Some(gs.len()))?;
    for g in gs {
        seq.serialize_element(&geojson_geometry(g))?;
    }
    seq.end()
}

/// A geometry as a GeoJSON geometry object (coordinates rounded to 1e-9°,
/// about 0.1 mm).
pub fn geojson_geometry(g: &Geometry<f64>) -> serde_json::Value {
    use serde_json::json;
    fn c(c: &geo::Coord<f64>) -> serde_json::Value {
        let r = |v: f64| (v * 1e9).round() / 1e9;
        json!([r(c.x), r(c.y)])
    }
    fn ls(l: &geo::LineString<f64>) -> serde_json::Value {
        serde_json::Value::Array(l.0.iter().map(c).collect())
    }
    fn poly(p: &geo::Polygon<f64>) -> serde_json::Value {
        let mut rings = vec![ls(p.exterior())];
        rings.extend(p.interiors().iter().map(ls));
        serde_json::Value::Array(rings)
    }
    match g {
        Geometry::Point(p) => json!({"type": "Point", "coordinates": c(&p.0)}),
        Geometry::MultiPoint(m) => {
            let cs: Vec<_> = m.iter().map(|p| c(&p.0)).collect();
            json!({"type": "MultiPoint", "coordinates": cs})
        }
        Geometry::Line(l) => {
            json!({"type": "LineString", "coordinates": [c(&l.start), c(&l.end)]})
        }
        Geometry::LineString(l) => json!({"type": "LineString", "coordinates": ls(l)}),
        Geometry::MultiLineString(m) => {
            let cs: Vec<_> = m.iter().map(ls).collect();
            json!({"type": "MultiLineString", "coordinates": cs})
        }
        Geometry::Polygon(p) => json!({"type": "Polygon", "coordinates": poly(p)}),
        Geometry::MultiPolygon(m) => {
            let cs: Vec<_> = m.iter().map(poly).collect();
            json!({"type": "MultiPolygon", "coordinates": cs})
        }
        Geometry::Rect(r) => geojson_geometry(&Geometry::Polygon(r.to_polygon())),
        Geometry::Triangle(t) => geojson_geometry(&Geometry::Polygon(t.to_polygon())),
        Geometry::GeometryCollection(gc) => {
            let gs: Vec<_> = gc.iter().map(geojson_geometry).collect();
            json!({"type": "GeometryCollection", "geometries": gs})
        }
    }
}
