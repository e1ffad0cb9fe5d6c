//! Start-up: which version of each layer to load. The `layers/*.toml` files
//! are the bootstrap; the catalog says which version is current.
//!
//! * A bootstrap layer the catalog does not know yet is loaded from its
//!   file and recorded as version 1 (origin `bootstrap`).
//! * If its current version is a bootstrap one and the file changed since,
//!   the new content is recorded as a new bootstrap version.
//! * If its current version was published, that version's file is loaded
//!   (with the toml's definition: title, access, zooms...).
//! * A layer deleted through the API stays deleted.
//! * Layers created through the API are loaded at their current version.
//! * Orphan version data (a crash between writing a version and committing
//!   it) and stale uploads are removed, as the version store sees fit with
//!   other instances running ([`super::versions::VersionStore::clean_orphans`]).
//! * Versions kept in the version store (PostGIS) are loaded from it
//!   ([`Publisher::load_plan`]); files with the layer loader.

use std::path::Path;

use super::{PublishError, Publisher, fgb};
use crate::layer::{Layer, LayerDef, LoadReport, load_all};
use crate::store::catalog::{EventKind, NewVersion, Origin, VersionRow};

/// One layer to load at start-up.
#[derive(Debug, Clone)]
pub struct Planned {
    pub def: LayerDef,
    /// The catalog version this file is (`None`: a bootstrap file to record
    /// after loading, see [`Publisher::record_bootstrap`]).
    pub version: Option<u64>,
    /// The version, when its features are in the version store (not a file).
    pub stored: Option<VersionRow>,
}

impl Publisher {
    /// The layers to load, in a stable order.
    pub fn plan(&self) -> Result<Vec<Planned>, PublishError> {
        self.versions.clean_orphans(&*self.catalog);
        let mut out = Vec::new();
        let rows = self.catalog.layers()?;
        for (id, def) in &self.bootstrap {
            let row = rows.iter().find(|r| &r.id == id);
            match row {
                Some(r) if r.deleted_at.is_some() => {
                    tracing::warn!(layer = %id, "deleted through the API; its layer file is ignored");
                }
                Some(r) if r.current.is_some() => {
                    let cur = r.current.unwrap_or(0);
                    let v = self.catalog.version(id, cur)?.ok_or_else(|| {
                        PublishError::Store(crate::store::StoreError::Corrupt(format!(
                            "layer `{id}`: current version {cur} is missing"
                        )))
                    })?;
                    if v.origin == Origin::Api {
                        out.push(Planned {
                            def: self.def_for_version(&v)?,
                            version: Some(cur),
                            stored: self.versions.owns(&v.file).then(|| v.clone()),
                        });
                    } else {
                        // Recorded at load time if the file changed.
                        out.push(Planned {
                            def: def.clone(),
                            version: None,
                            stored: None,
                        });
                    }
                }
                _ => out.push(Planned {
                    def: def.clone(),
                    version: None,
                    stored: None,
                }),
            }
        }
        for r in rows.iter().filter(|r| r.origin == Origin::Api) {
            if self.bootstrap.contains_key(&r.id) || r.deleted_at.is_some() {
                continue;
            }
            let Some(cur) = r.current else { continue };
            let Some(v) = self.catalog.version(&r.id, cur)? else {
                continue;
            };
            out.push(Planned {
                def: self.def_for_version(&v)?,
                version: Some(cur),
                stored: self.versions.owns(&v.file).then(|| v.clone()),
            });
        }
        Ok(out)
    }

    /// Gives a bootstrap layer loaded from its file its catalog version:
    /// the current one if the content is unchanged, else a new one.
    pub fn record_bootstrap(&self, layer: &mut Layer) -> Result<(), PublishError> {
        let id = layer.def.id.clone();
        let row = self.catalog.layer(&id)?;
        let source =
            std::fs::canonicalize(&layer.def.source).unwrap_or_else(|_| layer.def.source.clone());
        if let Some(r) = &row
            && let Some(cur) = r.current
            && let Some(v) = self.catalog.version(&id, cur)?
            && v.origin == Origin::Bootstrap
            && v.sha256.starts_with(&layer.content_hash)
            && Path::new(&v.file) == source
        {
            layer.version = cur;
            return Ok(());
        }
        if row.is_none() {
            match self.catalog.create_layer(&id, Origin::Bootstrap, "") {
                // Another instance sharing the catalog recorded it just now.
                Err(crate::store::StoreError::Conflict(_)) => {}
                other => other?,
            }
        }
        // The loader hashed the file as it read it; hash it here only for a
        // layer that came from elsewhere.
        let (bytes, sha256) = match layer.source_digest.take() {
            Some(d) => d,
            None => fgb::hash_file(&layer.def.source)?,
        };
        let v = self.catalog.add_version(
            &id,
            &NewVersion {
                file: source.to_string_lossy().into_owned(),
                format: match layer.def.format {
                    crate::layer::SourceFormat::GeoJson => "geojson".into(),
                    crate::layer::SourceFormat::FlatGeobuf => "flatgeobuf".into(),
                },
                crs: format!("EPSG:{}", layer.def.crs.epsg()),
                axis_order: match layer.def.axis_order {
                    crate::crs::AxisOrder::Auto => "auto".into(),
                    crate::crs::AxisOrder::EastNorth => "east_north".into(),
                    crate::crs::AxisOrder::NorthEast => "north_east".into(),
                },
                sha256,
                features: layer.features.len() as u64,
                bytes,
                origin: Origin::Bootstrap,
                created_by: None,
                report: None,
                note: Some("from the server's layer file".into()),
                fields: layer.fields.iter().map(|(n, _)| n.clone()).collect(),
            },
            EventKind::Bootstrap,
        )?;
        layer.version = v.version;
        Ok(())
    }

    /// Loads the planned layers, in plan order: files with the parallel
    /// loader, versions in the version store from it.
    pub fn load_plan(
        &self,
        plan: &[Planned],
        threads: usize,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Vec<Result<(Layer, LoadReport), String>> {
        let files: Vec<LayerDef> = plan
            .iter()
            .filter(|p| p.stored.is_none())
            .map(|p| p.def.clone())
            .collect();
        let mut loaded = load_all(&files, threads, progress).into_iter();
        plan.iter()
            .map(|p| match &p.stored {
                None => match loaded.next() {
                    Some(r) => r.map_err(|e| e.to_string()),
                    None => Err(format!("layer `{}`: not loaded", p.def.id)),
                },
                Some(v) => self
                    .load_version_report(v)
                    .map_err(|e| format!("layer `{}` version {}: {e}", v.layer, v.version)),
            })
            .collect()
    }
}
