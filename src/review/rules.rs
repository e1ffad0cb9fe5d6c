//! Rule sets: `rules/*.toml` read in two phases (a raw serde layer that
//! rejects unknown keys, in `parse`, then the checked [`RuleSet`] here).
//!
//! A file that names a layer or attribute the configuration does not know, a
//! negative or non-finite threshold, an unknown predicate or a duplicate rule
//! id is refused at start-up with a [`RuleError`] naming the file, the rule
//! and the reason. A layer that is configured but not loaded at evaluation
//! time is not an error: the rules that need it answer `manual`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::cache::IndexCache;
use super::verdict::{Outcome, RuleSetRef};
use crate::store::audit::RuleSetSource;

#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    Parse { file: PathBuf, message: String },
    #[error("{file}: rule `{rule}`: {reason}")]
    Invalid {
        file: PathBuf,
        rule: String,
        reason: String,
    },
}

/// A checked rule set.
#[derive(Debug, Clone, Serialize)]
pub struct RuleSet {
    pub id: String,
    pub version: String,
    pub title: String,
    /// SHA-256 (hex) of the file's bytes: what the audit log records.
    pub hash: String,
    pub rules: Vec<Rule>,
    /// The file's text under `hash`, stored once in the audit store (the
    /// rule titles and legal bases verdicts are shown with).
    #[serde(skip)]
    pub source: Arc<RuleSetSource>,
    /// Per rule (in order): `"basis":…,"title":…,` as JSON, escaped once
    /// for the API view of every verdict.
    #[serde(skip)]
    view_texts: Arc<Vec<Box<[u8]>>>,
    /// Side indexes over layers, built on first use (see `cache`).
    #[serde(skip)]
    pub(crate) cache: IndexCache,
}

/// Rule id -> (title, legal basis): the texts a stored verdict leaves to
/// its rule set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleTexts {
    pub rules: BTreeMap<String, (String, String)>,
}

impl RuleTexts {
    /// The texts of a stored rule file (only `[[rule]]` ids, titles and
    /// bases are read; the file was checked when it was in use).
    pub fn from_source(text: &str) -> Result<RuleTexts, String> {
        super::parse::rule_texts(text)
    }

    /// `(title, basis)` of a rule.
    pub fn get(&self, rule: &str) -> Option<(&str, &str)> {
        self.rules.get(rule).map(|(t, b)| (t.as_str(), b.as_str()))
    }
}

/// One rule.
#[derive(Debug, Clone, Serialize)]
pub struct Rule {
    /// Unique within the set (`one_household`, `area_cap`, ...).
    pub id: String,
    /// Chinese and English.
    pub title: String,
    /// Legal basis, quoted in every finding.
    pub basis: String,
    /// The status a violation gives (`fail` or `manual`). `zone_class` rules
    /// take their statuses from their class table instead.
    pub severity: Outcome,
    pub predicate: Predicate,
    /// Attributes copied into each reported feature, besides those the
    /// predicate itself uses.
    pub report: Vec<String>,
}

/// What a rule checks, with its thresholds.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Predicate {
    /// The plot lies within the union of the layers' polygons; at most
    /// `tolerance_m2` of it may lie outside.
    Within {
        layers: Vec<String>,
        tolerance_m2: f64,
    },
    /// The plot overlaps no (filtered) polygon of the layers by more than
    /// `tolerance_m2` in total.
    NoOverlap {
        layers: Vec<String>,
        tolerance_m2: f64,
        filter: OverlapFilter,
    },
    /// The class (`field`) of each zone the plot overlaps (by more than
    /// `tolerance_m2`) gives a status; the worst wins. `uncovered` applies to
    /// the part of the plot no zone covers, `unknown` to a class missing from
    /// `classes`.
    ZoneClass {
        layers: Vec<String>,
        field: String,
        classes: BTreeMap<String, Outcome>,
        uncovered: Outcome,
        unknown: Outcome,
        tolerance_m2: f64,
    },
    /// Every feature of the layers within reach keeps its setback from the
    /// plot. The distance is measured from the feature's geometry, minus its
    /// `offset_field` (e.g. half the width of highway land, so the distance
    /// is from the outer edge of the highway land).
    MinDistance {
        layers: Vec<String>,
        setback: Setback,
        offset_field: Option<String>,
        /// Status for a feature whose class has no setback configured:
        /// `pass` ignores it, `manual` asks a person.
        unlisted: Outcome,
    },
    /// Plot area (m²) `<=` the cap for the application's terrain class.
    /// An unknown terrain class needs a person.
    AreaCap { caps: BTreeMap<String, f64> },
    /// Limits on the application's declared values.
    AttributeLimits { limits: Vec<Limit> },
    /// One household, one homestead (一户一宅).
    OneHousehold {
        /// The ownership layer (homestead parcels).
        layer: String,
        household_field: String,
        /// Parcel code compared with `replaces_parcel` (建新拆旧).
        parcel_field: String,
        status_field: String,
        /// Statuses that count as holding a homestead.
        statuses: Vec<String>,
        households_layer: String,
        households_key: String,
        /// Non-empty (`sold`, `rented`, `gifted`) = the household transferred
        /// its house and may not apply again.
        transferred_field: String,
    },
}

/// Which features a `no_overlap` rule ignores.
#[derive(Debug, Clone, Default, Serialize)]
pub struct OverlapFilter {
    /// Only features whose attribute is one of the values count.
    pub only: BTreeMap<String, Vec<String>>,
    /// Features whose attribute equals the applicant's household id are the
    /// applicant's own and do not count.
    pub exclude_own_household: Option<String>,
    /// The feature whose attribute equals `replaces_parcel` does not count.
    pub exclude_replaced_parcel: Option<String>,
}

/// How a `min_distance` rule finds the setback of one feature.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum Setback {
    /// By a class attribute (e.g. `road_class` -> metres).
    Class {
        field: String,
        metres: BTreeMap<String, f64>,
    },
    /// By numeric bands of an attribute (e.g. `kv` 35..=110 -> 10 m).
    Bands { field: String, bands: Vec<Band> },
    /// The feature's own attribute in metres (e.g. `protection_m`).
    Field { field: String },
}

/// `min..=max` of a numeric attribute -> setback metres.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Band {
    pub min: f64,
    pub max: f64,
    pub metres: f64,
}

/// A declared value of the application the limits can refer to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AppField {
    Floors,
    FloorAreaM2,
}

impl AppField {
    pub fn parse(s: &str) -> Option<AppField> {
        match s {
            "floors" => Some(AppField::Floors),
            "floor_area_m2" => Some(AppField::FloorAreaM2),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            AppField::Floors => "floors",
            AppField::FloorAreaM2 => "floor_area_m2",
        }
    }

    pub fn unit(self) -> &'static str {
        match self {
            AppField::Floors => "floors",
            AppField::FloorAreaM2 => "m2",
        }
    }
}

/// `field <= max` (`inclusive`) or `field < max`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Limit {
    pub field: AppField,
    pub max: f64,
    pub inclusive: bool,
}

impl Predicate {
    /// The layers the rule reads.
    pub fn layers(&self) -> Vec<&str> {
        match self {
            Predicate::Within { layers, .. }
            | Predicate::NoOverlap { layers, .. }
            | Predicate::ZoneClass { layers, .. }
            | Predicate::MinDistance { layers, .. } => layers.iter().map(String::as_str).collect(),
            Predicate::AreaCap { .. } | Predicate::AttributeLimits { .. } => Vec::new(),
            Predicate::OneHousehold {
                layer,
                households_layer,
                ..
            } => vec![layer.as_str(), households_layer.as_str()],
        }
    }
}

impl RuleSet {
    /// Reads and checks a rule file. `available_layers` maps a configured
    /// layer id to its attribute names (`None`: not configured).
    pub fn load(
        path: &Path,
        available_layers: &impl Fn(&str) -> Option<Vec<String>>,
    ) -> Result<RuleSet, RuleError> {
        let bytes = std::fs::read(path).map_err(|source| RuleError::Read {
            file: path.to_path_buf(),
            source,
        })?;
        let text = String::from_utf8(bytes).map_err(|e| RuleError::Parse {
            file: path.to_path_buf(),
            message: format!("not UTF-8: {e}"),
        })?;
        Self::from_str(path, &text, available_layers)
    }

    /// Parses and checks rule-file text; `file` names it in errors.
    pub fn from_str(
        file: &Path,
        text: &str,
        available_layers: &impl Fn(&str) -> Option<Vec<String>>,
    ) -> Result<RuleSet, RuleError> {
        let hash = hex::encode(Sha256::digest(text.as_bytes()));
        let parsed = super::parse::parse(file, text, available_layers)?;
        let view_texts = parsed
            .rules
            .iter()
            .map(|r| {
                let mut b = b"\"basis\":".to_vec();
                let _ = serde_json::to_writer(&mut b, &r.basis);
                b.extend_from_slice(b",\"title\":");
                let _ = serde_json::to_writer(&mut b, &r.title);
                b.push(b',');
                b.into_boxed_slice()
            })
            .collect();
        Ok(RuleSet {
            view_texts: Arc::new(view_texts),
            id: parsed.id,
            version: parsed.version,
            title: parsed.title,
            source: Arc::new(RuleSetSource {
                hash: hash.clone(),
                text: Arc::from(text),
            }),
            hash,
            rules: parsed.rules,
            cache: IndexCache::default(),
        })
    }

    /// `"basis":…,"title":…,` of the `i`-th rule when its id is `rule`.
    pub(crate) fn view_texts(&self, i: usize, rule: &str) -> Option<&[u8]> {
        self.rules
            .get(i)
            .filter(|r| r.id == rule)
            .and_then(|_| self.view_texts.get(i))
            .map(|b| &b[..])
    }

    /// Bytes of all [`RuleSet::view_texts`].
    pub(crate) fn view_texts_len(&self) -> usize {
        self.view_texts.iter().map(|b| b.len()).sum()
    }

    /// The title and legal basis of each rule, for showing stored verdicts.
    pub fn texts(&self) -> RuleTexts {
        RuleTexts {
            rules: self
                .rules
                .iter()
                .map(|r| (r.id.clone(), (r.title.clone(), r.basis.clone())))
                .collect(),
        }
    }

    /// Id, version and hash, as recorded in verdicts.
    pub fn reference(&self) -> RuleSetRef {
        RuleSetRef {
            id: self.id.clone(),
            version: self.version.clone(),
            hash: self.hash.clone(),
        }
    }

    /// Every layer some rule reads, sorted, without repeats.
    pub fn layers(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .rules
            .iter()
            .flat_map(|r| r.predicate.layers())
            .map(str::to_string)
            .collect();
        v.sort();
        v.dedup();
        v
    }
}
