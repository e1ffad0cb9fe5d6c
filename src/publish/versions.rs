//! Where the features of published versions are kept, behind
//! [`VersionStore`]: FlatGeobuf files in the data folder ([`FileVersions`],
//! the embedded default) or PostGIS tables ([`super::postgis`], with
//! `--store postgres://...`). Bootstrap versions are always the server's
//! own layer files.
//!
//! A store writes a version durably *before* the catalog commit and names
//! it by a location string (the catalog's `file`); a write that is never
//! committed is discarded, or cleaned up at a later start-up.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{PublishError, fgb};
use crate::crs::{AxisOrder, Crs};
use crate::layer::LayerDef;
use crate::layer::read::RawDataset;
use crate::store::Catalog;

/// One version to write.
pub struct VersionWrite<'a> {
    pub layer: &'a str,
    pub title: &'a str,
    pub dataset: &'a RawDataset,
    /// Attribute names (`dataset` props index into them).
    pub fields: &'a [String],
    pub crs: Crs,
    pub axis: AxisOrder,
}

/// A written version.
pub struct Stored {
    /// The catalog's `file`: a path relative to the data folder, or
    /// `postgis:<table>`.
    pub location: String,
    /// `flatgeobuf` or `postgis`.
    pub format: &'static str,
    pub bytes: u64,
    /// SHA-256 (hex) of the stored bytes.
    pub sha256: String,
    /// The file, for file-backed versions.
    pub path: Option<PathBuf>,
}

pub trait VersionStore: Send + Sync {
    /// Whether the store can keep these attribute names as they are
    /// (checked before anything is written): the message names the field.
    fn check_fields(&self, _fields: &[String]) -> Result<(), String> {
        Ok(())
    }
    /// Writes the version durably.
    fn write(&self, w: &VersionWrite<'_>) -> Result<Stored, PublishError>;
    /// Removes a written version whose catalog commit failed.
    fn discard(&self, stored: &Stored);
    /// Reads a version this store wrote (`location` as returned by the
    /// catalog), attributes indexed by `def.attributes`.
    fn read(&self, location: &str, def: &LayerDef) -> Result<RawDataset, PublishError>;
    /// Whether `location` names data of this store (else: a file).
    fn owns(&self, location: &str) -> bool;
    /// Start-up: removes data of versions never committed. Must be safe with
    /// other instances running (another's publish may be in flight).
    fn clean_orphans(&self, catalog: &dyn Catalog);
}

/// FlatGeobuf files in `data/layers/{id}/`.
pub struct FileVersions {
    pub data_dir: PathBuf,
}

impl VersionStore for FileVersions {
    /// The file keeps feature ids in its own `tudi_fid` column: an attribute
    /// of that name would be a second column of the same name.
    fn check_fields(&self, fields: &[String]) -> Result<(), String> {
        match fields.iter().find(|f| *f == super::fgb::FID_COLUMN) {
            Some(f) => Err(format!(
                "attribute `{f}` collides with the stored version's own `{f}` column \
                 (it keeps feature ids): rename it"
            )),
            None => Ok(()),
        }
    }

    fn write(&self, w: &VersionWrite<'_>) -> Result<Stored, PublishError> {
        let dir = self.data_dir.join("layers").join(w.layer);
        std::fs::create_dir_all(&dir).map_err(|e| PublishError::Io(dir.clone(), e))?;
        // Unique and sortable: time of the publish plus a random suffix.
        let name = format!(
            "{}-{:08x}.fgb",
            crate::review::record::now_rfc3339().replace([':', '.', '-'], ""),
            rand::random::<u32>()
        );
        let path = dir.join(&name);
        let written = fgb::write(w.dataset, w.fields, w.crs, w.axis, w.layer, w.title, &path)
            .inspect_err(|_| {
                let _ = std::fs::remove_file(&path);
            })?;
        Ok(Stored {
            location: format!("layers/{}/{name}", w.layer),
            format: "flatgeobuf",
            bytes: written.bytes,
            sha256: written.sha256,
            path: Some(path),
        })
    }

    fn discard(&self, stored: &Stored) {
        if let Some(p) = &stored.path {
            let _ = std::fs::remove_file(p);
        }
    }

    fn read(&self, location: &str, _def: &LayerDef) -> Result<RawDataset, PublishError> {
        Err(PublishError::NotFound(format!(
            "`{location}` is not a stored table"
        )))
    }

    fn owns(&self, _location: &str) -> bool {
        false
    }

    fn clean_orphans(&self, catalog: &dyn Catalog) {
        remove_stale_uploads(&self.data_dir.join("tmp"), None);
        let root = self.data_dir.join("layers");
        let Ok(dirs) = std::fs::read_dir(&root) else {
            return;
        };
        for d in dirs.flatten() {
            let id = d.file_name().to_string_lossy().into_owned();
            let Ok(versions) = catalog.versions(&id) else {
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

/// Removes uploads left in `tmp` (files, or folders unpacked by GDAL);
/// with `older_than`, only those not modified for that long (the data
/// folder may be shared with an instance receiving an upload right now).
pub fn remove_stale_uploads(tmp: &Path, older_than: Option<Duration>) {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if let Some(age) = older_than {
            let fresh = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_none_or(|el| el < age);
            if fresh {
                continue;
            }
        }
        if p.is_dir() {
            let _ = std::fs::remove_dir_all(&p);
        } else {
            let _ = std::fs::remove_file(&p);
        }
    }
}
