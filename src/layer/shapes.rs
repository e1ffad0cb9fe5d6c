//! A layer's geometries in one arena.
//!
//! Every coordinate of every stored feature lives in one `Vec<Coord>`, in
//! feature order; rings are stored open (the closing coordinate, which
//! equals the first, is implied); the structure of a multi-part or holed
//! geometry (ring and part ends) lives in one side table of `u32`. A stored
//! feature holds a [`ShapeId`] (12 B: start, length, layout) instead of its
//! own `geo::Geometry`.
//!
//! Why not geo's types for storage: a `geo::Geometry` is 48 B inline plus
//! one heap allocation per ring, and a closed ring repeats its first
//! coordinate. For a 5-vertex parcel that was 72 B of feature and 80 B of
//! coordinates; here it is 24 B of feature and 64 B of coordinates, with no
//! allocation per feature (a million parcels: ~95 MB less). Consumers read a
//! geometry through borrowed views ([`Shapes::for_each_polygon`],
//! [`Shapes::for_each_line`], [`Shapes::points`]) on the hot tile path, or
//! as an owned `geo::Geometry` ([`Shapes::to_geometry`]) where geo's
//! algorithms are wanted (review, export).
//!
//! The round trip is exact for every geometry a layer stores (validated,
//! non-empty Point, LineString, Polygon and their Multi forms): the same
//! variant, the same coordinates bit for bit. `Line`, `Rect` and
//! `Triangle` are stored as the LineString or Polygon they describe.

use geo::{
    Coord, Geometry, LineString, MultiLineString, MultiPoint, MultiPolygon, Point, Polygon, Rect,
};

/// Where one feature's geometry lives in a [`Shapes`] arena.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShapeId {
    /// First coordinate in [`Shapes::coords`].
    start: u32,
    /// Number of stored coordinates.
    len: u32,
    /// Tag in the top 3 bits ([`Tag`]); for the multi-part tags, the index
    /// of the layout in [`Shapes::parts`] in the low 29 bits.
    layout: u32,
}

const TAG_SHIFT: u32 = 29;
const INDEX_MASK: u32 = (1 << TAG_SHIFT) - 1;

/// The stored form of a geometry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
enum Tag {
    Point = 0,
    MultiPoint = 1,
    LineString = 2,
    /// `parts[i]` = number of lines, then each line's end (relative).
    MultiLineString = 3,
    /// One ring, no holes: the whole run is the exterior.
    SimplePolygon = 4,
    /// `parts[i]` = number of rings, then each ring's end (relative).
    Polygon = 5,
    /// `parts[i]` = number of polygons, then per polygon its number of
    /// rings followed by each ring's end (relative to the geometry's start).
    MultiPolygon = 6,
}

impl Tag {
    fn from_bits(b: u32) -> Tag {
        match b {
            0 => Tag::Point,
            1 => Tag::MultiPoint,
            2 => Tag::LineString,
            3 => Tag::MultiLineString,
            4 => Tag::SimplePolygon,
            5 => Tag::Polygon,
            _ => Tag::MultiPolygon,
        }
    }
}

/// Why a geometry could not be stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    #[error("empty geometry")]
    Empty,
    #[error("geometry collections cannot be stored in a layer")]
    Collection,
    #[error("layer too large: more than 4 billion coordinates or 500 million part entries")]
    TooLarge,
}

/// One polygon of a stored geometry, borrowed: open rings.
#[derive(Debug, Clone, Copy)]
pub struct PolygonRef<'a> {
    coords: &'a [Coord],
    /// Ends of the rings in `coords`; `None`: one ring, the whole slice.
    ends: Option<&'a [u32]>,
    /// Offset of `coords` within the geometry's run (ends are relative to
    /// the run's start).
    base: u32,
}

impl<'a> PolygonRef<'a> {
    /// The exterior ring, open.
    pub fn exterior(&self) -> &'a [Coord] {
        match self.ends {
            None => self.coords,
            Some(ends) => {
                let end = ends.first().map_or(0, |&e| (e - self.base) as usize);
                &self.coords[..end.min(self.coords.len())]
            }
        }
    }

    /// The holes, open.
    pub fn interiors(&self) -> impl Iterator<Item = &'a [Coord]> + 'a {
        let (coords, base) = (self.coords, self.base);
        let ends = self.ends.unwrap_or(&[]);
        ends.windows(2).map(move |w| {
            let (a, b) = ((w[0] - base) as usize, (w[1] - base) as usize);
            &coords[a.min(coords.len())..b.min(coords.len())]
        })
    }

    /// The polygon as geo's type (rings closed).
    pub fn to_polygon(&self) -> Polygon {
        Polygon::new(
            closed(self.exterior()),
            self.interiors().map(closed).collect(),
        )
    }
}

/// An open ring as geo's closed ring.
fn closed(ring: &[Coord]) -> LineString {
    let mut v = Vec::with_capacity(ring.len() + 1);
    v.extend_from_slice(ring);
    if let Some(&first) = ring.first() {
        v.push(first);
    }
    LineString(v)
}

/// The geometries of one layer (see the module doc).
#[derive(Debug, Clone, Default)]
pub struct Shapes {
    coords: Vec<Coord>,
    parts: Vec<u32>,
}

impl Shapes {
    /// Makes room for `additional` more coordinates.
    pub fn reserve(&mut self, additional: usize) {
        self.coords.reserve(additional);
    }

    /// Coordinates stored so far.
    pub fn coord_count(&self) -> usize {
        self.coords.len()
    }

    /// Stores `g`; its id, or why it cannot be stored (nothing is stored
    /// then).
    pub fn push(&mut self, g: &Geometry) -> Result<ShapeId, ShapeError> {
        let (c0, p0) = (self.coords.len(), self.parts.len());
        let r = self.push_inner(g);
        if r.is_err() {
            self.coords.truncate(c0);
            self.parts.truncate(p0);
        }
        r
    }

    fn push_inner(&mut self, g: &Geometry) -> Result<ShapeId, ShapeError> {
        let start = u32::try_from(self.coords.len()).map_err(|_| ShapeError::TooLarge)?;
        let index = u32::try_from(self.parts.len())
            .ok()
            .filter(|i| *i <= INDEX_MASK)
            .ok_or(ShapeError::TooLarge)?;
        let tag = match g {
            Geometry::Point(p) => {
                self.coords.push(p.0);
                Tag::Point
            }
            Geometry::MultiPoint(mp) => {
                self.coords.extend(mp.0.iter().map(|p| p.0));
                Tag::MultiPoint
            }
            Geometry::Line(l) => {
                self.coords.extend_from_slice(&[l.start, l.end]);
                Tag::LineString
            }
            Geometry::LineString(l) => {
                self.coords.extend_from_slice(&l.0);
                Tag::LineString
            }
            Geometry::MultiLineString(ml) => {
                self.parts.push(ml.0.len() as u32);
                for l in &ml.0 {
                    self.coords.extend_from_slice(&l.0);
                    self.push_end(start)?;
                }
                Tag::MultiLineString
            }
            Geometry::Polygon(p) if p.interiors().is_empty() => {
                self.push_ring(p.exterior());
                Tag::SimplePolygon
            }
            Geometry::Polygon(p) => {
                self.push_polygon(p, start)?;
                Tag::Polygon
            }
            Geometry::Rect(r) => {
                self.push_ring(r.to_polygon().exterior());
                Tag::SimplePolygon
            }
            Geometry::Triangle(t) => {
                self.push_ring(t.to_polygon().exterior());
                Tag::SimplePolygon
            }
            Geometry::MultiPolygon(mp) => {
                self.parts.push(mp.0.len() as u32);
                for p in &mp.0 {
                    self.push_polygon(p, start)?;
                }
                Tag::MultiPolygon
            }
            Geometry::GeometryCollection(_) => return Err(ShapeError::Collection),
        };
        let len = self.coords.len() - start as usize;
        if len == 0 {
            return Err(ShapeError::Empty);
        }
        let len = u32::try_from(len).map_err(|_| ShapeError::TooLarge)?;
        if start.checked_add(len).is_none() {
            return Err(ShapeError::TooLarge);
        }
        let simple = matches!(
            tag,
            Tag::Point | Tag::MultiPoint | Tag::LineString | Tag::SimplePolygon
        );
        let layout = ((tag as u32) << TAG_SHIFT) | if simple { 0 } else { index };
        Ok(ShapeId { start, len, layout })
    }

    /// Appends a closed ring open (its last coordinate dropped).
    fn push_ring(&mut self, ring: &LineString) {
        let n = ring.0.len();
        let keep = if n >= 2 { n - 1 } else { n };
        self.coords.extend_from_slice(&ring.0[..keep]);
    }

    fn push_end(&mut self, start: u32) -> Result<(), ShapeError> {
        let end =
            u32::try_from(self.coords.len() - start as usize).map_err(|_| ShapeError::TooLarge)?;
        self.parts.push(end);
        Ok(())
    }

    fn push_polygon(&mut self, p: &Polygon, start: u32) -> Result<(), ShapeError> {
        self.parts.push(1 + p.interiors().len() as u32);
        self.push_ring(p.exterior());
        self.push_end(start)?;
        for h in p.interiors() {
            self.push_ring(h);
            self.push_end(start)?;
        }
        Ok(())
    }

    fn tag(id: ShapeId) -> Tag {
        Tag::from_bits(id.layout >> TAG_SHIFT)
    }

    fn run(&self, id: ShapeId) -> &[Coord] {
        let a = id.start as usize;
        self.coords.get(a..a + id.len as usize).unwrap_or(&[])
    }

    /// The layout entries of a multi-part geometry, from its index on.
    fn layout(&self, id: ShapeId) -> &[u32] {
        self.parts
            .get((id.layout & INDEX_MASK) as usize..)
            .unwrap_or(&[])
    }

    /// The points of a point geometry (empty for other kinds).
    pub fn points(&self, id: ShapeId) -> &[Coord] {
        match Self::tag(id) {
            Tag::Point | Tag::MultiPoint => self.run(id),
            _ => &[],
        }
    }

    /// Calls `f` with each line of a line geometry.
    pub fn for_each_line(&self, id: ShapeId, f: &mut dyn FnMut(&[Coord])) {
        let run = self.run(id);
        match Self::tag(id) {
            Tag::LineString => f(run),
            Tag::MultiLineString => {
                let l = self.layout(id);
                let n = l.first().map_or(0, |&n| n as usize);
                let mut a = 0usize;
                for &end in l.iter().skip(1).take(n) {
                    let b = (end as usize).min(run.len());
                    f(&run[a.min(b)..b]);
                    a = b;
                }
            }
            _ => {}
        }
    }

    /// Calls `f` with each polygon of a polygon geometry.
    pub fn for_each_polygon(&self, id: ShapeId, f: &mut dyn FnMut(PolygonRef<'_>)) {
        let run = self.run(id);
        match Self::tag(id) {
            Tag::SimplePolygon => f(PolygonRef {
                coords: run,
                ends: None,
                base: 0,
            }),
            Tag::Polygon => {
                let l = self.layout(id);
                let rings = l.first().map_or(0, |&n| n as usize);
                f(PolygonRef {
                    coords: run,
                    ends: Some(l.get(1..1 + rings).unwrap_or(&[])),
                    base: 0,
                });
            }
            Tag::MultiPolygon => {
                let l = self.layout(id);
                let polys = l.first().map_or(0, |&n| n as usize);
                let (mut i, mut base) = (1usize, 0u32);
                for _ in 0..polys {
                    let rings = l.get(i).map_or(0, |&n| n as usize);
                    let ends = l.get(i + 1..i + 1 + rings).unwrap_or(&[]);
                    let end = ends.last().copied().unwrap_or(base);
                    let coords = run
                        .get(base as usize..(end as usize).min(run.len()))
                        .unwrap_or(&[]);
                    f(PolygonRef {
                        coords,
                        ends: Some(ends),
                        base,
                    });
                    base = end;
                    i += 1 + rings;
                }
            }
            _ => {}
        }
    }

    /// The bounding box of `id` (its stored coordinates: an implied
    /// closing coordinate repeats a stored one).
    pub fn bbox(&self, id: ShapeId) -> Rect {
        let run = self.run(id);
        let first = run.first().copied().unwrap_or(Coord { x: 0.0, y: 0.0 });
        let (mut lo, mut hi) = (first, first);
        for c in run {
            lo.x = lo.x.min(c.x);
            lo.y = lo.y.min(c.y);
            hi.x = hi.x.max(c.x);
            hi.y = hi.y.max(c.y);
        }
        Rect::new(lo, hi)
    }

    /// Number of vertices of `id` as a geo geometry (closing coordinates
    /// counted, as `geo::CoordsIter::coords_count` does).
    pub fn vertex_count(&self, id: ShapeId) -> usize {
        let n = id.len as usize;
        match Self::tag(id) {
            Tag::Point | Tag::MultiPoint | Tag::LineString | Tag::MultiLineString => n,
            Tag::SimplePolygon => n + usize::from(n > 0),
            Tag::Polygon | Tag::MultiPolygon => {
                let mut rings = 0;
                self.for_each_polygon(id, &mut |p| {
                    rings += usize::from(!p.exterior().is_empty());
                    rings += p.interiors().filter(|r| !r.is_empty()).count();
                });
                n + rings
            }
        }
    }

    /// `id` as geo's geometry: the variant and coordinates it was stored
    /// from (rings closed again).
    pub fn to_geometry(&self, id: ShapeId) -> Geometry {
        let run = self.run(id);
        match Self::tag(id) {
            Tag::Point => Geometry::Point(Point(run.first().copied().unwrap_or_default())),
            Tag::MultiPoint => {
                Geometry::MultiPoint(MultiPoint(run.iter().map(|&c| Point(c)).collect()))
            }
            Tag::LineString => Geometry::LineString(LineString(run.to_vec())),
            Tag::MultiLineString => {
                let mut ls = Vec::new();
                self.for_each_line(id, &mut |l| ls.push(LineString(l.to_vec())));
                Geometry::MultiLineString(MultiLineString(ls))
            }
            Tag::SimplePolygon | Tag::Polygon => {
                let mut one = None;
                self.for_each_polygon(id, &mut |p| one = Some(p.to_polygon()));
                Geometry::Polygon(one.unwrap_or_else(|| Polygon::new(LineString(vec![]), vec![])))
            }
            Tag::MultiPolygon => {
                let mut ps = Vec::new();
                self.for_each_polygon(id, &mut |p| ps.push(p.to_polygon()));
                Geometry::MultiPolygon(MultiPolygon(ps))
            }
        }
    }

    /// Appends `other`'s geometries; `ids` (ids into `other`) are rebased
    /// to point into `self`.
    pub fn append(
        &mut self,
        other: Shapes,
        ids: &mut dyn Iterator<Item = &mut ShapeId>,
    ) -> Result<(), ShapeError> {
        let cbase = u32::try_from(self.coords.len()).map_err(|_| ShapeError::TooLarge)?;
        let pbase = u32::try_from(self.parts.len()).map_err(|_| ShapeError::TooLarge)?;
        u32::try_from(self.coords.len() + other.coords.len()).map_err(|_| ShapeError::TooLarge)?;
        if (self.parts.len() + other.parts.len()) as u64 > u64::from(INDEX_MASK) {
            return Err(ShapeError::TooLarge);
        }
        for id in ids {
            id.start += cbase;
            if matches!(
                Self::tag(*id),
                Tag::MultiLineString | Tag::Polygon | Tag::MultiPolygon
            ) {
                id.layout += pbase;
            }
        }
        if self.coords.is_empty() && self.parts.is_empty() {
            *self = other;
        } else {
            self.coords.extend_from_slice(&other.coords);
            self.parts.extend_from_slice(&other.parts);
        }
        Ok(())
    }

    /// Frees spare capacity (a layer's arena is final once built).
    pub fn shrink_to_fit(&mut self) {
        self.coords.shrink_to_fit();
        self.parts.shrink_to_fit();
    }

    /// Resident bytes of the arena.
    pub fn memory_bytes(&self) -> usize {
        self.coords.capacity() * std::mem::size_of::<Coord>()
            + self.parts.capacity() * std::mem::size_of::<u32>()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use geo::{CoordsIter, coord, line_string, point, polygon};

    fn samples() -> Vec<Geometry> {
        let square =
            polygon![(x: 0.0, y: 0.0), (x: 4.0, y: 0.0), (x: 4.0, y: 4.0), (x: 0.0, y: 4.0)];
        let holed = Polygon::new(
            square.exterior().clone(),
            vec![
                line_string![(x: 1.0, y: 1.0), (x: 2.0, y: 1.0), (x: 2.0, y: 2.0), (x: 1.0, y: 1.0)],
                line_string![(x: 3.0, y: 3.0), (x: 3.5, y: 3.0), (x: 3.5, y: 3.5), (x: 3.0, y: 3.0)],
            ],
        );
        let far = polygon![(x: 10.0, y: 10.0), (x: 11.0, y: 10.0), (x: 11.0, y: 11.5)];
        vec![
            Geometry::Point(point!(x: 1.5, y: -2.25)),
            Geometry::MultiPoint(MultiPoint(vec![
                point!(x: 1.0, y: 2.0),
                point!(x: 3.0, y: 4.0),
            ])),
            Geometry::LineString(
                line_string![(x: 0.0, y: 0.0), (x: 1.0, y: 1.0), (x: 2.0, y: 0.5)],
            ),
            Geometry::MultiLineString(MultiLineString(vec![
                line_string![(x: 0.0, y: 0.0), (x: 1.0, y: 1.0)],
                line_string![(x: 5.0, y: 5.0), (x: 6.0, y: 5.0), (x: 7.0, y: 8.0)],
            ])),
            Geometry::Polygon(square.clone()),
            Geometry::Polygon(holed.clone()),
            Geometry::MultiPolygon(MultiPolygon(vec![holed, far.clone(), square])),
            Geometry::MultiPolygon(MultiPolygon(vec![far])),
        ]
    }

    #[test]
    fn round_trip_is_exact_and_views_match_geo() {
        let mut s = Shapes::default();
        let gs = samples();
        let ids: Vec<ShapeId> = gs.iter().map(|g| s.push(g).unwrap()).collect();
        for (g, &id) in gs.iter().zip(&ids) {
            assert_eq!(&s.to_geometry(id), g);
            assert_eq!(s.vertex_count(id), g.coords_count(), "{g:?}");
            assert_eq!(s.bbox(id), geo::BoundingRect::bounding_rect(g).unwrap());
        }
        // Views: the polygons of the multipolygon, rings open.
        let mut seen = Vec::new();
        s.for_each_polygon(ids[6], &mut |p| {
            seen.push((
                p.exterior().len(),
                p.interiors().map(<[Coord]>::len).collect::<Vec<_>>(),
            ))
        });
        assert_eq!(seen, vec![(4, vec![3, 3]), (3, vec![]), (4, vec![])]);
        let mut lines = Vec::new();
        s.for_each_line(ids[3], &mut |l| lines.push(l.len()));
        assert_eq!(lines, vec![2, 3]);
        assert_eq!(
            s.points(ids[1]),
            &[coord! {x: 1.0, y: 2.0}, coord! {x: 3.0, y: 4.0}]
        );
        assert!(s.points(ids[4]).is_empty());
    }

    #[test]
    fn appended_ids_are_rebased() {
        let gs = samples();
        let mut a = Shapes::default();
        let mut ids: Vec<ShapeId> = gs.iter().map(|g| a.push(g).unwrap()).collect();
        let mut b = Shapes::default();
        let mut more: Vec<ShapeId> = gs.iter().rev().map(|g| b.push(g).unwrap()).collect();
        a.append(b, &mut more.iter_mut()).unwrap();
        ids.extend(more);
        let want: Vec<Geometry> = gs.iter().chain(gs.iter().rev()).cloned().collect();
        for (g, &id) in want.iter().zip(&ids) {
            assert_eq!(&a.to_geometry(id), g);
        }
        // Appending into an empty arena takes the other as it is.
        let mut empty = Shapes::default();
        let mut c = Shapes::default();
        let mut one = [c.push(&gs[6]).unwrap()];
        empty.append(c, &mut one.iter_mut()).unwrap();
        assert_eq!(empty.to_geometry(one[0]), gs[6]);
    }

    #[test]
    fn what_cannot_be_stored_leaves_nothing_behind() {
        let mut s = Shapes::default();
        let id = s.push(&samples()[5]).unwrap();
        let before = (s.coords.len(), s.parts.len());
        assert_eq!(
            s.push(&Geometry::MultiPolygon(MultiPolygon(vec![]))),
            Err(ShapeError::Empty)
        );
        assert_eq!(
            s.push(&Geometry::GeometryCollection(geo::GeometryCollection(
                vec![]
            ))),
            Err(ShapeError::Collection)
        );
        assert_eq!((s.coords.len(), s.parts.len()), before);
        assert_eq!(s.to_geometry(id), samples()[5]);
    }

    #[test]
    fn rect_and_triangle_store_as_polygons() {
        let mut s = Shapes::default();
        let r = Rect::new(coord! {x: 0.0, y: 0.0}, coord! {x: 2.0, y: 1.0});
        let id = s.push(&Geometry::Rect(r)).unwrap();
        assert_eq!(s.to_geometry(id), Geometry::Polygon(r.to_polygon()));
        assert_eq!(s.run(id).len(), 4);
    }
}
