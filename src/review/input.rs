//! Parsing and checking a review request body. Every problem is collected
//! (not only the first) and reported together as a `422`.

use geo::algorithm::Validation;
use geo::{Area, BoundingRect, CoordsIter, LineString, MultiPolygon, Polygon};
use serde::Serialize;
use serde_json::Value;

use super::district::District;
use super::verdict::{Applicant, Application, ReviewInput};
use crate::crs::{AxisOrder, Crs, Transformer};

/// Most vertices a plot may have.
pub const MAX_PLOT_VERTICES: usize = 2_000;

/// One problem with the request, located by a JSON path.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Problem {
    pub field: String,
    pub message: String,
}

fn problem(field: &str, message: impl Into<String>) -> Problem {
    Problem {
        field: field.to_string(),
        message: message.into(),
    }
}

/// A checked review request: the engine's input plus the CRS it came in.
#[derive(Debug, Clone)]
pub struct ReviewRequest {
    pub input: ReviewInput,
    pub input_crs: Crs,
}

/// Accepted terrain classes (GUIDE section 2, area caps).
pub const TERRAIN_CLASSES: &[&str] = &["plain", "urban_suburb", "hilly", "mountainous"];

/// Parses a request body. `district` is the district boundary in lon/lat
/// (when loaded) that a plot must lie inside.
pub fn parse(body: &[u8], district: Option<&District>) -> Result<ReviewRequest, Vec<Problem>> {
    let v: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return Err(vec![problem("", format!("malformed JSON: {e}"))]),
    };
    parse_value(&v, district)
}

/// Parses an already decoded request (also used for batch features).
pub fn parse_value(v: &Value, district: Option<&District>) -> Result<ReviewRequest, Vec<Problem>> {
    let mut problems = Vec::new();
    if !v.is_object() {
        return Err(vec![problem("", "the request must be a JSON object")]);
    }
    let input_crs = match v.get("crs") {
        None | Some(Value::Null) => Crs::Wgs84,
        Some(Value::String(s)) => match Crs::parse(s) {
            Ok(c) => c,
            Err(e) => {
                problems.push(problem("crs", e.to_string()));
                Crs::Wgs84
            }
        },
        Some(_) => {
            problems.push(problem("crs", "must be a string such as \"EPSG:4547\""));
            Crs::Wgs84
        }
    };
    let plot = match v.get("plot") {
        None | Some(Value::Null) => {
            problems.push(problem(
                "plot",
                "missing: a GeoJSON Polygon or MultiPolygon is required",
            ));
            None
        }
        Some(p) => parse_plot(p, input_crs, district, &mut problems),
    };
    let applicant = v.get("applicant");
    let household_id = str_field(applicant, "applicant.household_id", true, &mut problems);
    let name = str_field(applicant, "applicant.name", false, &mut problems);
    let app = v.get("application");
    if app.is_none_or(|a| !a.is_object()) {
        problems.push(problem(
            "application",
            "missing: an object with terrain_class, floors, floor_area_m2",
        ));
    }
    let terrain_class = str_field(app, "application.terrain_class", true, &mut problems);
    if !terrain_class.is_empty() && !TERRAIN_CLASSES.contains(&terrain_class.as_str()) {
        problems.push(problem(
            "application.terrain_class",
            format!(
                "`{}` is not one of {}",
                truncate(&terrain_class),
                TERRAIN_CLASSES.join(", ")
            ),
        ));
    }
    let floors = match app.and_then(|a| a.get("floors")) {
        Some(Value::Number(n)) => match n.as_u64() {
            Some(f) if (1..=100).contains(&f) => f as u32,
            _ => {
                problems.push(problem(
                    "application.floors",
                    "must be a whole number from 1 to 100",
                ));
                0
            }
        },
        _ => {
            problems.push(problem("application.floors", "missing or not a number"));
            0
        }
    };
    let floor_area_m2 = match app
        .and_then(|a| a.get("floor_area_m2"))
        .and_then(Value::as_f64)
    {
        Some(a) if a.is_finite() && (0.0..1.0e6).contains(&a) => a,
        Some(_) => {
            problems.push(problem(
                "application.floor_area_m2",
                "must be between 0 and 1,000,000",
            ));
            0.0
        }
        None => {
            problems.push(problem(
                "application.floor_area_m2",
                "missing or not a number",
            ));
            0.0
        }
    };
    let replaces_parcel = match app.and_then(|a| a.get("replaces_parcel")) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.is_empty() && s.len() <= 64 => Some(s.clone()),
        Some(_) => {
            problems.push(problem(
                "application.replaces_parcel",
                "must be null or a parcel code (zddm)",
            ));
            None
        }
    };
    match (plot, problems.is_empty()) {
        (Some(plot), true) => Ok(ReviewRequest {
            input: ReviewInput {
                plot,
                applicant: Applicant { household_id, name },
                application: Application {
                    terrain_class,
                    floors,
                    floor_area_m2,
                    replaces_parcel,
                },
            },
            input_crs,
        }),
        _ => Err(problems),
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(60).collect()
}

fn str_field(
    obj: Option<&Value>,
    path: &str,
    required: bool,
    problems: &mut Vec<Problem>,
) -> String {
    let key = path.rsplit('.').next().unwrap_or(path);
    match obj.and_then(|o| o.get(key)) {
        Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 200 => s.clone(),
        Some(Value::String(_)) if required => {
            problems.push(problem(
                path,
                "must be a non-empty string of at most 200 bytes",
            ));
            String::new()
        }
        None | Some(Value::Null) if required => {
            problems.push(problem(path, "missing"));
            String::new()
        }
        None | Some(Value::Null) | Some(Value::String(_)) => String::new(),
        Some(_) => {
            problems.push(problem(path, "must be a string"));
            String::new()
        }
    }
}

fn parse_plot(
    p: &Value,
    crs: Crs,
    district: Option<&District>,
    problems: &mut Vec<Problem>,
) -> Option<MultiPolygon> {
    // Accept a Feature wrapper.
    let geom = match p.get("type").and_then(Value::as_str) {
        Some("Feature") => p.get("geometry").unwrap_or(&Value::Null),
        _ => p,
    };
    let kind = geom.get("type").and_then(Value::as_str).unwrap_or("");
    let coords = geom.get("coordinates");
    let mut vertex_count = 0usize;
    let polys: Vec<Polygon> = match (kind, coords) {
        ("Polygon", Some(c)) => match parse_polygon(c, &mut vertex_count) {
            Ok(p) => vec![p],
            Err(m) => {
                problems.push(problem("plot.coordinates", m));
                return None;
            }
        },
        ("MultiPolygon", Some(Value::Array(parts))) => {
            let mut out = Vec::new();
            for (i, part) in parts.iter().enumerate() {
                match parse_polygon(part, &mut vertex_count) {
                    Ok(p) => out.push(p),
                    Err(m) => problems.push(problem(&format!("plot.coordinates[{i}]"), m)),
                }
            }
            if out.len() != parts.len() {
                return None;
            }
            out
        }
        ("", _) => {
            problems.push(problem(
                "plot.type",
                "missing: expected Polygon or MultiPolygon",
            ));
            return None;
        }
        (k, _) if k != "Polygon" && k != "MultiPolygon" => {
            problems.push(problem(
                "plot.type",
                format!("`{}` is not a Polygon or MultiPolygon", truncate(k)),
            ));
            return None;
        }
        _ => {
            problems.push(problem("plot.coordinates", "missing or not an array"));
            return None;
        }
    };
    if polys.is_empty() {
        problems.push(problem("plot.coordinates", "no polygon given"));
        return None;
    }
    if vertex_count > MAX_PLOT_VERTICES {
        problems.push(problem(
            "plot.coordinates",
            format!("{vertex_count} vertices: more than the cap of {MAX_PLOT_VERTICES}"),
        ));
        return None;
    }
    let mut mp = MultiPolygon::new(polys);
    if !crs.is_geographic() || crs != Crs::Wgs84 {
        let axis = AxisOrder::EastNorth;
        let tf = match Transformer::new(crs, axis) {
            Ok(t) => t,
            Err(e) => {
                problems.push(problem("crs", e.to_string()));
                return None;
            }
        };
        let mut g = geo::Geometry::MultiPolygon(mp);
        if let Err(e) = tf.geometry_to_lonlat(&mut g) {
            problems.push(problem("plot.coordinates", e.to_string()));
            return None;
        }
        mp = match g {
            geo::Geometry::MultiPolygon(m) => m,
            _ => return None,
        };
    }
    if let Some(bad) = mp
        .coords_iter()
        .find(|c| c.x.abs() > 180.0 || c.y.abs() > 90.0)
    {
        problems.push(problem(
            "plot.coordinates",
            format!(
                "({}, {}) is not a longitude/latitude (set \"crs\" for projected input)",
                bad.x, bad.y
            ),
        ));
        return None;
    }
    let errors = mp.validation_errors();
    for e in errors.iter().take(5) {
        problems.push(problem("plot", format!("invalid polygon: {e}")));
    }
    if mp.unsigned_area() <= 0.0 {
        problems.push(problem("plot", "the plot has zero area"));
    }
    if let Some(d) = district {
        let inside = errors.is_empty() && d.contains(&mp);
        if !inside {
            if d.intersects(&mp) {
                problems.push(problem(
                    "plot",
                    "the plot extends outside the district boundary",
                ));
            } else {
                let c = mp.bounding_rect().map(|r| r.center());
                problems.push(problem(
                    "plot",
                    format!(
                        "the plot lies outside the district{}",
                        c.map(|c| format!(" (near {:.5}, {:.5})", c.x, c.y))
                            .unwrap_or_default()
                    ),
                ));
            }
        }
    }
    Some(mp)
}

fn parse_polygon(v: &Value, count: &mut usize) -> Result<Polygon, String> {
    let rings = v.as_array().ok_or("a polygon must be an array of rings")?;
    if rings.is_empty() {
        return Err("a polygon needs at least one ring".into());
    }
    let mut out: Vec<LineString> = Vec::with_capacity(rings.len());
    for (ri, ring) in rings.iter().enumerate() {
        let pts = ring
            .as_array()
            .ok_or(format!("ring {ri} is not an array"))?;
        *count += pts.len();
        if *count > MAX_PLOT_VERTICES {
            return Err(format!("more than the cap of {MAX_PLOT_VERTICES} vertices"));
        }
        let mut coords = Vec::with_capacity(pts.len());
        for (pi, p) in pts.iter().enumerate() {
            let xy = p
                .as_array()
                .ok_or(format!("ring {ri} position {pi} is not an array"))?;
            let x = xy.first().and_then(Value::as_f64);
            let y = xy.get(1).and_then(Value::as_f64);
            match (x, y) {
                (Some(x), Some(y)) if x.is_finite() && y.is_finite() => coords.push((x, y)),
                _ => {
                    return Err(format!(
                        "ring {ri} position {pi} is not a pair of finite numbers"
                    ));
                }
            }
        }
        if coords.len() < 4 {
            return Err(format!(
                "ring {ri} has {} positions: a closed ring needs at least 4",
                coords.len()
            ));
        }
        if coords.first() != coords.last() {
            return Err(format!(
                "ring {ri} is not closed (first and last positions differ)"
            ));
        }
        out.push(LineString::from(coords));
    }
    let exterior = out.remove(0);
    Ok(Polygon::new(exterior, out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn square(x: f64, y: f64, d: f64) -> Value {
        json!({"type": "Polygon", "coordinates": [[[x, y], [x + d, y], [x + d, y + d], [x, y + d], [x, y]]]})
    }

    fn req(plot: Value) -> Value {
        json!({"plot": plot, "applicant": {"household_id": "H1", "name": "张三"},
               "application": {"terrain_class": "plain", "floors": 3, "floor_area_m2": 240, "replaces_parcel": null}})
    }

    #[test]
    fn good_request_parses() {
        let r = parse_value(&req(square(113.0, 23.0, 0.0001)), None).expect("ok");
        assert_eq!(r.input.applicant.household_id, "H1");
        assert_eq!(r.input.application.floors, 3);
    }

    #[test]
    fn every_problem_is_listed() {
        let v = json!({"plot": {"type": "Point", "coordinates": [1, 2]},
                       "applicant": {}, "application": {"terrain_class": "moon", "floors": 0}});
        let p = parse_value(&v, None).expect_err("bad");
        let fields: Vec<&str> = p.iter().map(|p| p.field.as_str()).collect();
        for f in [
            "plot.type",
            "applicant.household_id",
            "application.terrain_class",
            "application.floors",
            "application.floor_area_m2",
        ] {
            assert!(fields.contains(&f), "{f} missing from {fields:?}");
        }
    }

    #[test]
    fn bow_tie_zero_area_unclosed_and_projected_input() {
        let bow = json!({"type": "Polygon", "coordinates": [[[113.0, 23.0], [113.001, 23.001], [113.001, 23.0], [113.0, 23.001], [113.0, 23.0]]]});
        let p = parse_value(&req(bow), None).expect_err("bow tie");
        assert!(
            p.iter().any(|p| p.message.contains("invalid polygon")),
            "{p:?}"
        );
        let flat = json!({"type": "Polygon", "coordinates": [[[113.0, 23.0], [113.001, 23.0], [113.002, 23.0], [113.0, 23.0]]]});
        assert!(parse_value(&req(flat), None).is_err());
        let open = json!({"type": "Polygon", "coordinates": [[[113.0, 23.0], [113.001, 23.0], [113.001, 23.001], [113.0, 23.001]]]});
        let p = parse_value(&req(open), None).expect_err("open ring");
        assert!(p.iter().any(|p| p.message.contains("not closed")), "{p:?}");
        let mut gk = req(square(500_000.0, 2_545_000.0, 9.0));
        gk["crs"] = json!("EPSG:4547");
        let r = parse_value(&gk, None).expect("projected input");
        let c = r.input.plot.bounding_rect().expect("bbox").center();
        assert!(
            (c.x - 114.0).abs() < 0.01 && (c.y - 23.0).abs() < 0.05,
            "{c:?}"
        );
        let mut bad = req(square(500_000.0, 2_545_000.0, 9.0));
        bad["crs"] = json!("EPSG:3857");
        assert!(parse_value(&bad, None).is_err());
    }

    #[test]
    fn vertex_cap_and_outside_district() {
        let n = MAX_PLOT_VERTICES + 10;
        let ring: Vec<Value> = (0..=n)
            .map(|i| {
                let a = i as f64 / n as f64 * std::f64::consts::TAU;
                json!([113.0 + 0.001 * a.cos(), 23.0 + 0.001 * a.sin()])
            })
            .collect();
        let p = parse_value(
            &req(json!({"type": "Polygon", "coordinates": [ring]})),
            None,
        )
        .expect_err("cap");
        assert!(p.iter().any(|p| p.message.contains("cap")), "{p:?}");
        let district = District::new(MultiPolygon::new(vec![Polygon::new(
            LineString::from(vec![
                (112.0, 22.0),
                (114.0, 22.0),
                (114.0, 24.0),
                (112.0, 22.0),
            ]),
            vec![],
        )]));
        let p =
            parse_value(&req(square(100.0, 10.0, 0.001)), Some(&district)).expect_err("outside");
        assert!(
            p.iter().any(|p| p.message.contains("outside the district")),
            "{p:?}"
        );
    }

    #[test]
    fn malformed_json_is_a_problem_not_a_panic() {
        let p = parse(b"{\"plot\": [1, 2", None).expect_err("malformed");
        assert!(p[0].message.contains("malformed JSON"));
    }
}
