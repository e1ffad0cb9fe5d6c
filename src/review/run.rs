//! Running one review end to end, shared by the HTTP API and the CLI:
//! request JSON -> checked input -> verdict -> the record to be audited.

use geo::{Geometry, MultiPolygon};
use serde_json::{Value, json};

use super::district::District;
use super::input::{Problem, parse_value};
use super::record;
use super::rules::RuleSet;
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
        let mut g = f.geometry.clone();
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

/// A finished review: its id and the record to append to the audit trail.
pub struct Reviewed {
    pub id: String,
    pub record: Value,
}

/// Reviews one request (the `POST /api/reviews` body shape).
pub fn review(
    rules: &RuleSet,
    snap: &Snapshot,
    district: Option<&District>,
    raw: &Value,
    rerun_of: Option<&str>,
) -> Result<Reviewed, Vec<Problem>> {
    let req = parse_value(raw, district)?;
    let verdict = super::evaluate(rules, snap, &req.input);
    let id = record::new_id();
    let created = record::now_rfc3339();
    let body = record::build(
        &id,
        &created,
        record::input_value(raw),
        &req,
        &verdict,
        rerun_of,
    );
    Ok(Reviewed { id, record: body })
}

/// Turns one feature of a batch FeatureCollection into a request: the
/// geometry is the plot; `applicant`, `application` and an optional `crs`
/// come from the properties (the collection's `crs` member applies when a
/// feature has none).
pub fn feature_request(collection_crs: Option<&Value>, feature: &Value) -> Value {
    let props = &feature["properties"];
    let crs = props
        .get("crs")
        .filter(|c| !c.is_null())
        .or(collection_crs)
        .cloned()
        .unwrap_or(Value::Null);
    json!({
        "plot": feature.get("geometry").cloned().unwrap_or(Value::Null),
        "crs": crs,
        "applicant": props.get("applicant").cloned().unwrap_or(Value::Null),
        "application": props.get("application").cloned().unwrap_or(Value::Null),
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
