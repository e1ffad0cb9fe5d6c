//! Layers as they were: the snapshot of versions in force at a past moment
//! (a review "as of" a date) or a given set of versions (a rerun). Versions
//! still current are shared with the live registry; older ones are loaded
//! from their stored files and kept in a small cache.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use super::{PublishError, Publisher};
use crate::layer::Layer;
use crate::layer::registry::Snapshot;

/// How many old layer versions stay loaded for repeated "as of" reviews.
const OLD_VERSIONS_KEPT: usize = 8;

/// A loaded old version: (layer id, version) and the layer.
type Loaded = ((String, u64), Arc<Layer>);

/// Recently loaded old versions, most recent last.
#[derive(Default)]
pub struct OldVersions {
    entries: Mutex<VecDeque<Loaded>>,
}

impl OldVersions {
    fn get(&self, id: &str, version: u64) -> Option<Arc<Layer>> {
        let q = match self.entries.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        q.iter()
            .find(|((i, v), _)| i == id && *v == version)
            .map(|(_, l)| l.clone())
    }

    fn put(&self, id: &str, version: u64, layer: Arc<Layer>) {
        let mut q = match self.entries.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        q.retain(|((i, v), _)| !(i == id && *v == version));
        q.push_back(((id.to_string(), version), layer));
        while q.len() > OLD_VERSIONS_KEPT {
            q.pop_front();
        }
    }
}

impl Publisher {
    /// The layers as they were at `at` (RFC 3339, UTC): each at the version
    /// then current; layers that did not exist then are absent.
    pub fn snapshot_as_of(&self, at: &str) -> Result<Snapshot, PublishError> {
        let versions = self.catalog.in_force_at(at)?;
        self.snapshot_of(&versions)
    }

    /// The layers at exactly these versions (layer id -> version number).
    pub fn snapshot_of(&self, versions: &BTreeMap<String, u64>) -> Result<Snapshot, PublishError> {
        let live = self.registry.snapshot();
        let mut layers = BTreeMap::new();
        for (id, &version) in versions {
            let layer = match live.get(id) {
                Some(l) if l.version == version => l.clone(),
                _ => self.old_version(id, version)?,
            };
            layers.insert(id.clone(), layer);
        }
        Ok(Snapshot { layers })
    }

    fn old_version(&self, id: &str, version: u64) -> Result<Arc<Layer>, PublishError> {
        if let Some(l) = self.old.get(id, version) {
            return Ok(l);
        }
        let row = self.catalog.version(id, version)?.ok_or_else(|| {
            PublishError::NotFound(format!("layer `{id}` has no version {version}"))
        })?;
        let mut layer = self.load_version(&row)?;
        layer.version = version;
        let layer = Arc::new(layer);
        self.old.put(id, version, layer.clone());
        Ok(layer)
    }
}
