//! Loading a layer: read the source, resolve the axis order, validate and
//! repair each feature, reproject to Web Mercator once, and build the
//! immutable [`Layer`] with its R-tree. Several layers load in parallel.

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use geo::CoordsIter;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::attrs::{AttrError, Attrs, AttrsBuilder, ValueRef};
use super::config::{InvalidPolicy, LayerDef};
use super::model::{Feature, FieldType, GeomKind, Layer, Value};
use super::read::{RawDataset, RawFeature, ReadError, read_file_rows};
use super::rows;
use super::validate::{Checked, check};
use crate::crs::{AxisOrder, Crs, CrsError, Transformer, detect_axis_order};

/// How many invalid features a rejection message lists.
const EXAMPLES: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("layer `{layer}`: {path}: {source}")]
    Read {
        layer: String,
        path: PathBuf,
        source: ReadError,
    },
    #[error("layer `{layer}`: {source}")]
    Crs { layer: String, source: CrsError },
    #[error(
        "layer `{layer}`: the file declares EPSG:{declared} but the layer definition says EPSG:{configured}"
    )]
    CrsMismatch {
        layer: String,
        declared: i32,
        configured: u32,
    },
    #[error("layer `{layer}`: {source}")]
    Attrs { layer: String, source: AttrError },
    #[error("layer `{layer}`: {count} invalid feature(s) and the layer's policy is `invalid = \"reject\"`: {}", examples.join("; "))]
    Invalid {
        layer: String,
        count: usize,
        examples: Vec<String>,
    },
}

/// What loading one layer found and did.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    pub layer: String,
    pub features: usize,
    pub vertices: usize,
    pub repaired: usize,
    pub dropped: usize,
    /// `(feature id, reason)` for each repaired or dropped feature.
    pub problems: Vec<(u64, String)>,
    pub axis_order: AxisOrder,
    pub memory_bytes: usize,
    pub millis: u128,
}

/// Loads one layer definition as the given version.
pub fn load_layer(def: &LayerDef, version: u64) -> Result<(Layer, LoadReport), LoadError> {
    let start = Instant::now();
    let layer_id = def.id.clone();
    let read_err = |source| LoadError::Read {
        layer: layer_id.clone(),
        path: def.source.clone(),
        source,
    };
    // The reader sends the attribute rows to a thread that builds the
    // layer's store meanwhile; the content hash is computed on a thread of
    // its own while the file is read (the same SHA-256 of the same bytes).
    let (sink, batches) = rows::channel(def.attributes.len());
    let fields = def.attributes.len();
    let attrs = std::thread::spawn(move || {
        let mut b = AttrsBuilder::new(fields);
        for batch in batches {
            b.push_batch(&batch)?;
        }
        Ok(b.finish())
    });
    let (content_hash, raw) = std::thread::scope(|s| {
        let hash = s.spawn(|| file_hash(&def.source));
        let raw = read_file_rows(
            &def.source,
            def.format,
            &def.attributes,
            def.id_field.as_deref(),
            sink,
        );
        let hash = hash.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
        (hash, raw)
    });
    let content_hash = content_hash.map_err(|e| read_err(ReadError::Io(e)))?;
    let raw = raw.map_err(read_err)?;
    if let Some(declared) = raw.declared_epsg
        && declared as u32 != def.crs.epsg()
        && !(geographic_pair(declared, def.crs))
    {
        return Err(LoadError::CrsMismatch {
            layer: def.id.clone(),
            declared,
            configured: def.crs.epsg(),
        });
    }
    build_layer_with(def, version, content_hash, raw, attrs, start)
}

/// Builds a layer from features already read (in `def.crs`, props indexing
/// into `def.attributes`): axis order, validation, reprojection, R-tree.
/// `start` is when loading began (for the report).
pub fn build_layer(
    def: &LayerDef,
    version: u64,
    content_hash: String,
    mut raw: RawDataset,
    start: Instant,
) -> Result<(Layer, LoadReport), LoadError> {
    // The attributes go into the layer's store on a thread of their own
    // (interning is sequential) while the geometries are checked and
    // reprojected: row `i` holds raw feature `i`'s attributes (a dropped
    // feature leaves its row unused). As many fields as `fields` below.
    let props: Vec<Vec<(u16, Value)>> = raw
        .features
        .iter_mut()
        .map(|f| std::mem::take(&mut f.props))
        .collect();
    let field_count = def.attributes.len().min(raw.field_types.len());
    let attrs = std::thread::spawn(move || build_attrs(field_count, props));
    build_layer_with(def, version, content_hash, raw, attrs, start)
}

/// [`build_layer`] with the attribute store being built by `attrs` (row
/// `i`: raw feature `i`).
fn build_layer_with(
    def: &LayerDef,
    version: u64,
    content_hash: String,
    raw: RawDataset,
    attrs: std::thread::JoinHandle<Result<Attrs, AttrError>>,
    start: Instant,
) -> Result<(Layer, LoadReport), LoadError> {
    let axis = match def.axis_order {
        AxisOrder::Auto => detect_axis_order(
            def.crs,
            raw.features
                .iter()
                .filter_map(|f| f.geometry.as_ref())
                .flat_map(|g| g.coords_iter().take(8))
                .take(4096)
                .map(|c| (c.x, c.y)),
        ),
        fixed => fixed,
    };
    let tf = Transformer::new(def.crs, axis).map_err(|source| LoadError::Crs {
        layer: def.id.clone(),
        source,
    })?;

    let repair = def.invalid == InvalidPolicy::Repair;
    let mut kind: Option<GeomKind> = None;
    let mut features = Vec::with_capacity(raw.features.len());
    let mut problems: Vec<(u64, String)> = Vec::new();
    let (mut repaired, mut dropped) = (0usize, 0usize);
    let mut invalid: Vec<String> = Vec::new();
    let mut raw_features = raw.features;
    let mut merge = |o: Outcome, kind: &mut Option<GeomKind>| {
        if let Some(reason) = o.repaired {
            problems.push((o.id, format!("repaired: {reason}")));
            repaired += 1;
        }
        match o.result {
            Err(reason) => {
                invalid.push(format!("feature {}: {reason}", o.id));
                problems.push((o.id, format!("dropped: {reason}")));
                dropped += 1;
            }
            Ok((k, f)) => {
                if kind.is_none() {
                    *kind = k;
                }
                if let Some(f) = f {
                    features.push(f);
                }
            }
        }
    };
    // The layer's geometry family is that of its first good feature: found
    // in order, then the rest are checked against it on every core (in
    // chunks, merged back in order: the same result as one pass).
    let mut first = 0;
    while kind.is_none() && first < raw_features.len() {
        let rf = std::mem::replace(&mut raw_features[first], empty_feature());
        merge(process(row(first), rf, None, repair, &tf), &mut kind);
        first += 1;
    }
    let rest = &mut raw_features[first..];
    let threads = if rest.len() >= PARALLEL_MIN {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        1
    };
    let fixed = kind;
    if threads <= 1 {
        for (i, rf) in rest.iter_mut().enumerate() {
            let rf = std::mem::replace(rf, empty_feature());
            merge(process(row(first + i), rf, fixed, repair, &tf), &mut kind);
        }
    } else {
        let chunk = rest.len().div_ceil(threads);
        let outcomes: Vec<Vec<Outcome>> = std::thread::scope(|s| {
            let handles: Vec<_> = rest
                .chunks_mut(chunk)
                .enumerate()
                .map(|(c, part)| {
                    let tf = &tf;
                    let base = first + c * chunk;
                    s.spawn(move || {
                        part.iter_mut()
                            .enumerate()
                            .map(|(i, rf)| {
                                let rf = std::mem::replace(rf, empty_feature());
                                process(row(base + i), rf, fixed, repair, tf)
                            })
                            .collect::<Vec<Outcome>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        });
        for o in outcomes.into_iter().flatten() {
            merge(o, &mut kind);
        }
    }
    drop(raw_features);
    let attrs = attrs
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
        .map_err(|source| LoadError::Attrs {
            layer: def.id.clone(),
            source,
        })?;
    if !invalid.is_empty() && !repair {
        return Err(LoadError::Invalid {
            layer: def.id.clone(),
            count: invalid.len(),
            examples: invalid.into_iter().take(EXAMPLES).collect(),
        });
    }
    let fields: Vec<(String, FieldType)> = def
        .attributes
        .iter()
        .zip(raw.field_types)
        .map(|(name, t)| (name.clone(), t.unwrap_or(FieldType::String)))
        .collect();
    let layer = Layer::from_parts(
        def.clone(),
        version,
        content_hash,
        kind.unwrap_or(GeomKind::Polygon),
        fields,
        features,
        attrs,
        problems.clone(),
    );
    let report = LoadReport {
        layer: def.id.clone(),
        features: layer.features.len(),
        vertices: layer.vertex_count(),
        repaired,
        dropped,
        problems,
        axis_order: axis,
        memory_bytes: layer.memory_bytes(),
        millis: start.elapsed().as_millis(),
    };
    Ok((layer, report))
}

/// Layers with at least this many features are validated and reprojected
/// on every core.
const PARALLEL_MIN: usize = 20_000;

/// What became of one feature: a repair (reason), then either the feature
/// (with its geometry family; `None` if its geometry is empty) or the
/// reason it was dropped.
struct Outcome {
    id: u64,
    repaired: Option<String>,
    result: Result<(Option<GeomKind>, Option<Feature>), String>,
}

fn empty_feature() -> RawFeature {
    RawFeature {
        row: 0,
        id: None,
        geometry: None,
        props: Vec::new(),
    }
}

/// The attribute row of raw feature `i` (rows past `u32::MAX` fail to be
/// stored: `AttrError::TooManyRows`).
fn row(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

/// The attribute store of a layer: row `i` from `props[i]`.
fn build_attrs(fields: usize, props: Vec<Vec<(u16, Value)>>) -> Result<Attrs, AttrError> {
    let mut b = AttrsBuilder::new(fields);
    b.reserve_rows(props.len());
    for p in props {
        b.push_row(p.iter().map(|(k, v)| (*k, ValueRef::from(v))))?;
    }
    Ok(b.finish())
}

/// Validates (and repairs) one feature against the layer's family and
/// reprojects it to Web Mercator; `row` is its attribute row.
fn process(
    row: u32,
    rf: RawFeature,
    kind: Option<GeomKind>,
    repair: bool,
    tf: &Transformer,
) -> Outcome {
    let id = rf.id.unwrap_or(rf.row + 1);
    let mut out = Outcome {
        id,
        repaired: None,
        result: Err(String::new()),
    };
    let Some(g) = rf.geometry else {
        out.result = Err("no geometry".into());
        return out;
    };
    let mut g = match check(g, kind, repair) {
        Checked::Valid(g) => g,
        Checked::Repaired { geometry, reason } => {
            out.repaired = Some(reason);
            geometry
        }
        Checked::Invalid { reason } => {
            out.result = Err(reason);
            return out;
        }
    };
    if let Err(e) = tf.geometry_to_mercator(&mut g) {
        out.result = Err(e.to_string());
        return out;
    }
    let k = GeomKind::of(&g);
    out.result = Ok((k, Feature::new(id, g, row)));
    out
}

/// First 8 bytes (hex) of the SHA-256 of a file, streamed: a 300 MB source
/// is not held in memory just to name its version.
fn file_hash(path: &std::path::Path) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    let mut file = std::fs::File::open(path)?;
    std::io::copy(&mut file, &mut hasher)?;
    Ok(hex::encode(&hasher.finalize()[..8]))
}

/// EPSG:4326 and EPSG:4490 are the same to the metre; a file declaring one
/// may be configured as the other.
fn geographic_pair(declared: i32, configured: Crs) -> bool {
    configured.is_geographic() && (declared == 4326 || declared == 4490)
}

/// The result of loading one layer.
pub type LoadResult = Result<(Layer, LoadReport), LoadError>;

/// Loads many layers on `threads` worker threads; results come back in the
/// order of `defs`. `progress` is called after each layer with (done, total).
pub fn load_all(
    defs: &[LayerDef],
    threads: usize,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Vec<LoadResult> {
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<LoadResult>>> = defs.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..threads.max(1).min(defs.len().max(1)) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(def) = defs.get(i) else { break };
                    let r = load_layer(def, 1);
                    if let Ok(mut slot) = slots[i].lock() {
                        *slot = Some(r);
                    }
                    let d = done.fetch_add(1, Ordering::Relaxed) + 1;
                    progress(d, defs.len());
                }
            });
        }
    });
    slots
        .into_iter()
        .filter_map(|m| m.into_inner().ok().flatten())
        .collect()
}
