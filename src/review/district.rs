//! The district boundary as a containment test for plots: the polygon plus
//! an R-tree of its edges. A plot is inside when every vertex is inside and
//! no plot edge meets a boundary edge. This replaces geo's general `Contains`
//! (DE-9IM relate), which rebuilt a segment index of the ~1,000-vertex
//! boundary on every request and dominated review time; geo's
//! `PreparedGeometry` caches that index but is not `Send`.

use geo::{BoundingRect, Contains, Coord, Intersects, Line, MultiPolygon};
use rstar::{AABB, RTree};

pub struct District {
    pub shape: MultiPolygon,
    edges: RTree<Line>,
}

impl District {
    pub fn new(shape: MultiPolygon) -> District {
        let edges: Vec<Line> = shape
            .0
            .iter()
            .flat_map(|p| std::iter::once(p.exterior()).chain(p.interiors()))
            .flat_map(|r| r.lines())
            .collect();
        District {
            shape,
            edges: RTree::bulk_load(edges),
        }
    }

    fn crosses_boundary(&self, mp: &MultiPolygon) -> bool {
        let Some(b) = mp.bounding_rect() else {
            return false;
        };
        let env = AABB::from_corners(geo::Point::from(b.min()), geo::Point::from(b.max()));
        let near: Vec<&Line> = self.edges.locate_in_envelope_intersecting(&env).collect();
        if near.is_empty() {
            return false;
        }
        mp.0.iter()
            .flat_map(|p| std::iter::once(p.exterior()).chain(p.interiors()))
            .flat_map(|r| r.lines())
            .any(|l| near.iter().any(|e| e.intersects(&l)))
    }

    /// One vertex of each polygon of the plot: when no plot edge meets a
    /// boundary edge, every vertex of a polygon lies on the same side of
    /// the boundary as this one, so one point-in-polygon test each is
    /// enough (the boundary has ~1,000 vertices: testing every plot vertex
    /// cost more than the rest of the check).
    fn first_vertices(mp: &MultiPolygon) -> impl Iterator<Item = &Coord> {
        mp.0.iter().filter_map(|p| p.exterior().0.first())
    }

    /// Whether the plot lies wholly inside the district.
    pub fn contains(&self, mp: &MultiPolygon) -> bool {
        !mp.0.is_empty()
            && !self.crosses_boundary(mp)
            && Self::first_vertices(mp).all(|c| self.shape.contains(c))
    }

    /// Whether the plot touches the district at all.
    pub fn intersects(&self, mp: &MultiPolygon) -> bool {
        self.crosses_boundary(mp) || Self::first_vertices(mp).any(|c| self.shape.contains(c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{LineString, Polygon};

    fn sq(x: f64, y: f64, d: f64) -> MultiPolygon {
        MultiPolygon::new(vec![Polygon::new(
            LineString::from(vec![(x, y), (x + d, y), (x + d, y + d), (x, y + d), (x, y)]),
            vec![],
        )])
    }

    #[test]
    fn agrees_with_geo_contains_on_inside_straddling_and_outside_plots() {
        // A concave district: an L shape.
        let l = MultiPolygon::new(vec![Polygon::new(
            LineString::from(vec![
                (0., 0.),
                (10., 0.),
                (10., 4.),
                (4., 4.),
                (4., 10.),
                (0., 10.),
                (0., 0.),
            ]),
            vec![],
        )]);
        let d = District::new(l.clone());
        for (x, y, s) in [
            (1., 1., 1.),
            (3.5, 3.5, 1.),
            (6., 6., 1.),
            (9.5, 3.5, 1.),
            (-1., -1., 0.5),
            (3., 5., 2.),
        ] {
            let p = sq(x, y, s);
            assert_eq!(d.contains(&p), l.contains(&p), "contains {x},{y},{s}");
            assert_eq!(d.intersects(&p), l.intersects(&p), "intersects {x},{y},{s}");
        }
        // Every vertex inside but an edge crossing the notch: not contained.
        let notch = MultiPolygon::new(vec![Polygon::new(
            LineString::from(vec![(3., 3.), (9., 3.), (3., 9.), (3., 3.)]),
            vec![],
        )]);
        assert!(!d.contains(&notch));
        assert_eq!(d.contains(&notch), l.contains(&notch));
    }
}
