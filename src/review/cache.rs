//! Side indexes over layers that the R-tree does not give, built on first
//! use and kept for the life of the layer version:
//!
//! * features by the value of an attribute (parcels by `household_id`,
//!   households by their id): the one-household rule must not scan a million
//!   parcels per request;
//! * the largest value of a numeric attribute (`half_width_m`,
//!   `protection_m`): how far a setback search must reach.
//!
//! Entries are keyed by the layer's identity: its `Arc` address, held with a
//! `Weak` so the address cannot be reused by another layer while the entry
//! exists. A new layer version is a new `Arc`, so it never reads an old
//! index; entries of dropped layers are purged on the next insert. `Layer`
//! itself is not changed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use crate::layer::{Layer, ValueRef};

/// What is indexed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    ByValue,
    Max,
}

#[derive(Debug)]
enum Data {
    ByValue(HashMap<String, Vec<u32>>),
    Max(Option<f64>),
}

#[derive(Debug)]
struct Entry {
    layer: Weak<Layer>,
    field: String,
    kind: Kind,
    data: Arc<Data>,
}

/// Per-rule-set cache of layer side indexes (see module docs).
#[derive(Debug, Default)]
pub(crate) struct IndexCache {
    entries: Mutex<Vec<Entry>>,
}

impl Clone for IndexCache {
    /// A clone starts empty (the indexes are rebuilt on first use).
    fn clone(&self) -> Self {
        IndexCache::default()
    }
}

/// Features of one layer grouped by an attribute's value.
pub(crate) struct ByValue(Arc<Data>);

impl ByValue {
    /// Indexes (into `Layer::features`) of the features whose attribute
    /// equals `key` (numbers compare by their decimal text).
    pub fn get(&self, key: &str) -> &[u32] {
        match &*self.0 {
            Data::ByValue(m) => m.get(key).map(Vec::as_slice).unwrap_or(&[]),
            Data::Max(_) => &[],
        }
    }
}

/// An attribute value as a lookup key: strings as they are, integers and
/// integral floats in decimal.
pub(crate) fn value_key(v: ValueRef<'_>) -> Option<String> {
    match v {
        ValueRef::String(s) => Some(s.to_string()),
        ValueRef::Int(i) => Some(i.to_string()),
        ValueRef::Float(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 9e15 => {
            Some(format!("{}", f as i64))
        }
        ValueRef::Float(f) => Some(f.to_string()),
        ValueRef::Bool(b) => Some(b.to_string()),
    }
}

impl IndexCache {
    fn get_or_build(
        &self,
        layer: &Arc<Layer>,
        field: &str,
        kind: Kind,
        build: impl FnOnce() -> Data,
    ) -> Arc<Data> {
        let ptr = Arc::as_ptr(layer);
        let find = |entries: &Vec<Entry>| {
            entries
                .iter()
                .find(|e| {
                    e.kind == kind
                        && e.field == field
                        && std::ptr::eq(e.layer.as_ptr(), ptr)
                        && e.layer.strong_count() > 0
                })
                .map(|e| e.data.clone())
        };
        {
            let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(d) = find(&entries) {
                return d;
            }
        }
        // Built outside the lock: a concurrent first use may build twice,
        // but no request waits on another layer's build.
        let data = Arc::new(build());
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(d) = find(&entries) {
            return d;
        }
        entries.retain(|e| e.layer.strong_count() > 0);
        entries.push(Entry {
            layer: Arc::downgrade(layer),
            field: field.to_string(),
            kind,
            data: data.clone(),
        });
        data
    }

    /// Features of `layer` grouped by the value of `field` (`None` if the
    /// layer has no such attribute).
    pub fn by_value(&self, layer: &Arc<Layer>, field: &str) -> Option<ByValue> {
        let fi = layer.field_index(field)?;
        let data = self.get_or_build(layer, field, Kind::ByValue, || {
            let mut m: HashMap<String, Vec<u32>> = HashMap::new();
            for (i, f) in layer.features.iter().enumerate() {
                if let Some(k) = layer.prop(f, fi).and_then(value_key) {
                    m.entry(k).or_default().push(i as u32);
                }
            }
            Data::ByValue(m)
        });
        Some(ByValue(data))
    }

    /// The largest finite value of numeric attribute `field` over `layer`
    /// (`None`: no feature has one).
    pub fn max(&self, layer: &Arc<Layer>, field: &str) -> Option<f64> {
        let fi = layer.field_index(field)?;
        let data = self.get_or_build(layer, field, Kind::Max, || {
            let m = layer
                .features
                .iter()
                .filter_map(|f| layer.prop(f, fi).and_then(ValueRef::as_f64))
                .filter(|v| v.is_finite())
                .fold(None, |acc: Option<f64>, v| {
                    Some(acc.map_or(v, |a| a.max(v)))
                });
            Data::Max(m)
        });
        match &*data {
            Data::Max(m) => *m,
            Data::ByValue(_) => None,
        }
    }
}
