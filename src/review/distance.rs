//! Setback rules (`min_distance`): roads, power lines, rivers and levees.
//!
//! Each feature within reach gets its own required distance (by class, by
//! numeric band, or from its own attribute) and is measured in metres in
//! the plot's Gauss-Krüger zone: the distance between the plot and the
//! feature's geometry (0 if they meet), minus the feature's offset (half
//! the width of highway land: the setback runs from the land's outer edge),
//! clamped at 0. The search window is the plot's box grown by the largest
//! setback plus the largest offset in the layer.

use std::sync::Arc;

use geo::{BooleanOps, Geometry, LineString};

use super::cache::value_key;
use super::eval::{Ctx, EPS_M, attributes, finding, missing_layer, num, round, unmeasurable};
use super::geom::{Shape, nearest, project_clipped};
use super::rules::{Rule, Setback};
use super::verdict::{FeatureRef, Finding, Outcome};
use crate::layer::{Feature, Layer, ValueRef};

/// The setback a feature requires (`None`: its class has none configured).
fn required(setback: &Setback, layer: &Layer, f: &Feature) -> Option<f64> {
    let prop = |field: &str| layer.field_index(field).and_then(|i| layer.prop(f, i));
    match setback {
        Setback::Class { field, metres } => prop(field)
            .and_then(value_key)
            .and_then(|k| metres.get(&k).copied()),
        Setback::Bands { field, bands } => {
            let v = prop(field).and_then(ValueRef::as_f64)?;
            bands
                .iter()
                .find(|b| b.min <= v && v <= b.max)
                .map(|b| b.metres)
        }
        Setback::Field { field } => prop(field)
            .and_then(ValueRef::as_f64)
            .filter(|v| v.is_finite() && *v >= 0.0),
    }
}

fn setback_field(setback: &Setback) -> &str {
    match setback {
        Setback::Class { field, .. } | Setback::Bands { field, .. } | Setback::Field { field } => {
            field
        }
    }
}

/// How far a search in `layer` must reach, metres.
fn reach(ctx: &Ctx<'_>, setback: &Setback, offset_field: Option<&str>, layer: &Arc<Layer>) -> f64 {
    let cache = &ctx.rules.cache;
    let max_setback = match setback {
        Setback::Class { metres, .. } => metres.values().copied().fold(0.0, f64::max),
        Setback::Bands { bands, .. } => bands.iter().map(|b| b.metres).fold(0.0, f64::max),
        Setback::Field { field } => cache.max(layer, field).unwrap_or(0.0),
    };
    let max_offset = offset_field
        .and_then(|o| cache.max(layer, o))
        .unwrap_or(0.0);
    max_setback.max(0.0) + max_offset.max(0.0)
}

/// One evaluated feature.
struct Near<'a> {
    layer: &'a Arc<Layer>,
    feature: &'a Feature,
    status: Outcome,
    distance: f64,
    required: Option<f64>,
    line: Option<Geometry>,
    note: Option<&'static str>,
}

/// `min_distance`: every feature within reach keeps its setback.
pub(crate) fn min_distance(
    ctx: &mut Ctx<'_>,
    rule: &Rule,
    layers: &[String],
    setback: &Setback,
    offset_field: Option<&str>,
    unlisted: Outcome,
) -> Finding {
    let mut present = Vec::new();
    let mut missing = Vec::new();
    for id in layers {
        match ctx.layer(id) {
            Some(l) => present.push(l),
            None => missing.push(id.clone()),
        }
    }
    let plot = match &ctx.plot {
        Ok(p) => p,
        Err(why) => return unmeasurable(rule, "m", why),
    };
    if present.is_empty() {
        return missing_layer(rule, "m", &missing.join(", "));
    }
    let mut near: Vec<Near<'_>> = Vec::new();
    let mut max_reach: f64 = 0.0;
    for layer in present {
        let r = reach(ctx, setback, offset_field, layer);
        max_reach = max_reach.max(r);
        let window = plot.window(r);
        for f in layer.query(window) {
            let req = required(setback, layer, f);
            if req.is_none() && unlisted == Outcome::Pass {
                continue;
            }
            let Some(shape) =
                project_clipped(&layer.geometry(f), &layer.bbox(f), &window, &plot.frame)
            else {
                continue;
            };
            let n = nearest(plot, &shape);
            if n.distance > r {
                // Beyond reach: cannot violate, and the clipped shape may
                // overstate its distance, so it is not reported.
                continue;
            }
            let offset = match offset_field {
                None => Some(0.0),
                Some(o) => layer
                    .field_index(o)
                    .and_then(|i| layer.prop(f, i))
                    .and_then(ValueRef::as_f64)
                    .filter(|v| v.is_finite() && *v >= 0.0),
            };
            let distance = (n.distance - offset.unwrap_or(0.0)).max(0.0);
            let (status, note) = match (req, offset) {
                (None, _) => (
                    unlisted,
                    Some("no setback configured for its class / 未配置该类别的退让距离"),
                ),
                (Some(_), None) => (
                    Outcome::Manual,
                    Some("offset attribute missing / 缺少宽度属性"),
                ),
                (Some(r), Some(_)) if distance + EPS_M < r => (rule.severity, None),
                _ => (Outcome::Pass, None),
            };
            // Drawn only for features that do not pass.
            let line = (status > Outcome::Pass).then(|| match (&n.line, &shape) {
                (Some((a, b)), _) => plot.frame.to_lonlat(LineString::new(vec![*a, *b])),
                (None, Shape::Areal(m)) => plot.frame.to_lonlat(plot.gk.intersection(m)),
                (None, s) => plot.frame.to_lonlat(s.to_geometry()),
            });
            near.push(Near {
                layer,
                feature: f,
                status,
                distance,
                required: req,
                line,
                note,
            });
        }
    }
    let margin = |n: &Near<'_>| n.distance - n.required.unwrap_or(0.0);
    let decisive = near
        .iter()
        .filter(|n| n.required.is_some())
        .min_by(|a, b| margin(a).total_cmp(&margin(b)))
        .map(|n| (n.layer.def.id.clone(), n.feature.id));
    let mut status = Outcome::combine(near.iter().map(|n| n.status));
    if !missing.is_empty() {
        status = status.max(Outcome::Manual);
    }
    let mut extra = vec![setback_field(setback)];
    extra.extend(offset_field);
    let is_decisive = |n: &Near<'_>| {
        decisive
            .as_ref()
            .is_some_and(|(l, id)| *l == n.layer.def.id && *id == n.feature.id)
    };
    near.sort_by(|a, b| {
        b.status
            .cmp(&a.status)
            .then(margin(a).total_cmp(&margin(b)))
    });
    let mut f = finding(rule, status, "m", String::new());
    let mut too_close = 0usize;
    for n in &near {
        if n.status == Outcome::Pass && !is_decisive(n) {
            continue;
        }
        if n.status > Outcome::Pass {
            too_close += 1;
            f.conflicts.extend(n.line.clone());
        }
        if is_decisive(n) {
            f.measured = Some(round(n.distance, 3));
            f.threshold = n.required;
        }
        let fields = rule
            .report
            .iter()
            .map(String::as_str)
            .chain(extra.iter().copied());
        f.features.push(FeatureRef {
            layer: n.layer.def.id.clone(),
            id: n.feature.id,
            attributes: attributes(n.layer, n.feature, fields),
            status: n.status,
            overlap_m2: None,
            overlap_ratio: None,
            distance_m: Some(round(n.distance, 3)),
            required_m: n.required,
        });
    }
    let names = layers.join(", ");
    let describe = |n: &Near<'_>| {
        let class = n
            .layer
            .field_index(setback_field(setback))
            .and_then(|i| n.layer.prop(n.feature, i))
            .and_then(value_key)
            .unwrap_or_default();
        format!(
            "{}#{} ({}={class})",
            n.layer.def.id,
            n.feature.id,
            setback_field(setback)
        )
    };
    let dec = near.iter().find(|n| is_decisive(n));
    f.message = match (status, dec) {
        (Outcome::Pass, None) => format!(
            "{} m 范围内无 {names} 要素；no {names} feature within {} m",
            num(max_reach),
            num(max_reach)
        ),
        (Outcome::Pass, Some(n)) => format!(
            "最近要素 {} 距离 {} m，满足退让 {} m；nearest {} is {} m away, meeting the {} m setback",
            describe(n),
            num(n.distance),
            num(n.required.unwrap_or(0.0)),
            describe(n),
            num(n.distance),
            num(n.required.unwrap_or(0.0))
        ),
        (_, Some(n)) if n.status > Outcome::Pass => format!(
            "{too_close} 处要素退让不足，最近 {} 距离 {} m，小于规定 {} m；{too_close} feature(s) too close: {} is {} m away, less than the required {} m",
            describe(n),
            num(n.distance),
            num(n.required.unwrap_or(0.0)),
            describe(n),
            num(n.distance),
            num(n.required.unwrap_or(0.0))
        ),
        _ => {
            let notes: Vec<String> = near
                .iter()
                .filter(|n| n.status > Outcome::Pass)
                .map(|n| {
                    format!(
                        "{}: {}",
                        describe(n),
                        n.note.unwrap_or("too close / 退让不足")
                    )
                })
                .collect();
            format!(
                "需人工核查 / needs a person: {}",
                if notes.is_empty() {
                    "-".into()
                } else {
                    notes.join("; ")
                }
            )
        }
    };
    if !missing.is_empty() {
        let m = missing.join(", ");
        f.message +=
            &format!("；图层 {m} 未加载，需人工审核 / layer(s) {m} not loaded: needs a person");
    }
    f
}
