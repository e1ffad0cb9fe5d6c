//! The raw layer of rule files: serde structs that reject unknown keys, and
//! their conversion into checked [`Rule`]s (every layer and attribute known
//! to the configuration, every threshold finite and non-negative, only the
//! keys the predicate uses).
//!
//! File format (see `rules/homestead.toml`):
//!
//! ```toml
//! id = "homestead"
//! version = "2024.1"
//! title = "宅基地用地智能审查 Homestead plot review"
//!
//! [[rule]]
//! id = "farmland"
//! title = "永久基本农田 Permanent basic farmland"
//! basis = "《广东省土地管理条例》第十五条"
//! predicate = "no_overlap"      # within | no_overlap | zone_class | min_distance
//!                               # | area_cap | attribute_limits | one_household
//! severity = "fail"             # optional: fail (default) | manual
//! layer = "farmland"            # or a list: ["hazard", "flood"]
//! tolerance_m2 = 0.5
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::rules::{AppField, Band, Limit, OverlapFilter, Predicate, Rule, RuleError, Setback};
use super::verdict::Outcome;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRuleSet {
    id: String,
    version: String,
    title: String,
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
    #[serde(default)]
    rule: Vec<toml::Table>,
}

/// Only the texts of a rule file (any other key ignored).
#[derive(Debug, Deserialize)]
struct TextsOnly {
    #[serde(default)]
    rule: Vec<RuleText>,
}

#[derive(Debug, Deserialize)]
struct RuleText {
    id: String,
    title: String,
    basis: String,
}

/// Rule id -> (title, basis) of rule-file text, without checking the rules.
pub(crate) fn rule_texts(text: &str) -> Result<super::rules::RuleTexts, String> {
    let t: TextsOnly = toml::from_str(text).map_err(|e| e.to_string())?;
    Ok(super::rules::RuleTexts {
        rules: t
            .rule
            .into_iter()
            .map(|r| (r.id, (r.title, r.basis)))
            .collect(),
    })
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: String,
    title: String,
    basis: String,
    predicate: String,
    severity: Option<String>,
    #[serde(default)]
    report: Vec<String>,
    layer: Option<OneOrMany>,
    tolerance_m2: Option<f64>,
    // no_overlap
    only: Option<BTreeMap<String, Vec<String>>>,
    exclude_own_household: Option<String>,
    exclude_replaced_parcel: Option<String>,
    // zone_class
    field: Option<String>,
    classes: Option<BTreeMap<String, String>>,
    uncovered: Option<String>,
    unknown: Option<String>,
    // min_distance
    class_field: Option<String>,
    distances: Option<BTreeMap<String, f64>>,
    band_field: Option<String>,
    bands: Option<Vec<RawBand>>,
    distance_field: Option<String>,
    offset_field: Option<String>,
    unlisted: Option<String>,
    // area_cap
    caps: Option<BTreeMap<String, f64>>,
    // attribute_limits
    limits: Option<Vec<RawLimit>>,
    // one_household
    household_field: Option<String>,
    parcel_field: Option<String>,
    status_field: Option<String>,
    statuses: Option<Vec<String>>,
    households_layer: Option<String>,
    households_key: Option<String>,
    transferred_field: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBand {
    min: f64,
    max: f64,
    distance_m: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimit {
    field: String,
    /// `field <= max`.
    max: Option<f64>,
    /// `field < below`.
    below: Option<f64>,
}

const PREDICATES: &[&str] = &[
    "within",
    "no_overlap",
    "zone_class",
    "min_distance",
    "area_cap",
    "attribute_limits",
    "one_household",
];

const COMMON: &[&str] = &["id", "title", "basis", "predicate", "severity", "report"];

/// Keys each predicate accepts besides [`COMMON`].
fn predicate_keys(predicate: &str) -> Option<&'static [&'static str]> {
    Some(match predicate {
        "within" => &["layer", "tolerance_m2"],
        "no_overlap" => &[
            "layer",
            "tolerance_m2",
            "only",
            "exclude_own_household",
            "exclude_replaced_parcel",
        ],
        "zone_class" => &[
            "layer",
            "field",
            "classes",
            "uncovered",
            "unknown",
            "tolerance_m2",
        ],
        "min_distance" => &[
            "layer",
            "class_field",
            "distances",
            "band_field",
            "bands",
            "distance_field",
            "offset_field",
            "unlisted",
        ],
        "area_cap" => &["caps"],
        "attribute_limits" => &["limits"],
        "one_household" => &[
            "layer",
            "household_field",
            "parcel_field",
            "status_field",
            "statuses",
            "households_layer",
            "households_key",
            "transferred_field",
        ],
        _ => return None,
    })
}

pub(crate) struct Parsed {
    pub id: String,
    pub version: String,
    pub title: String,
    pub rules: Vec<Rule>,
}

/// Parses and checks a rule file's text.
pub(crate) fn parse(
    file: &Path,
    text: &str,
    available: &impl Fn(&str) -> Option<Vec<String>>,
) -> Result<Parsed, RuleError> {
    let parse_err = |message: String| RuleError::Parse {
        file: file.to_path_buf(),
        message,
    };
    let raw: RawRuleSet =
        toml::from_str(text).map_err(|e| parse_err(e.to_string().trim().replace('\n', " ")))?;
    for (key, v) in [
        ("id", &raw.id),
        ("version", &raw.version),
        ("title", &raw.title),
    ] {
        if v.trim().is_empty() {
            return Err(parse_err(format!("key `{key}` must not be empty")));
        }
    }
    if raw.rule.is_empty() {
        return Err(parse_err("no [[rule]] defined".into()));
    }
    let mut rules: Vec<Rule> = Vec::with_capacity(raw.rule.len());
    for (i, table) in raw.rule.into_iter().enumerate() {
        let name = match table.get("id").and_then(toml::Value::as_str) {
            Some(id) => id.to_string(),
            None => format!("#{}", i + 1),
        };
        let invalid = |reason: String| RuleError::Invalid {
            file: file.to_path_buf(),
            rule: name.clone(),
            reason,
        };
        let rule = check_rule(table, available).map_err(invalid)?;
        if let Some(j) = rules.iter().position(|r| r.id == rule.id) {
            return Err(invalid(format!(
                "duplicate rule id (also rule #{} of the file)",
                j + 1
            )));
        }
        rules.push(rule);
    }
    Ok(Parsed {
        id: raw.id,
        version: raw.version,
        title: raw.title,
        rules,
    })
}

fn valid_rule_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && id.as_bytes()[0].is_ascii_lowercase()
}

/// Checks one `[[rule]]` table; the error is the reason (the caller adds
/// the file and rule).
fn check_rule(
    table: toml::Table,
    available: &impl Fn(&str) -> Option<Vec<String>>,
) -> Result<Rule, String> {
    let predicate = match table.get("predicate") {
        Some(toml::Value::String(p)) => p.clone(),
        Some(_) => return Err("key `predicate` must be a string".into()),
        None => return Err("missing key `predicate`".into()),
    };
    let Some(allowed) = predicate_keys(&predicate) else {
        return Err(format!(
            "unknown predicate `{predicate}` (expected within, no_overlap, zone_class, \
             min_distance, area_cap, attribute_limits or one_household)"
        ));
    };
    for key in table.keys() {
        if !COMMON.contains(&key.as_str()) && !allowed.contains(&key.as_str()) {
            let known = PREDICATES
                .iter()
                .filter_map(|p| predicate_keys(p))
                .any(|keys| keys.contains(&key.as_str()));
            return Err(if known {
                format!("key `{key}` does not apply to predicate `{predicate}`")
            } else {
                format!(
                    "unknown key `{key}` (predicate `{predicate}` takes: {})",
                    allowed.join(", ")
                )
            });
        }
    }
    let raw: RawRule = toml::Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| e.to_string().trim().replace('\n', " "))?;
    if !valid_rule_id(&raw.id) {
        return Err(format!(
            "`{}` is not a valid rule id (1-64 of a-z, 0-9, `_`, starting with a letter)",
            raw.id
        ));
    }
    if raw.title.trim().is_empty() {
        return Err("key `title` must not be empty".into());
    }
    if raw.basis.trim().is_empty() {
        return Err(
            "key `basis` must not be empty (the legal basis is quoted in every finding)".into(),
        );
    }
    let severity = match raw.severity.as_deref() {
        None | Some("fail") => Outcome::Fail,
        Some("manual") => Outcome::Manual,
        Some(s) => return Err(format!("severity `{s}`: expected `fail` or `manual`")),
    };
    if raw.severity.is_some() && predicate == "zone_class" {
        return Err(
            "key `severity` does not apply to `zone_class` (statuses come from `classes`)".into(),
        );
    }
    let mut c = Checker {
        available,
        raw: &raw,
    };
    let pred = c.predicate(&raw.predicate)?;
    let mut report = Vec::new();
    for f in &raw.report {
        let layers = pred.layers();
        if !layers
            .iter()
            .any(|l| c.attrs(l).is_ok_and(|a| a.iter().any(|x| x == f)))
        {
            return Err(format!(
                "`report` names `{f}`, which none of the rule's layers ({}) has",
                layers.join(", ")
            ));
        }
        report.push(f.clone());
    }
    Ok(Rule {
        id: raw.id.clone(),
        title: raw.title.clone(),
        basis: raw.basis.clone(),
        severity,
        predicate: pred,
        report,
    })
}

struct Checker<'a, F> {
    available: &'a F,
    raw: &'a RawRule,
}

impl<F: Fn(&str) -> Option<Vec<String>>> Checker<'_, F> {
    fn attrs(&self, layer: &str) -> Result<Vec<String>, String> {
        (self.available)(layer).ok_or_else(|| {
            format!("layer `{layer}` is not configured (no layers/*.toml defines it)")
        })
    }

    /// Checks that every layer in `layers` has attribute `field`.
    fn need_attr(&self, layers: &[String], key: &str, field: &str) -> Result<(), String> {
        for l in layers {
            let attrs = self.attrs(l)?;
            if !attrs.iter().any(|a| a == field) {
                return Err(format!(
                    "`{key}` names attribute `{field}`, which layer `{l}` does not have (its attributes: {})",
                    attrs.join(", ")
                ));
            }
        }
        Ok(())
    }

    fn layers(&self) -> Result<Vec<String>, String> {
        let layers = match &self.raw.layer {
            None => return Err("missing key `layer`".into()),
            Some(OneOrMany::One(l)) => vec![l.clone()],
            Some(OneOrMany::Many(ls)) => ls.clone(),
        };
        if layers.is_empty() {
            return Err("key `layer` must name at least one layer".into());
        }
        for l in &layers {
            self.attrs(l)?;
        }
        Ok(layers)
    }

    fn predicate(&mut self, predicate: &str) -> Result<Predicate, String> {
        let raw = self.raw;
        let tolerance = || nonneg("tolerance_m2", raw.tolerance_m2.unwrap_or(0.0));
        Ok(match predicate {
            "within" => Predicate::Within {
                layers: self.layers()?,
                tolerance_m2: tolerance()?,
            },
            "no_overlap" => {
                let layers = self.layers()?;
                let mut filter = OverlapFilter::default();
                for (field, values) in raw.only.clone().unwrap_or_default() {
                    self.need_attr(&layers, "only", &field)?;
                    if values.is_empty() {
                        return Err(format!("`only.{field}` lists no values"));
                    }
                    filter.only.insert(field, values);
                }
                if let Some(f) = &raw.exclude_own_household {
                    self.need_attr(&layers, "exclude_own_household", f)?;
                    filter.exclude_own_household = Some(f.clone());
                }
                if let Some(f) = &raw.exclude_replaced_parcel {
                    self.need_attr(&layers, "exclude_replaced_parcel", f)?;
                    filter.exclude_replaced_parcel = Some(f.clone());
                }
                Predicate::NoOverlap {
                    layers,
                    tolerance_m2: tolerance()?,
                    filter,
                }
            }
            "zone_class" => {
                let layers = self.layers()?;
                let field = raw.field.clone().ok_or("missing key `field`")?;
                self.need_attr(&layers, "field", &field)?;
                let mut classes = BTreeMap::new();
                for (k, v) in raw.classes.clone().ok_or("missing key `classes`")? {
                    let o = outcome(&format!("classes.{k}"), &v)?;
                    classes.insert(k, o);
                }
                if classes.is_empty() {
                    return Err("`classes` is empty".into());
                }
                Predicate::ZoneClass {
                    layers,
                    field,
                    classes,
                    uncovered: outcome("uncovered", raw.uncovered.as_deref().unwrap_or("manual"))?,
                    unknown: outcome("unknown", raw.unknown.as_deref().unwrap_or("manual"))?,
                    tolerance_m2: tolerance()?,
                }
            }
            "min_distance" => self.min_distance()?,
            "area_cap" => {
                let caps = raw.caps.clone().ok_or("missing key `caps`")?;
                if caps.is_empty() {
                    return Err("`caps` is empty".into());
                }
                for (k, v) in &caps {
                    nonneg(&format!("caps.{k}"), *v)?;
                }
                Predicate::AreaCap { caps }
            }
            "attribute_limits" => {
                let mut limits = Vec::new();
                for l in raw.limits.as_deref().ok_or("missing key `limits`")? {
                    let field = AppField::parse(&l.field).ok_or_else(|| {
                        format!(
                            "limit on `{}`: the application has no such field (floors, floor_area_m2)",
                            l.field
                        )
                    })?;
                    let (max, inclusive) = match (l.max, l.below) {
                        (Some(m), None) => (m, true),
                        (None, Some(b)) => (b, false),
                        _ => {
                            return Err(format!(
                                "limit on `{}`: give exactly one of `max` (<=) or `below` (<)",
                                l.field
                            ));
                        }
                    };
                    nonneg(&format!("limit on `{}`", l.field), max)?;
                    limits.push(Limit {
                        field,
                        max,
                        inclusive,
                    });
                }
                if limits.is_empty() {
                    return Err("`limits` is empty".into());
                }
                Predicate::AttributeLimits { limits }
            }
            "one_household" => {
                let layers = self.layers()?;
                let [layer] = <[String; 1]>::try_from(layers).map_err(|_| {
                    "`one_household` takes exactly one ownership `layer`".to_string()
                })?;
                let get = |v: &Option<String>, d: &str| v.clone().unwrap_or_else(|| d.to_string());
                let household_field = get(&raw.household_field, "household_id");
                let parcel_field = get(&raw.parcel_field, "zddm");
                let status_field = get(&raw.status_field, "status");
                let one = std::slice::from_ref(&layer);
                self.need_attr(one, "household_field", &household_field)?;
                self.need_attr(one, "parcel_field", &parcel_field)?;
                self.need_attr(one, "status_field", &status_field)?;
                let households_layer = get(&raw.households_layer, "households");
                let households_key = get(&raw.households_key, "household_id");
                let transferred_field = get(&raw.transferred_field, "transferred");
                let hh = std::slice::from_ref(&households_layer);
                self.need_attr(hh, "households_key", &households_key)?;
                self.need_attr(hh, "transferred_field", &transferred_field)?;
                let statuses = raw
                    .statuses
                    .clone()
                    .unwrap_or_else(|| vec!["approved".into(), "registered".into()]);
                if statuses.is_empty() {
                    return Err("`statuses` is empty".into());
                }
                Predicate::OneHousehold {
                    layer,
                    household_field,
                    parcel_field,
                    status_field,
                    statuses,
                    households_layer,
                    households_key,
                    transferred_field,
                }
            }
            other => return Err(format!("unknown predicate `{other}`")),
        })
    }

    fn min_distance(&mut self) -> Result<Predicate, String> {
        let raw = self.raw;
        let layers = self.layers()?;
        let given = [
            raw.class_field.is_some() || raw.distances.is_some(),
            raw.band_field.is_some() || raw.bands.is_some(),
            raw.distance_field.is_some(),
        ];
        if given.iter().filter(|g| **g).count() != 1 {
            return Err("give exactly one of `class_field` + `distances`, `band_field` + `bands`, or `distance_field`".into());
        }
        let setback = if let Some(field) = &raw.class_field {
            self.need_attr(&layers, "class_field", field)?;
            let metres = raw
                .distances
                .clone()
                .ok_or("`class_field` needs `distances`")?;
            if metres.is_empty() {
                return Err("`distances` is empty".into());
            }
            for (k, v) in &metres {
                nonneg(&format!("distances.{k}"), *v)?;
            }
            Setback::Class {
                field: field.clone(),
                metres,
            }
        } else if let Some(field) = &raw.band_field {
            self.need_attr(&layers, "band_field", field)?;
            let raw_bands = raw.bands.as_deref().ok_or("`band_field` needs `bands`")?;
            let mut bands: Vec<Band> = Vec::new();
            for b in raw_bands {
                nonneg("bands.min", b.min)?;
                nonneg("bands.max", b.max)?;
                nonneg("bands.distance_m", b.distance_m)?;
                if b.min > b.max {
                    return Err(format!("band {}..={}: min above max", b.min, b.max));
                }
                if let Some(o) = bands.iter().find(|o| b.min <= o.max && o.min <= b.max) {
                    return Err(format!(
                        "band {}..={} overlaps band {}..={}",
                        b.min, b.max, o.min, o.max
                    ));
                }
                bands.push(Band {
                    min: b.min,
                    max: b.max,
                    metres: b.distance_m,
                });
            }
            if bands.is_empty() {
                return Err("`bands` is empty".into());
            }
            bands.sort_by(|a, b| a.min.total_cmp(&b.min));
            Setback::Bands {
                field: field.clone(),
                bands,
            }
        } else if let Some(field) = &raw.distance_field {
            self.need_attr(&layers, "distance_field", field)?;
            Setback::Field {
                field: field.clone(),
            }
        } else {
            return Err("`distances` needs `class_field`, `bands` needs `band_field`".into());
        };
        if let Some(f) = &raw.offset_field {
            self.need_attr(&layers, "offset_field", f)?;
        }
        Ok(Predicate::MinDistance {
            layers,
            setback,
            offset_field: raw.offset_field.clone(),
            unlisted: outcome("unlisted", raw.unlisted.as_deref().unwrap_or("pass"))?,
        })
    }
}

fn nonneg(key: &str, v: f64) -> Result<f64, String> {
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(format!("`{key}` = {v}: must be a finite number >= 0"))
    }
}

fn outcome(key: &str, v: &str) -> Result<Outcome, String> {
    Outcome::parse(v).ok_or_else(|| format!("`{key}` = `{v}`: expected pass, manual or fail"))
}
