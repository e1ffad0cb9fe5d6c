//! Geometry primitives of the tile pipeline, all on scratch buffers so that
//! nothing is allocated per vertex: the EPSG:3857 -> tile-unit transform,
//! Sutherland-Hodgman ring clipping and Liang-Barsky line clipping against
//! the buffered tile square, Douglas-Peucker simplification, rounding to the
//! integer grid, and exact integer predicates.
//!
//! Rings are handled *open* here (no repeated closing point).

use geo::{Coord, Rect};
use i_overlay::i_float::int::point::IntPoint;

/// A point in tile units (f64, y down).
pub(super) type P = [f64; 2];

/// EPSG:3857 metres -> tile units: x right, y down, `extent` units per side.
#[derive(Debug, Clone, Copy)]
pub(super) struct TileTransform {
    min_x: f64,
    max_y: f64,
    /// Tile units per metre.
    pub k: f64,
}

impl TileTransform {
    pub fn new(bounds: Rect, extent: f64) -> TileTransform {
        TileTransform {
            min_x: bounds.min().x,
            max_y: bounds.max().y,
            k: extent / bounds.width(),
        }
    }

    #[inline]
    pub fn apply(&self, c: Coord) -> P {
        [(c.x - self.min_x) * self.k, (self.max_y - c.y) * self.k]
    }
}

/// The buffered tile square `[lo, hi]²` in tile units (integers, so rounding
/// a point inside it keeps it inside).
#[derive(Debug, Clone, Copy)]
pub(super) struct Square {
    pub lo: f64,
    pub hi: f64,
}

impl Square {
    #[inline]
    pub fn contains(&self, p: P) -> bool {
        p[0] >= self.lo && p[0] <= self.hi && p[1] >= self.lo && p[1] <= self.hi
    }
}

/// Bounding box `[min_x, min_y, max_x, max_y]` of a point slice.
pub(super) fn bbox(pts: &[P]) -> [f64; 4] {
    let mut b = [
        f64::INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NEG_INFINITY,
    ];
    for p in pts {
        b[0] = b[0].min(p[0]);
        b[1] = b[1].min(p[1]);
        b[2] = b[2].max(p[0]);
        b[3] = b[3].max(p[1]);
    }
    b
}

/// Where a bounding box lies relative to the square.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Relation {
    Outside,
    Inside,
    Crossing,
}

pub(super) fn relate(b: [f64; 4], sq: Square) -> Relation {
    if b[2] < sq.lo || b[0] > sq.hi || b[3] < sq.lo || b[1] > sq.hi {
        Relation::Outside
    } else if b[0] >= sq.lo && b[2] <= sq.hi && b[1] >= sq.lo && b[3] <= sq.hi {
        Relation::Inside
    } else {
        Relation::Crossing
    }
}

/// Transforms a ring's coordinates into `out` (open: the closing point is dropped).
pub(super) fn transform_ring(coords: &[Coord], t: &TileTransform, out: &mut Vec<P>) {
    out.clear();
    let n = if coords.len() > 1 && coords.first() == coords.last() {
        coords.len() - 1
    } else {
        coords.len()
    };
    out.extend(coords[..n].iter().map(|&c| t.apply(c)));
}

/// Sutherland-Hodgman: clips the open ring in `ring` to the square, in place
/// (`tmp` is scratch). For a convex window this preserves the winding number
/// of every point inside the window; the degenerate edges it may leave along
/// the border are removed later by the integer overlay.
pub(super) fn clip_ring(ring: &mut Vec<P>, tmp: &mut Vec<P>, sq: Square) {
    clip_half(ring, tmp, 0, sq.lo, true);
    clip_half(tmp, ring, 0, sq.hi, false);
    clip_half(ring, tmp, 1, sq.lo, true);
    clip_half(tmp, ring, 1, sq.hi, false);
}

/// One Sutherland-Hodgman pass: keeps the side `p[axis] >= bound` (`keep_ge`)
/// or `p[axis] <= bound`.
fn clip_half(input: &[P], output: &mut Vec<P>, axis: usize, bound: f64, keep_ge: bool) {
    output.clear();
    let Some(&last) = input.last() else {
        return;
    };
    let inside = |p: &P| {
        if keep_ge {
            p[axis] >= bound
        } else {
            p[axis] <= bound
        }
    };
    let cut = |a: P, b: P| -> P {
        let t = (bound - a[axis]) / (b[axis] - a[axis]);
        let other = 1 - axis;
        let mut p = [0.0; 2];
        p[axis] = bound;
        p[other] = a[other] + t * (b[other] - a[other]);
        p
    };
    let mut prev = last;
    let mut prev_in = inside(&prev);
    for &cur in input {
        let cur_in = inside(&cur);
        if cur_in {
            if !prev_in {
                output.push(cut(prev, cur));
            }
            output.push(cur);
        } else if prev_in {
            output.push(cut(prev, cur));
        }
        prev = cur;
        prev_in = cur_in;
    }
}

/// Liang-Barsky: clips a polyline to the square; appends the visible pieces
/// to `pts`, recording the end index of each piece in `ends`.
pub(super) fn clip_line(line: &[P], sq: Square, pts: &mut Vec<P>, ends: &mut Vec<usize>) {
    let mut open = false;
    for w in line.windows(2) {
        let (a, b) = (w[0], w[1]);
        let Some((t0, t1)) = liang_barsky(a, b, sq) else {
            if open {
                ends.push(pts.len());
                open = false;
            }
            continue;
        };
        let at = |t: f64| [a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])];
        if !open || t0 > 0.0 {
            if open {
                ends.push(pts.len());
            }
            pts.push(if t0 > 0.0 { at(t0) } else { a });
            open = true;
        }
        pts.push(if t1 < 1.0 { at(t1) } else { b });
        if t1 < 1.0 {
            ends.push(pts.len());
            open = false;
        }
    }
    if open {
        ends.push(pts.len());
    }
}

/// The visible parameter range of segment `a -> b`, if any.
fn liang_barsky(a: P, b: P, sq: Square) -> Option<(f64, f64)> {
    let d = [b[0] - a[0], b[1] - a[1]];
    let mut t0 = 0.0f64;
    let mut t1 = 1.0f64;
    for axis in 0..2 {
        for (p, q) in [(-d[axis], a[axis] - sq.lo), (d[axis], sq.hi - a[axis])] {
            if p == 0.0 {
                if q < 0.0 {
                    return None;
                }
            } else {
                let r = q / p;
                if p < 0.0 {
                    t0 = t0.max(r);
                } else {
                    t1 = t1.min(r);
                }
            }
        }
    }
    (t0 <= t1).then_some((t0, t1))
}

/// Douglas-Peucker on an open polyline: appends the kept points to `out`
/// (both ends are always kept). `tol <= 0` keeps everything. For a ring,
/// pass it with its first point repeated at the end.
pub(super) fn simplify(
    pts: &[P],
    tol: f64,
    keep: &mut Vec<bool>,
    stack: &mut Vec<(usize, usize)>,
    out: &mut Vec<P>,
) {
    let n = pts.len();
    if tol <= 0.0 || n <= 2 {
        out.extend_from_slice(pts);
        return;
    }
    keep.clear();
    keep.resize(n, false);
    keep[0] = true;
    keep[n - 1] = true;
    let tol2 = tol * tol;
    stack.clear();
    stack.push((0, n - 1));
    while let Some((i, j)) = stack.pop() {
        if j <= i + 1 {
            continue;
        }
        let (a, b) = (pts[i], pts[j]);
        let d = [b[0] - a[0], b[1] - a[1]];
        let len2 = d[0] * d[0] + d[1] * d[1];
        // The farthest point from the chord `a-b`: compared by the squared
        // cross product (the squared distance times `len2`, the same order),
        // so only the winner pays the division. A closed ring's first chord
        // is a point: plain squared distance to `a`.
        let mut best = (0usize, -1.0f64);
        let inner = &pts[i + 1..j];
        if len2 == 0.0 {
            for (m, p) in inner.iter().enumerate() {
                let v = [p[0] - a[0], p[1] - a[1]];
                let dist2 = v[0] * v[0] + v[1] * v[1];
                if dist2 > best.1 {
                    best = (m, dist2);
                }
            }
        } else {
            for (m, p) in inner.iter().enumerate() {
                let cross = (p[0] - a[0]) * d[1] - (p[1] - a[1]) * d[0];
                let c2 = cross * cross;
                if c2 > best.1 {
                    best = (m, c2);
                }
            }
            best.1 /= len2;
        }
        best.0 += i + 1;
        if best.1 > tol2 {
            keep[best.0] = true;
            stack.push((i, best.0));
            stack.push((best.0, j));
        }
    }
    out.extend(
        pts.iter()
            .zip(keep.iter())
            .filter(|(_, k)| **k)
            .map(|(p, _)| *p),
    );
}

/// Rounds to the integer grid, dropping consecutive repeats (and, for a
/// ring, trailing points equal to the first).
pub(super) fn round_into(pts: &[P], ring: bool, out: &mut Vec<IntPoint>) {
    let start = out.len();
    for p in pts {
        let q = IntPoint::new(p[0].round() as i32, p[1].round() as i32);
        if out.len() == start || out[out.len() - 1] != q {
            out.push(q);
        }
    }
    if ring {
        while out.len() > start + 1 && out[out.len() - 1] == out[start] {
            out.pop();
        }
    }
}

/// Twice the signed area (surveyor's formula) of an open integer ring. In
/// tile coordinates (y down) a positive value is clockwise on screen, which
/// is what MVT 2.1 requires of exterior rings.
pub(super) fn area2(ring: &[IntPoint]) -> i64 {
    let Some(&last) = ring.last() else {
        return 0;
    };
    let mut prev = last;
    let mut s = 0i64;
    for &p in ring {
        s += i64::from(prev.x) * i64::from(p.y) - i64::from(p.x) * i64::from(prev.y);
        prev = p;
    }
    s
}

/// Whether all points lie on one line (fewer than 3 points count as collinear).
pub(super) fn all_collinear(pts: &[IntPoint]) -> bool {
    let Some(&a) = pts.first() else {
        return true;
    };
    let Some(&b) = pts.iter().find(|&&p| p != a) else {
        return true;
    };
    pts.iter().all(|&p| orient(a, b, p) == 0)
}

/// Twice the signed area of an open f64 ring.
#[cfg(test)]
pub(super) fn area2_f(ring: &[P]) -> f64 {
    let Some(&last) = ring.last() else {
        return 0.0;
    };
    let mut prev = last;
    let mut s = 0.0;
    for &p in ring {
        s += prev[0] * p[1] - p[0] * prev[1];
        prev = p;
    }
    s
}

/// Sign of the cross product `(b - a) x (c - a)`, exact.
#[inline]
pub(super) fn orient(a: IntPoint, b: IntPoint, c: IntPoint) -> i64 {
    let v = (i64::from(b.x) - i64::from(a.x)) * (i64::from(c.y) - i64::from(a.y))
        - (i64::from(b.y) - i64::from(a.y)) * (i64::from(c.x) - i64::from(a.x));
    v.signum()
}

/// Whether `p`, known to be collinear with segment `a-b`, lies on it.
#[inline]
fn on_segment(a: IntPoint, b: IntPoint, p: IntPoint) -> bool {
    p.x >= a.x.min(b.x) && p.x <= a.x.max(b.x) && p.y >= a.y.min(b.y) && p.y <= a.y.max(b.y)
}

/// Whether closed segments `a-b` and `c-d` share any point (exact).
pub(super) fn segments_touch(a: IntPoint, b: IntPoint, c: IntPoint, d: IntPoint) -> bool {
    if a.x.max(b.x) < c.x.min(d.x)
        || c.x.max(d.x) < a.x.min(b.x)
        || a.y.max(b.y) < c.y.min(d.y)
        || c.y.max(d.y) < a.y.min(b.y)
    {
        return false;
    }
    let o1 = orient(a, b, c);
    let o2 = orient(a, b, d);
    let o3 = orient(c, d, a);
    let o4 = orient(c, d, b);
    if o1 != o2 && o3 != o4 {
        // Proper crossing, or an endpoint on the other segment.
        return true;
    }
    (o1 == 0 && on_segment(a, b, c))
        || (o2 == 0 && on_segment(a, b, d))
        || (o3 == 0 && on_segment(c, d, a))
        || (o4 == 0 && on_segment(c, d, b))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ip(x: i32, y: i32) -> IntPoint {
        IntPoint::new(x, y)
    }

    #[test]
    fn clip_ring_of_covering_square_is_the_window() {
        let sq = Square { lo: 0.0, hi: 10.0 };
        let mut ring = vec![[-5.0, -5.0], [15.0, -5.0], [15.0, 15.0], [-5.0, 15.0]];
        let mut tmp = Vec::new();
        clip_ring(&mut ring, &mut tmp, sq);
        assert_eq!(ring.len(), 4);
        assert!((area2_f(&ring) - 200.0).abs() < 1e-9);
    }

    #[test]
    fn clip_line_splits_into_pieces() {
        let sq = Square { lo: 0.0, hi: 10.0 };
        // In, out, back in.
        let line = [[1.0, 1.0], [5.0, 1.0], [5.0, 20.0], [8.0, 20.0], [8.0, 5.0]];
        let (mut pts, mut ends) = (Vec::new(), Vec::new());
        clip_line(&line, sq, &mut pts, &mut ends);
        assert_eq!(ends, vec![3, 5]);
        assert_eq!(&pts[..3], &[[1.0, 1.0], [5.0, 1.0], [5.0, 10.0]]);
        assert_eq!(&pts[3..], &[[8.0, 10.0], [8.0, 5.0]]);
        // Entirely outside.
        let (mut pts, mut ends) = (Vec::new(), Vec::new());
        clip_line(&[[-1.0, -1.0], [-5.0, 3.0]], sq, &mut pts, &mut ends);
        assert!(pts.is_empty() && ends.is_empty());
    }

    #[test]
    fn douglas_peucker_keeps_corners() {
        let pts = [[0.0, 0.0], [1.0, 0.1], [2.0, 0.0], [2.0, 2.0], [0.0, 0.0]];
        let (mut keep, mut stack, mut out) = (Vec::new(), Vec::new(), Vec::new());
        simplify(&pts, 0.5, &mut keep, &mut stack, &mut out);
        assert_eq!(out, vec![[0.0, 0.0], [2.0, 0.0], [2.0, 2.0], [0.0, 0.0]]);
    }

    /// Douglas-Peucker as first written (a division per point), the
    /// reference for the division-free `simplify`.
    fn simplify_reference(pts: &[P], tol: f64) -> Vec<P> {
        let n = pts.len();
        if tol <= 0.0 || n <= 2 {
            return pts.to_vec();
        }
        let mut keep = vec![false; n];
        keep[0] = true;
        keep[n - 1] = true;
        let mut stack = vec![(0, n - 1)];
        while let Some((i, j)) = stack.pop() {
            if j <= i + 1 {
                continue;
            }
            let (a, b) = (pts[i], pts[j]);
            let d = [b[0] - a[0], b[1] - a[1]];
            let len2 = d[0] * d[0] + d[1] * d[1];
            let mut best = (0usize, -1.0f64);
            for (m, p) in pts.iter().enumerate().take(j).skip(i + 1) {
                let v = [p[0] - a[0], p[1] - a[1]];
                let dist2 = if len2 == 0.0 {
                    v[0] * v[0] + v[1] * v[1]
                } else {
                    let cross = v[0] * d[1] - v[1] * d[0];
                    cross * cross / len2
                };
                if dist2 > best.1 {
                    best = (m, dist2);
                }
            }
            if best.1 > tol * tol {
                keep[best.0] = true;
                stack.push((i, best.0));
                stack.push((best.0, j));
            }
        }
        pts.iter()
            .zip(&keep)
            .filter(|(_, k)| **k)
            .map(|(p, _)| *p)
            .collect()
    }

    #[test]
    fn simplify_matches_the_reference_on_rings_and_lines() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        let (mut keep, mut stack) = (Vec::new(), Vec::new());
        let mut dropped = 0;
        for case in 0..2000 {
            let n = 2 + case % 40;
            let scale = [1.0, 5.0, 40.0, 400.0][case % 4];
            let mut pts: Vec<P> = (0..n).map(|_| [next() * scale, next() * scale]).collect();
            if case % 2 == 0 {
                pts.push(pts[0]); // a ring: first chord is a point
            }
            for tol in [0.5, 1.0, 4.0] {
                let mut out = Vec::new();
                simplify(&pts, tol, &mut keep, &mut stack, &mut out);
                assert_eq!(out, simplify_reference(&pts, tol), "case {case}, tol {tol}");
                dropped += pts.len() - out.len();
            }
        }
        assert!(
            dropped > 1000,
            "the cases exercise simplification ({dropped})"
        );
    }

    #[test]
    fn integer_predicates() {
        assert!(segments_touch(ip(0, 0), ip(4, 4), ip(0, 4), ip(4, 0)));
        assert!(segments_touch(ip(0, 0), ip(4, 0), ip(2, 0), ip(2, 5)));
        assert!(segments_touch(ip(0, 0), ip(4, 0), ip(4, 0), ip(6, 0)));
        assert!(segments_touch(ip(0, 0), ip(4, 0), ip(2, 0), ip(6, 0)));
        assert!(!segments_touch(ip(0, 0), ip(4, 0), ip(5, 0), ip(6, 0)));
        assert!(!segments_touch(ip(0, 0), ip(4, 0), ip(0, 1), ip(4, 1)));
        assert!(!segments_touch(ip(0, 0), ip(4, 4), ip(1, 0), ip(5, 4)));
        assert_eq!(area2(&[ip(0, 0), ip(1, 0), ip(1, 1), ip(0, 1)]), 2);
    }
}
