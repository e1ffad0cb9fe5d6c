//! Following a catalog shared with other instances: bring the registry to
//! the catalog's current version of a layer (load it from the version
//! store, swap it in, or remove a deleted layer). Called on a notification
//! and by the periodic re-check (`http::propagate`). The registry swap is
//! the one a local publish makes, so a request sees all of one version.

use std::sync::Arc;

use super::{PublishError, Publisher};
use crate::layer::Layer;

/// What syncing a layer did.
#[derive(Debug)]
pub enum Synced {
    /// Already at the catalog's current version.
    Unchanged,
    /// Loaded and swapped in (the new version).
    Loaded(Arc<Layer>),
    /// Deleted in the catalog: removed from the registry.
    Removed,
}

/// The outcome of syncing each layer that differed.
pub type SyncResults = Vec<(String, Result<Synced, PublishError>)>;

impl Publisher {
    /// Brings layer `id` to the catalog's current version. Takes the
    /// publish lock, so it never interleaves with a local publish.
    pub fn sync_layer(&self, id: &str) -> Result<Synced, PublishError> {
        let _g = self.guard();
        let current = self
            .catalog
            .layer(id)?
            .filter(|r| r.deleted_at.is_none())
            .and_then(|r| r.current);
        let live = self.registry.get(id);
        match (current, live) {
            (None, Some(_)) => {
                self.registry.remove(id);
                Ok(Synced::Removed)
            }
            (None, None) => Ok(Synced::Unchanged),
            (Some(v), Some(l)) if l.version == v => Ok(Synced::Unchanged),
            (Some(v), _) => {
                let row = self.catalog.version(id, v)?.ok_or_else(|| {
                    PublishError::NotFound(format!("layer `{id}` has no version {v}"))
                })?;
                let mut layer = self.load_version(&row)?;
                layer.version = v;
                let layer = Arc::new(layer);
                self.registry.put_arc(layer.clone());
                Ok(Synced::Loaded(layer))
            }
        }
    }

    /// Syncs every layer whose current version differs from the registry's
    /// (the periodic re-check, and after a lost notification connection).
    pub fn sync_all(&self) -> Result<SyncResults, PublishError> {
        let rows = self.catalog.layers()?;
        let mut out = Vec::new();
        for r in rows {
            let current = r.current.filter(|_| r.deleted_at.is_none());
            let live = self.registry.get(&r.id).map(|l| l.version);
            if current != live {
                let s = self.sync_layer(&r.id);
                out.push((r.id, s));
            }
        }
        Ok(out)
    }
}
