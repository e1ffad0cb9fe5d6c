//! Polygon validity on the integer tile grid.
//!
//! Rounding and simplification can make any ring self-intersecting, collapse
//! it, or push a hole across its shell. [`Validator::make_valid`] turns the
//! rounded rings of one feature into rings that are valid (OGC rules, which
//! geo's `Validation` also checks) and oriented for MVT 2.1:
//!
//! * **Fast path**: a single shell of at most [`FAST_PATH_MAX`] vertices that
//!   passes an exact O(n²) integer simplicity test (distinct consecutive
//!   points, no spike, non-adjacent edges share no point, non-zero area) is
//!   emitted as is. Most cadastral plots take this path.
//! * **Overlay path**: everything else (holes, multi-part, big or invalid
//!   rings, clipped rings with degenerate border edges) is resolved by
//!   `i_overlay`'s integer overlay (`OverlayRule::Subject`, `FillRule::NonZero`
//!   after orienting shells positive and holes negative). NonZero makes
//!   overlapping parts union and both lobes of a bow-tie count. The overlay's
//!   contours are then made OGC-valid here (see [`Validator::new`] for why
//!   not with `i_overlay`'s own OGC mode): self-touching contours are split
//!   into simple loops, loops are classified by orientation, and each hole
//!   is bound to the smallest exterior containing it.
//!
//! Output rings are oriented by their own surveyor's-formula area: exteriors
//! positive in y-down tile coordinates (clockwise on screen), holes negative,
//! each exterior followed by its holes. Zero-area rings are never emitted.

use std::collections::HashMap;

use i_overlay::core::fill_rule::FillRule;
use i_overlay::core::overlay::{ContourDirection, IntOverlayOptions, Overlay, ShapeType};
use i_overlay::core::overlay_rule::OverlayRule;
use i_overlay::core::solver::Solver;
use i_overlay::i_float::int::point::IntPoint;
use i_overlay::i_shape::flat::buffer::FlatContoursBuffer;

use super::geom::{area2, orient, segments_touch};

/// Largest ring (vertex count) tested by the O(n²) fast path; larger rings go
/// to the overlay, whose sweep is O(n log n).
pub(super) const FAST_PATH_MAX: usize = 48;

/// Integer rings in one flat buffer.
#[derive(Debug, Default)]
pub(super) struct Rings {
    pub pts: Vec<IntPoint>,
    /// Per ring: end index into `pts` and whether it is a hole.
    pub ends: Vec<(usize, bool)>,
}

impl Rings {
    pub fn clear(&mut self) {
        self.pts.clear();
        self.ends.clear();
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Closes the ring whose points were appended from `start`. A ring of
    /// fewer than 3 points is discarded (its points removed); returns whether
    /// the ring was kept.
    pub fn close_ring(&mut self, start: usize, hole: bool) -> bool {
        if self.pts.len() < start + 3 {
            self.pts.truncate(start);
            return false;
        }
        self.ends.push((self.pts.len(), hole));
        true
    }

    /// Appends a ring, reversing it if needed so that its orientation is
    /// positive (exterior) or negative (hole). Zero-area rings are skipped.
    pub fn push_oriented(&mut self, ring: &[IntPoint], hole: bool) -> bool {
        self.push_with_area(ring, area2(ring), hole)
    }

    /// [`Rings::push_oriented`] with the ring's doubled signed area `a`
    /// (from [`area2`]) already known.
    pub fn push_with_area(&mut self, ring: &[IntPoint], a: i64, hole: bool) -> bool {
        if a == 0 || ring.len() < 3 {
            return false;
        }
        if (a > 0) != hole {
            self.pts.extend_from_slice(ring);
        } else {
            self.pts.extend(ring.iter().rev());
        }
        self.ends.push((self.pts.len(), hole));
        true
    }

    pub fn iter(&self) -> impl Iterator<Item = (&[IntPoint], bool)> + '_ {
        let mut start = 0;
        self.ends.iter().map(move |&(end, hole)| {
            let r = &self.pts[start..end];
            start = end;
            (r, hole)
        })
    }
}

/// Reusable polygon validator (one per layer render: keeps the overlay's
/// buffers warm).
pub(super) struct Validator {
    overlay: Overlay,
    flat: FlatContoursBuffer,
    /// Simple loops split from the overlay's contours, and their ends.
    loops: Vec<IntPoint>,
    loop_ends: Vec<usize>,
    stack: Vec<IntPoint>,
    seen: HashMap<IntPoint, usize>,
    /// How many features needed the overlay (for measurements).
    pub overlay_calls: usize,
}

impl Validator {
    pub fn new() -> Validator {
        let solver = Solver {
            multithreading: None,
            ..Solver::AUTO
        };
        // Not `IntOverlayOptions::ogc()`: in i_overlay 4.5.2 its hole binding
        // can attach a hole to the wrong shape and can panic (index out of
        // bounds in `join_sorted_holes`, found by the stress test). We take
        // the plain contours (no hole binding at all), keep collinear output
        // points so that every self-touch is a repeated vertex, and do the
        // OGC part ourselves: split self-touching contours into simple loops,
        // classify loops by orientation, bind holes by containment.
        let options = IntOverlayOptions {
            preserve_input_collinear: false,
            output_direction: ContourDirection::CounterClockwise,
            preserve_output_collinear: true,
            min_output_area: 0,
            ogc: false,
        };
        Validator {
            overlay: Overlay::new_custom(256, options, solver),
            flat: FlatContoursBuffer::default(),
            loops: Vec::new(),
            loop_ends: Vec::new(),
            stack: Vec::new(),
            seen: HashMap::new(),
            overlay_calls: 0,
        }
    }

    /// Makes `input` (rounded shells and holes of one feature, any
    /// orientation) valid; appends MVT-ordered, oriented rings to `out`.
    pub fn make_valid(&mut self, input: &Rings, out: &mut Rings) {
        if input.ends.len() == 1 {
            let (ring, hole) = input.iter().next().unwrap_or((&[], true));
            if !hole
                && ring.len() <= FAST_PATH_MAX
                && let Some(a) = simple_ring_area(ring)
            {
                out.push_with_area(ring, a, false);
                return;
            }
        }
        if input.ends.iter().all(|&(_, hole)| hole) {
            return;
        }
        self.overlay_calls += 1;
        self.overlay.clear();
        for (ring, hole) in input.iter() {
            let a = area2(ring);
            if a == 0 || (a > 0) != hole {
                self.overlay.add_contour(ring, ShapeType::Subject);
            } else {
                self.overlay
                    .add_path_iter(ring.iter().rev().copied(), ShapeType::Subject);
            }
        }
        self.flat.points.clear();
        self.flat.ranges.clear();
        self.overlay
            .overlay_into(OverlayRule::Subject, FillRule::NonZero, &mut self.flat);
        self.loops.clear();
        self.loop_ends.clear();
        for range in &self.flat.ranges {
            let Some(contour) = self.flat.points.get(range.clone()) else {
                continue;
            };
            split_loops(
                contour,
                &mut self.stack,
                &mut self.seen,
                &mut self.loops,
                &mut self.loop_ends,
            );
        }
        emit_loops(&self.loops, &self.loop_ends, out);
    }
}

/// Splits a contour that may touch itself at repeated vertices into simple
/// loops (collinear vertices removed), appended to `loops`/`ends`.
fn split_loops(
    contour: &[IntPoint],
    stack: &mut Vec<IntPoint>,
    seen: &mut HashMap<IntPoint, usize>,
    loops: &mut Vec<IntPoint>,
    ends: &mut Vec<usize>,
) {
    stack.clear();
    seen.clear();
    for &p in contour {
        if let Some(&pos) = seen.get(&p) {
            push_loop(&stack[pos..], loops, ends);
            for q in &stack[pos + 1..] {
                seen.remove(q);
            }
            stack.truncate(pos + 1);
        } else {
            seen.insert(p, stack.len());
            stack.push(p);
        }
    }
    push_loop(stack, loops, ends);
}

/// Appends a simple loop without its collinear vertices (if >= 3 remain and
/// its area is not zero).
fn push_loop(pts: &[IntPoint], loops: &mut Vec<IntPoint>, ends: &mut Vec<usize>) {
    let start = loops.len();
    for &p in pts {
        while loops.len() >= start + 2
            && orient(loops[loops.len() - 2], loops[loops.len() - 1], p) == 0
        {
            loops.pop();
        }
        loops.push(p);
    }
    loop {
        let n = loops.len() - start;
        if n < 3 {
            break;
        }
        let (first, second, last, before) = (
            loops[start],
            loops[start + 1],
            loops[loops.len() - 1],
            loops[loops.len() - 2],
        );
        if orient(before, last, first) == 0 {
            loops.pop();
        } else if orient(last, first, second) == 0 {
            loops.remove(start);
        } else {
            break;
        }
    }
    if loops.len() < start + 3 || area2(&loops[start..]) == 0 {
        loops.truncate(start);
        return;
    }
    ends.push(loops.len());
}

/// Classifies simple loops by orientation (the overlay traces exteriors
/// positive, holes negative, in our y-down surveyor's convention), binds
/// every hole to the smallest exterior containing it and appends them to
/// `out`, each exterior followed by its holes.
fn emit_loops(pts: &[IntPoint], ends: &[usize], out: &mut Rings) {
    let mut outers: Vec<(&[IntPoint], i64, [i32; 4])> = Vec::new();
    let mut holes: Vec<&[IntPoint]> = Vec::new();
    let mut start = 0;
    for &end in ends {
        let r = &pts[start..end];
        start = end;
        let a = area2(r);
        if a > 0 {
            outers.push((r, a, int_bbox(r)));
        } else if a < 0 {
            holes.push(r);
        }
    }
    let mut parent: Vec<Option<usize>> = vec![None; holes.len()];
    if outers.len() == 1 {
        parent.iter_mut().for_each(|p| *p = Some(0));
    } else {
        for (h, hole) in holes.iter().enumerate() {
            let hb = int_bbox(hole);
            for (i, (outer, area, ob)) in outers.iter().enumerate() {
                if hb[0] < ob[0] || hb[1] < ob[1] || hb[2] > ob[2] || hb[3] > ob[3] {
                    continue;
                }
                if parent[h].is_some_and(|b| outers[b].1 <= *area) {
                    continue;
                }
                // Loops never cross; one hole vertex off the exterior's
                // boundary tells whether the hole is inside it.
                let inside = hole
                    .iter()
                    .map(|&p| point_in_ring(p, outer))
                    .find(|&r| r != 0)
                    .is_some_and(|r| r > 0);
                if inside {
                    parent[h] = Some(i);
                }
            }
        }
    }
    for (i, (outer, _, _)) in outers.iter().enumerate() {
        if !out.push_oriented(outer, false) {
            continue;
        }
        // A hole without a parent would be an overlay bug: dropping it
        // leaves a filled, still valid, area.
        for (hole, _) in holes.iter().zip(&parent).filter(|(_, p)| **p == Some(i)) {
            out.push_oriented(hole, true);
        }
    }
}

fn int_bbox(r: &[IntPoint]) -> [i32; 4] {
    r.iter()
        .fold([i32::MAX, i32::MAX, i32::MIN, i32::MIN], |b, p| {
            [b[0].min(p.x), b[1].min(p.y), b[2].max(p.x), b[3].max(p.y)]
        })
}

/// Exact point-in-ring test: 1 inside, -1 outside, 0 on the boundary.
fn point_in_ring(p: IntPoint, ring: &[IntPoint]) -> i32 {
    let n = ring.len();
    let mut inside = false;
    for i in 0..n {
        let (a, b) = (ring[i], ring[(i + 1) % n]);
        if orient(a, b, p) == 0
            && p.x >= a.x.min(b.x)
            && p.x <= a.x.max(b.x)
            && p.y >= a.y.min(b.y)
            && p.y <= a.y.max(b.y)
        {
            return 0;
        }
        if (a.y > p.y) != (b.y > p.y) {
            // x of the edge at p.y, compared exactly: p.x < a.x + (p.y - a.y) * (b.x - a.x) / (b.y - a.y)
            let lhs = (i64::from(p.x) - i64::from(a.x)) * (i64::from(b.y) - i64::from(a.y));
            let rhs = (i64::from(p.y) - i64::from(a.y)) * (i64::from(b.x) - i64::from(a.x));
            let crosses = if b.y > a.y { lhs < rhs } else { lhs > rhs };
            if crosses {
                inside = !inside;
            }
        }
    }
    if inside { 1 } else { -1 }
}

/// Exact test that an open integer ring is simple: at least 3 points,
/// distinct consecutive points, non-zero area, no spike (adjacent edges
/// overlapping), and no two non-adjacent edges sharing any point.
#[cfg(test)]
pub(super) fn is_simple_ring(r: &[IntPoint]) -> bool {
    simple_ring_area(r).is_some()
}

/// [`is_simple_ring`], returning the ring's (non-zero) doubled signed area
/// when it is simple, so that the caller can orient it without a second pass.
pub(super) fn simple_ring_area(r: &[IntPoint]) -> Option<i64> {
    let n = r.len();
    if n < 3 {
        return None;
    }
    let a = area2(r);
    if a == 0 {
        return None;
    }
    for i in 0..n {
        let (a, b, c) = (r[i], r[(i + 1) % n], r[(i + 2) % n]);
        if a == b {
            return None;
        }
        if orient(a, b, c) == 0 {
            // Collinear: fine if it keeps going forward, a spike if it turns back.
            let dot = (i64::from(b.x) - i64::from(a.x)) * (i64::from(c.x) - i64::from(b.x))
                + (i64::from(b.y) - i64::from(a.y)) * (i64::from(c.y) - i64::from(b.y));
            if dot <= 0 {
                return None;
            }
        }
    }
    // Every pair of non-adjacent edges (i, i+1) and (j, j+1), j >= i + 2; the
    // last edge (n-1, 0) is adjacent to edge 0.
    for i in 0..n.saturating_sub(2) {
        let (a, b) = (r[i], r[i + 1]);
        let last = if i == 0 { n - 1 } else { n };
        for j in i + 2..last {
            if segments_touch(a, b, r[j], r[(j + 1) % n]) {
                return None;
            }
        }
    }
    Some(a)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ring(pts: &[(i32, i32)]) -> Vec<IntPoint> {
        pts.iter().map(|&(x, y)| IntPoint::new(x, y)).collect()
    }

    #[test]
    fn simple_ring_test() {
        assert!(is_simple_ring(&ring(&[(0, 0), (4, 0), (4, 4), (0, 4)])));
        assert!(is_simple_ring(&ring(&[(0, 0), (2, 0), (4, 0), (4, 4)])));
        // Bow-tie.
        assert!(!is_simple_ring(&ring(&[(0, 0), (4, 4), (4, 0), (0, 4)])));
        // Spike.
        assert!(!is_simple_ring(&ring(&[
            (0, 0),
            (4, 0),
            (6, 0),
            (4, 0),
            (4, 4)
        ])));
        assert!(!is_simple_ring(&ring(&[(0, 0), (4, 0), (2, 0), (2, 4)])));
        // Self-touching at a vertex (figure 8 through (2,2)).
        assert!(!is_simple_ring(&ring(&[
            (0, 0),
            (2, 2),
            (4, 0),
            (4, 4),
            (2, 2),
            (0, 4)
        ])));
        // Collinear degenerate.
        assert!(!is_simple_ring(&ring(&[(0, 0), (1, 1), (2, 2)])));
        // Vertex touching a non-adjacent edge.
        assert!(!is_simple_ring(&ring(&[
            (0, 0),
            (4, 0),
            (4, 4),
            (2, 0),
            (0, 4)
        ])));
    }

    /// The simplicity test as first written (modular indices, `take/skip`),
    /// the reference for `simple_ring_area`.
    fn is_simple_reference(r: &[IntPoint]) -> bool {
        let n = r.len();
        if n < 3 || area2(r) == 0 {
            return false;
        }
        let at = |i: usize| r[i % n];
        for i in 0..n {
            let (a, b, c) = (at(i), at(i + 1), at(i + 2));
            if a == b {
                return false;
            }
            if orient(a, b, c) == 0 {
                let dot = (i64::from(b.x) - i64::from(a.x)) * (i64::from(c.x) - i64::from(b.x))
                    + (i64::from(b.y) - i64::from(a.y)) * (i64::from(c.y) - i64::from(b.y));
                if dot <= 0 {
                    return false;
                }
            }
        }
        for i in 0..n {
            let last = if i == 0 { n - 1 } else { n };
            for (j, &c) in r.iter().enumerate().take(last).skip(i + 2) {
                if segments_touch(at(i), at(i + 1), c, at(j + 1)) {
                    return false;
                }
            }
        }
        true
    }

    #[test]
    fn simple_ring_area_matches_the_reference_on_small_grid_rings() {
        // Random rings on a 5x5 grid: many bow-ties, spikes, repeats and
        // self-touches, as rounding makes them.
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut next = |m: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % m) as i32
        };
        let (mut simple, mut not) = (0, 0);
        for case in 0..20_000 {
            let n = 3 + case % 6;
            let r: Vec<IntPoint> = (0..n).map(|_| IntPoint::new(next(5), next(5))).collect();
            let want = is_simple_reference(&r);
            let got = simple_ring_area(&r);
            assert_eq!(got.is_some(), want, "{r:?}");
            if let Some(a) = got {
                assert_eq!(a, area2(&r));
                simple += 1;
            } else {
                not += 1;
            }
        }
        assert!(simple > 1000 && not > 1000, "{simple} simple, {not} not");
    }

    #[test]
    fn overlay_resolves_bow_tie_into_two_valid_triangles() {
        let mut v = Validator::new();
        let input = Rings {
            pts: ring(&[(0, 0), (4, 4), (4, 0), (0, 4)]),
            ends: vec![(4, false)],
        };
        let mut out = Rings::default();
        v.make_valid(&input, &mut out);
        assert_eq!(out.ends.len(), 2);
        for (r, hole) in out.iter() {
            assert!(!hole);
            assert!(area2(r) > 0);
            assert!(is_simple_ring(r));
        }
    }
}
