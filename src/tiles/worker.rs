//! The per-feature pipeline: transform to tile units, clip, simplify, round,
//! make valid (polygons) and write the MVT commands, on scratch buffers
//! reused across the features of one layer render. Thresholds and their
//! rationale are documented in the `render` module.

use std::collections::HashSet;

use geo::{Coord, Intersects, Rect, coord};
use i_overlay::i_float::int::point::IntPoint;

use super::TileCoord;
use super::encode::GeometryWriter;
use super::geom::{self, P, Relation, Square, TileTransform};
use super::polygon::{Rings, Validator};
use super::render::{
    MAX_COARSEN, MIN_LINE_UNITS, MIN_POLYGON_UNITS, POINT_CELL_UNITS, POINT_THIN_BELOW_MAXZOOM,
};
use crate::layer::{Feature, Layer, PolygonRef, Shapes};

/// Parameters of one layer render, derived from layer, tile and options.
pub(super) struct Params {
    pub t: TileTransform,
    pub sq: Square,
    /// Buffered tile in EPSG:3857.
    pub buffered: Rect,
    /// Douglas-Peucker tolerance, tile units.
    pub tol: f64,
    /// Minimum box side of polygons / lines, tile units (0 = keep all).
    pub min_polygon: f64,
    pub min_line: f64,
    /// Point thinning cell, tile units.
    pub point_cell: Option<i32>,
    /// Legal layer: never drop, enlarge instead.
    pub keep_small: bool,
}

impl Params {
    pub fn new(layer: &Layer, tile: TileCoord, extent: u32, buffer: u32, coarsen: u32) -> Params {
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
        // Minimum sizes stay put: a dense layer of same-sized plots would go
        // from over budget to empty in one step. Coarsening thins by rank
        // instead (see `render::thin_by_size`).
        let size_factor = 1.0;
        let def = &layer.def;
        let base_tol = if tile.z >= def.maxzoom {
            def.simplify_px.min(0.5)
        } else {
            def.simplify_px
        };
        let drop = def.drop_small;
        // `drop_small` layers coarsen mostly by thinning (render::thin_by_size);
        // simplifying them ever harder would collapse every small plot.
        let tol_factor = if drop {
            2f64.powi(level.min(2))
        } else {
            factor
        };
        let thin =
            drop && (coarsen > 0 || tile.z.saturating_add(POINT_THIN_BELOW_MAXZOOM) < def.maxzoom);
        Params {
            t,
            sq: Square {
                lo: -f64::from(buffer),
                hi: f64::from(extent + buffer),
            },
            buffered,
            tol: base_tol.max(0.0) * unit * tol_factor,
            min_polygon: if drop {
                MIN_POLYGON_UNITS * unit * size_factor
            } else {
                0.0
            },
            min_line: if drop {
                MIN_LINE_UNITS * unit * size_factor
            } else {
                0.0
            },
            point_cell: thin.then(|| (POINT_CELL_UNITS * unit * factor).round().max(1.0) as i32),
            keep_small: !drop,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
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
pub(super) struct Worker<'a> {
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
    pub validator: Validator,
    pub writer: GeometryWriter,
}

impl<'a> Worker<'a> {
    pub fn new(p: &'a Params) -> Worker<'a> {
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

    pub fn polygon(&mut self, shapes: &Shapes, f: &Feature) -> Outcome {
        let p = self.p;
        self.rings.clear();
        self.out.clear();
        self.writer.reset();
        let mut enlarged = false;
        if p.keep_small {
            // Sub-unit polygon well inside the buffer: a 1-unit square at its
            // box centre, without touching its coordinates.
            let bbox = shapes.bbox(f.shape);
            let lo = p.t.apply(Coord {
                x: bbox.min().x,
                y: bbox.max().y,
            });
            let hi = p.t.apply(Coord {
                x: bbox.max().x,
                y: bbox.min().y,
            });
            if hi[0] - lo[0] < 1.0 && hi[1] - lo[1] < 1.0 && p.sq.contains(lo) && p.sq.contains(hi)
            {
                let centre = [(lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0];
                self.out.push_oriented(&unit_square(centre, p.sq), false);
                self.encode_rings();
                return Outcome::Enlarged;
            }
        }
        let mut touched = false;
        let mut mean_sum = ([0.0, 0.0], 0usize);
        shapes.for_each_polygon(f.shape, &mut |part| {
            let mut result = self.polygon_part(&part, p.tol);
            if let Part::Collapsed(_) = result
                && p.keep_small
                && p.tol > 0.0
            {
                result = self.polygon_part(&part, 0.0);
            }
            match result {
                Part::Outside => {}
                Part::Rings => touched = true,
                Part::Collapsed(mean) => {
                    touched = true;
                    mean_sum.0[0] += mean[0];
                    mean_sum.0[1] += mean[1];
                    mean_sum.1 += 1;
                    if p.keep_small && part.to_polygon().intersects(&p.buffered) {
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
            if !p.keep_small || !shapes.to_geometry(f.shape).intersects(&p.buffered) {
                return Outcome::Dropped;
            }
            let centre = if mean_sum.1 > 0 {
                let n = mean_sum.1 as f64;
                [mean_sum.0[0] / n, mean_sum.0[1] / n]
            } else {
                let c = shapes.bbox(f.shape).center();
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
    fn polygon_part(&mut self, part: &PolygonRef, tol: f64) -> Part {
        let p = self.p;
        let mark = (self.rings.pts.len(), self.rings.ends.len());
        geom::transform_ring(part.exterior(), &p.t, &mut self.a);
        if !clip_in_place(&mut self.a, &mut self.b, p.sq) {
            return Part::Outside;
        }
        if !self.push_ring(tol, false) {
            self.rings.pts.truncate(mark.0);
            self.rings.ends.truncate(mark.1);
            // `push_ring` appended the closing point to the clipped ring.
            let open = self.a.len().saturating_sub(1);
            return Part::Collapsed(mean_of(&self.a[..open]));
        }
        for hole in part.interiors() {
            geom::transform_ring(hole, &p.t, &mut self.a);
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

    pub fn line(&mut self, shapes: &Shapes, f: &Feature) -> Outcome {
        let p = self.p;
        self.writer.reset();
        self.ipts.clear();
        self.ends.clear();
        let mut touched: Option<P> = None;
        shapes.for_each_line(f.shape, &mut |line| {
            self.a.clear();
            self.a.extend(line.iter().map(|&c| p.t.apply(c)));
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
            let dx = if f64::from(a.x) + 1.0 <= p.sq.hi {
                1
            } else {
                -1
            };
            self.ipts
                .extend_from_slice(&[a, IntPoint::new(a.x + dx, a.y)]);
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

    pub fn point(&mut self, shapes: &Shapes, f: &Feature) -> Outcome {
        let p = self.p;
        self.writer.reset();
        self.ipts.clear();
        let mut inside = false;
        for &c in shapes.points(f.shape) {
            let q = p.t.apply(c);
            if !p.sq.contains(q) {
                continue;
            }
            inside = true;
            let ip = IntPoint::new(q[0].round() as i32, q[1].round() as i32);
            if let Some(cell) = p.point_cell
                && !self
                    .cells
                    .insert((ip.x.div_euclid(cell), ip.y.div_euclid(cell)))
            {
                continue;
            }
            self.ipts.push(ip);
        }
        if self.ipts.is_empty() {
            return if inside {
                Outcome::Dropped
            } else {
                Outcome::Outside
            };
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
    let s = pts
        .iter()
        .fold([0.0, 0.0], |s, p| [s[0] + p[0], s[1] + p[1]]);
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
