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
//!   `max_bytes`, re-render with `coarsen + 1`: each step doubles the
//!   simplification tolerance and the point cell and, for `drop_small`
//!   layers, multiplies the minimum polygon/line sizes by sqrt(2) (the area
//!   threshold doubles; doubling the sizes proved a cliff: a dense layer of
//!   equal-sized plots went from 1 MB to nothing in one step). Point thinning
//!   then applies at every zoom. After `max_attempts` steps the tile is
//!   returned flagged `over_budget`.
//!
//! Features are emitted in layer order (R-tree hits are sorted by index), so
//! output is deterministic and polygons draw in source order.

use std::collections::HashSet;

use geo::{Coord, Geometry, Intersects, LineString, Polygon, Rect, coord};
use geozero::mvt::{Message, Tile, tile};
use i_overlay::i_float::int::point::IntPoint;
use rstar::AABB;

use super::encode::{GeometryWriter, LayerBuilder};
use super::geom::{self, P, Relation, Square, TileTransform};
use super::polygon::{Rings, Validator};
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
/// Largest accepted extent.
const MAX_EXTENT: u32 = 1 << 16;
/// Coarsening steps beyond this change nothing more (2^12 units > a tile).
const MAX_COARSEN: u32 = 12;

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
    /// and multiplies the minimum feature sizes by sqrt(2).
    pub coarsen: u32,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            extent: 4096,
            buffer: 64,
            max_bytes: 500_000,
            max_attempts: 6,
            coarsen: 0,
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
    pub layer: tile::Layer,
    pub stats: LayerStats,
}

impl RenderedLayer {
    pub fn is_empty(&self) -> bool {
        self.layer.features.is_empty()
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
        let rendered: Vec<RenderedLayer> =
            layers.iter().map(|l| render_layer(l, tile, &o)).collect();
        let features = rendered.iter().map(|r| r.stats.features_kept).sum();
        let stats = rendered
            .iter()
            .map(|r| (r.layer.name.clone(), r.stats.clone()))
            .collect();
        let mvt = Tile {
            layers: rendered
                .into_iter()
                .filter(|r| !r.is_empty())
                .map(|r| r.layer)
                .collect(),
        };
        let bytes = if mvt.layers.is_empty() {
            Vec::new()
        } else {
            mvt.encode_to_vec()
        };
        let fits = bytes.len() <= o.max_bytes;
        if fits || attempt >= o.max_attempts || o.coarsen >= MAX_COARSEN {
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
    let extent = opts.extent.clamp(1, MAX_EXTENT);
    let mut builder = LayerBuilder::new(&layer.def.id, extent, layer.fields.len());
    let mut stats = LayerStats::default();
    if tile.z < layer.def.minzoom {
        return RenderedLayer {
            layer: builder.finish(),
            stats,
        };
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
    let mut candidates: Vec<u32> = Vec::new();
    for e in layer.tree.locate_in_envelope_intersecting(&env) {
        stats.features_in += 1;
        let (lo, hi) = (e.geom().lower(), e.geom().upper());
        if (hi[0] - lo[0]) * k < min_size && (hi[1] - lo[1]) * k < min_size {
            stats.features_dropped += 1;
            continue;
        }
        candidates.push(e.data);
    }
    candidates.sort_unstable();

    let mut w = Worker::new(&params);
    for i in candidates {
        let Some(f) = layer.features.get(i as usize) else {
            continue;
        };
        let (outcome, kind) = match layer.kind {
            GeomKind::Polygon => (w.polygon(f), tile::GeomType::Polygon),
            GeomKind::Line => (w.line(f), tile::GeomType::Linestring),
            GeomKind::Point => (w.point(f), tile::GeomType::Point),
        };
        match outcome {
            Outcome::Kept | Outcome::Enlarged => {
                builder.add(f.id, kind, &w.writer.cmds, &f.props, &layer.fields);
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
    RenderedLayer {
        layer: builder.finish(),
        stats,
    }
}

/// Parameters of one layer render, derived from layer, tile and options.
struct Params {
    t: TileTransform,
    sq: Square,
    /// Buffered tile in EPSG:3857.
    buffered: Rect,
    /// Douglas-Peucker tolerance, tile units.
    tol: f64,
    /// Minimum box side of polygons / lines, tile units (0 = keep all).
    min_polygon: f64,
    min_line: f64,
    /// Point thinning cell, tile units.
    point_cell: Option<i32>,
    /// Legal layer: never drop, enlarge instead.
    keep_small: bool,
}

impl Params {
    fn new(layer: &Layer, tile: TileCoord, extent: u32, buffer: u32, coarsen: u32) -> Params {
        let bounds = tile.bounds();
        let t = TileTransform::new(bounds, f64::from(extent));
        let buf_m = f64::from(buffer) / t.k;
        let buffered = Rect::new(
            coord! { x: bounds.min().x - buf_m, y: bounds.min().y - buf_m },
            coord! { x: bounds.max().x + buf_m, y: bounds.max().y + buf_m },
        );
        let unit = f64::from(extent) / 4096.0;
        let level = coarsen.min(MAX_COARSEN) as i32;
        let factor = 2f64.powi(level);
        // Minimum sizes grow by sqrt(2) per level: the area threshold doubles.
        let size_factor = std::f64::consts::SQRT_2.powi(level);
        let def = &layer.def;
        let base_tol = if tile.z >= def.maxzoom {
            def.simplify_px.min(0.5)
        } else {
            def.simplify_px
        };
        let drop = def.drop_small;
        let thin = drop && (coarsen > 0 || tile.z.saturating_add(POINT_THIN_BELOW_MAXZOOM) < def.maxzoom);
        Params {
            t,
            sq: Square {
                lo: -f64::from(buffer),
                hi: f64::from(extent + buffer),
            },
            buffered,
            tol: base_tol.max(0.0) * unit * factor,
            min_polygon: if drop { MIN_POLYGON_UNITS * unit * size_factor } else { 0.0 },
            min_line: if drop { MIN_LINE_UNITS * unit * size_factor } else { 0.0 },
            point_cell: thin.then(|| (POINT_CELL_UNITS * unit * factor).round().max(1.0) as i32),
            keep_small: !drop,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Kept,
    Enlarged,
    Dropped,
    Outside,
}

/// Result of one polygon part.
enum Part {
    Outside,
    Rings,
    /// Collapsed on the grid; the mean of its clipped exterior vertices.
    Collapsed(P),
}

/// Scratch buffers reused across the features of one layer render.
struct Worker<'a> {
    p: &'a Params,
    a: Vec<P>,
    b: Vec<P>,
    s: Vec<P>,
    keep: Vec<bool>,
    stack: Vec<(usize, usize)>,
    rings: Rings,
    out: Rings,
    ipts: Vec<IntPoint>,
    ends: Vec<usize>,
    piece_ends: Vec<usize>,
    cells: HashSet<(i32, i32)>,
    validator: Validator,
    writer: GeometryWriter,
}

impl<'a> Worker<'a> {
    fn new(p: &'a Params) -> Worker<'a> {
        Worker {
            p,
            a: Vec::new(),
            b: Vec::new(),
            s: Vec::new(),
            keep: Vec::new(),
            stack: Vec::new(),
            rings: Rings::default(),
            out: Rings::default(),
            ipts: Vec::new(),
            ends: Vec::new(),
            piece_ends: Vec::new(),
            cells: HashSet::new(),
            validator: Validator::new(),
            writer: GeometryWriter::default(),
        }
    }

    fn polygon(&mut self, f: &Feature) -> Outcome {
        let p = self.p;
        self.rings.clear();
        self.out.clear();
        self.writer.reset();
        let mut enlarged = false;
        if p.keep_small {
            // Sub-unit polygon well inside the buffer: a 1-unit square at its
            // box centre, without touching its coordinates.
            let lo = p.t.apply(Coord { x: f.bbox.min().x, y: f.bbox.max().y });
            let hi = p.t.apply(Coord { x: f.bbox.max().x, y: f.bbox.min().y });
            if hi[0] - lo[0] < 1.0 && hi[1] - lo[1] < 1.0 && p.sq.contains(lo) && p.sq.contains(hi) {
                let centre = [(lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0];
                self.out.push_oriented(&unit_square(centre, p.sq), false);
                self.encode_rings();
                return Outcome::Enlarged;
            }
        }
        let mut touched = false;
        let mut mean_sum = ([0.0, 0.0], 0usize);
        for_each_polygon(&f.geometry, &mut |part| {
            let mut result = self.polygon_part(part, p.tol);
            if let Part::Collapsed(_) = result
                && p.keep_small
                && p.tol > 0.0
            {
                result = self.polygon_part(part, 0.0);
            }
            match result {
                Part::Outside => {}
                Part::Rings => touched = true,
                Part::Collapsed(mean) => {
                    touched = true;
                    mean_sum.0[0] += mean[0];
                    mean_sum.0[1] += mean[1];
                    mean_sum.1 += 1;
                    if p.keep_small && part.intersects(&p.buffered) {
                        let start = self.rings.pts.len();
                        self.rings.pts.extend_from_slice(&unit_square(mean, p.sq));
                        self.rings.close_ring(start, false);
                        enlarged = true;
                    }
                }
            }
        });
        if !touched {
            return Outcome::Outside;
        }
        if !self.rings.is_empty() {
            self.validator.make_valid(&self.rings, &mut self.out);
        }
        if self.out.is_empty() {
            // Everything collapsed (e.g. a comb whose teeth vanished).
            if !p.keep_small || !f.geometry.intersects(&p.buffered) {
                return Outcome::Dropped;
            }
            let centre = if mean_sum.1 > 0 {
                let n = mean_sum.1 as f64;
                [mean_sum.0[0] / n, mean_sum.0[1] / n]
            } else {
                let c = f.bbox.center();
                p.t.apply(c)
            };
            self.out.push_oriented(&unit_square(centre, p.sq), false);
            enlarged = true;
        }
        self.encode_rings();
        if enlarged {
            Outcome::Enlarged
        } else {
            Outcome::Kept
        }
    }

    fn encode_rings(&mut self) {
        for (ring, _) in self.out.iter() {
            self.writer.ring(ring);
        }
    }

    /// Transforms, clips, simplifies and rounds one polygon part into
    /// `self.rings`. A collapsed exterior removes the whole part.
    fn polygon_part(&mut self, part: &Polygon, tol: f64) -> Part {
        let p = self.p;
        let mark = (self.rings.pts.len(), self.rings.ends.len());
        geom::transform_ring(&part.exterior().0, &p.t, &mut self.a);
        if !clip_in_place(&mut self.a, &mut self.b, p.sq) {
            return Part::Outside;
        }
        let mean = mean_of(&self.a);
        if !self.push_ring(tol, false) {
            self.rings.pts.truncate(mark.0);
            self.rings.ends.truncate(mark.1);
            return Part::Collapsed(mean);
        }
        for hole in part.interiors() {
            geom::transform_ring(&hole.0, &p.t, &mut self.a);
            if clip_in_place(&mut self.a, &mut self.b, p.sq) {
                self.push_ring(tol, true);
            }
        }
        Part::Rings
    }

    /// Simplifies and rounds the open ring in `self.a` into `self.rings`;
    /// false if it collapsed (under 3 points, or all on one line; a bow-tie
    /// with zero net area is not collapsed).
    fn push_ring(&mut self, tol: f64, hole: bool) -> bool {
        self.a.push(self.a[0]);
        self.s.clear();
        geom::simplify(&self.a, tol, &mut self.keep, &mut self.stack, &mut self.s);
        self.s.pop();
        let start = self.rings.pts.len();
        geom::round_into(&self.s, true, &mut self.rings.pts);
        if geom::all_collinear(&self.rings.pts[start..]) {
            self.rings.pts.truncate(start);
            return false;
        }
        self.rings.close_ring(start, hole)
    }

    fn line(&mut self, f: &Feature) -> Outcome {
        let p = self.p;
        self.writer.reset();
        self.ipts.clear();
        self.ends.clear();
        let mut touched: Option<P> = None;
        for_each_line(&f.geometry, &mut |line| {
            self.a.clear();
            self.a.extend(line.0.iter().map(|&c| p.t.apply(c)));
            self.b.clear();
            self.piece_ends.clear();
            match geom::relate(geom::bbox(&self.a), p.sq) {
                Relation::Outside => {}
                Relation::Inside => {
                    self.b.extend_from_slice(&self.a);
                    self.piece_ends.push(self.b.len());
                }
                Relation::Crossing => {
                    geom::clip_line(&self.a, p.sq, &mut self.b, &mut self.piece_ends)
                }
            }
            let mut start = 0;
            for &end in &self.piece_ends {
                let piece = &self.b[start..end];
                start = end;
                if piece.is_empty() {
                    continue;
                }
                touched.get_or_insert(piece[0]);
                self.s.clear();
                geom::simplify(piece, p.tol, &mut self.keep, &mut self.stack, &mut self.s);
                let from = self.ipts.len();
                geom::round_into(&self.s, false, &mut self.ipts);
                if self.ipts.len() - from < 2 {
                    self.ipts.truncate(from);
                } else {
                    self.ends.push(self.ipts.len());
                }
            }
        });
        let Some(first) = touched else {
            return Outcome::Outside;
        };
        let mut outcome = Outcome::Kept;
        if self.ends.is_empty() {
            if !p.keep_small {
                return Outcome::Dropped;
            }
            let a = IntPoint::new(first[0].round() as i32, first[1].round() as i32);
            let dx = if f64::from(a.x) + 1.0 <= p.sq.hi { 1 } else { -1 };
            self.ipts.extend_from_slice(&[a, IntPoint::new(a.x + dx, a.y)]);
            self.ends.push(2);
            outcome = Outcome::Enlarged;
        }
        let mut start = 0;
        for &end in &self.ends {
            self.writer.line(&self.ipts[start..end]);
            start = end;
        }
        outcome
    }

    fn point(&mut self, f: &Feature) -> Outcome {
        let p = self.p;
        self.writer.reset();
        self.ipts.clear();
        let mut inside = false;
        for_each_point(&f.geometry, &mut |c| {
            let q = p.t.apply(c);
            if !p.sq.contains(q) {
                return;
            }
            inside = true;
            let ip = IntPoint::new(q[0].round() as i32, q[1].round() as i32);
            if let Some(cell) = p.point_cell
                && !self.cells.insert((ip.x.div_euclid(cell), ip.y.div_euclid(cell)))
            {
                return;
            }
            self.ipts.push(ip);
        });
        if self.ipts.is_empty() {
            return if inside { Outcome::Dropped } else { Outcome::Outside };
        }
        self.writer.points(&self.ipts);
        Outcome::Kept
    }
}

/// Clips the open ring in `a` to the square (skipping the work when its box
/// is inside); false if nothing of it is left.
fn clip_in_place(a: &mut Vec<P>, tmp: &mut Vec<P>, sq: Square) -> bool {
    match geom::relate(geom::bbox(a), sq) {
        Relation::Outside => false,
        Relation::Inside => a.len() >= 3,
        Relation::Crossing => {
            geom::clip_ring(a, tmp, sq);
            a.len() >= 3
        }
    }
}

fn mean_of(pts: &[P]) -> P {
    let n = pts.len().max(1) as f64;
    let s = pts.iter().fold([0.0, 0.0], |s, p| [s[0] + p[0], s[1] + p[1]]);
    [s[0] / n, s[1] / n]
}

/// A 1-unit square (positive orientation) at the grid cell containing `c`,
/// kept inside the square `sq`.
fn unit_square(c: P, sq: Square) -> [IntPoint; 4] {
    let (lo, hi) = (sq.lo as i32, sq.hi as i32 - 1);
    let x = (c[0].floor() as i32).clamp(lo, hi);
    let y = (c[1].floor() as i32).clamp(lo, hi);
    [
        IntPoint::new(x, y),
        IntPoint::new(x + 1, y),
        IntPoint::new(x + 1, y + 1),
        IntPoint::new(x, y + 1),
    ]
}

fn for_each_polygon(g: &Geometry, f: &mut dyn FnMut(&Polygon)) {
    match g {
        Geometry::Polygon(p) => f(p),
        Geometry::MultiPolygon(mp) => mp.0.iter().for_each(|p| f(p)),
        Geometry::Rect(r) => f(&r.to_polygon()),
        Geometry::Triangle(t) => f(&t.to_polygon()),
        Geometry::GeometryCollection(gc) => gc.0.iter().for_each(|g| for_each_polygon(g, f)),
        _ => {}
    }
}

fn for_each_line(g: &Geometry, f: &mut dyn FnMut(&LineString)) {
    match g {
        Geometry::LineString(l) => f(l),
        Geometry::MultiLineString(ml) => ml.0.iter().for_each(|l| f(l)),
        Geometry::Line(l) => f(&LineString::new(vec![l.start, l.end])),
        Geometry::GeometryCollection(gc) => gc.0.iter().for_each(|g| for_each_line(g, f)),
        _ => {}
    }
}

fn for_each_point(g: &Geometry, f: &mut dyn FnMut(Coord)) {
    match g {
        Geometry::Point(p) => f(p.0),
        Geometry::MultiPoint(mp) => mp.0.iter().for_each(|p| f(p.0)),
        Geometry::GeometryCollection(gc) => gc.0.iter().for_each(|g| for_each_point(g, f)),
        _ => {}
    }
}
