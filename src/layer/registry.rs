//! The registry of loaded layers: an immutable snapshot behind an `Arc`,
//! replaced whole when a layer version changes, so a request that took a
//! snapshot sees every layer at one consistent version until it finishes.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use super::model::Layer;

/// One consistent set of layer versions.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub layers: BTreeMap<String, Arc<Layer>>,
}

impl Snapshot {
    pub fn get(&self, id: &str) -> Option<&Arc<Layer>> {
        self.layers.get(id)
    }
}

#[derive(Debug, Default)]
pub struct Registry {
    current: RwLock<Arc<Snapshot>>,
}

impl Registry {
    pub fn new(layers: impl IntoIterator<Item = Layer>) -> Registry {
        let layers = layers
            .into_iter()
            .map(|l| (l.def.id.clone(), Arc::new(l)))
            .collect();
        Registry {
            current: RwLock::new(Arc::new(Snapshot { layers })),
        }
    }

    /// The current snapshot (cheap: one `Arc` clone).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn get(&self, id: &str) -> Option<Arc<Layer>> {
        self.snapshot().get(id).cloned()
    }

    /// Swaps in a new version of one layer (or adds it); returns the old one.
    pub fn put(&self, layer: Layer) -> Option<Arc<Layer>> {
        self.put_arc(Arc::new(layer))
    }

    /// Like [`Registry::put`], for a layer already behind an `Arc`.
    pub fn put_arc(&self, layer: Arc<Layer>) -> Option<Arc<Layer>> {
        let mut guard = match self.current.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut layers = guard.layers.clone();
        let old = layers.insert(layer.def.id.clone(), layer);
        *guard = Arc::new(Snapshot { layers });
        old
    }

    /// Removes a layer; returns it.
    pub fn remove(&self, id: &str) -> Option<Arc<Layer>> {
        let mut guard = match self.current.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut layers = guard.layers.clone();
        let old = layers.remove(id);
        *guard = Arc::new(Snapshot { layers });
        old
    }
}
