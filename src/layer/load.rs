//! Loading a layer: read the source, resolve the axis order, validate and
//! repair each feature, reproject to Web Mercator once, and build the
//! immutable [`Layer`] with its R-tree. Several layers load in parallel.

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use geo::{CoordsIter, Geometry};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::attrs::{AttrError, Attrs, AttrsBuilder, ValueRef};
use super::config::{InvalidPolicy, LayerDef};
use super::model::{Feature, FieldType, GeomKind, Indexed, Layer, Value};
use super::read::{RawDataset, RawFeature, ReadError, read_file_rows};
use super::rows;
use super::shapes::{ShapeError, Shapes};
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
    // The content hash is computed on a thread of its own while the file
    // is read (the same SHA-256 of the same bytes).
    let (content_hash, read) = std::thread::scope(|s| {
        let hash = s.spawn(|| file_hash(&def.source));
        let read = match super::load_fgb::load(def) {
            Some(loaded) => Ok(Read::Parallel(loaded)),
            None => read_sequential(def).map(|(raw, attrs)| Read::Sequential(raw, attrs)),
        };
        let hash = hash.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
        (hash, read)
    });
    let digest = content_hash.map_err(|e| read_err(ReadError::Io(e)))?;
    // The layer's content hash: the first 8 bytes of the SHA-256, in hex.
    let content_hash = digest.1.get(..16).unwrap_or(&digest.1).to_string();
    let loaded = match read.map_err(read_err)? {
        Read::Parallel(l) => finish(
            def,
            version,
            content_hash,
            l.axis,
            l.validated,
            l.field_types,
            l.attrs,
            start,
        ),
        Read::Sequential(raw, attrs) => {
            if let Some(declared) = raw.declared_epsg
                && !crs_agrees(Some(declared), def)
            {
                return Err(LoadError::CrsMismatch {
                    layer: def.id.clone(),
                    declared,
                    configured: def.crs.epsg(),
                });
            }
            build_layer_with(def, version, content_hash, raw, attrs, start)
        }
    };
    loaded.map(|(mut layer, report)| {
        layer.source_digest = Some(digest);
        (layer, report)
    })
}

/// How a layer's source was read.
enum Read {
    /// Read, checked and reprojected on every core (`load_fgb`).
    Parallel(super::load_fgb::Loaded),
    /// Read in one pass; the attribute store being built by the handle.
    Sequential(RawDataset, AttrsThread),
}

/// The thread building a layer's attribute store.
pub(super) type AttrsThread = std::thread::JoinHandle<Result<Attrs, AttrError>>;

/// Reads `def`'s source in one pass; the reader sends the attribute rows
/// to a thread that builds the layer's store meanwhile.
fn read_sequential(def: &LayerDef) -> Result<(RawDataset, AttrsThread), ReadError> {
    let (sink, batches) = rows::channel(def.attributes.len());
    let attrs = intern_thread(def.attributes.len(), vec![batches]);
    let raw = read_file_rows(
        &def.source,
        def.format,
        &def.attributes,
        def.id_field.as_deref(),
        sink,
    )?;
    Ok((raw, attrs))
}

/// A thread building a store of `fields` fields from the batches of each
/// receiver in turn (rows in that order).
pub(super) fn intern_thread(fields: usize, receivers: Vec<rows::RowSource>) -> AttrsThread {
    std::thread::spawn(move || {
        let mut b = AttrsBuilder::new(fields);
        for rx in receivers {
            while let Some(batch) = rx.recv() {
                b.push_batch(&batch)?;
                rx.recycle(batch);
            }
        }
        Ok(b.finish())
    })
}

/// Whether the EPSG code a file declares (if any) agrees with the layer's.
pub(super) fn crs_agrees(declared: Option<i32>, def: &LayerDef) -> bool {
    declared.is_none_or(|d| d as u32 == def.crs.epsg() || geographic_pair(d, def.crs))
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
    attrs: AttrsThread,
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
    let mut v = Validated::with_capacity(raw.features.len());
    // The layer's geometry family is that of its first good feature: found
    // in order, then the rest are checked against it on every core (in
    // chunks, merged back in order: the same result as one pass).
    let mut raw_features = raw.features;
    let mut first = 0;
    while v.kind.is_none() && first < raw_features.len() {
        let rf = std::mem::replace(&mut raw_features[first], empty_feature());
        v.merge(process(row(first), rf, None, repair, &tf));
        first += 1;
    }
    let rest = &mut raw_features[first..];
    let threads = if rest.len() >= PARALLEL_MIN {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        1
    };
    let fixed = v.kind;
    if threads <= 1 {
        for (i, rf) in rest.iter_mut().enumerate() {
            let rf = std::mem::replace(rf, empty_feature());
            v.merge(process(row(first + i), rf, fixed, repair, &tf));
        }
    } else {
        let chunk = rest.len().div_ceil(threads);
        let parts: Vec<Validated> = std::thread::scope(|s| {
            let handles: Vec<_> = rest
                .chunks_mut(chunk)
                .enumerate()
                .map(|(c, part)| {
                    let tf = &tf;
                    let base = first + c * chunk;
                    s.spawn(move || {
                        let mut v = Validated::with_capacity(part.len());
                        for (i, rf) in part.iter_mut().enumerate() {
                            let rf = std::mem::replace(rf, empty_feature());
                            v.merge(process(row(base + i), rf, fixed, repair, tf));
                        }
                        v
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        });
        for part in parts {
            v.append(part);
        }
    }
    drop(raw_features);
    finish(
        def,
        version,
        content_hash,
        axis,
        v,
        raw.field_types,
        attrs,
        start,
    )
}

/// The features checked and reprojected so far, in source order, and what
/// became of the others.
#[derive(Debug, Default)]
pub(super) struct Validated {
    /// The geometry family of the first good feature.
    pub kind: Option<GeomKind>,
    pub features: Vec<Feature>,
    /// The features' geometries.
    pub shapes: Shapes,
    pub problems: Vec<(u64, String)>,
    pub repaired: usize,
    pub dropped: usize,
    /// One message per dropped feature.
    pub invalid: Vec<String>,
    /// Features were lost to the arena's size limits.
    pub too_large: bool,
}

impl Validated {
    pub(super) fn with_capacity(features: usize) -> Validated {
        Validated {
            features: Vec::with_capacity(features),
            ..Validated::default()
        }
    }

    /// Reserves coordinates for `features` features in all at the mean of
    /// those stored so far (plus 2%).
    pub(super) fn reserve_like_sample(&mut self, features: usize) {
        let have = self.features.len().max(1);
        let mean = self.shapes.coord_count() as f64 / have as f64;
        let more = features.saturating_sub(have) as f64 * mean * 1.02;
        self.shapes.reserve(more as usize);
    }

    /// Records feature `id` as dropped for `reason`.
    fn drop_feature(&mut self, id: u64, reason: &dyn std::fmt::Display) {
        self.invalid.push(format!("feature {id}: {reason}"));
        self.problems.push((id, format!("dropped: {reason}")));
        self.dropped += 1;
    }

    /// Records the next feature's outcome.
    pub(super) fn merge(&mut self, o: Outcome) {
        if let Some(reason) = o.repaired {
            self.problems.push((o.id, format!("repaired: {reason}")));
            self.repaired += 1;
        }
        match o.result {
            Err(reason) => self.drop_feature(o.id, &reason),
            Ok((k, g)) => {
                if self.kind.is_none() {
                    self.kind = k;
                }
                match self.shapes.push(&g) {
                    Ok(shape) => self.features.push(Feature {
                        id: o.id,
                        row: o.row,
                        shape,
                    }),
                    // An empty geometry is not stored (nor reported).
                    Err(ShapeError::Empty) => {}
                    Err(e) => self.drop_feature(o.id, &e),
                }
            }
        }
    }

    /// Appends the outcomes of the features that follow.
    pub(super) fn append(&mut self, mut next: Validated) {
        if self.kind.is_none() {
            self.kind = next.kind;
        }
        let from = self.features.len();
        if self.features.is_empty() {
            std::mem::swap(&mut self.features, &mut next.features);
        } else {
            self.features.append(&mut next.features);
        }
        let shapes = std::mem::take(&mut next.shapes);
        let mut ids = self.features[from..].iter_mut().map(|f| &mut f.shape);
        if let Err(e) = self.shapes.append(shapes, &mut ids) {
            // Past the arena's limits: the appended features cannot be
            // stored; the layer is refused below whatever its policy.
            let n = self.features.len() - from;
            self.features.truncate(from);
            self.invalid.push(format!("{n} feature(s): {e}"));
            self.dropped += n;
            self.too_large = true;
        }
        self.problems.append(&mut next.problems);
        self.repaired += next.repaired;
        self.dropped += next.dropped;
        self.invalid.append(&mut next.invalid);
    }
}

/// Joins the attribute store, applies the layer's invalid policy and
/// builds the layer and its report.
#[allow(clippy::too_many_arguments)]
pub(super) fn finish(
    def: &LayerDef,
    version: u64,
    content_hash: String,
    axis: AxisOrder,
    v: Validated,
    field_types: Vec<Option<FieldType>>,
    attrs: AttrsThread,
    start: Instant,
) -> Result<(Layer, LoadReport), LoadError> {
    // The R-tree is built while the attribute thread may still be interning.
    let refused = !v.invalid.is_empty() && (def.invalid != InvalidPolicy::Repair || v.too_large);
    let indexed = (!refused).then(|| Indexed::new(v.features, v.shapes));
    let attrs = attrs
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
        .map_err(|source| LoadError::Attrs {
            layer: def.id.clone(),
            source,
        })?;
    let Some(indexed) = indexed else {
        return Err(LoadError::Invalid {
            layer: def.id.clone(),
            count: v.invalid.len(),
            examples: v.invalid.into_iter().take(EXAMPLES).collect(),
        });
    };
    let fields: Vec<(String, FieldType)> = def
        .attributes
        .iter()
        .zip(field_types)
        .map(|(name, t)| (name.clone(), t.unwrap_or(FieldType::String)))
        .collect();
    let layer = Layer::from_indexed(
        def.clone(),
        version,
        content_hash,
        v.kind.unwrap_or(GeomKind::Polygon),
        fields,
        indexed,
        attrs,
        v.problems.clone(),
    );
    let report = LoadReport {
        layer: def.id.clone(),
        features: layer.features.len(),
        vertices: layer.vertex_count(),
        repaired: v.repaired,
        dropped: v.dropped,
        problems: v.problems,
        axis_order: axis,
        memory_bytes: layer.memory_bytes(),
        millis: start.elapsed().as_millis(),
    };
    Ok((layer, report))
}

/// Layers with at least this many features are validated and reprojected
/// on every core.
pub(super) const PARALLEL_MIN: usize = 20_000;

/// What became of one feature: a repair (reason), then either its
/// reprojected geometry (with its family; `None` if it is empty) or the
/// reason it was dropped.
pub(super) struct Outcome {
    id: u64,
    row: u32,
    repaired: Option<String>,
    result: Result<(Option<GeomKind>, Geometry), String>,
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
pub(super) fn row(i: usize) -> u32 {
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
pub(super) fn process(
    row: u32,
    rf: RawFeature,
    kind: Option<GeomKind>,
    repair: bool,
    tf: &Transformer,
) -> Outcome {
    let id = rf.id.unwrap_or(rf.row + 1);
    let mut out = Outcome {
        id,
        row,
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
    out.result = Ok((k, g));
    out
}

/// Size and SHA-256 (hex) of a file, streamed: a 300 MB source is not held
/// in memory just to name its version.
fn file_hash(path: &std::path::Path) -> std::io::Result<(u64, String)> {
    let mut hasher = Sha256::new();
    let mut file = std::fs::File::open(path)?;
    let bytes = std::io::copy(&mut file, &mut hasher)?;
    Ok((bytes, hex::encode(hasher.finalize())))
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
