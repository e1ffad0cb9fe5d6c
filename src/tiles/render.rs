//! The per-layer pipeline ([`render_layer`]) and the multi-layer tile with its
//! size budget ([`render_tile`]).
//!
//! Units: "grid units" below are units of a 4096 grid; with another extent
//! they scale with it (`extent / 4096`), so a setting means the same share
//! of a tile whatever the extent.
//!
//! * **Simplification**: Douglas-Peucker with tolerance `simplify_px` grid
//!   units (`LayerDef::simplify_px`, default 1.0 = 1/4096 of the tile side,
//!   1/8 of a screen pixel on a 512-px tile). At the layer's `maxzoom` and
//!   above (tiles that clients over-zoom) the tolerance is capped at 0.5 unit:
//!   nothing is simplified beyond the grid itself.
//! * **Small features** (`drop_small = true`): polygons whose bounding box is
//!   under [`MIN_POLYGON_UNITS`] on both sides and lines under
//!   [`MIN_LINE_UNITS`] are rejected from the R-tree entry's box alone, before
//!   any coordinate is transformed; features that collapse on the grid are
//!   dropped. Points are thinned to one per [`POINT_CELL_UNITS`] cell (first
//!   feature in layer order wins) below `maxzoom - 2`.
//! * **Legal layers** (`drop_small = false`): nothing is dropped. A polygon
//!   whose box is under one grid unit, or that collapses on the grid even
//!   without simplification, becomes a 1-unit square where it lies (inside
//!   the buffered tile); a collapsed line becomes a 1-unit segment.
//! * **Size budget** ([`render_tile`]): while the encoded tile exceeds
//!   `max_bytes`, re-render coarser: each level doubles the simplification
//!   tolerance and the point cell and, from level 2, for `drop_small` polygon
//!   and line layers, keeps only the largest `1/2^(level-1)` of the candidates
//!   (growing the minimum size instead proved a cliff: a dense layer of
//!   equal-sized plots went from over budget to empty). When a render gives
//!   up at the budget, the next level is chosen from the share of features
//!   that fitted. At [`THIN_AT_ONCE_MAX_ZOOM`] and below, a `drop_small`
//!   layer whose level 0 gave up with too little geometry for level 1 to
//!   save the excess (even dropping every vertex, extrapolated from the
//!   features that fitted; `level1_cannot_fit`) skips level 1 and goes to
//!   the thinning level at once (counted as two attempts): for small plots
//!   level 1 was a full render thrown away, a third of a dense z14 parcel
//!   tile's time. The thinning level is then chosen from level 0's share
//!   instead of level 1's, which can be one level more when the share is
//!   just under a power of two. Level 1 is always tried at z15 and above.
//!   Point thinning then applies at every zoom. After `max_attempts` steps
//!   the tile is returned flagged `over_budget`. A `drop_small` polygon or
//!   line layer with at least `SAMPLE_FROM` candidates first renders an
//!   evenly spaced sample of them; when that puts the layer far over its
//!   share of the budget it gives up at once with the share that would
//!   have fitted (`sampled_overflow`), instead of rendering a budget's worth
//!   of features to learn the same.
//!
//! Features are emitted in layer order (R-tree hits are sorted by index), so
//! output is deterministic and polygons draw in source order.

use std::collections::HashMap;

use foldhash::fast::RandomState;
use geozero::mvt::tile;
use rstar::AABB;

use super::encode::{self, LayerBuilder};
use super::labels;
use super::worker::{Outcome, Params, Worker};
use super::{TileCoord, TileError};
use crate::layer::{Feature, GeomKind, Layer};

/// `drop_small` polygons with a bounding box under this many grid units on
/// both sides are dropped.
pub const MIN_POLYGON_UNITS: f64 = 2.0;
/// `drop_small` lines with a bounding box under this many grid units on both
/// sides are dropped.
pub const MIN_LINE_UNITS: f64 = 1.0;
/// Point thinning keeps one point per cell of this many grid units.
pub const POINT_CELL_UNITS: f64 = 1.0;
/// Points are thinned at zooms below `maxzoom - POINT_THIN_BELOW_MAXZOOM`.
pub const POINT_THIN_BELOW_MAXZOOM: u8 = 2;
/// At this zoom and below, a `drop_small` layer may skip coarsening level 1
/// when it cannot fit (see the module docs).
pub const THIN_AT_ONCE_MAX_ZOOM: u8 = 14;
/// Largest accepted extent.
const MAX_EXTENT: u32 = 1 << 16;
/// Coarsening steps beyond this change nothing more (2^12 units > a tile).
pub(super) const MAX_COARSEN: u32 = 12;

/// Options of one render.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderOptions {
    /// Tile units per side (MVT `extent`).
    pub extent: u32,
    /// Buffer around the tile, in tile units.
    pub buffer: u32,
    /// Size budget of an encoded tile, bytes.
    pub max_bytes: usize,
    /// How many coarsening steps [`render_tile`] may take to meet the budget.
    pub max_attempts: u32,
    /// Coarsening level to start from (0 = normal). Each level doubles the
    /// simplification tolerance and, for `drop_small` layers, the point cell
    /// and keeps the largest half of a `drop_small` layer's features.
    pub coarsen: u32,
    /// Attributes left out of the tile: `(layer id, field index)` pairs
    /// (masked for the caller's role).
    pub hidden: Vec<(String, u16)>,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            extent: 4096,
            buffer: 64,
            max_bytes: 500_000,
            max_attempts: 6,
            coarsen: 0,
            hidden: Vec::new(),
        }
    }
}

impl RenderOptions {
    /// Checks the ranges (`1 <= extent <= 65536`, `buffer <= extent`).
    pub fn check(&self) -> Result<(), TileError> {
        if self.extent == 0 || self.extent > MAX_EXTENT {
            return Err(TileError::Options(format!(
                "extent {} is outside 1..={MAX_EXTENT}",
                self.extent
            )));
        }
        if self.buffer > self.extent {
            return Err(TileError::Options(format!(
                "buffer {} is larger than the extent {}",
                self.buffer, self.extent
            )));
        }
        Ok(())
    }
}

/// What happened to the candidate features of one layer in one tile.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LayerStats {
    /// R-tree hits: features whose box meets the buffered tile.
    pub features_in: usize,
    /// Features encoded.
    pub features_kept: usize,
    /// Dropped as too small, collapsed on the grid, or thinned.
    pub features_dropped: usize,
    /// Box met the buffered tile but the geometry did not.
    pub features_outside: usize,
    /// Kept features replaced by a minimal square or segment (legal layers).
    pub features_enlarged: usize,
    /// Vertices encoded.
    pub vertices: usize,
    /// Polygon features that needed the integer overlay (the rest took the
    /// fast path).
    pub overlay_calls: usize,
}

/// One encoded MVT layer and its statistics.
#[derive(Debug, Clone)]
pub struct RenderedLayer {
    /// The layer's name (its source layer id).
    pub name: String,
    /// The encoded MVT `Layer` message (without the tile's field key and
    /// length: see [`RenderedLayer::tile_bytes`]).
    pub bytes: Vec<u8>,
    pub stats: LayerStats,
}

impl RenderedLayer {
    pub fn is_empty(&self) -> bool {
        self.stats.features_kept == 0
    }

    /// A tile of this layer alone (the layer framed as the tile's field 3).
    pub fn tile_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(encode::field_len(self.bytes.len()));
        encode::put_layer(&mut out, &self.bytes);
        out
    }
}

/// An encoded tile.
#[derive(Debug, Clone)]
pub struct RenderedTile {
    /// The MVT bytes (uncompressed); empty for a tile without features.
    pub bytes: Vec<u8>,
    /// Features encoded, all layers.
    pub features: usize,
    /// Per input layer (in the given order): id and statistics of the final render.
    pub layers: Vec<(String, LayerStats)>,
    /// Coarsening level of the final render.
    pub coarsen: u32,
    /// The tile still exceeds `max_bytes` after all attempts.
    pub over_budget: bool,
}

/// Renders several layers into one tile, one MVT layer per source in the
/// given order (the caller removes duplicates); empty layers are omitted and
/// a tile without features is empty bytes. Enforces `max_bytes` by
/// coarsening (see the module docs); never fails on data, only on options.
pub fn render_tile(
    layers: &[&Layer],
    tile: TileCoord,
    opts: &RenderOptions,
) -> Result<RenderedTile, TileError> {
    opts.check()?;
    let mut o = opts.clone();
    let mut attempt = 0;
    loop {
        let last = attempt >= o.max_attempts || o.coarsen >= MAX_COARSEN;
        // Except on the last attempt, a render stops as soon as the tile is
        // known to exceed the budget: heavy tiles then cost little more than
        // one full render however many attempts they take.
        let mut left = o.max_bytes;
        let mut rendered = Vec::with_capacity(layers.len());
        let mut jump = 1;
        for l in layers {
            let cap = (!last).then_some(left);
            match render_layer_capped(l, tile, &o, cap) {
                Ok(r) => {
                    if r.bytes > 0 {
                        left = left.saturating_sub(encode::field_len(r.bytes));
                    }
                    rendered.push(r);
                }
                Err(Overflow {
                    encoded,
                    candidates,
                    vertices,
                }) => {
                    // Level 1 only simplifies harder. From there, skip
                    // straight to the thinning level that should fit.
                    let ratio = candidates as f64 / encoded.max(1) as f64;
                    let thinning = (ratio.log2().ceil() as u32).clamp(1, 4);
                    if o.coarsen >= 1 && l.def.drop_small {
                        jump = thinning;
                    } else if o.coarsen == 0
                        && l.def.drop_small
                        && tile.z <= THIN_AT_ONCE_MAX_ZOOM
                        && attempt + 1 < o.max_attempts
                        && level1_cannot_fit(left, ratio, vertices, encoded, min_vertices(l.kind))
                    {
                        // Level 1 (tolerance doubled) would give up too: go
                        // to the thinning level at once, as if it had.
                        attempt += 1;
                        jump = 1 + thinning;
                    }
                    break;
                }
            }
        }
        if rendered.len() < layers.len() {
            attempt += 1;
            o.coarsen += jump;
            continue;
        }
        let features = rendered.iter().map(|r| r.stats.features_kept).sum();
        let stats = rendered
            .iter()
            .zip(layers)
            .map(|(r, l)| (l.def.id.clone(), r.stats.clone()))
            .collect();
        // The tile message: each non-empty layer as field 3, in order.
        let size = rendered
            .iter()
            .filter(|r| !r.is_empty())
            .map(|r| encode::field_len(r.layer.len()))
            .sum();
        let mut bytes = Vec::with_capacity(size);
        for r in rendered.iter().filter(|r| !r.is_empty()) {
            encode::put_layer(&mut bytes, &r.layer);
        }
        // Label point layers after all the others (`labels`): a point per
        // polygon, small beside the polygons they label.
        for l in layers.iter().filter(|l| l.labels.is_some()) {
            let hide = hidden_fields(&o, l);
            let extent = o.extent.clamp(1, MAX_EXTENT);
            if let Some(labels) = labels::render_labels(l, tile, extent, o.coarsen, &hide) {
                encode::put_layer(&mut bytes, &labels);
            }
        }
        let fits = bytes.len() <= o.max_bytes;
        if fits || last {
            return Ok(RenderedTile {
                bytes,
                features,
                layers: stats,
                coarsen: o.coarsen,
                over_budget: !fits,
            });
        }
        attempt += 1;
        o.coarsen += 1;
    }
}

/// Renders one layer into an MVT layer named `layer.def.id` (version 2,
/// feature ids = `Feature::id`, typed attributes). Below the layer's
/// `minzoom` the result is empty. Options out of range are clamped.
pub fn render_layer(layer: &Layer, tile: TileCoord, opts: &RenderOptions) -> RenderedLayer {
    match render_layer_capped(layer, tile, opts, None) {
        Ok(r) => RenderedLayer {
            name: layer.def.id.clone(),
            bytes: r.layer,
            stats: r.stats,
        },
        Err(_) => RenderedLayer {
            name: layer.def.id.clone(),
            bytes: LayerBuilder::new(&layer.def.id, opts.extent.clamp(1, MAX_EXTENT), 0).finish(),
            stats: LayerStats::default(),
        },
    }
}

/// A rendered layer: the encoded layer message and its exact size (0 when
/// it has no feature: it is then left out of the tile).
struct Capped {
    layer: Vec<u8>,
    stats: LayerStats,
    bytes: usize,
}

impl Capped {
    fn is_empty(&self) -> bool {
        self.stats.features_kept == 0
    }
}

/// Geometry bytes per encoded vertex assumed by [`level1_cannot_fit`]: two
/// zigzag varints of up to 2 bytes (deltas under 8192 units) plus a share of
/// the commands; small plots take 2-3.
const BYTES_PER_VERTEX: f64 = 5.0;

/// Whether level 1 would exceed `budget` (the layer's share of the tile
/// budget) too, when level 0 gave up with `1 / ratio` of the candidates
/// encoded in about `budget` bytes: `encoded` features with `vertices`
/// vertices. Extrapolated to all candidates the layer takes about
/// `budget * ratio` bytes; level 1 only simplifies, and a simplified
/// feature keeps at least `min_vertices` (a ring 3, a line 2, a point 1),
/// so it saves at most `BYTES_PER_VERTEX * (vertices - min_vertices *
/// encoded) * ratio`. Like the thinning jump this extrapolates from the
/// features that fitted. (With the bound on all vertices, the district's
/// four-corner parcels at z14 tried level 1, which cannot drop a corner of
/// a quadrilateral, and rendered a budget's worth of features a second
/// time for nothing: BENCHMARKS.md, "Cold tiles: session 7".)
pub(super) fn level1_cannot_fit(
    budget: usize,
    ratio: f64,
    vertices: usize,
    encoded: usize,
    min_vertices: usize,
) -> bool {
    let removable = vertices.saturating_sub(min_vertices.saturating_mul(encoded));
    (ratio - 1.0) * budget as f64 > BYTES_PER_VERTEX * removable as f64 * ratio
}

/// The fewest vertices simplification leaves a kept feature: a ring 3, a
/// line 2, a point 1.
fn min_vertices(kind: GeomKind) -> usize {
    match kind {
        GeomKind::Polygon => 3,
        GeomKind::Line => 2,
        GeomKind::Point => 1,
    }
}

/// A capped render gave up: `encoded` of `candidates` features fitted
/// (the last one did not), with `vertices` vertices.
struct Overflow {
    encoded: usize,
    candidates: usize,
    vertices: usize,
}

/// At coarsening level `c >= 2` a `drop_small` layer keeps only the largest
/// `1/2^(c-1)` of its candidate features (by bounding-box area, ties by index),
/// so an over-budget tile of many same-sized plots thins out evenly instead
/// of emptying. `candidates` are `(index, box area)` pairs in index order
/// (the areas of the R-tree entries); the kept ones stay in index order.
fn thin_by_size(layer: &Layer, candidates: &mut Vec<(u32, f64)>, coarsen: u32) {
    if coarsen < 2 || !layer.def.drop_small || candidates.len() < 2 {
        return;
    }
    let keep = candidates.len().div_ceil(1usize << (coarsen - 1).min(20));
    candidates.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    candidates.truncate(keep);
    candidates.sort_unstable_by_key(|c| c.0);
}

/// The fields of `layer` that `opts` leaves out (masked for the caller).
fn hidden_fields(opts: &RenderOptions, layer: &Layer) -> Vec<u16> {
    opts.hidden
        .iter()
        .filter(|(l, _)| *l == layer.def.id)
        .map(|(_, f)| *f)
        .collect()
}

/// Cuts feature `f` with `w` and, when it is kept (or enlarged), adds it
/// to `builder` with its attributes except the `hide` fields.
fn cut_and_add(
    w: &mut Worker,
    layer: &Layer,
    f: &Feature,
    hide: &[u16],
    builder: &mut LayerBuilder,
) -> Outcome {
    let (outcome, kind) = match layer.kind {
        GeomKind::Polygon => (w.polygon(&layer.shapes, f), tile::GeomType::Polygon),
        GeomKind::Line => (w.line(&layer.shapes, f), tile::GeomType::Linestring),
        GeomKind::Point => (w.point(&layer.shapes, f), tile::GeomType::Point),
    };
    if matches!(outcome, Outcome::Kept | Outcome::Enlarged) {
        let props = layer
            .attrs
            .row_ids(f.row)
            .filter(|(k, _)| !hide.contains(k));
        builder.add(
            f.id,
            kind,
            &w.writer.cmds,
            props,
            &layer.attrs,
            &layer.fields,
        );
    }
    outcome
}

/// Candidates from which [`sampled_overflow`] samples before rendering.
const SAMPLE_FROM: usize = 2_000;
/// Features [`sampled_overflow`] renders.
const SAMPLE: usize = 64;
/// [`sampled_overflow`] gives up only on a layer estimated at more than
/// this many times its cap: nearer the cap the full render decides. It was
/// 1.5; at 1.1 every tile of the district's z10-z17 list is byte-identical
/// (the estimate is that close), and the dense z14 tiles estimated 1.1-1.5
/// times over no longer render a budget's worth of features to throw away
/// (z14 about 16% less time; BENCHMARKS.md, "Cold tiles: session 7").
const SAMPLE_MARGIN: f64 = 1.1;

/// Estimates, from an evenly spaced sample of `SAMPLE` of the (at least
/// `SAMPLE_FROM`) candidates rendered on their own, whether the layer
/// would exceed `cap` bytes by far, and if so gives up at once with the
/// [`Overflow`] the capped render would have reported (how many features
/// fit, extrapolated from the sample's bytes per candidate). A dense tile
/// otherwise renders and encodes about a budget's worth of features only
/// to throw them away: at z14 over the villages that was a third to a half
/// of a heavy tile's time, and the slowest tiles of the bench lists were
/// such tiles (BENCHMARKS.md). The coarsening level chosen from the
/// overflow is then the one the full render would have led to, up to the
/// sample's error; a tile near its budget is rendered in full as before.
fn sampled_overflow(
    layer: &Layer,
    params: &Params,
    extent: u32,
    candidates: &[u32],
    hide: &[u16],
    cap: usize,
) -> Option<Overflow> {
    let n = candidates.len();
    if n < SAMPLE_FROM || layer.kind == GeomKind::Point {
        return None;
    }
    let mut w = Worker::new(params);
    let mut builder = LayerBuilder::new(&layer.def.id, extent, layer.fields.len());
    let empty = builder.bytes();
    let (mut kept, mut vertices) = (0usize, 0usize);
    // Value id -> sampled features using it.
    let mut uses: HashMap<u32, u32, RandomState> = HashMap::default();
    for s in 0..SAMPLE {
        let Some(f) = candidates
            .get(s * n / SAMPLE)
            .and_then(|&i| layer.features.get(i as usize))
        else {
            continue;
        };
        if matches!(
            cut_and_add(&mut w, layer, f, hide, &mut builder),
            Outcome::Kept | Outcome::Enlarged
        ) {
            for (k, v) in layer.attrs.row_ids(f.row) {
                if !hide.contains(&k) {
                    *uses.entry(v).or_insert(0) += 1;
                }
            }
            kept += 1;
            vertices += w.writer.vertices;
        }
    }
    // Bytes = per candidate * candidates + shared: the keys and the values
    // that more than one sampled feature uses (a village code, a status) are
    // written once per layer, and counting them per sampled feature would
    // overestimate a full render by the share that the sample is small:
    // enough to pick one coarsening level too many for a tile whose share
    // is near a power of two.
    let mut shared = builder.bytes() - builder.feature_bytes();
    for (&v, _) in uses.iter().filter(|(_, n)| **n == 1) {
        shared = shared.saturating_sub(layer.attrs.values().encoded(v).map_or(0, <[u8]>::len));
    }
    if kept == 0 {
        return None;
    }
    let per_candidate = (builder.bytes() - shared) as f64 / SAMPLE as f64;
    let shared = shared.saturating_sub(empty);
    if per_candidate * n as f64 + shared as f64 <= SAMPLE_MARGIN * cap as f64 {
        return None;
    }
    // Features that fit: the candidates that fit, times the share kept.
    let fit = cap.saturating_sub(shared) as f64 / per_candidate * kept as f64 / SAMPLE as f64;
    let encoded = (fit as usize).max(1);
    Some(Overflow {
        encoded,
        candidates: n,
        vertices: vertices * encoded / kept,
    })
}

/// [`render_layer`], giving up as soon as the encoded layer would exceed
/// `cap` bytes.
fn render_layer_capped(
    layer: &Layer,
    tile: TileCoord,
    opts: &RenderOptions,
    cap: Option<usize>,
) -> Result<Capped, Overflow> {
    let extent = opts.extent.clamp(1, MAX_EXTENT);
    let mut builder = LayerBuilder::new(&layer.def.id, extent, layer.fields.len());
    let mut stats = LayerStats::default();
    if tile.z < layer.def.minzoom {
        return Ok(Capped {
            bytes: 0,
            layer: builder.finish(),
            stats,
        });
    }
    let params = Params::new(layer, tile, extent, opts.buffer.min(extent), opts.coarsen);
    let b = params.buffered;
    let env = AABB::from_corners([b.min().x, b.min().y], [b.max().x, b.max().y]);
    let k = params.t.k;
    let min_size = match layer.kind {
        GeomKind::Polygon => params.min_polygon,
        GeomKind::Line => params.min_line,
        GeomKind::Point => 0.0,
    };
    let mut sized: Vec<(u32, f64)> = Vec::new();
    for e in layer.tree.locate_in_envelope_intersecting(&env) {
        stats.features_in += 1;
        let (lo, hi) = (e.geom().lower(), e.geom().upper());
        let (w, h) = (hi[0] - lo[0], hi[1] - lo[1]);
        if w * k < min_size && h * k < min_size {
            stats.features_dropped += 1;
            continue;
        }
        sized.push((e.data, w * h));
    }
    sized.sort_unstable_by_key(|c| c.0);
    if layer.kind != GeomKind::Point {
        thin_by_size(layer, &mut sized, opts.coarsen);
    }
    let candidates: Vec<u32> = sized.into_iter().map(|c| c.0).collect();
    let total = candidates.len();
    builder.reserve(total, cap);

    let hide = hidden_fields(opts, layer);
    if let Some(c) = cap
        && layer.def.drop_small
        && let Some(over) = sampled_overflow(layer, &params, extent, &candidates, &hide, c)
    {
        return Err(over);
    }
    let mut w = Worker::new(&params);
    for i in candidates {
        let Some(f) = layer.features.get(i as usize) else {
            continue;
        };
        let outcome = cut_and_add(&mut w, layer, f, &hide, &mut builder);
        match outcome {
            Outcome::Kept | Outcome::Enlarged => {
                if cap.is_some_and(|c| encode::field_len(builder.bytes()) > c) {
                    return Err(Overflow {
                        encoded: builder.len(),
                        candidates: total,
                        vertices: stats.vertices + w.writer.vertices,
                    });
                }
                stats.features_kept += 1;
                stats.vertices += w.writer.vertices;
                if outcome == Outcome::Enlarged {
                    stats.features_enlarged += 1;
                }
            }
            Outcome::Dropped => stats.features_dropped += 1,
            Outcome::Outside => stats.features_outside += 1,
        }
    }
    stats.overlay_calls = w.validator.overlay_calls;
    debug_assert_eq!(builder.len(), stats.features_kept);
    let bytes = if builder.len() == 0 {
        0
    } else {
        builder.bytes()
    };
    Ok(Capped {
        layer: builder.finish(),
        stats,
        bytes,
    })
}
