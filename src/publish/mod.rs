//! Publishing layer versions while the server runs: validate an upload
//! ([`crate::ingest`]), store it as an immutable version in the
//! [`versions::VersionStore`] (FlatGeobuf in the data folder, [`fgb`], or a
//! PostGIS table, [`postgis`]), record it in the [`Catalog`], load it and
//! swap it into the [`Registry`]; roll back to an earlier version; delete a
//! layer; at start-up, decide which version of every layer to load
//! ([`startup`]); with a shared catalog, follow other instances' changes
//! ([`sync`]).
//!
//! Order of a publish (crash-safe): the upload is validated; the version
//! file is written under a temporary name, fsync'd and renamed; the catalog
//! transaction adds the version and makes it current (the acknowledgement
//! point); then the layer is loaded and swapped in. A crash before the
//! commit leaves the previous version current (an orphan file at most,
//! removed at the next start); a crash after it serves the new version at
//! the next start. No HTTP and no async here: call from a blocking thread.

pub mod fgb;
pub mod history;
pub mod postgis;
pub mod startup;
pub mod sync;
pub mod versions;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::crs::{AxisOrder, Crs};
use crate::ingest::{IngestError, IngestOptions, UploadFormat, ValidationReport};
use crate::layer::config::{ConfigError, RawLayerDef};
use crate::layer::load::LoadError;
use crate::layer::{Layer, LayerDef, Registry, SourceFormat, load_layer};
use crate::store::catalog::{EventKind, NewVersion, Origin, VersionRow};
use crate::store::{Catalog, StoreError};

/// Why a publish, rollback or delete did not happen. Mapped to HTTP status
/// in `http::error`.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("{0}")]
    Ingest(#[from] IngestError),
    /// Validation found problems that stop publishing; the report lists them.
    #[error("the upload cannot be published: {reason}")]
    Rejected {
        reason: String,
        report: Box<ValidationReport>,
    },
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Load(#[from] LoadError),
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("could not write the version file: {0}")]
    Write(String),
}

/// An uploaded file waiting in the data folder's `tmp/`.
#[derive(Debug, Clone)]
pub struct Upload {
    pub path: PathBuf,
    /// Format the client declared (content type, form field or file name).
    pub declared: Option<UploadFormat>,
    /// CRS override chosen by the uploader.
    pub crs: Option<Crs>,
    pub dry_run: bool,
    /// Key id of the publisher.
    pub by: Option<String>,
    pub note: Option<String>,
    /// Most vertices in all features of the version (`usize::MAX`: no cap).
    pub max_vertices: usize,
}

/// What a publish produced.
#[derive(Debug)]
pub struct Outcome {
    pub report: ValidationReport,
    /// `None` for a dry run.
    pub version: Option<VersionRow>,
    /// The loaded layer (already swapped in).
    pub layer: Option<Arc<Layer>>,
    /// Milliseconds spent in each step.
    pub timings: Timings,
}

/// Where a publish spent its time (milliseconds).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Timings {
    /// Reading and validating the upload.
    pub validate_ms: u64,
    /// Writing and fsyncing the version file.
    pub write_ms: u64,
    /// Loading the version (read, reproject, index).
    pub load_ms: u64,
    /// The catalog commit and the swap.
    pub commit_ms: u64,
}

fn ms(t: std::time::Instant) -> u64 {
    t.elapsed().as_millis() as u64
}

/// Publishing service: one publish, rollback or delete at a time.
pub struct Publisher {
    pub data_dir: PathBuf,
    pub catalog: Arc<dyn Catalog>,
    pub registry: Arc<Registry>,
    pub ingest: IngestOptions,
    /// Layer definitions of `layers/*.toml`, by id.
    bootstrap: std::collections::BTreeMap<String, LayerDef>,
    lock: Mutex<()>,
    /// Old versions loaded for "as of" reviews and reruns.
    old: history::OldVersions,
    /// Where published versions' features are written.
    versions: Arc<dyn versions::VersionStore>,
}

impl Publisher {
    pub fn new(
        data_dir: &Path,
        catalog: Arc<dyn Catalog>,
        registry: Arc<Registry>,
        bootstrap: &[LayerDef],
    ) -> Publisher {
        Publisher {
            data_dir: data_dir.to_path_buf(),
            catalog,
            registry,
            ingest: IngestOptions::default(),
            bootstrap: bootstrap
                .iter()
                .map(|d| (d.id.clone(), d.clone()))
                .collect(),
            lock: Mutex::new(()),
            old: history::OldVersions::default(),
            versions: Arc::new(versions::FileVersions {
                data_dir: data_dir.to_path_buf(),
            }),
        }
    }

    /// Stores published versions' features in `store` instead of
    /// FlatGeobuf files in the data folder.
    pub fn with_versions(mut self, store: Arc<dyn versions::VersionStore>) -> Publisher {
        self.versions = store;
        self
    }

    /// Folder for uploads being received.
    pub fn tmp_dir(&self) -> PathBuf {
        self.data_dir.join("tmp")
    }

    fn guard(&self) -> std::sync::MutexGuard<'_, ()> {
        match self.lock.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Creates a layer from its definition and a first upload.
    pub fn create(&self, spec: RawLayerDef, upload: &Upload) -> Result<Outcome, PublishError> {
        let _g = self.guard();
        let id = spec.id.clone();
        if self.bootstrap.contains_key(&id) {
            return Err(PublishError::Conflict(format!(
                "layer `{id}` already exists (defined in the server's layer files)"
            )));
        }
        if let Some(row) = self.catalog.layer(&id)?
            && row.deleted_at.is_none()
            && row.current.is_some()
        {
            return Err(PublishError::Conflict(format!(
                "layer `{id}` already exists"
            )));
        }
        // Check the definition now (with a stand-in source) so a bad one is
        // refused before the upload is read.
        let mut probe = spec.clone();
        probe.source = upload.path.clone();
        probe.format = Some(SourceFormat::GeoJson);
        probe.crs = "EPSG:4326".into();
        LayerDef::resolve(probe, Path::new("request"))?;
        let meta = serde_json::to_string(&spec)
            .map_err(|e| PublishError::BadRequest(format!("layer definition: {e}")))?;
        let t = std::time::Instant::now();
        let ingested = self.validate(upload, None, spec.invalid)?;
        let timings = Timings {
            validate_ms: ms(t),
            ..Timings::default()
        };
        if upload.dry_run {
            return Ok(Outcome {
                report: ingested.report,
                version: None,
                layer: None,
                timings,
            });
        }
        match self.catalog.layer(&id)? {
            Some(row) if row.deleted_at.is_none() => self.catalog.update_meta(&id, &meta)?,
            _ => self.catalog.create_layer(&id, Origin::Api, &meta)?,
        }
        self.store_and_swap(&id, ingested, upload, &spec.title, timings)
    }

    /// Publishes a new version of an existing layer.
    pub fn publish(&self, id: &str, upload: &Upload) -> Result<Outcome, PublishError> {
        let _g = self.guard();
        let base = self.base_def(id)?;
        let current = self.registry.get(id);
        let t = std::time::Instant::now();
        let ingested = self.validate(upload, current.as_deref(), base.invalid)?;
        let timings = Timings {
            validate_ms: ms(t),
            ..Timings::default()
        };
        if upload.dry_run {
            return Ok(Outcome {
                report: ingested.report,
                version: None,
                layer: None,
                timings,
            });
        }
        if self.catalog.layer(id)?.is_none() {
            self.catalog.create_layer(id, Origin::Bootstrap, "")?;
        }
        self.store_and_swap(id, ingested, upload, &base.title, timings)
    }

    /// Makes `to` (default: the version before the current one) current.
    pub fn rollback(&self, id: &str, to: Option<u64>) -> Result<Arc<Layer>, PublishError> {
        let _g = self.guard();
        let row = self
            .catalog
            .layer(id)?
            .filter(|r| r.deleted_at.is_none())
            .ok_or_else(|| PublishError::NotFound(format!("no layer `{id}`")))?;
        let current = row.current.unwrap_or(0);
        let target = match to {
            Some(v) => v,
            None => self
                .catalog
                .versions(id)?
                .iter()
                .map(|v| v.version)
                .filter(|v| *v < current)
                .max()
                .ok_or_else(|| {
                    PublishError::Conflict(format!(
                        "layer `{id}` has no version before {current} to roll back to"
                    ))
                })?,
        };
        if target == current {
            return Err(PublishError::Conflict(format!(
                "version {target} of `{id}` is already current"
            )));
        }
        let v = self.catalog.version(id, target)?.ok_or_else(|| {
            PublishError::NotFound(format!("layer `{id}` has no version {target}"))
        })?;
        let layer = self.load_version(&v)?;
        self.catalog.set_current(id, target)?;
        let layer = Arc::new(layer);
        self.registry.put_arc(layer.clone());
        Ok(layer)
    }

    /// Deletes a layer: no longer served; its versions stay on record.
    pub fn delete(&self, id: &str) -> Result<(), PublishError> {
        let _g = self.guard();
        if self.catalog.layer(id)?.is_none() && self.bootstrap.contains_key(id) {
            self.catalog.create_layer(id, Origin::Bootstrap, "")?;
        }
        self.catalog.delete_layer(id)?;
        self.registry.remove(id);
        Ok(())
    }

    /// The definition a layer's versions are loaded with.
    fn base_def(&self, id: &str) -> Result<LayerDef, PublishError> {
        if let Some(d) = self.bootstrap.get(id) {
            if self
                .catalog
                .layer(id)?
                .is_some_and(|r| r.deleted_at.is_some())
            {
                return Err(PublishError::NotFound(format!("no layer `{id}`")));
            }
            return Ok(d.clone());
        }
        if let Some(l) = self.registry.get(id) {
            return Ok(l.def.clone());
        }
        Err(PublishError::NotFound(format!("no layer `{id}`")))
    }

    /// Reads and validates the upload; compares it with `previous`.
    fn validate(
        &self,
        upload: &Upload,
        previous: Option<&Layer>,
        invalid: crate::layer::config::InvalidPolicy,
    ) -> Result<crate::ingest::Ingested, PublishError> {
        let mut opts = self.ingest.clone();
        opts.crs_override = upload.crs;
        opts.repair = invalid == crate::layer::config::InvalidPolicy::Repair;
        let format = match upload.declared {
            Some(f) => f,
            None => {
                let mut prefix = [0u8; 64];
                let n = read_prefix(&upload.path, &mut prefix)
                    .map_err(|e| PublishError::Io(upload.path.clone(), e))?;
                crate::ingest::sniff(&prefix[..n], None, None)?
            }
        };
        let mut ingested = crate::ingest::ingest(&upload.path, format, &opts)?;
        let vertices: usize = ingested
            .dataset
            .features
            .iter()
            .map(|f| f.geometry.as_ref().map_or(0, geo::CoordsIter::coords_count))
            .sum();
        if vertices > upload.max_vertices {
            return Err(PublishError::Rejected {
                reason: format!(
                    "{vertices} vertices in all, over the limit of {} per layer",
                    upload.max_vertices
                ),
                report: Box::new(ingested.report),
            });
        }
        if let Err(reason) = self.versions.check_fields(&ingested.fields) {
            return Err(PublishError::Rejected {
                reason,
                report: Box::new(ingested.report),
            });
        }
        if let Some(prev) = previous {
            ingested
                .report
                .compare_with(&prev.fields, prev.features.len());
        }
        if !ingested.report.is_publishable() && !upload.dry_run {
            let reason = if ingested.report.feature_count == 0 {
                "no valid feature".to_string()
            } else {
                format!(
                    "{} feature(s) rejected (see `problems`)",
                    ingested.report.rejected
                )
            };
            return Err(PublishError::Rejected {
                reason,
                report: Box::new(ingested.report),
            });
        }
        Ok(ingested)
    }

    /// Writes the version file, commits it to the catalog, loads and swaps.
    fn store_and_swap(
        &self,
        id: &str,
        ingested: crate::ingest::Ingested,
        upload: &Upload,
        title: &str,
        mut timings: Timings,
    ) -> Result<Outcome, PublishError> {
        let next = self
            .catalog
            .versions(id)?
            .iter()
            .map(|v| v.version)
            .max()
            .unwrap_or(0)
            + 1;
        // The definition the version loads with; resolved against the
        // upload (the version file does not exist yet), pointed at the
        // version file afterwards.
        let probe = VersionRow {
            layer: id.to_string(),
            version: next,
            file: upload.path.to_string_lossy().into_owned(),
            format: "geojson".into(),
            crs: format!("EPSG:{}", ingested.crs.epsg()),
            axis_order: "east_north".into(),
            sha256: String::new(),
            features: 0,
            bytes: 0,
            origin: Origin::Api,
            created_at: String::new(),
            created_by: None,
            note: None,
            fields: ingested.fields.clone(),
        };
        let mut def = self.def_for_version(&probe)?;
        def.axis_order = ingested.report.axis_order;
        // Write the version and build the in-memory layer at once (two
        // cores): the layer is built from the validated features, not read
        // back from the store.
        let raw = remap(&ingested.dataset, &ingested.fields, &def.attributes);
        let (written, built) = std::thread::scope(|s| {
            let writer = s.spawn(|| {
                let t = std::time::Instant::now();
                let w = self.versions.write(&versions::VersionWrite {
                    layer: id,
                    title,
                    dataset: &ingested.dataset,
                    fields: &ingested.fields,
                    crs: ingested.crs,
                    axis: ingested.report.axis_order,
                });
                (w, ms(t))
            });
            let t = std::time::Instant::now();
            let built = crate::layer::load::build_layer(
                &def,
                next,
                String::new(),
                raw,
                std::time::Instant::now(),
            );
            let load_ms = ms(t);
            let written = writer
                .join()
                .unwrap_or_else(|_| (Err(PublishError::Write("writer thread panicked".into())), 0));
            (written, (built, load_ms))
        });
        let (written, write_ms) = written;
        let (built, load_ms) = built;
        timings.write_ms = write_ms;
        timings.load_ms = load_ms;
        let written = written?;
        let cleanup = |e: PublishError| {
            self.versions.discard(&written);
            e
        };
        let (mut layer, _report) = built.map_err(|e| cleanup(e.into()))?;
        layer.content_hash = written.sha256[..16].to_string();
        layer.def.format = SourceFormat::FlatGeobuf;
        layer.def.axis_order = AxisOrder::EastNorth;
        let new = NewVersion {
            file: written.location.clone(),
            format: written.format.into(),
            crs: format!("EPSG:{}", ingested.crs.epsg()),
            axis_order: "east_north".into(),
            sha256: written.sha256.clone(),
            features: ingested.report.feature_count as u64,
            bytes: written.bytes,
            origin: Origin::Api,
            created_by: upload.by.clone(),
            report: serde_json::to_string(&ingested.report).ok(),
            note: upload.note.clone(),
            fields: ingested.fields.clone(),
        };
        let t = std::time::Instant::now();
        let row = self
            .catalog
            .add_version(id, &new, EventKind::Publish)
            .map_err(|e| cleanup(e.into()))?;
        layer.version = row.version;
        layer.def.source = match &written.path {
            Some(p) => p.clone(),
            None => PathBuf::from(&row.file),
        };
        let layer = Arc::new(layer);
        self.registry.put_arc(layer.clone());
        timings.commit_ms = ms(t);
        Ok(Outcome {
            report: ingested.report,
            version: Some(row),
            layer: Some(layer),
            timings,
        })
    }

    /// The definition to load version `v` with.
    pub fn def_for_version(&self, v: &VersionRow) -> Result<LayerDef, PublishError> {
        let file = if Path::new(&v.file).is_absolute() || self.versions.owns(&v.file) {
            PathBuf::from(&v.file)
        } else {
            self.data_dir.join(&v.file)
        };
        let format = match v.format.as_str() {
            "geojson" => SourceFormat::GeoJson,
            // Read by the version store; the format is not used.
            "flatgeobuf" | "postgis" => SourceFormat::FlatGeobuf,
            other => {
                return Err(PublishError::Store(StoreError::Corrupt(format!(
                    "version {} of `{}` has unknown format `{other}`",
                    v.version, v.layer
                ))));
            }
        };
        let crs = Crs::parse(&v.crs).map_err(|e| {
            PublishError::Store(StoreError::Corrupt(format!(
                "version {} of `{}`: {e}",
                v.version, v.layer
            )))
        })?;
        let axis = AxisOrder::parse(&v.axis_order).unwrap_or(AxisOrder::Auto);
        let mut def = if let Some(d) = self.bootstrap.get(&v.layer) {
            d.clone()
        } else {
            let row = self
                .catalog
                .layer(&v.layer)?
                .ok_or_else(|| PublishError::NotFound(format!("no layer `{}`", v.layer)))?;
            let mut raw: RawLayerDef = serde_json::from_str(&row.meta).map_err(|e| {
                PublishError::Store(StoreError::Corrupt(format!(
                    "definition of `{}`: {e}",
                    v.layer
                )))
            })?;
            raw.source = if self.versions.owns(&v.file) {
                // Not a file: resolve the definition against a file that
                // exists (this program); the source is set below.
                std::env::current_exe().map_err(|e| PublishError::Io(file.clone(), e))?
            } else {
                file.clone()
            };
            raw.format = Some(format);
            raw.crs = v.crs.clone();
            if raw.attributes.is_empty() {
                raw.attributes = v.fields.clone();
            }
            LayerDef::resolve(raw, Path::new("catalog"))?
        };
        if v.origin == Origin::Api {
            def.id_field = Some(fgb::FID_COLUMN.to_string());
        }
        def.source = file;
        def.format = format;
        def.crs = crs;
        def.axis_order = axis;
        Ok(def)
    }

    /// Loads one stored version (for a rollback, a review "as of", a rerun).
    pub fn load_version(&self, v: &VersionRow) -> Result<Layer, PublishError> {
        Ok(self.load_version_report(v)?.0)
    }

    /// [`Publisher::load_version`] with the load report.
    pub fn load_version_report(
        &self,
        v: &VersionRow,
    ) -> Result<(Layer, crate::layer::LoadReport), PublishError> {
        let def = self.def_for_version(v)?;
        if self.versions.owns(&v.file) {
            // The store's bytes were hashed when written; the catalog's
            // hash is the version tag on every instance.
            let raw = self.versions.read(&v.file, &def)?;
            let hash = v.sha256.get(..16).unwrap_or(&v.sha256).to_string();
            return Ok(crate::layer::load::build_layer(
                &def,
                v.version,
                hash,
                raw,
                std::time::Instant::now(),
            )?);
        }
        let (layer, report) = load_layer(&def, v.version)?;
        if !v.sha256.starts_with(&layer.content_hash) {
            return Err(PublishError::Conflict(format!(
                "the file of version {} of `{}` ({}) has changed since it was recorded",
                v.version,
                v.layer,
                def.source.display()
            )));
        }
        Ok((layer, report))
    }
}

/// A copy of `ds` whose props index into `to` instead of `from` (fields not
/// in `to` dropped): an upload's attributes onto a layer's allow-list.
fn remap(
    ds: &crate::layer::read::RawDataset,
    from: &[String],
    to: &[String],
) -> crate::layer::read::RawDataset {
    if from == to {
        return ds.clone();
    }
    let map: Vec<Option<u16>> = from
        .iter()
        .map(|n| to.iter().position(|t| t == n).map(|i| i as u16))
        .collect();
    let mut out = ds.clone();
    out.field_types = to
        .iter()
        .map(|t| {
            from.iter()
                .position(|f| f == t)
                .and_then(|i| ds.field_types.get(i).copied().flatten())
        })
        .collect();
    for f in &mut out.features {
        f.props = f
            .props
            .iter()
            .filter_map(|(k, v)| {
                map.get(*k as usize)
                    .copied()
                    .flatten()
                    .map(|k| (k, v.clone()))
            })
            .collect();
        f.props.sort_by_key(|(k, _)| *k);
    }
    out
}

fn read_prefix(path: &Path, buf: &mut [u8]) -> std::io::Result<usize> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut n = 0;
    while n < buf.len() {
        let k = f.read(&mut buf[n..])?;
        if k == 0 {
            break;
        }
        n += k;
    }
    Ok(n)
}
