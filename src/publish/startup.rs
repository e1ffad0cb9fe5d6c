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
//! * Orphan files (a crash between writing a version file and committing it)
//!   and stale uploads are removed.

use std::collections::BTreeSet;
use std::path::Path;

use super::{PublishError, Publisher, fgb};
use crate::layer::{Layer, LayerDef};
use crate::store::catalog::{EventKind, NewVersion, Origin};

/// One layer to load at start-up.
#[derive(Debug, Clone)]
pub struct Planned {
    pub def: LayerDef,
    /// The catalog version this file is (`None`: a bootstrap file to record
    /// after loading, see [`Publisher::record_bootstrap`]).
    pub version: Option<u64>,
}

impl Publisher {
    /// The layers to load, in a stable order.
    pub fn plan(&self) -> Result<Vec<Planned>, PublishError> {
        self.clean_orphans();
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
                        });
                    } else {
                        // Recorded at load time if the file changed.
                        out.push(Planned {
                            def: def.clone(),
                            version: None,
                        });
                    }
                }
                _ => out.push(Planned {
                    def: def.clone(),
                    version: None,
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
            self.catalog.create_layer(&id, Origin::Bootstrap, "")?;
        }
        let (bytes, sha256) = fgb::hash_file(&layer.def.source)?;
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

    /// Removes version files no catalog row names and stale uploads.
    fn clean_orphans(&self) {
        let tmp = self.tmp_dir();
        if let Ok(entries) = std::fs::read_dir(&tmp) {
            for e in entries.flatten() {
                // Uploads are files; unpacked archives (GDAL) are folders.
                let p = e.path();
                if p.is_dir() {
                    let _ = std::fs::remove_dir_all(&p);
                } else {
                    let _ = std::fs::remove_file(&p);
                }
            }
        }
        let root = self.data_dir.join("layers");
        let Ok(dirs) = std::fs::read_dir(&root) else {
            return;
        };
        for d in dirs.flatten() {
            let id = d.file_name().to_string_lossy().into_owned();
            let Ok(versions) = self.catalog.versions(&id) else {
                continue;
            };
            let known: BTreeSet<String> = versions.iter().map(|v| v.file.clone()).collect();
            let Ok(files) = std::fs::read_dir(d.path()) else {
                continue;
            };
            for f in files.flatten() {
                let rel = format!("layers/{id}/{}", f.file_name().to_string_lossy());
                if !known.contains(&rel) {
                    tracing::warn!(file = %rel, "removing a version file no catalog entry names (interrupted publish)");
                    let _ = std::fs::remove_file(f.path());
                }
            }
        }
    }
}
