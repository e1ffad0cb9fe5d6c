//! Measuring in metres: the plot and candidate features projected to the
//! CGCS2000 3-degree Gauss-Krüger zone of the plot (never measured in Web
//! Mercator, whose scale at 23°N is 1.086 per axis: +18.5 % in area).
//!
//! Layers are stored in EPSG:3857. A candidate is first clipped (in Web
//! Mercator) to the search window around the plot, then only the vertices
//! that remain are projected: a 10 000-vertex river polygon costs a cheap
//! rectangle clip plus the few vertices near the plot. Clipping a polygon to
//! a rectangle (Sutherland-Hodgman) can leave zero-width slivers along the
//! window's edge; they lie at least the search margin away from the plot, so
//! they change neither overlaps with the plot nor distances shorter than the
//! search reach.

use geo::{
    Area, BoundingRect, Centroid, Coord, CoordsIter, Geometry, LineString, MapCoords,
    MultiLineString, MultiPoint, MultiPolygon, Point, Polygon, Rect,
};

use crate::crs::{
    Crs, gk_for_lon, gk_to_lonlat, lonlat_to_gk, lonlat_to_mercator, mercator_to_lonlat,
};

/// The Gauss-Krüger zone a review measures in.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Frame {
    pub crs: Crs,
    pub cm: f64,
}

impl Frame {
    /// The zone of the given longitude (EPSG:4534-4554, no zone prefix).
    pub fn for_lon(lon: f64) -> Frame {
        let crs = gk_for_lon(lon);
        Frame {
            crs,
            cm: crs.central_meridian().unwrap_or(114.0),
        }
    }

    #[inline]
    pub fn ll_to_gk(&self, c: Coord) -> Coord {
        let (x, y) = lonlat_to_gk(c.x, c.y, self.cm);
        Coord { x, y }
    }

    #[inline]
    pub fn merc_to_gk(&self, c: Coord) -> Coord {
        let (lon, lat) = mercator_to_lonlat(c.x, c.y);
        self.ll_to_gk(Coord { x: lon, y: lat })
    }

    #[inline]
    pub fn gk_to_ll(&self, c: Coord) -> Coord {
        let (x, y) = gk_to_lonlat(c.x, c.y, self.cm);
        Coord { x, y }
    }

    /// A Gauss-Krüger geometry back in lon/lat (for drawing).
    pub fn to_lonlat<G: Into<Geometry>>(self, g: G) -> Geometry {
        g.into().map_coords(|c| self.gk_to_ll(c))
    }
}

/// The plot, measured.
#[derive(Debug)]
pub(crate) struct Plot {
    pub frame: Frame,
    pub gk: MultiPolygon,
    pub gk_bbox: Rect,
    /// Bounding box in EPSG:3857, for R-tree queries.
    pub merc_bbox: Rect,
    pub area_m2: f64,
    /// Boundary segments of `gk`, for distances.
    segs: Vec<(Coord, Coord)>,
    /// When the plot is one convex polygon without holes (most are): its
    /// ring without the closing repeat and its orientation (see
    /// [`convex_orientation`]), for exact overlaps without a polygon overlay.
    pub convex: Option<(Vec<Coord>, f64)>,
    /// Web Mercator units per metre on the ground at the plot's latitude
    /// farthest from the equator (1 / cos(lat)), with a 2 % margin.
    merc_per_metre: f64,
}

impl Plot {
    /// Projects a lon/lat plot; `Err` says why it cannot be measured.
    pub fn new(lonlat: &MultiPolygon) -> Result<Plot, String> {
        if lonlat.0.is_empty() || lonlat.coords_count() < 3 {
            return Err("the plot has no polygon".into());
        }
        if let Some(c) = lonlat.coords_iter().find(|c| {
            !(c.x.is_finite() && c.y.is_finite() && c.x.abs() <= 180.0 && c.y.abs() <= 85.0)
        }) {
            return Err(format!(
                "coordinate ({}, {}) is not a valid lon/lat",
                c.x, c.y
            ));
        }
        let bbox = lonlat.bounding_rect().ok_or("the plot is empty")?;
        let centre_lon = lonlat
            .centroid()
            .map(|p| p.x())
            .unwrap_or_else(|| bbox.center().x);
        let frame = Frame::for_lon(centre_lon);
        let gk = lonlat.map_coords(|c| frame.ll_to_gk(c));
        let gk_bbox = gk.bounding_rect().ok_or("the plot is empty")?;
        let area_m2 = gk.unsigned_area();
        if !(area_m2.is_finite() && area_m2 > 0.0) {
            return Err(format!("the plot's area is {area_m2} m²"));
        }
        let (x0, y0) = lonlat_to_mercator(bbox.min().x, bbox.min().y);
        let (x1, y1) = lonlat_to_mercator(bbox.max().x, bbox.max().y);
        let merc_bbox = Rect::new(Coord { x: x0, y: y0 }, Coord { x: x1, y: y1 });
        let lat = bbox.min().y.abs().max(bbox.max().y.abs());
        let merc_per_metre = 1.02 / lat.to_radians().cos();
        let segs = segments(&Shape::Areal(gk.clone()));
        let convex = match gk.0.as_slice() {
            [p] if p.interiors().is_empty() => convex_orientation(&p.exterior().0)
                .map(|o| (open_ring(&p.exterior().0).to_vec(), o)),
            _ => None,
        };
        Ok(Plot {
            convex,
            segs,
            frame,
            gk,
            gk_bbox,
            merc_bbox,
            area_m2,
            merc_per_metre,
        })
    }

    /// The Web Mercator search window: the plot's box grown by `reach_m`
    /// metres on the ground plus a 1 m margin.
    pub fn window(&self, reach_m: f64) -> Rect {
        let d = (reach_m.max(0.0) + 1.0) * self.merc_per_metre;
        let (min, max) = (self.merc_bbox.min(), self.merc_bbox.max());
        Rect::new(
            Coord {
                x: min.x - d,
                y: min.y - d,
            },
            Coord {
                x: max.x + d,
                y: max.y + d,
            },
        )
    }
}

/// A candidate feature, clipped to the window and projected.
#[derive(Debug, Clone)]
pub(crate) enum Shape {
    Areal(MultiPolygon),
    Lineal(MultiLineString),
    Punctal(MultiPoint),
}

impl Shape {
    pub fn to_geometry(&self) -> Geometry {
        match self {
            Shape::Areal(g) => g.clone().into(),
            Shape::Lineal(g) => g.clone().into(),
            Shape::Punctal(g) => g.clone().into(),
        }
    }
}

fn inside(r: &Rect, c: Coord) -> bool {
    c.x >= r.min().x && c.x <= r.max().x && c.y >= r.min().y && c.y <= r.max().y
}

fn rect_within(inner: &Rect, outer: &Rect) -> bool {
    inside(outer, inner.min()) && inside(outer, inner.max())
}

fn rects_intersect(a: &Rect, b: &Rect) -> bool {
    a.min().x <= b.max().x
        && b.min().x <= a.max().x
        && a.min().y <= b.max().y
        && b.min().y <= a.max().y
}

/// A vertex during clipping: Web Mercator position, and its Gauss-Krüger
/// position once known.
#[derive(Clone, Copy)]
struct V {
    m: Coord,
    g: Option<Coord>,
    /// The edge from the previous vertex to this one lies on an edge of the
    /// original ring (not on the window's boundary, nor a thinned run).
    real: bool,
}

/// Shoelace area of a ring given without its closing repeat (signed,
/// taken relative to its first vertex: Gauss-Krüger coordinates are in
/// the millions of metres).
fn ring_area(pts: impl Iterator<Item = Coord> + Clone) -> f64 {
    let Some(o) = pts.clone().next() else {
        return 0.0;
    };
    let next = pts.clone().cycle().skip(1);
    0.5 * pts
        .zip(next)
        .map(|(a, b)| (a.x - o.x) * (b.y - o.y) - (b.x - o.x) * (a.y - o.y))
        .sum::<f64>()
}

/// Which sides of `r` a point lies beyond (left, right, below, above bits).
#[inline]
fn outcode(c: Coord, r: &Rect) -> u8 {
    u8::from(c.x < r.min().x)
        | u8::from(c.x > r.max().x) << 1
        | u8::from(c.y < r.min().y) << 2
        | u8::from(c.y > r.max().y) << 3
}

/// The ring's vertices (without the closing repeat), where each run of
/// consecutive vertices lying beyond one same side of `r` is cut down to
/// its first and last: the run's inner edges lie beyond that side, so
/// clipping drops them whatever the path, and the edges into and out of the
/// run are kept. A large polygon around a small window keeps a few
/// vertices.
fn thin_outside(ring: &[Coord], r: &Rect) -> Vec<V> {
    let ring = open_ring(ring);
    let mut pts: Vec<V> = Vec::with_capacity(ring.len().min(64));
    let v = |m: Coord, real: bool| V { m, g: None, real };
    // The current run outside: first and last vertex, the side bits all
    // its vertices share, and how many vertices it has.
    struct Run {
        first: Coord,
        last: Coord,
        common: u8,
        len: usize,
    }
    let flush = |pts: &mut Vec<V>, run: Run| {
        pts.push(v(run.first, true));
        if run.len > 1 {
            // With inner vertices dropped, the edge into `last` is a chord.
            pts.push(v(run.last, run.len == 2));
        }
    };
    let mut run: Option<Run> = None;
    for &m in ring {
        let code = outcode(m, r);
        if let Some(cur) = &mut run
            && cur.common & code != 0
        {
            cur.common &= code;
            cur.last = m;
            cur.len += 1;
            continue;
        }
        if let Some(done) = run.take() {
            flush(&mut pts, done);
        }
        if code == 0 {
            pts.push(v(m, true));
        } else {
            run = Some(Run {
                first: m,
                last: m,
                common: code,
                len: 1,
            });
        }
    }
    if let Some(done) = run {
        flush(&mut pts, done);
    }
    pts
}

/// Sutherland-Hodgman clip of a closed Web Mercator ring to a rectangle,
/// projected to Gauss-Krüger; empty when nothing of the ring's area
/// remains. A vertex the clip inserts on an edge is placed on the edge as
/// it is straight in Gauss-Krüger (interpolated between the projected
/// endpoints), not in Web Mercator: over a 2 km edge the two differ by
/// about 1.5 mm. A vertex inserted on an edge that is not the ring's (the
/// window's boundary, or the chord of a thinned run) is projected itself.
/// The flag says whether the result is the whole rectangle (the ring's
/// area covers it).
fn clip_ring(ring: &[Coord], r: &Rect, f: &Frame) -> (Vec<Coord>, bool) {
    let mut pts = thin_outside(ring, r);
    let gk = |v: &V| v.g.unwrap_or_else(|| f.merc_to_gk(v.m));
    // (axis x?, bound, keep >= bound?)
    let edges = [
        (true, r.min().x, true),
        (true, r.max().x, false),
        (false, r.min().y, true),
        (false, r.max().y, false),
    ];
    for (is_x, bound, keep_ge) in edges {
        if pts.is_empty() {
            break;
        }
        let val = |c: &Coord| if is_x { c.x } else { c.y };
        let keep = |c: &Coord| {
            if keep_ge {
                val(c) >= bound
            } else {
                val(c) <= bound
            }
        };
        if pts.iter().all(|v| keep(&v.m)) {
            continue;
        }
        let mut out = Vec::with_capacity(pts.len() + 4);
        for i in 0..pts.len() {
            let cur = pts[i];
            let prev = pts[(i + pts.len() - 1) % pts.len()];
            let (kc, kp) = (keep(&cur.m), keep(&prev.m));
            if kc != kp {
                let t = (bound - val(&prev.m)) / (val(&cur.m) - val(&prev.m));
                let lerp = |a: Coord, b: Coord| Coord {
                    x: a.x + t * (b.x - a.x),
                    y: a.y + t * (b.y - a.y),
                };
                let mut m = lerp(prev.m, cur.m);
                if is_x {
                    m.x = bound;
                } else {
                    m.y = bound;
                }
                let g = if cur.real {
                    lerp(gk(&prev), gk(&cur))
                } else {
                    f.merc_to_gk(m)
                };
                // Leaving the window: the edge into the new vertex is part
                // of prev -> cur. Entering: it runs along the boundary.
                out.push(V {
                    m,
                    g: Some(g),
                    real: kp && cur.real,
                });
            }
            if kc {
                out.push(cur);
            }
        }
        pts = out;
    }
    if pts.len() < 3 {
        return (Vec::new(), false);
    }
    let corners = [
        r.min(),
        r.max(),
        Coord {
            x: r.min().x,
            y: r.max().y,
        },
        Coord {
            x: r.max().x,
            y: r.min().y,
        },
    ];
    // The four corners in ring order: their area is the window's (a
    // degenerate clip of a ring around the window has area 0 there).
    let whole = pts.len() == 4
        && corners.iter().all(|c| pts.iter().any(|v| v.m == *c))
        && ring_area(pts.iter().map(|v| v.m)).abs() > 0.5 * r.width() * r.height();
    let mut out: Vec<Coord> = pts.iter().map(gk).collect();
    out.push(out[0]);
    (out, whole)
}

/// The polygon clipped to `window` and projected; the flag says whether it
/// covers the whole window (its exterior clips to the window and no hole
/// reaches into it).
fn project_polygon(p: &Polygon, window: &Rect, clip: bool, f: &Frame) -> (Option<Polygon>, bool) {
    let ring = |ls: &LineString| -> (Vec<Coord>, bool) {
        if clip {
            clip_ring(&ls.0, window, f)
        } else {
            (ls.0.iter().map(|c| f.merc_to_gk(*c)).collect(), false)
        }
    };
    let (ext, whole) = ring(p.exterior());
    if ext.len() < 4 {
        return (None, false);
    }
    let holes: Vec<LineString> = p
        .interiors()
        .iter()
        .map(|h| ring(h).0)
        .filter(|h| h.len() >= 4)
        .map(LineString::new)
        .collect();
    let covers = whole && holes.is_empty();
    (Some(Polygon::new(LineString::new(ext), holes)), covers)
}

/// Runs of consecutive segments of a line that touch the window, projected.
fn project_line(ls: &LineString, window: &Rect, clip: bool, f: &Frame, out: &mut Vec<LineString>) {
    if !clip {
        out.push(ls.0.iter().map(|c| f.merc_to_gk(*c)).collect());
        return;
    }
    let mut run: Vec<Coord> = Vec::new();
    for seg in ls.lines() {
        let sb = Rect::new(seg.start, seg.end);
        if rects_intersect(&sb, window) {
            if run.is_empty() {
                run.push(f.merc_to_gk(seg.start));
            }
            run.push(f.merc_to_gk(seg.end));
        } else if !run.is_empty() {
            out.push(LineString::new(std::mem::take(&mut run)));
        }
    }
    if run.len() >= 2 {
        out.push(LineString::new(run));
    }
}

/// Clips a Web Mercator geometry to `window` and projects what remains to
/// Gauss-Krüger metres. `None` when nothing remains.
pub(crate) fn project_clipped(
    g: &Geometry,
    bbox: &Rect,
    window: &Rect,
    f: &Frame,
) -> Option<Shape> {
    if !rects_intersect(bbox, window) {
        return None;
    }
    let clip = !rect_within(bbox, window);
    let polys = |ps: &mut dyn Iterator<Item = &Polygon>| -> Option<Shape> {
        let v: Vec<Polygon> = ps
            .filter_map(|p| project_polygon(p, window, clip, f).0)
            .collect();
        (!v.is_empty()).then(|| Shape::Areal(MultiPolygon::new(v)))
    };
    let lines = |ls: &mut dyn Iterator<Item = &LineString>| -> Option<Shape> {
        let mut out = Vec::new();
        for l in ls {
            project_line(l, window, clip, f, &mut out);
        }
        (!out.is_empty()).then(|| Shape::Lineal(MultiLineString::new(out)))
    };
    let points = |ps: &mut dyn Iterator<Item = &Point>| -> Option<Shape> {
        let v: Vec<Point> = ps
            .filter(|p| inside(window, p.0))
            .map(|p| Point(f.merc_to_gk(p.0)))
            .collect();
        (!v.is_empty()).then(|| Shape::Punctal(MultiPoint::new(v)))
    };
    match g {
        Geometry::Polygon(p) => polys(&mut std::iter::once(p)),
        Geometry::MultiPolygon(m) => polys(&mut m.iter()),
        Geometry::Rect(r) => polys(&mut std::iter::once(&r.to_polygon())),
        Geometry::Triangle(t) => polys(&mut std::iter::once(&t.to_polygon())),
        Geometry::LineString(l) => lines(&mut std::iter::once(l)),
        Geometry::MultiLineString(m) => lines(&mut m.iter()),
        Geometry::Line(l) => lines(&mut std::iter::once(&LineString::from(*l))),
        Geometry::Point(p) => points(&mut std::iter::once(p)),
        Geometry::MultiPoint(m) => points(&mut m.iter()),
        Geometry::GeometryCollection(_) => None,
    }
}

/// [`project_clipped`] for polygons only: the clipped, projected polygons
/// (`None` when nothing remains or the geometry is not areal) and whether
/// one of them covers the whole window (so everything inside the window,
/// the plot, lies inside the feature).
pub(crate) fn project_clipped_areal(
    g: &Geometry,
    bbox: &Rect,
    window: &Rect,
    f: &Frame,
) -> Option<(MultiPolygon, bool)> {
    if !rects_intersect(bbox, window) {
        return None;
    }
    let clip = !rect_within(bbox, window);
    let one;
    let ps: &[Polygon] = match g {
        Geometry::Polygon(p) => std::slice::from_ref(p),
        Geometry::MultiPolygon(m) => &m.0,
        Geometry::Rect(r) => {
            one = r.to_polygon();
            std::slice::from_ref(&one)
        }
        Geometry::Triangle(t) => {
            one = t.to_polygon();
            std::slice::from_ref(&one)
        }
        _ => return None,
    };
    let mut covers = false;
    let mut v = Vec::with_capacity(ps.len());
    for p in ps {
        let (poly, c) = project_polygon(p, window, clip, f);
        covers |= c;
        v.extend(poly);
    }
    (!v.is_empty()).then(|| (MultiPolygon::new(v), covers))
}

/// The shortest connection between the plot and a shape.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Nearest {
    pub distance: f64,
    /// The nearest points (plot side, feature side); `None` when they touch.
    pub line: Option<(Coord, Coord)>,
}

#[inline]
fn closest_on_segment(p: Coord, a: Coord, b: Coord) -> Coord {
    let (dx, dy) = (b.x - a.x, b.y - a.y);
    let len2 = dx * dx + dy * dy;
    if len2 == 0.0 {
        return a;
    }
    let t = (((p.x - a.x) * dx + (p.y - a.y) * dy) / len2).clamp(0.0, 1.0);
    Coord {
        x: a.x + t * dx,
        y: a.y + t * dy,
    }
}

#[inline]
fn dist(a: Coord, b: Coord) -> f64 {
    (a.x - b.x).hypot(a.y - b.y)
}

/// Segments (or single points) of a shape's boundary.
fn segments(s: &Shape) -> Vec<(Coord, Coord)> {
    let mut v = Vec::new();
    let mut ring = |ls: &LineString| {
        v.extend(ls.lines().map(|l| (l.start, l.end)));
        if ls.0.len() == 1 {
            v.push((ls.0[0], ls.0[0]));
        }
    };
    match s {
        Shape::Areal(m) => {
            for p in m {
                ring(p.exterior());
                p.interiors().iter().for_each(&mut ring);
            }
        }
        Shape::Lineal(m) => m.iter().for_each(ring),
        Shape::Punctal(m) => v.extend(m.iter().map(|p| (p.0, p.0))),
    }
    v
}

/// Twice the signed area of the triangle `a b c` (> 0: `c` left of `a b`).
#[inline]
fn orient(a: Coord, b: Coord, c: Coord) -> f64 {
    (b.x - a.x) * (c.y - a.y) - (b.y - a.y) * (c.x - a.x)
}

/// Whether segments `p q` and `a b` cross at a point inside both (touching
/// at an endpoint shows as a zero endpoint distance instead).
#[inline]
fn segments_cross(p: Coord, q: Coord, a: Coord, b: Coord) -> bool {
    let (d1, d2) = (orient(a, b, p), orient(a, b, q));
    let (d3, d4) = (orient(p, q, a), orient(p, q, b));
    ((d1 > 0.0 && d2 < 0.0) || (d1 < 0.0 && d2 > 0.0))
        && ((d3 > 0.0 && d4 < 0.0) || (d3 < 0.0 && d4 > 0.0))
}

/// A closed ring without its closing repeat.
fn open_ring(ring: &[Coord]) -> &[Coord] {
    match ring {
        [first, rest @ .., last] if first == last => &ring[..rest.len() + 1],
        _ => ring,
    }
}

/// Point in ring by the crossing number (a point on the edge may go
/// either way; callers measure distance 0 there anyway).
fn in_ring(pt: Coord, ring: &[Coord]) -> bool {
    let mut inside = false;
    for w in ring.windows(2) {
        let (a, b) = (w[0], w[1]);
        if (a.y > pt.y) != (b.y > pt.y) && pt.x < a.x + (pt.y - a.y) * (b.x - a.x) / (b.y - a.y) {
            inside = !inside;
        }
    }
    inside
}

fn in_polygon(pt: Coord, p: &Polygon) -> bool {
    in_ring(pt, &p.exterior().0) && !p.interiors().iter().any(|h| in_ring(pt, &h.0))
}

/// One vertex of each part of a shape.
fn first_vertices(s: &Shape) -> Vec<Coord> {
    match s {
        Shape::Areal(m) => m
            .iter()
            .filter_map(|p| p.exterior().0.first())
            .copied()
            .collect(),
        Shape::Lineal(m) => m.iter().filter_map(|l| l.0.first()).copied().collect(),
        Shape::Punctal(m) => m.iter().map(|p| p.0).collect(),
    }
}

/// Distance (metres) between the plot and a shape, 0 if they intersect,
/// with the two nearest points. Exact for straight segments: the minimum
/// distance between two sets of non-crossing segments is reached at an
/// endpoint of one. They intersect when two edges cross, or (no edge
/// crossing) when one lies inside the other, which one vertex tells.
pub(crate) fn nearest(plot: &Plot, s: &Shape) -> Nearest {
    let touch = Nearest {
        distance: 0.0,
        line: None,
    };
    let plot_inside = || match s {
        Shape::Areal(m) => plot
            .gk
            .iter()
            .filter_map(|p| p.exterior().0.first())
            .any(|c| m.iter().any(|poly| in_polygon(*c, poly))),
        _ => false,
    };
    let shape_inside = || {
        first_vertices(s)
            .into_iter()
            .any(|c| plot.gk.iter().any(|poly| in_polygon(c, poly)))
    };
    if plot_inside() || shape_inside() {
        return touch;
    }
    let plot_segs = &plot.segs;
    let feat_segs = segments(s);
    let mut best = (f64::INFINITY, Coord::zero(), Coord::zero());
    for &(a, b) in &feat_segs {
        for &(p, q) in plot_segs {
            if segments_cross(p, q, a, b) {
                return touch;
            }
            for (from, s0, s1, from_plot) in [
                (p, a, b, true),
                (q, a, b, true),
                (a, p, q, false),
                (b, p, q, false),
            ] {
                let c = closest_on_segment(from, s0, s1);
                let d = dist(from, c);
                if d < best.0 {
                    best = if from_plot {
                        (d, from, c)
                    } else {
                        (d, c, from)
                    };
                }
            }
        }
    }
    if best.0 == 0.0 {
        return touch;
    }
    Nearest {
        distance: best.0,
        line: best.0.is_finite().then_some((best.1, best.2)),
    }
}

/// The orientation of a convex ring (closed or not): `1.0` counter-
/// clockwise, `-1.0` clockwise; `None` when it turns both ways, doubles
/// back, or has no area.
pub(crate) fn convex_orientation(ring: &[Coord]) -> Option<f64> {
    let r = open_ring(ring);
    let n = r.len();
    if n < 3 {
        return None;
    }
    let mut sign = 0.0;
    for i in 0..n {
        let (a, b, c) = (r[i], r[(i + 1) % n], r[(i + 2) % n]);
        let cr = orient(a, b, c);
        if cr == 0.0 {
            // Straight on is fine; turning back is not.
            if (b.x - a.x) * (c.x - b.x) + (b.y - a.y) * (c.y - b.y) < 0.0 {
                return None;
            }
            continue;
        }
        if sign == 0.0 {
            sign = cr.signum();
        } else if cr.signum() != sign {
            return None;
        }
    }
    (sign != 0.0).then_some(sign)
}

/// Sutherland-Hodgman clip of a ring (without closing repeat) by a convex
/// ring of orientation `sign`: their exact intersection, convex when the
/// subject is (an empty or degenerate result has fewer than 3 vertices or
/// no area).
pub(crate) fn clip_convex(subject: &[Coord], clipper: &[Coord], sign: f64) -> Vec<Coord> {
    let mut out: Vec<Coord> = subject.to_vec();
    let m = clipper.len();
    for i in 0..m {
        if out.len() < 3 {
            return Vec::new();
        }
        let (a, b) = (clipper[i], clipper[(i + 1) % m]);
        let side = |p: Coord| sign * orient(a, b, p);
        let input = std::mem::take(&mut out);
        let n = input.len();
        for j in 0..n {
            let (prev, cur) = (input[(j + n - 1) % n], input[j]);
            let (sp, sc) = (side(prev), side(cur));
            if (sc >= 0.0) != (sp >= 0.0) {
                let t = sp / (sp - sc);
                out.push(Coord {
                    x: prev.x + t * (cur.x - prev.x),
                    y: prev.y + t * (cur.y - prev.y),
                });
            }
            if sc >= 0.0 {
                out.push(cur);
            }
        }
    }
    out
}

/// Area of a ring without its closing repeat (absolute).
pub(crate) fn open_ring_area(r: &[Coord]) -> f64 {
    if r.len() < 3 {
        return 0.0;
    }
    ring_area(r.iter().copied()).abs()
}

/// The intersection of the plot and a shape when both are single convex
/// polygons without holes (exact, no overlay): the overlap (empty when
/// they do not overlap) and its area; `None` otherwise.
pub(crate) fn convex_overlap(plot: &Plot, shape: &MultiPolygon) -> Option<(MultiPolygon, f64)> {
    let (ring, sign) = plot.convex.as_ref()?;
    let [p] = shape.0.as_slice() else {
        return None;
    };
    if !p.interiors().is_empty() {
        return None;
    }
    convex_orientation(&p.exterior().0)?;
    let piece = clip_convex(open_ring(&p.exterior().0), ring, *sign);
    let area = open_ring_area(&piece);
    if area <= 0.0 {
        return Some((MultiPolygon::new(Vec::new()), 0.0));
    }
    let mut closed = piece;
    closed.push(closed[0]);
    Some((
        MultiPolygon::new(vec![Polygon::new(LineString::new(closed), Vec::new())]),
        area,
    ))
}

/// When every piece is one convex polygon and no two overlap by more than
/// `eps` m² (pieces cut from a layer of adjacent parcels only share
/// edges): the area of their union, their summed areas; `None` otherwise.
pub(crate) fn disjoint_convex_area(pieces: &[&MultiPolygon], eps: f64) -> Option<f64> {
    let mut rings = Vec::with_capacity(pieces.len());
    for m in pieces {
        let [p] = m.0.as_slice() else {
            return None;
        };
        if !p.interiors().is_empty() {
            return None;
        }
        let sign = convex_orientation(&p.exterior().0)?;
        rings.push((open_ring(&p.exterior().0), sign, p.bounding_rect()?));
    }
    for (i, (a, _, ba)) in rings.iter().enumerate() {
        for (b, sign, bb) in &rings[i + 1..] {
            if rects_intersect(ba, bb) && open_ring_area(&clip_convex(a, b, *sign)) > eps {
                return None;
            }
        }
    }
    Some(rings.iter().map(|(r, _, _)| open_ring_area(r)).sum())
}
