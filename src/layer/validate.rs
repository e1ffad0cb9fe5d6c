//! Geometry validation and repair, per feature.
//!
//! Every feature is checked (finite coordinates, geometry family, OGC validity
//! with geo's `Validation`, which agrees with PostGIS `ST_IsValidReason`), and
//! every problem is reported with the feature's id and the reason. Polygons
//! are repaired the way `ST_MakeValid` does for ring self-intersections: the
//! rings are re-noded with an even-odd fill (geo's `BooleanOps`, backed by
//! i_overlay), which keeps every area the rings enclose an odd number of times.

use geo::algorithm::Validation;
use geo::{
    BooleanOps, CoordsIter, Geometry, LineString, MultiLineString, MultiPoint, MultiPolygon,
};

use super::model::GeomKind;

/// The outcome of checking one geometry.
#[derive(Debug)]
pub enum Checked {
    /// Valid as read.
    Valid(Geometry),
    /// Invalid; repaired into the given geometry. `reason` says what was wrong.
    Repaired { geometry: Geometry, reason: String },
    /// Invalid and not repairable (or repair not allowed): `reason`.
    Invalid { reason: String },
}

/// Checks one geometry and, if `repair` is set, repairs what can be repaired.
pub fn check(g: Geometry, expected: Option<GeomKind>, repair: bool) -> Checked {
    if let Some(bad) = g
        .coords_iter()
        .find(|c| !c.x.is_finite() || !c.y.is_finite())
    {
        return Checked::Invalid {
            reason: format!("non-finite coordinate ({}, {})", bad.x, bad.y),
        };
    }
    let Some(kind) = GeomKind::of(&g) else {
        return Checked::Invalid {
            reason: "geometry collections are not supported".into(),
        };
    };
    if let Some(e) = expected
        && e != kind
    {
        return Checked::Invalid {
            reason: format!("{kind:?} geometry in a {e:?} layer"),
        };
    }
    let g = normalize(g);
    let mut errors: Vec<String> = g
        .validation_errors()
        .iter()
        .take(3)
        .map(|e| e.to_string())
        .collect();
    // geo accepts a ring whose points are all collinear; PostGIS does not.
    if let Some(r) = zero_area_ring(&g) {
        errors.push(r);
    }
    if errors.is_empty() {
        return Checked::Valid(g);
    }
    let reason = errors.join("; ");
    if !repair {
        return Checked::Invalid { reason };
    }
    match make_valid(g) {
        Some(fixed) if fixed.is_valid() => Checked::Repaired {
            geometry: fixed,
            reason,
        },
        Some(_) => Checked::Invalid {
            reason: format!("{reason} (repair did not produce a valid geometry)"),
        },
        None => Checked::Invalid {
            reason: format!("{reason} (nothing valid remains after repair)"),
        },
    }
}

/// Names the first ring of zero area, if any.
fn zero_area_ring(g: &Geometry) -> Option<String> {
    let polys: Vec<&geo::Polygon> = match g {
        Geometry::Polygon(p) => vec![p],
        Geometry::MultiPolygon(mp) => mp.0.iter().collect(),
        _ => return None,
    };
    for (pi, p) in polys.iter().enumerate() {
        if ring_area(p.exterior()) == 0.0 {
            return Some(format!("polygon {pi}: exterior ring has zero area"));
        }
        for (ri, r) in p.interiors().iter().enumerate() {
            if ring_area(r) == 0.0 {
                return Some(format!("polygon {pi}: interior ring {ri} has zero area"));
            }
        }
    }
    None
}

/// The signed area of a ring, computed exactly as geo's `Area` of a
/// polygon with this ring as its only (closed) ring does, without copying
/// the ring into a new polygon (an allocation per feature at load).
fn ring_area(ring: &LineString) -> f64 {
    let mut points = ring.0.as_slice();
    let closing;
    // `Polygon::new` closes an open ring (a polygon's rings always are).
    if let (Some(first), Some(last)) = (points.first(), points.last())
        && first != last
    {
        let mut v = points.to_vec();
        v.push(*first);
        closing = v;
        points = &closing;
    }
    if points.len() < 3 {
        return 0.0;
    }
    let shift = points[0];
    let mut prev = points[1] - shift;
    let mut sum = 0.0;
    for point in &points[2..] {
        let shifted = *point - shift;
        sum += geo::Line::new(prev, shifted).determinant();
        prev = shifted;
    }
    sum / 2.0
}

/// Turns single-part special forms into the forms the pipeline handles.
fn normalize(g: Geometry) -> Geometry {
    match g {
        Geometry::Line(l) => Geometry::LineString(LineString::from(vec![l.start, l.end])),
        Geometry::Rect(r) => Geometry::Polygon(r.to_polygon()),
        Geometry::Triangle(t) => Geometry::Polygon(t.to_polygon()),
        other => other,
    }
}

/// Repairs a geometry; `None` when nothing valid remains (e.g. a ring of
/// zero area, a line of one distinct point).
pub fn make_valid(g: Geometry) -> Option<Geometry> {
    match g {
        Geometry::Polygon(p) => repair_polygons(MultiPolygon::new(vec![p])),
        Geometry::MultiPolygon(mp) => repair_polygons(mp),
        Geometry::LineString(ls) => {
            let ls = dedup_line(ls)?;
            Some(Geometry::LineString(ls))
        }
        Geometry::MultiLineString(mls) => {
            let parts: Vec<LineString> = mls.0.into_iter().filter_map(dedup_line).collect();
            (!parts.is_empty()).then(|| Geometry::MultiLineString(MultiLineString::new(parts)))
        }
        Geometry::MultiPoint(mp) => {
            let mut pts = mp.0;
            pts.sort_by(|a, b| a.x().total_cmp(&b.x()).then(a.y().total_cmp(&b.y())));
            pts.dedup();
            (!pts.is_empty()).then(|| Geometry::MultiPoint(MultiPoint::new(pts)))
        }
        other => Some(other),
    }
}

fn repair_polygons(mp: MultiPolygon) -> Option<Geometry> {
    // Re-node each part on its own with even-odd fill (the ST_MakeValid
    // reading of a self-intersecting ring), then union the parts.
    let mut acc = MultiPolygon::new(vec![]);
    for p in mp.0 {
        let empty = MultiPolygon::new(vec![]);
        let fixed = MultiPolygon::new(vec![p]).union(&empty);
        acc = if acc.0.is_empty() {
            fixed
        } else {
            acc.union(&fixed)
        };
    }
    match acc.0.len() {
        0 => None,
        1 => acc.0.pop().map(Geometry::Polygon),
        _ => Some(Geometry::MultiPolygon(acc)),
    }
}

fn dedup_line(mut ls: LineString) -> Option<LineString> {
    ls.0.dedup();
    (ls.0.len() >= 2).then_some(ls)
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{Area, polygon};

    #[test]
    fn bow_tie_is_repaired_into_two_triangles() {
        let bow = polygon![(x: 0., y: 0.), (x: 2., y: 2.), (x: 2., y: 0.), (x: 0., y: 2.), (x: 0., y: 0.)];
        match check(Geometry::Polygon(bow), None, true) {
            Checked::Repaired { geometry, reason } => {
                assert!(reason.contains("intersect"), "{reason}");
                assert!(geometry.is_valid());
                assert!((geometry.unsigned_area() - 2.0).abs() < 1e-9);
            }
            other => panic!("expected repair, got {other:?}"),
        }
    }

    #[test]
    fn bow_tie_is_refused_without_repair() {
        let bow = polygon![(x: 0., y: 0.), (x: 2., y: 2.), (x: 2., y: 0.), (x: 0., y: 2.), (x: 0., y: 0.)];
        assert!(matches!(
            check(Geometry::Polygon(bow), None, false),
            Checked::Invalid { .. }
        ));
    }

    #[test]
    fn nan_is_invalid_even_with_repair() {
        let p = polygon![(x: 0., y: 0.), (x: f64::NAN, y: 2.), (x: 2., y: 0.), (x: 0., y: 0.)];
        match check(Geometry::Polygon(p), None, true) {
            Checked::Invalid { reason } => assert!(reason.contains("non-finite")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn zero_area_ring_cannot_be_repaired() {
        let p = polygon![(x: 0., y: 0.), (x: 1., y: 1.), (x: 2., y: 2.), (x: 0., y: 0.)];
        let r = check(Geometry::Polygon(p), None, true);
        assert!(matches!(r, Checked::Invalid { .. }), "{r:?}");
    }

    #[test]
    fn wrong_family_is_reported() {
        let l = Geometry::LineString(LineString::from(vec![(0., 0.), (1., 1.)]));
        match check(l, Some(GeomKind::Polygon), true) {
            Checked::Invalid { reason } => assert!(reason.contains("Line")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn valid_square_passes_untouched() {
        let p = polygon![(x: 0., y: 0.), (x: 1., y: 0.), (x: 1., y: 1.), (x: 0., y: 1.), (x: 0., y: 0.)];
        assert!(matches!(
            check(Geometry::Polygon(p), Some(GeomKind::Polygon), true),
            Checked::Valid(_)
        ));
    }
}
