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

/// Which rule set gave the verdict. Fields in canonical (key) order: the
/// audit record is serialized straight from these types.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleSetRef {
    /// SHA-256 (hex) of the rule file's bytes.
    pub hash: String,
    pub id: String,
    pub version: String,
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

/// The result of one rule. Serializes with its rule's `title` and `basis`;
/// [`Finding::without_texts`] leaves them out (the audit record, which
/// refers to the rule set instead).
#[derive(Debug, Clone)]
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
    /// floor area); empty for single-value rules (and then not serialized).
    pub checks: Vec<Check>,
    /// Legal basis.
    pub basis: String,
    /// Chinese and English, with the numbers.
    pub message: String,
    /// Geometries to draw (lon/lat, GeoJSON): overlap areas, the part of the
    /// plot outside a boundary, the line between nearest points.
    pub conflicts: Vec<Geometry<f64>>,
}

impl Finding {
    /// This finding serialized without `title` and `basis`.
    pub fn without_texts(&self) -> impl Serialize + '_ {
        FindingSer {
            f: self,
            texts: false,
        }
    }
}

struct FindingSer<'a> {
    f: &'a Finding,
    texts: bool,
}

impl Serialize for Finding {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        FindingSer {
            f: self,
            texts: true,
        }
        .serialize(s)
    }
}

impl Serialize for FindingSer<'_> {
    /// Keys in canonical order.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let f = self.f;
        let mut st = s.serialize_struct("Finding", 11)?;
        if self.texts {
            st.serialize_field("basis", &f.basis)?;
        }
        if !f.checks.is_empty() {
            st.serialize_field("checks", &f.checks)?;
        }
        st.serialize_field("conflicts", &Geometries(&f.conflicts))?;
        st.serialize_field("features", &f.features)?;
        st.serialize_field("measured", &f.measured)?;
        st.serialize_field("message", &f.message)?;
        st.serialize_field("rule", &f.rule)?;
        st.serialize_field("status", &f.status)?;
        st.serialize_field("threshold", &f.threshold)?;
        if self.texts {
            st.serialize_field("title", &f.title)?;
        }
        st.serialize_field("unit", f.unit)?;
        st.end()
    }
}

/// One comparison inside a multi-value rule (fields in key order).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// `<=` or `<`.
    pub comparison: &'static str,
    pub field: String,
    pub measured: f64,
    pub status: Outcome,
    pub threshold: f64,
    pub unit: &'static str,
}

/// A feature a finding refers to (fields in key order).
#[derive(Debug, Clone, Serialize)]
pub struct FeatureRef {
    /// The attributes the rule used or reports (e.g. `zddm`, `road_class`, `kv`).
    pub attributes: BTreeMap<String, serde_json::Value>,
    /// Distance in metres (for setbacks: from the protected edge).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distance_m: Option<f64>,
    pub id: u64,
    pub layer: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overlap_m2: Option<f64>,
    /// Overlap area divided by the plot area.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overlap_ratio: Option<f64>,
    /// The setback this feature requires, metres.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required_m: Option<f64>,
    /// What this feature alone makes of the rule.
    pub status: Outcome,
}

/// Geometries as GeoJSON geometry objects, coordinates rounded to 1e-9°
/// (about 0.1 mm).
struct Geometries<'a>(&'a [Geometry<f64>]);

impl Serialize for Geometries<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|g| GeoJson { g, round: true }))
    }
}

/// A geometry as a GeoJSON geometry object written straight to the
/// serializer (keys in canonical order), its coordinates rounded to 1e-9°
/// when `round`.
pub struct GeoJson<'a> {
    pub g: &'a Geometry<f64>,
    pub round: bool,
}

/// A multipolygon as a GeoJSON geometry object, coordinates as they are.
pub struct GeoJsonMultiPolygon<'a>(pub &'a MultiPolygon<f64>);

impl Serialize for GeoJsonMultiPolygon<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Geometry", 2)?;
        st.serialize_field("coordinates", &Polys(&self.0.0, false))?;
        st.serialize_field("type", "MultiPolygon")?;
        st.end()
    }
}

#[derive(Clone, Copy)]
struct Pt(geo::Coord<f64>, bool);
struct Pts<'a>(&'a [geo::Coord<f64>], bool);
struct Lines<'a>(&'a [geo::LineString<f64>], bool);
struct Poly<'a>(&'a geo::Polygon<f64>, bool);
struct Polys<'a>(&'a [geo::Polygon<f64>], bool);

impl Serialize for Pt {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = |v: f64| if self.1 { (v * 1e9).round() / 1e9 } else { v };
        [r(self.0.x), r(self.0.y)].serialize(s)
    }
}

impl Serialize for Pts<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|c| Pt(*c, self.1)))
    }
}

impl Serialize for Lines<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|l| Pts(&l.0, self.1)))
    }
}

impl Serialize for Poly<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let p = self.0;
        s.collect_seq(
            std::iter::once(p.exterior())
                .chain(p.interiors())
                .map(|l| Pts(&l.0, self.1)),
        )
    }
}

impl Serialize for Polys<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|p| Poly(p, self.1)))
    }
}

impl Serialize for GeoJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let round = self.round;
        let mut st = s.serialize_struct("Geometry", 2)?;
        let kind = match self.g {
            Geometry::Point(p) => {
                st.serialize_field("coordinates", &Pt(p.0, round))?;
                "Point"
            }
            Geometry::MultiPoint(m) => {
                let cs: Vec<geo::Coord<f64>> = m.iter().map(|p| p.0).collect();
                st.serialize_field("coordinates", &Pts(&cs, round))?;
                "MultiPoint"
            }
            Geometry::Line(l) => {
                st.serialize_field("coordinates", &Pts(&[l.start, l.end], round))?;
                "LineString"
            }
            Geometry::LineString(l) => {
                st.serialize_field("coordinates", &Pts(&l.0, round))?;
                "LineString"
            }
            Geometry::MultiLineString(m) => {
                st.serialize_field("coordinates", &Lines(&m.0, round))?;
                "MultiLineString"
            }
            Geometry::Polygon(p) => {
                st.serialize_field("coordinates", &Poly(p, round))?;
                "Polygon"
            }
            Geometry::MultiPolygon(m) => {
                st.serialize_field("coordinates", &Polys(&m.0, round))?;
                "MultiPolygon"
            }
            Geometry::Rect(r) => {
                st.serialize_field("coordinates", &Poly(&r.to_polygon(), round))?;
                "Polygon"
            }
            Geometry::Triangle(t) => {
                st.serialize_field("coordinates", &Poly(&t.to_polygon(), round))?;
                "Polygon"
            }
            Geometry::GeometryCollection(gc) => {
                let gs: Vec<GeoJson<'_>> = gc.iter().map(|g| GeoJson { g, round }).collect();
                st.serialize_field("geometries", &gs)?;
                "GeometryCollection"
            }
        };
        st.serialize_field("type", kind)?;
        st.end()
    }
}

/// A geometry as a GeoJSON geometry object (coordinates rounded to 1e-9°,
/// about 0.1 mm).
pub fn geojson_geometry(g: &Geometry<f64>) -> serde_json::Value {
    serde_json::to_value(GeoJson { g, round: true }).unwrap_or(serde_json::Value::Null)
}
