//! Running one review end to end, shared by the HTTP API and the CLI:
//! request JSON -> checked input -> verdict -> the record to be audited.

use geo::{Geometry, MultiPolygon};
use serde_json::{Value, json};

use super::district::District;
use super::input::{Problem, parse_value};
use super::record::{self, Record};
use super::rules::RuleSet;
use super::verdict::Outcome;
use crate::crs::mercator_to_lonlat;
use crate::layer::registry::Snapshot;

/// Id of the layer whose polygons bound the district (plots outside it
/// are refused).
pub const DISTRICT_LAYER: &str = "district_boundary";

/// The district boundary in lon/lat, from the loaded boundary layer.
pub fn district_lonlat(snap: &Snapshot) -> Option<District> {
    let layer = snap.get(DISTRICT_LAYER)?;
    let mut polys = Vec::new();
    for f in &layer.features {
        let mut g = layer.geometry(f);
        use geo::MapCoordsInPlace;
        g.map_coords_in_place(|c| {
            let (x, y) = mercator_to_lonlat(c.x, c.y);
            geo::Coord { x, y }
        });
        match g {
            Geometry::Polygon(p) => polys.push(p),
            Geometry::MultiPolygon(mp) => polys.extend(mp.0),
            _ => {}
        }
    }
    (!polys.is_empty()).then(|| District::new(MultiPolygon::new(polys)))
}

/// A finished review, in the forms the callers need (made on the
/// evaluating thread, so the audit writer and the response only copy).
pub struct Reviewed {
    pub id: String,
    pub outcome: Outcome,
    /// The record's canonical JSON, to append to the audit trail.
    pub body: String,
    /// The API view without its chain fields ([`record::finish_view`]).
    pub view: Vec<u8>,
}

/// Reviews one request (the `POST /api/reviews` body shape).
pub fn review(
    rules: &RuleSet,
    snap: &Snapshot,
    district: Option<&District>,
    raw: Value,
    rerun_of: Option<String>,
) -> Result<Reviewed, Vec<Problem>> {
    let req = parse_value(&raw, district)?;
    let verdict = super::evaluate(rules, snap, &req.input);
    let rec = Record::new(
        record::input_value(raw),
        req.input_crs.epsg(),
        req.input.plot,
        verdict,
        rerun_of,
    );
    let (body, view) = rec.encode(Some(rules));
    Ok(Reviewed {
        body,
        view,
        outcome: rec.outcome(),
        id: rec.id,
    })
}

/// Turns one feature of a batch FeatureCollection into a request (moving
/// its parts): the geometry is the plot; `applicant`, `application` and an
/// optional `crs` come from the properties (the collection's `crs` member
/// applies when a feature has none).
pub fn feature_request(collection_crs: Option<&Value>, mut feature: Value) -> Value {
    let mut props = feature
        .get_mut("properties")
        .map(Value::take)
        .unwrap_or(Value::Null);
    let mut take = |k: &str| props.get_mut(k).map(Value::take).unwrap_or(Value::Null);
    let crs = match take("crs") {
        Value::Null => collection_crs.cloned().unwrap_or(Value::Null),
        c => c,
    };
    json!({
        "plot": feature.get_mut("geometry").map(Value::take).unwrap_or(Value::Null),
        "crs": crs,
        "applicant": take("applicant"),
        "application": take("application"),
    })
}

/// The `crs` member of a FeatureCollection, as a plain EPSG string when
/// given in the old GeoJSON `{"type":"name","properties":{"name":..}}` form.
pub fn collection_crs(fc: &Value) -> Option<Value> {
    match fc.get("crs")? {
        Value::String(s) => Some(Value::String(s.clone())),
        Value::Object(o) => o.get("properties").and_then(|p| p.get("name")).cloned(),
        _ => None,
    }
}
