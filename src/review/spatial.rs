//! Area rules: `within` (inside a boundary), `no_overlap` (farmland, red
//! line, hazard, other owners' parcels) and `zone_class` (zoning, heritage).
//!
//! Candidates come from each layer's R-tree over the plot's Web Mercator
//! box (plus 1 m), are clipped and projected to the plot's Gauss-Krüger zone
//! (`geom`), and intersected with the plot there (geo `BooleanOps`), so
//! every area is in m² on the ground.

use std::collections::BTreeMap;
use std::sync::Arc;

use geo::{Area, BooleanOps, BoundingRect, Geometry, MultiPolygon, Rect};

use super::cache::value_key;
use super::eval::{Ctx, EPS_M2, attributes, finding, missing_layer, num, round, unmeasurable};
use super::geom::{Plot, convex_overlap, disjoint_convex_area, project_clipped_areal};
use super::rules::{OverlapFilter, Rule};
use super::verdict::{FeatureRef, Finding, Outcome};
use crate::layer::{Feature, GeomKind, Layer};

/// A candidate polygon and its overlap with the plot.
pub(crate) struct Hit<'a> {
    pub layer: &'a Arc<Layer>,
    pub feature: &'a Feature,
    pub shape: MultiPolygon,
    pub overlap: MultiPolygon,
    pub overlap_m2: f64,
    /// The feature covers the whole plot (`overlap` is the plot).
    pub covers: bool,
}

impl Hit<'_> {
    /// What remains of `rest` (a part of the plot) outside this feature.
    pub fn cut(&self, rest: MultiPolygon) -> MultiPolygon {
        if self.covers {
            MultiPolygon::new(Vec::new())
        } else if rest.0.is_empty() {
            rest
        } else {
            rest.difference(&self.shape)
        }
    }
}

fn boxes_meet(a: &Rect, b: &Rect) -> bool {
    a.min().x <= b.max().x
        && b.min().x <= a.max().x
        && a.min().y <= b.max().y
        && b.min().y <= a.max().y
}

/// Polygons of `layer` near the plot that `keep` accepts, with their
/// overlap (possibly zero) with the plot.
pub(crate) fn areal_hits<'a>(
    plot: &Plot,
    layer: &'a Arc<Layer>,
    keep: impl Fn(&Feature) -> bool,
) -> Vec<Hit<'a>> {
    let window = plot.window(0.0);
    let mut out = Vec::new();
    for f in layer.query(window) {
        if !keep(f) {
            continue;
        }
        let Some((shape, covers)) =
            project_clipped_areal(&layer.geometry(f), &layer.bbox(f), &window, &plot.frame)
        else {
            continue;
        };
        // A feature covering the whole window covers the plot inside it:
        // no polygon overlay needed.
        let (overlap, overlap_m2) = if covers {
            (plot.gk.clone(), plot.area_m2)
        } else {
            if !shape
                .bounding_rect()
                .is_some_and(|b| boxes_meet(&b, &plot.gk_bbox))
            {
                continue;
            }
            match convex_overlap(plot, &shape) {
                Some(o) => o,
                None => {
                    let overlap = plot.gk.intersection(&shape);
                    let a = overlap.unsigned_area();
                    (overlap, a)
                }
            }
        };
        out.push(Hit {
            layer,
            feature: f,
            shape,
            overlap,
            overlap_m2,
            covers,
        });
    }
    out
}

/// Layers resolved against the snapshot: present ones and missing ids.
/// A layer that holds no polygons cannot answer an area rule: it counts as
/// missing (the rule needs a person), with the reason in its name.
fn resolve<'a>(ctx: &mut Ctx<'a>, layers: &[String]) -> (Vec<&'a Arc<Layer>>, Vec<String>) {
    let mut present = Vec::new();
    let mut missing = Vec::new();
    for id in layers {
        match ctx.layer(id) {
            Some(l) if l.kind == GeomKind::Polygon => present.push(l),
            Some(_) => missing.push(format!("{id} (not polygons / 非面图层)")),
            None => missing.push(id.clone()),
        }
    }
    (present, missing)
}

fn feature_ref(
    rule: &Rule,
    h: &Hit<'_>,
    extra: &[&str],
    status: Outcome,
    plot_area: f64,
) -> FeatureRef {
    let fields = rule
        .report
        .iter()
        .map(String::as_str)
        .chain(extra.iter().copied());
    FeatureRef {
        layer: h.layer.def.id.clone(),
        id: h.feature.id,
        attributes: attributes(h.layer, h.feature, fields),
        status,
        overlap_m2: Some(round(h.overlap_m2, 3)),
        overlap_ratio: Some(round(h.overlap_m2 / plot_area, 5)),
        distance_m: None,
        required_m: None,
    }
}

/// The area of the union of several overlap pieces (their sum when they
/// are convex and only touch, else by polygon overlay).
fn union_area(pieces: &[&MultiPolygon]) -> f64 {
    match pieces {
        [] => 0.0,
        [one] => one.unsigned_area(),
        [first, rest @ ..] => disjoint_convex_area(pieces, 1e-9).unwrap_or_else(|| {
            rest.iter()
                .fold((*first).clone(), |acc, p| acc.union(*p))
                .unsigned_area()
        }),
    }
}

fn missing_note(missing: &[String]) -> String {
    if missing.is_empty() {
        String::new()
    } else {
        let m = missing.join(", ");
        format!(
            "；图层 {m} 未加载或不可用，需人工审核 / layer(s) {m} not loaded or not usable: needs a person"
        )
    }
}

/// `within`: at most `tolerance` m² of the plot outside the layers' polygons.
pub(crate) fn within(ctx: &mut Ctx<'_>, rule: &Rule, layers: &[String], tolerance: f64) -> Finding {
    let (present, missing) = resolve(ctx, layers);
    let plot = match &ctx.plot {
        Ok(p) => p,
        Err(why) => return unmeasurable(rule, "m2", why),
    };
    if present.is_empty() {
        return missing_layer(rule, "m2", &missing.join(", "));
    }
    let mut rest = plot.gk.clone();
    let mut features = Vec::new();
    for layer in present {
        for h in areal_hits(plot, layer, |_| true) {
            if h.overlap_m2 > EPS_M2 {
                rest = h.cut(rest);
                features.push(feature_ref(rule, &h, &[], Outcome::Pass, plot.area_m2));
            }
        }
    }
    let outside = rest.unsigned_area();
    let violated = outside > tolerance + EPS_M2;
    let mut status = if violated {
        rule.severity
    } else {
        Outcome::Pass
    };
    if !missing.is_empty() {
        status = Outcome::Manual;
    }
    let names = layers.join(", ");
    let pct = num(100.0 * outside / plot.area_m2);
    let message = if violated {
        format!(
            "地块有 {} m²（{pct}%）位于 {names} 范围外，超过容差 {} m²；{} m² ({pct}%) of the plot lies outside {names}, above the tolerance of {} m²",
            num(outside),
            num(tolerance),
            num(outside),
            num(tolerance)
        )
    } else {
        format!(
            "地块位于 {names} 范围内（范围外 {} m²，容差 {} m²）；the plot lies within {names} ({} m² outside, tolerance {} m²)",
            num(outside),
            num(tolerance),
            num(outside),
            num(tolerance)
        )
    } + &missing_note(&missing);
    let mut f = finding(rule, status, "m2", message);
    f.measured = Some(round(outside, 3));
    f.threshold = Some(tolerance);
    f.features = features;
    if outside > EPS_M2 {
        f.conflicts.push(plot.frame.to_lonlat(rest));
    }
    f
}

fn passes_filter(ctx: &Ctx<'_>, layer: &Layer, f: &Feature, filter: &OverlapFilter) -> bool {
    let key = |field: &str| {
        layer
            .field_index(field)
            .and_then(|i| layer.prop(f, i))
            .and_then(value_key)
    };
    for (field, values) in &filter.only {
        match key(field) {
            Some(k) if values.contains(&k) => {}
            _ => return false,
        }
    }
    if let Some(field) = &filter.exclude_own_household
        && key(field).as_deref() == Some(ctx.req.applicant.household_id.as_str())
    {
        return false;
    }
    if let (Some(field), Some(replaced)) = (
        &filter.exclude_replaced_parcel,
        &ctx.req.application.replaces_parcel,
    ) && key(field).as_deref() == Some(replaced.as_str())
    {
        return false;
    }
    true
}

/// `no_overlap`: the plot overlaps the (filtered) polygons of the layers by
/// at most `tolerance` m² in total.
pub(crate) fn no_overlap(
    ctx: &mut Ctx<'_>,
    rule: &Rule,
    layers: &[String],
    tolerance: f64,
    filter: &OverlapFilter,
) -> Finding {
    let (present, missing) = resolve(ctx, layers);
    let plot = match &ctx.plot {
        Ok(p) => p,
        Err(why) => return unmeasurable(rule, "m2", why),
    };
    if present.is_empty() {
        return missing_layer(rule, "m2", &missing.join(", "));
    }
    let used: Vec<&str> = filter.only.keys().map(String::as_str).collect();
    let mut hits = Vec::new();
    for layer in present {
        let c: &Ctx<'_> = ctx;
        hits.extend(
            areal_hits(plot, layer, |f| passes_filter(c, layer, f, filter))
                .into_iter()
                .filter(|h| h.overlap_m2 > EPS_M2),
        );
    }
    hits.sort_by(|a, b| b.overlap_m2.total_cmp(&a.overlap_m2));
    let total = union_area(&hits.iter().map(|h| &h.overlap).collect::<Vec<_>>());
    let violated = total > tolerance + EPS_M2;
    let mut status = if violated {
        rule.severity
    } else {
        Outcome::Pass
    };
    if !missing.is_empty() {
        status = status.max(Outcome::Manual);
    }
    let names = layers.join(", ");
    let pct = num(100.0 * total / plot.area_m2);
    let ids: Vec<String> = hits
        .iter()
        .map(|h| format!("{}#{}", h.layer.def.id, h.feature.id))
        .collect();
    let message = if violated {
        format!(
            "地块与 {names} 重叠 {} m²（{pct}%，要素 {}），超过容差 {} m²；the plot overlaps {names} by {} m² ({pct}%, features {}), above the tolerance of {} m²",
            num(total),
            ids.join(", "),
            num(tolerance),
            num(total),
            ids.join(", "),
            num(tolerance)
        )
    } else if total > EPS_M2 {
        format!(
            "地块与 {names} 重叠 {} m²，未超过容差 {} m²；the plot overlaps {names} by {} m², within the tolerance of {} m²",
            num(total),
            num(tolerance),
            num(total),
            num(tolerance)
        )
    } else {
        format!("地块与 {names} 无重叠；the plot does not overlap {names}")
    } + &missing_note(&missing);
    let mut f = finding(rule, status, "m2", message);
    f.measured = Some(round(total, 3));
    f.threshold = Some(tolerance);
    for h in &hits {
        let st = if h.overlap_m2 > tolerance + EPS_M2 {
            rule.severity
        } else {
            Outcome::Pass
        };
        f.features
            .push(feature_ref(rule, h, &used, st, plot.area_m2));
        f.conflicts.push(plot.frame.to_lonlat(h.overlap.clone()));
    }
    f
}

/// `zone_class`: the class of every zone the plot overlaps by more than
/// `tolerance` m² gives a status, the part no zone covers gives `uncovered`;
/// the worst wins and every zone is reported.
#[allow(clippy::too_many_arguments)]
pub(crate) fn zone_class(
    ctx: &mut Ctx<'_>,
    rule: &Rule,
    layers: &[String],
    field: &str,
    classes: &BTreeMap<String, Outcome>,
    uncovered: Outcome,
    unknown: Outcome,
    tolerance: f64,
) -> Finding {
    let (present, missing) = resolve(ctx, layers);
    let plot = match &ctx.plot {
        Ok(p) => p,
        Err(why) => return unmeasurable(rule, "m2", why),
    };
    if present.is_empty() {
        return missing_layer(rule, "m2", &missing.join(", "));
    }
    let mut rest = plot.gk.clone();
    // (hit, class, status)
    let mut zones: Vec<(Hit<'_>, String, Outcome)> = Vec::new();
    for layer in present {
        let fi = layer.field_index(field);
        for h in areal_hits(plot, layer, |_| true) {
            if h.overlap_m2 <= EPS_M2 {
                continue;
            }
            rest = h.cut(rest);
            if h.overlap_m2 <= tolerance + EPS_M2 {
                continue;
            }
            let class = fi
                .and_then(|i| layer.prop(h.feature, i))
                .and_then(value_key)
                .unwrap_or_default();
            let st = classes.get(&class).copied().unwrap_or(unknown);
            zones.push((h, class, st));
        }
    }
    zones.sort_by(|a, b| {
        b.2.cmp(&a.2)
            .then(b.0.overlap_m2.total_cmp(&a.0.overlap_m2))
    });
    let outside = rest.unsigned_area();
    let has_uncovered = outside > tolerance + EPS_M2;
    let mut status = Outcome::combine(zones.iter().map(|z| z.2));
    if has_uncovered {
        status = status.max(uncovered);
    }
    if !missing.is_empty() {
        status = status.max(Outcome::Manual);
    }
    // The decisive area: the plot's area in zones (or outside zones) that
    // give the final status.
    let mut decisive: f64 = zones
        .iter()
        .filter(|z| z.2 == status)
        .map(|z| z.0.overlap_m2)
        .sum();
    if has_uncovered && uncovered == status {
        decisive += outside;
    }
    let mut parts: Vec<String> = zones
        .iter()
        .map(|(h, class, st)| {
            format!(
                "{}#{} {field}={class} {} m² -> {}",
                h.layer.def.id,
                h.feature.id,
                num(h.overlap_m2),
                st.as_str()
            )
        })
        .collect();
    if has_uncovered {
        parts.push(format!(
            "无分区覆盖 uncovered {} m² -> {}",
            num(outside),
            uncovered.as_str()
        ));
    }
    let message = format!(
        "分区判定：{}；zones: {}",
        status.zh(),
        if parts.is_empty() {
            "none".to_string()
        } else {
            parts.join("; ")
        }
    ) + &missing_note(&missing);
    let mut f = finding(rule, status, "m2", message);
    f.measured = Some(round(decisive, 3));
    for (h, _, st) in &zones {
        f.features
            .push(feature_ref(rule, h, &[field], *st, plot.area_m2));
        if *st > Outcome::Pass {
            f.conflicts.push(plot.frame.to_lonlat(h.overlap.clone()));
        }
    }
    if has_uncovered && uncovered > Outcome::Pass {
        f.conflicts
            .push(plot.frame.to_lonlat(Geometry::MultiPolygon(rest)));
    }
    f
}
