//! [`evaluate`]: every rule of a rule set against one snapshot for one plot.
//!
//! Each rule gives exactly one [`Finding`], in rule-file order; nothing here
//! returns an error. A missing layer, an unmeasurable plot or an unknown
//! class make the rule `manual`, never `pass`. The outcome is `fail` if any
//! rule fails, else `manual` if any needs a person, else `pass`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use super::distance;
use super::geom::Plot;
use super::records;
use super::rules::{Predicate, Rule, RuleSet};
use super::spatial;
use super::verdict::{Finding, Outcome, ReviewInput, Verdict};
use crate::layer::registry::Snapshot;
use crate::layer::{Feature, Layer, ValueRef};

/// Measured areas within this many m² of a threshold count as on it
/// (floating-point noise of projecting and clipping, far below survey
/// precision).
pub(crate) const EPS_M2: f64 = 1e-6;
/// Likewise for distances, metres.
pub(crate) const EPS_M: f64 = 1e-6;

/// What every rule evaluator sees.
pub(crate) struct Ctx<'a> {
    pub rules: &'a RuleSet,
    pub snapshot: &'a Snapshot,
    pub req: &'a ReviewInput,
    /// The measured plot, or why it could not be measured.
    pub plot: Result<Plot, String>,
    /// Layers consulted -> version tag or `missing`.
    pub consulted: BTreeMap<String, String>,
}

impl<'a> Ctx<'a> {
    /// The layer, recording that it was consulted (or missing).
    pub fn layer(&mut self, id: &str) -> Option<&'a Arc<Layer>> {
        let l = self.snapshot.get(id);
        let tag = l.map_or_else(|| "missing".to_string(), |l| l.version_tag());
        self.consulted.insert(id.to_string(), tag);
        l
    }
}

/// Reviews one plot. Never fails: problems become `manual` findings.
pub fn evaluate(rules: &RuleSet, snapshot: &Snapshot, req: &ReviewInput) -> Verdict {
    let start = Instant::now();
    let mut ctx = Ctx {
        rules,
        snapshot,
        req,
        plot: Plot::new(&req.plot),
        consulted: BTreeMap::new(),
    };
    let findings: Vec<Finding> = rules
        .rules
        .iter()
        .map(|r| evaluate_rule(&mut ctx, r))
        .collect();
    let outcome = Outcome::combine(findings.iter().map(|f| f.status));
    let (plot_area_m2, crs) = match &ctx.plot {
        Ok(p) => (round(p.area_m2, 4), format!("EPSG:{}", p.frame.crs.epsg())),
        Err(_) => (0.0, String::new()),
    };
    Verdict {
        outcome,
        rule_set: rules.reference(),
        plot_area_m2,
        crs,
        findings,
        layers: ctx.consulted,
        timing_us: u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX),
    }
}

/// Builds the side indexes the rules use over the layers of `snapshot`
/// (parcels and households by household id, the largest setback attribute
/// values), so that the first review after a layer is published does not
/// pay for them (about 1 s per million parcels). Optional: [`evaluate`]
/// builds them on first use.
pub fn prepare(rules: &RuleSet, snapshot: &Snapshot) {
    for rule in &rules.rules {
        match &rule.predicate {
            Predicate::OneHousehold {
                layer,
                household_field,
                households_layer,
                households_key,
                ..
            } => {
                if let Some(l) = snapshot.get(layer) {
                    rules.cache.by_value(l, household_field);
                }
                if let Some(l) = snapshot.get(households_layer) {
                    rules.cache.by_value(l, households_key);
                }
            }
            Predicate::MinDistance {
                layers,
                setback,
                offset_field,
                ..
            } => {
                for l in layers.iter().filter_map(|id| snapshot.get(id)) {
                    if let super::rules::Setback::Field { field } = setback {
                        rules.cache.max(l, field);
                    }
                    if let Some(o) = offset_field {
                        rules.cache.max(l, o);
                    }
                }
            }
            _ => {}
        }
    }
}

fn evaluate_rule(ctx: &mut Ctx<'_>, rule: &Rule) -> Finding {
    match &rule.predicate {
        Predicate::Within {
            layers,
            tolerance_m2,
        } => spatial::within(ctx, rule, layers, *tolerance_m2),
        Predicate::NoOverlap {
            layers,
            tolerance_m2,
            filter,
        } => spatial::no_overlap(ctx, rule, layers, *tolerance_m2, filter),
        Predicate::ZoneClass {
            layers,
            field,
            classes,
            uncovered,
            unknown,
            tolerance_m2,
        } => spatial::zone_class(
            ctx,
            rule,
            layers,
            field,
            classes,
            *uncovered,
            *unknown,
            *tolerance_m2,
        ),
        Predicate::MinDistance {
            layers,
            setback,
            offset_field,
            unlisted,
        } => distance::min_distance(
            ctx,
            rule,
            layers,
            setback,
            offset_field.as_deref(),
            *unlisted,
        ),
        Predicate::AreaCap { caps } => records::area_cap(ctx, rule, caps),
        Predicate::AttributeLimits { limits } => records::attribute_limits(ctx, rule, limits),
        Predicate::OneHousehold { .. } => records::one_household(ctx, rule),
    }
}

/// A finding with nothing measured yet.
pub(crate) fn finding(
    rule: &Rule,
    status: Outcome,
    unit: &'static str,
    message: String,
) -> Finding {
    Finding {
        rule: rule.id.clone(),
        title: rule.title.clone(),
        status,
        measured: None,
        threshold: None,
        unit,
        features: Vec::new(),
        checks: Vec::new(),
        basis: rule.basis.clone(),
        message,
        conflicts: Vec::new(),
    }
}

/// The `manual` finding of a rule whose layer is not loaded (or unusable).
pub(crate) fn missing_layer(rule: &Rule, unit: &'static str, layer: &str) -> Finding {
    finding(
        rule,
        Outcome::Manual,
        unit,
        format!(
            "图层 {layer} 未加载或不可用，无法自动审查，需人工审核；layer `{layer}` is not loaded or not usable: \
             the rule cannot be checked by machine and needs a person"
        ),
    )
}

/// The `manual` finding of a spatial rule when the plot cannot be measured.
pub(crate) fn unmeasurable(rule: &Rule, unit: &'static str, why: &str) -> Finding {
    finding(
        rule,
        Outcome::Manual,
        unit,
        format!(
            "地块无法量算（{why}），需人工审核；the plot cannot be measured ({why}): needs a person"
        ),
    )
}

/// `v` rounded to `digits` decimals.
pub(crate) fn round(v: f64, digits: i32) -> f64 {
    let k = 10f64.powi(digits);
    (v * k).round() / k
}

/// A number for messages: at most 2 decimals, no trailing zeros. (The
/// value rounded to 2 decimals is the `f64` nearest to `k / 100`, whose
/// shortest form, what `Display` writes, has at most 2 decimals.)
pub(crate) fn num(v: f64) -> String {
    let r = round(v, 2);
    if r == 0.0 { "0".into() } else { r.to_string() }
}

/// The listed attributes of a feature, as JSON values (absent ones skipped).
pub(crate) fn attributes<'f>(
    layer: &Layer,
    feature: &Feature,
    fields: impl IntoIterator<Item = &'f str>,
) -> BTreeMap<String, serde_json::Value> {
    let mut m = BTreeMap::new();
    for name in fields {
        if let Some(v) = layer.field_index(name).and_then(|i| layer.prop(feature, i)) {
            m.insert(name.to_string(), json_value(v));
        }
    }
    m
}

fn json_value(v: ValueRef<'_>) -> serde_json::Value {
    match v {
        ValueRef::String(s) => serde_json::Value::String(s.to_string()),
        ValueRef::Int(i) => serde_json::Value::from(i),
        ValueRef::Float(f) => serde_json::Number::from_f64(f)
            .map_or(serde_json::Value::Null, serde_json::Value::Number),
        ValueRef::Bool(b) => serde_json::Value::Bool(b),
    }
}
