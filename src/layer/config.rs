//! Layer definitions (`layers/*.toml`), read in two phases: a raw serde struct
//! that rejects unknown keys, then a resolved [`LayerDef`] whose every value
//! has been checked (file exists, CRS on the allow-list, zooms in range).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::crs::{AxisOrder, Crs};

/// Highest zoom level tudi serves.
pub const MAX_ZOOM: u8 = 22;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    Parse { file: PathBuf, message: String },
    #[error("{file}: key `{key}`: {reason}")]
    Invalid {
        file: PathBuf,
        key: &'static str,
        reason: String,
    },
    #[error("{file}: key `id`: layer id `{id}` is already defined in {other}")]
    Duplicate {
        file: PathBuf,
        id: String,
        other: PathBuf,
    },
    #[error("{dir}: no layer definitions (*.toml) found")]
    Empty { dir: PathBuf },
}

pub use crate::auth::{Access, Mask};

/// What to do with a feature whose geometry is invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum InvalidPolicy {
    /// Repair it (make-valid) and report the repair.
    #[default]
    Repair,
    /// Refuse to load the whole layer.
    Reject,
}

/// Source file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceFormat {
    GeoJson,
    FlatGeobuf,
}

impl SourceFormat {
    pub fn from_path(path: &Path) -> Option<SourceFormat> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "geojson" | "json" => Some(SourceFormat::GeoJson),
            "fgb" => Some(SourceFormat::FlatGeobuf),
            _ => None,
        }
    }
}

/// A layer definition as written (a `layers/*.toml` file, or the metadata
/// of a layer created through the API): phase one, not yet checked.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLayerDef {
    pub id: String,
    pub title: String,
    pub category: String,
    #[serde(default)]
    pub description: Option<String>,
    pub source: PathBuf,
    #[serde(default)]
    pub format: Option<SourceFormat>,
    pub crs: String,
    #[serde(default)]
    pub axis_order: Option<String>,
    #[serde(default)]
    pub id_field: Option<String>,
    #[serde(default)]
    pub attributes: Vec<String>,
    #[serde(default)]
    pub minzoom: Option<u8>,
    #[serde(default)]
    pub maxzoom: Option<u8>,
    #[serde(default = "default_true")]
    pub drop_small: bool,
    #[serde(default)]
    pub access: Access,
    /// Attribute -> lowest role allowed to read it.
    #[serde(default)]
    pub mask: Mask,
    #[serde(default)]
    pub invalid: InvalidPolicy,
    #[serde(default)]
    pub simplify_px: Option<f64>,
    #[serde(default)]
    pub label_points: bool,
}

fn default_true() -> bool {
    true
}

/// A checked layer definition.
#[derive(Debug, Clone, Serialize)]
pub struct LayerDef {
    pub id: String,
    pub title: String,
    pub category: String,
    pub description: Option<String>,
    /// Absolute or config-relative path to the source file, resolved.
    pub source: PathBuf,
    pub format: SourceFormat,
    #[serde(serialize_with = "ser_crs")]
    pub crs: Crs,
    pub axis_order: AxisOrder,
    pub id_field: Option<String>,
    /// Attribute allow-list: only these properties are served.
    pub attributes: Vec<String>,
    pub minzoom: u8,
    pub maxzoom: u8,
    /// Whether features smaller than a pixel may be dropped at low zoom.
    /// `false` for layers with legal meaning (restricted zones stay visible).
    pub drop_small: bool,
    pub access: Access,
    /// Attributes hidden from callers below a role.
    pub mask: Mask,
    pub invalid: InvalidPolicy,
    /// Simplification tolerance in tile pixels (1/4096 of a tile side is one
    /// unit of the encoded grid; one screen pixel of a 512-px tile is 8 units).
    pub simplify_px: f64,
    /// Polygon layers: tiles also carry a point layer `{id}.label` with one
    /// point per polygon, inside it, in exactly one tile per zoom (see
    /// [`LayerDef::label_layer`]), for clients to label polygons by: a
    /// polygon cut into several tiles is otherwise labelled once per piece.
    pub label_points: bool,
}

fn ser_crs<S: serde::Serializer>(c: &Crs, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("EPSG:{}", c.epsg()))
}

/// Layer ids appear in URLs and composite lists: keep them to a safe alphabet.
pub fn valid_layer_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        && id.as_bytes()[0].is_ascii_alphanumeric()
}

impl LayerDef {
    /// Reads and checks one `layers/*.toml` file.
    pub fn from_file(file: &Path) -> Result<LayerDef, ConfigError> {
        let text = std::fs::read_to_string(file).map_err(|source| ConfigError::Read {
            file: file.to_path_buf(),
            source,
        })?;
        Self::from_str(file, &text)
    }

    /// Parses and checks a definition; `file` names it in errors and anchors
    /// relative source paths.
    pub fn from_str(file: &Path, text: &str) -> Result<LayerDef, ConfigError> {
        let raw: RawLayerDef = toml::from_str(text).map_err(|e| ConfigError::Parse {
            file: file.to_path_buf(),
            message: e.to_string().trim().replace('\n', " "),
        })?;
        Self::resolve(raw, file)
    }

    /// Checks a raw definition; `file` names it in errors and anchors
    /// relative source paths.
    pub fn resolve(raw: RawLayerDef, file: &Path) -> Result<LayerDef, ConfigError> {
        let invalid = |key: &'static str, reason: String| ConfigError::Invalid {
            file: file.to_path_buf(),
            key,
            reason,
        };
        if !valid_layer_id(&raw.id) {
            return Err(invalid(
                "id",
                format!(
                    "`{}` is not a valid layer id (1-64 of a-z, 0-9, `_`, `-`, starting with a letter or digit)",
                    raw.id
                ),
            ));
        }
        if raw.title.trim().is_empty() {
            return Err(invalid("title", "must not be empty".into()));
        }
        if raw.category.trim().is_empty() {
            return Err(invalid("category", "must not be empty".into()));
        }
        let base = file.parent().unwrap_or(Path::new("."));
        let source = if raw.source.is_absolute() {
            raw.source.clone()
        } else {
            base.join(&raw.source)
        };
        if !source.is_file() {
            return Err(invalid(
                "source",
                format!("file `{}` does not exist", source.display()),
            ));
        }
        let format = match raw.format.or_else(|| SourceFormat::from_path(&source)) {
            Some(f) => f,
            None => {
                return Err(invalid(
                    "format",
                    format!(
                        "cannot tell the format of `{}` from its extension; set format = \"geojson\" or \"flatgeobuf\"",
                        source.display()
                    ),
                ));
            }
        };
        let crs = Crs::parse(&raw.crs).map_err(|e| invalid("crs", e.to_string()))?;
        let axis_order = match raw.axis_order.as_deref() {
            None => AxisOrder::Auto,
            Some(s) => AxisOrder::parse(s).map_err(|e| invalid("axis_order", e.to_string()))?,
        };
        let minzoom = raw.minzoom.unwrap_or(0);
        let maxzoom = raw.maxzoom.unwrap_or(20);
        if minzoom > MAX_ZOOM {
            return Err(invalid("minzoom", format!("{minzoom} is above {MAX_ZOOM}")));
        }
        if maxzoom > MAX_ZOOM {
            return Err(invalid("maxzoom", format!("{maxzoom} is above {MAX_ZOOM}")));
        }
        if minzoom > maxzoom {
            return Err(invalid(
                "minzoom",
                format!("{minzoom} is above maxzoom {maxzoom}"),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for a in &raw.attributes {
            if a.is_empty() || !seen.insert(a.as_str()) {
                return Err(invalid(
                    "attributes",
                    format!("`{a}` is empty or listed twice"),
                ));
            }
        }
        if raw.attributes.len() > u16::MAX as usize {
            return Err(invalid("attributes", "too many attributes".into()));
        }
        for a in raw.mask.keys() {
            if !raw.attributes.is_empty() && !raw.attributes.contains(a) {
                return Err(invalid(
                    "mask",
                    format!("`{a}` is not one of the layer's attributes"),
                ));
            }
        }
        let simplify_px = raw.simplify_px.unwrap_or(1.0);
        if !(0.0..=64.0).contains(&simplify_px) {
            return Err(invalid(
                "simplify_px",
                format!("{simplify_px} is outside 0..=64"),
            ));
        }
        Ok(LayerDef {
            id: raw.id,
            title: raw.title,
            category: raw.category,
            description: raw.description,
            source,
            format,
            crs,
            axis_order,
            id_field: raw.id_field,
            attributes: raw.attributes,
            minzoom,
            maxzoom,
            drop_small: raw.drop_small,
            access: raw.access,
            mask: raw.mask,
            invalid: raw.invalid,
            simplify_px,
            label_points: raw.label_points,
        })
    }

    /// The name of the label point layer, when the layer has one.
    pub fn label_layer(&self) -> Option<String> {
        self.label_points
            .then(|| format!("{}{LABEL_SUFFIX}", self.id))
    }
}

/// The source layer names that tiles of `defs` can carry: each layer's id
/// and, for a layer with label points, its label layer's name (what a
/// style's `source-layer` may name: `styles::load_dir`).
pub fn source_layer_names(defs: &[LayerDef]) -> Vec<String> {
    defs.iter()
        .flat_map(|d| std::iter::once(d.id.clone()).chain(d.label_layer()))
        .collect()
}

/// Label point layers are named after their layer with this suffix. The
/// dot is outside the layer id alphabet ([`valid_layer_id`]), so a label
/// layer's name is never a layer's id.
pub const LABEL_SUFFIX: &str = ".label";

/// Reads every `*.toml` in `dir` (sorted by name); ids must be unique.
pub fn read_dir(dir: &Path) -> Result<Vec<LayerDef>, ConfigError> {
    let entries = std::fs::read_dir(dir).map_err(|source| ConfigError::Read {
        file: dir.to_path_buf(),
        source,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(ConfigError::Empty {
            dir: dir.to_path_buf(),
        });
    }
    let mut defs: Vec<(PathBuf, LayerDef)> = Vec::new();
    for f in files {
        let def = LayerDef::from_file(&f)?;
        if let Some((other, _)) = defs.iter().find(|(_, d)| d.id == def.id) {
            return Err(ConfigError::Duplicate {
                file: f.clone(),
                id: def.id.clone(),
                other: other.clone(),
            });
        }
        defs.push((f, def));
    }
    Ok(defs.into_iter().map(|(_, d)| d).collect())
}
