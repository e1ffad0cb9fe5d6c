//! Validation of a read upload and the JSON [`ValidationReport`].
//!
//! * CRS: the override wins, else what the file declares (`.prj`, GeoPackage
//!   srs, FlatGeobuf header, GeoJSON `crs` member), else WGS 84 for GeoJSON
//!   (RFC 7946); anything else is [`IngestError::UnknownCrs`] (a 422). The
//!   axis order is detected from the coordinates ([`detect_axis_order`]).
//! * Per feature: vertex cap (an error naming the feature), then
//!   [`check`] with repair (finite coordinates, one geometry family, OGC
//!   validity), then every vertex must map to lon/lat within the CRS's
//!   range. Repaired features are kept with their fix reported; rejected
//!   ones are reported and left out of the dataset (the caller answers 422
//!   when [`ValidationReport::rejected`] is non-zero, or publishes the rest
//!   if its policy allows).
//! * Coordinate ranges in the source CRS and in lon/lat, attribute schema,
//!   and [`compare_schema`] against a previous version.

use std::collections::BTreeMap;

use geo::{BoundingRect, CoordsIter, Geometry};
use serde::Serialize;

use crate::crs::{AxisOrder, Crs, Transformer, detect_axis_order};
use crate::layer::validate::{Checked, check};
use crate::layer::{FieldType, GeomKind};

use super::{IngestError, IngestOptions, Ingested, ReadOutcome, UploadFormat};

/// Where the CRS came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CrsSource {
    Override,
    Prj,
    GpkgSrs,
    FgbHeader,
    GeoJsonCrsMember,
    GeoJsonDefault,
}

/// A bounding box.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Bounds {
    pub min_x: f64,
    pub min_y: f64,
    pub max_x: f64,
    pub max_y: f64,
}

impl Bounds {
    fn add(b: &mut Option<Bounds>, x: f64, y: f64) {
        let n = b.get_or_insert(Bounds {
            min_x: x,
            min_y: y,
            max_x: x,
            max_y: y,
        });
        n.min_x = n.min_x.min(x);
        n.min_y = n.min_y.min(y);
        n.max_x = n.max_x.max(x);
        n.max_y = n.max_y.max(y);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FixAction {
    /// Repaired (`ST_MakeValid`-like); the repaired geometry is kept.
    Repaired,
    /// Not usable; left out of the dataset.
    Rejected,
}

/// One feature's geometry problem.
#[derive(Debug, Clone, Serialize)]
pub struct FeatureProblem {
    /// Row in the file (0-based).
    pub row: u64,
    /// Feature id from the file, when it has one (GeoPackage fid).
    pub id: Option<u64>,
    pub problem: String,
    pub action: FixAction,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldSchema {
    pub name: String,
    #[serde(rename = "type")]
    pub field_type: FieldType,
}

/// Schema and size change against the previous version.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SchemaDiff {
    pub added: Vec<FieldSchema>,
    pub removed: Vec<FieldSchema>,
    /// `(name, old type, new type)`.
    pub retyped: Vec<(String, FieldType, FieldType)>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VersionChange {
    pub schema: SchemaDiff,
    pub previous_feature_count: usize,
    pub feature_count_change: i64,
}

/// The JSON report returned for every upload (and `?dry_run=true`).
#[derive(Debug, Clone, Serialize)]
pub struct ValidationReport {
    pub format: UploadFormat,
    pub layer_name: Option<String>,
    /// `EPSG:nnnn`.
    pub crs: String,
    pub crs_source: CrsSource,
    /// What the file declared, when an override replaced it.
    pub declared_crs: Option<String>,
    pub axis_order: AxisOrder,
    /// Attribute text encoding (Shapefile).
    pub encoding: Option<String>,
    /// Features accepted (valid or repaired).
    pub feature_count: usize,
    pub geometry_kind: Option<GeomKind>,
    pub bounds: Option<Bounds>,
    pub bounds_lonlat: Option<Bounds>,
    pub repaired: usize,
    pub rejected: usize,
    pub problems: Vec<FeatureProblem>,
    pub schema: Vec<FieldSchema>,
    pub warnings: Vec<String>,
    /// Filled by [`ValidationReport::compare_with`].
    pub change: Option<VersionChange>,
}

impl ValidationReport {
    /// Whether the upload may be published as is (nothing rejected, not empty).
    pub fn is_publishable(&self) -> bool {
        self.rejected == 0 && self.feature_count > 0
    }

    /// Records the differences with the previous version.
    pub fn compare_with(&mut self, prev_schema: &[(String, FieldType)], prev_count: usize) {
        let new: Vec<(String, FieldType)> = self
            .schema
            .iter()
            .map(|f| (f.name.clone(), f.field_type))
            .collect();
        self.change = Some(VersionChange {
            schema: compare_schema(prev_schema, &new),
            previous_feature_count: prev_count,
            feature_count_change: self.feature_count as i64 - prev_count as i64,
        });
    }
}

/// Fields added, removed and retyped between two schemas (by name).
pub fn compare_schema(prev: &[(String, FieldType)], new: &[(String, FieldType)]) -> SchemaDiff {
    let old: BTreeMap<&str, FieldType> = prev.iter().map(|(n, t)| (n.as_str(), *t)).collect();
    let cur: BTreeMap<&str, FieldType> = new.iter().map(|(n, t)| (n.as_str(), *t)).collect();
    let field = |n: &str, t: FieldType| FieldSchema {
        name: n.to_string(),
        field_type: t,
    };
    SchemaDiff {
        added: new
            .iter()
            .filter(|(n, _)| !old.contains_key(n.as_str()))
            .map(|(n, t)| field(n, *t))
            .collect(),
        removed: prev
            .iter()
            .filter(|(n, _)| !cur.contains_key(n.as_str()))
            .map(|(n, t)| field(n, *t))
            .collect(),
        retyped: new
            .iter()
            .filter_map(|(n, t)| match old.get(n.as_str()) {
                Some(o) if o != t => Some((n.clone(), *o, *t)),
                _ => None,
            })
            .collect(),
    }
}

fn resolve_crs(
    out: &ReadOutcome,
    format: UploadFormat,
    opts: &IngestOptions,
) -> Result<(Crs, CrsSource), IngestError> {
    if let Some(c) = opts.crs_override {
        return Ok((c, CrsSource::Override));
    }
    if let Some(d) = out.declared_crs {
        return Ok(d);
    }
    match format {
        UploadFormat::GeoJson => Ok((Crs::Wgs84, CrsSource::GeoJsonDefault)),
        UploadFormat::ShapefileZip => Err(IngestError::UnknownCrs(
            "the shapefile has no .prj: send a CRS override (e.g. EPSG:4547)".into(),
        )),
        f => Err(IngestError::UnknownCrs(format!(
            "the {} declares no CRS: send a CRS override (e.g. EPSG:4547)",
            f.name()
        ))),
    }
}

/// Validates what a reader produced; see the module docs.
pub(crate) fn validate(
    mut out: ReadOutcome,
    format: UploadFormat,
    opts: &IngestOptions,
) -> Result<Ingested, IngestError> {
    let (crs, crs_source) = resolve_crs(&out, format, opts)?;
    let declared_crs = match (crs_source, out.declared_crs) {
        (CrsSource::Override, Some((d, _))) => {
            if d != crs {
                out.warnings.push(format!(
                    "the file declares EPSG:{}, overridden with EPSG:{}",
                    d.epsg(),
                    crs.epsg()
                ));
            }
            Some(format!("EPSG:{}", d.epsg()))
        }
        _ => None,
    };
    if out.dataset.features.len() > opts.max_features {
        return Err(IngestError::TooManyFeatures {
            limit: opts.max_features,
        });
    }
    for f in &out.dataset.features {
        let n = f.geometry.as_ref().map_or(0, |g| g.coords_count());
        if n > opts.max_vertices_per_feature {
            return Err(IngestError::TooManyVertices {
                row: f.row,
                vertices: n,
                limit: opts.max_vertices_per_feature,
            });
        }
    }
    let sample = out
        .dataset
        .features
        .iter()
        .filter_map(|f| f.geometry.as_ref())
        .flat_map(|g| g.coords_iter().take(4))
        .take(2000)
        .map(|c| (c.x, c.y));
    let axis = detect_axis_order(crs, sample);
    let tf = Transformer::new(crs, axis).map_err(|e| IngestError::UnknownCrs(e.to_string()))?;
    let kind = dominant_kind(&out.dataset.features);

    let mut problems = Vec::new();
    let (mut bounds, mut bounds_ll) = (None, None);
    let (mut repaired, mut rejected) = (0, 0);
    let features = std::mem::take(&mut out.dataset.features);
    for mut f in features {
        let (row, id) = (f.row, f.id);
        let problem = move |problem: String, action: FixAction| FeatureProblem {
            row,
            id,
            problem,
            action,
        };
        let Some(g) = f.geometry.take() else {
            problems.push(problem("no geometry".into(), FixAction::Rejected));
            rejected += 1;
            continue;
        };
        let g = match check(g, kind, opts.repair) {
            Checked::Valid(g) => g,
            Checked::Repaired { geometry, reason } => {
                problems.push(problem(reason, FixAction::Repaired));
                repaired += 1;
                geometry
            }
            Checked::Invalid { reason } => {
                problems.push(problem(reason, FixAction::Rejected));
                rejected += 1;
                continue;
            }
        };
        if let Err(e) = lonlat_range(&g, &tf, &mut bounds_ll) {
            problems.push(problem(e, FixAction::Rejected));
            rejected += 1;
            continue;
        }
        if let Some(r) = g.bounding_rect() {
            Bounds::add(&mut bounds, r.min().x, r.min().y);
            Bounds::add(&mut bounds, r.max().x, r.max().y);
        }
        f.geometry = Some(g);
        out.dataset.features.push(f);
    }

    let schema = out
        .fields
        .iter()
        .zip(out.dataset.field_types.iter())
        .map(|(n, t)| FieldSchema {
            name: n.clone(),
            // A column never seen with a value: served as text.
            field_type: t.unwrap_or(FieldType::String),
        })
        .collect();
    let report = ValidationReport {
        format,
        layer_name: out.layer_name,
        crs: format!("EPSG:{}", crs.epsg()),
        crs_source,
        declared_crs,
        axis_order: axis,
        encoding: out.encoding,
        feature_count: out.dataset.features.len(),
        geometry_kind: kind,
        bounds,
        bounds_lonlat: bounds_ll,
        repaired,
        rejected,
        problems,
        schema,
        warnings: out.warnings,
        change: None,
    };
    Ok(Ingested {
        dataset: out.dataset,
        fields: out.fields,
        crs,
        report,
    })
}

/// Extends the lon/lat bounds with every vertex; the first vertex outside
/// the CRS's valid range is the error.
fn lonlat_range(g: &Geometry, tf: &Transformer, b: &mut Option<Bounds>) -> Result<(), String> {
    let mut local = *b;
    for c in g.coords_iter() {
        let (lon, lat) = tf.to_lonlat(c.x, c.y).map_err(|e| e.to_string())?;
        Bounds::add(&mut local, lon, lat);
    }
    *b = local;
    Ok(())
}

/// The most common geometry family (ties: polygon, line, point).
fn dominant_kind(features: &[crate::layer::read::RawFeature]) -> Option<GeomKind> {
    let mut counts = [0usize; 3];
    for g in features.iter().filter_map(|f| f.geometry.as_ref()) {
        match GeomKind::of(g) {
            Some(GeomKind::Polygon) => counts[0] += 1,
            Some(GeomKind::Line) => counts[1] += 1,
            Some(GeomKind::Point) => counts[2] += 1,
            None => {}
        }
    }
    let kinds = [GeomKind::Polygon, GeomKind::Line, GeomKind::Point];
    let best = (0..3).max_by_key(|&i| (counts[i], 3 - i))?;
    (counts[best] > 0).then_some(kinds[best])
}
