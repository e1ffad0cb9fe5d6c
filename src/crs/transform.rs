//! Source CRS -> lon/lat -> Web Mercator, and axis-order detection.
//!
//! A [`Transformer`] is built once per layer from an allow-listed [`Crs`] and
//! a *resolved* [`AxisOrder`] (`Auto` is refused with
//! [`CrsError::UnresolvedAxisOrder`]: call [`detect_axis_order`] on a sample
//! of the data first, so that a wrong guess is a visible, logged decision
//! rather than a silent default). Geographic sources (EPSG:4326, EPSG:4490)
//! only need the axis swap and range checks; Gauss-Krüger zones go through
//! proj4rs with a PROJ string generated from the allow-list
//! ([`Crs::gk_proj_string`]). CGCS2000 is treated as identical to WGS84.
//!
//! Every method rejects non-finite input and results outside lon -180..180,
//! lat -90..90 with [`CrsError::OutOfRange`], and for Gauss-Krüger also
//! points 90° or more of longitude from the central meridian (transverse
//! Mercator's folded-back far side, never a real GK coordinate; PROJ
//! accepts it) and outside proj4rs' domain; Web Mercator output clamps
//! latitude to ±85.0511° like [`lonlat_to_mercator`].

use std::fmt;
use std::sync::Arc;

use geo::{Coord, Geometry, MapCoordsInPlace};
use proj4rs::Proj;
use proj4rs::transform::transform;

use super::gk::wrap180;
use super::{AxisOrder, Crs, CrsError, lonlat_to_mercator};

/// Geographic CGCS2000 (= GRS80 shape) in radians, proj4rs' pivot for GK.
const LONLAT_PROJ: &str = "+proj=longlat +a=6378137 +rf=298.257222101 +no_defs";

/// The two proj4rs objects of a Gauss-Krüger zone.
struct GkProjs {
    gk: Proj,
    lonlat: Proj,
}

/// Converts coordinates of one source CRS (in a fixed axis order) to lon/lat
/// degrees or Web Mercator metres. Cheap to clone (the proj4rs state is
/// shared behind an `Arc`), `Send + Sync`.
#[derive(Clone)]
pub struct Transformer {
    crs: Crs,
    axis: AxisOrder,
    gk: Option<Arc<GkProjs>>,
}

impl fmt::Debug for Transformer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transformer")
            .field("crs", &self.crs)
            .field("axis", &self.axis)
            .finish()
    }
}

/// Whether `(lon, lat)` are finite degrees within -180..180 / -90..90.
fn valid_lonlat(lon: f64, lat: f64) -> bool {
    (-180.0..=180.0).contains(&lon) && (-90.0..=90.0).contains(&lat)
}

impl Transformer {
    /// Builds a transformer for `src` whose coordinates come in `axis` order.
    ///
    /// Errors: [`CrsError::UnresolvedAxisOrder`] for `AxisOrder::Auto`,
    /// [`CrsError::NotAllowed`] for a `Crs::GaussKruger` outside 4513..=4554.
    pub fn new(src: Crs, axis: AxisOrder) -> Result<Transformer, CrsError> {
        if axis == AxisOrder::Auto {
            return Err(CrsError::UnresolvedAxisOrder);
        }
        let gk = match src {
            Crs::Wgs84 | Crs::Cgcs2000 => None,
            Crs::GaussKruger { epsg } => {
                let def = src
                    .gk_proj_string()
                    .ok_or_else(|| CrsError::NotAllowed(format!("EPSG:{epsg}")))?;
                let proj = |s: &str| {
                    Proj::from_proj_string(s)
                        .map_err(|e| CrsError::Projection(format!("EPSG:{epsg}"), e.to_string()))
                };
                Some(Arc::new(GkProjs {
                    gk: proj(&def)?,
                    lonlat: proj(LONLAT_PROJ)?,
                }))
            }
        };
        Ok(Transformer { crs: src, axis, gk })
    }

    /// The source CRS.
    pub fn crs(&self) -> Crs {
        self.crs
    }

    /// The (resolved) axis order of source coordinates.
    pub fn axis_order(&self) -> AxisOrder {
        self.axis
    }

    fn out_of_range(&self, x: f64, y: f64) -> CrsError {
        CrsError::OutOfRange(x, y, format!("EPSG:{}", self.crs.epsg()))
    }

    /// Source coordinates `(x, y)` in the transformer's axis order -> lon/lat
    /// degrees.
    pub fn to_lonlat(&self, x: f64, y: f64) -> Result<(f64, f64), CrsError> {
        if !(x.is_finite() && y.is_finite()) {
            return Err(self.out_of_range(x, y));
        }
        let (e, n) = match self.axis {
            AxisOrder::NorthEast => (y, x),
            AxisOrder::EastNorth | AxisOrder::Auto => (x, y),
        };
        let (lon, lat) = match &self.gk {
            None => (e, n),
            Some(p) => {
                let mut pt = (e, n, 0.0);
                transform(&p.gk, &p.lonlat, &mut pt).map_err(|_| self.out_of_range(x, y))?;
                (pt.0.to_degrees(), pt.1.to_degrees())
            }
        };
        if valid_lonlat(lon, lat) && self.near_hemisphere(lon) {
            Ok((lon, lat))
        } else {
            Err(self.out_of_range(x, y))
        }
    }

    /// Gauss-Krüger only: whether `lon` is within 90° of the central
    /// meridian. Transverse Mercator maps the far hemisphere too (folded back
    /// beyond the poles), but there it is never a real GK coordinate.
    fn near_hemisphere(&self, lon: f64) -> bool {
        self.crs
            .central_meridian()
            .is_none_or(|cm| wrap180(lon - cm).abs() < 90.0)
    }

    /// lon/lat degrees -> source CRS, **always in east/north order**
    /// (whatever the transformer's axis order).
    pub fn from_lonlat(&self, lon: f64, lat: f64) -> Result<(f64, f64), CrsError> {
        if !valid_lonlat(lon, lat) {
            return Err(CrsError::OutOfRange(lon, lat, "lon/lat degrees".into()));
        }
        if !self.near_hemisphere(lon) {
            return Err(self.out_of_range(lon, lat));
        }
        let Some(p) = &self.gk else {
            return Ok((lon, lat));
        };
        let mut pt = (lon.to_radians(), lat.to_radians(), 0.0);
        transform(&p.lonlat, &p.gk, &mut pt).map_err(|_| self.out_of_range(lon, lat))?;
        if pt.0.is_finite() && pt.1.is_finite() {
            Ok((pt.0, pt.1))
        } else {
            Err(self.out_of_range(lon, lat))
        }
    }

    /// Source coordinates -> EPSG:3857 metres (latitude clamped to ±85.0511°).
    pub fn to_mercator(&self, x: f64, y: f64) -> Result<(f64, f64), CrsError> {
        let (lon, lat) = self.to_lonlat(x, y)?;
        Ok(lonlat_to_mercator(lon, lat))
    }

    /// Transforms every coordinate of `g` to lon/lat in place. On error the
    /// geometry is left partly transformed: discard it.
    pub fn geometry_to_lonlat(&self, g: &mut Geometry<f64>) -> Result<(), CrsError> {
        try_map_geometry(g, &|c| {
            self.to_lonlat(c.x, c.y).map(|(x, y)| Coord { x, y })
        })
    }

    /// Transforms every coordinate of `g` to Web Mercator in place. On error
    /// the geometry is left partly transformed: discard it.
    pub fn geometry_to_mercator(&self, g: &mut Geometry<f64>) -> Result<(), CrsError> {
        try_map_geometry(g, &|c| {
            self.to_mercator(c.x, c.y).map(|(x, y)| Coord { x, y })
        })
    }
}

type CoordFn<'a> = &'a dyn Fn(Coord<f64>) -> Result<Coord<f64>, CrsError>;

/// `Geometry::try_map_coords_in_place` with the recursion into geometry
/// collections done here: geo 0.33.1's own impl for `GeometryCollection`
/// passes `&func` down, so calling it on a `Geometry` makes rustc instantiate
/// `&&&...F` forever ("reached the recursion limit while instantiating").
/// A `&dyn Fn` keeps the closure type fixed at every level.
fn try_map_geometry(g: &mut Geometry<f64>, f: CoordFn<'_>) -> Result<(), CrsError> {
    match g {
        Geometry::GeometryCollection(gc) => {
            gc.0.iter_mut().try_for_each(|g| try_map_geometry(g, f))
        }
        Geometry::Point(x) => x.try_map_coords_in_place(f),
        Geometry::Line(x) => x.try_map_coords_in_place(f),
        Geometry::LineString(x) => x.try_map_coords_in_place(f),
        Geometry::Polygon(x) => try_map_polygon(x, f),
        Geometry::MultiPoint(x) => x.try_map_coords_in_place(f),
        Geometry::MultiLineString(x) => x.try_map_coords_in_place(f),
        Geometry::MultiPolygon(x) => x.0.iter_mut().try_for_each(|p| try_map_polygon(p, f)),
        Geometry::Rect(x) => x.try_map_coords_in_place(f),
        Geometry::Triangle(x) => x.try_map_coords_in_place(f),
    }
}

/// `Polygon::try_map_coords_in_place` (exterior, then interiors, stopping at
/// the first error), transforming a closed ring's closing coordinate once:
/// it is the first one again (the same bits), so it gets the first one's
/// result. A parcel of 5 vertices costs 4 transforms instead of 5.
fn try_map_polygon(p: &mut geo::Polygon<f64>, f: CoordFn<'_>) -> Result<(), CrsError> {
    let mut result = Ok(());
    p.exterior_mut(|ring| result = try_map_ring(ring, f));
    if result.is_ok() {
        p.interiors_mut(|rings| {
            result = rings.iter_mut().try_for_each(|ring| try_map_ring(ring, f));
        });
    }
    result
}

fn try_map_ring(ring: &mut geo::LineString<f64>, f: CoordFn<'_>) -> Result<(), CrsError> {
    let same = |a: &Coord<f64>, b: &Coord<f64>| {
        a.x.to_bits() == b.x.to_bits() && a.y.to_bits() == b.y.to_bits()
    };
    let closed = ring.0.len() >= 2
        && ring
            .0
            .first()
            .zip(ring.0.last())
            .is_some_and(|(a, b)| same(a, b));
    let open = ring.0.len() - usize::from(closed);
    for c in &mut ring.0[..open] {
        *c = f(*c)?;
    }
    if closed
        && let Some(&first) = ring.0.first()
        && let Some(last) = ring.0.last_mut()
    {
        *last = first;
    }
    Ok(())
}

/// Vote of one coordinate pair: `Some(order)` when its ranges rule the other
/// order out, `None` when ambiguous.
fn vote(crs: Crs, x: f64, y: f64) -> Option<AxisOrder> {
    use AxisOrder::{EastNorth, NorthEast};
    let within = |v: f64, lo: f64, hi: f64| (lo..=hi).contains(&v);
    match crs {
        Crs::Wgs84 | Crs::Cgcs2000 => {
            // One value can't be a latitude, or both fit China's lat/lon box
            // (lat 15..55, lon 70..140) in one order only.
            let lat_lon = |a: f64, b: f64| {
                (a.abs() <= 90.0 && b.abs() > 90.0 && b.abs() <= 180.0)
                    || (within(a, 15.0, 55.0) && within(b, 70.0, 140.0))
            };
            if lat_lon(x, y) {
                Some(NorthEast)
            } else if lat_lon(y, x) {
                Some(EastNorth)
            } else {
                None
            }
        }
        gk if gk.has_zone_prefix() => {
            // Easting zone*1e6 ± 5e5 >= 2.45e7; northing < 1e7.
            if x < 1e7 && y >= 1e7 {
                Some(NorthEast)
            } else if x >= 1e7 && y < 1e7 {
                Some(EastNorth)
            } else {
                None
            }
        }
        Crs::GaussKruger { .. } => {
            // Easting ~0..1e6; northing in China ~1.5e6..6e6.
            if x > 1e6 && y < 1e6 {
                Some(NorthEast)
            } else if x < 1e6 && y > 1e6 {
                Some(EastNorth)
            } else {
                None
            }
        }
    }
}

/// Decides whether `sample` (raw `(x, y)` pairs from the data) is east/north
/// or north/east for `crs`, from coordinate ranges:
///
/// * geographic: `|x| <= 90` with `|y| > 90`, or x in 15..55 with y in
///   70..140 (lat/lon in China) => `NorthEast`;
/// * Gauss-Krüger without prefix: `x > 1e6` and `y < 1e6` => `NorthEast`;
/// * Gauss-Krüger with prefix: `x < 1e7` and `y >= 1e7` => `NorthEast`.
///
/// Each finite pair votes for the order its ranges imply (the mirrored tests
/// vote `EastNorth`, anything else abstains); `NorthEast` needs a strict
/// majority. Default (empty, ambiguous or tied sample): `EastNorth`.
/// Never returns `Auto`.
pub fn detect_axis_order(crs: Crs, sample: impl IntoIterator<Item = (f64, f64)>) -> AxisOrder {
    let (mut ne, mut en) = (0usize, 0usize);
    for (x, y) in sample {
        if !(x.is_finite() && y.is_finite()) {
            continue;
        }
        match vote(crs, x, y) {
            Some(AxisOrder::NorthEast) => ne += 1,
            Some(_) => en += 1,
            None => {}
        }
    }
    if ne > en {
        AxisOrder::NorthEast
    } else {
        AxisOrder::EastNorth
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{Geometry, LineString, Point, Polygon, polygon};

    const GK4547: Crs = Crs::GaussKruger { epsg: 4547 };
    const GK4526: Crs = Crs::GaussKruger { epsg: 4526 };

    fn close(a: (f64, f64), b: (f64, f64), tol: f64) -> bool {
        (a.0 - b.0).abs() <= tol && (a.1 - b.1).abs() <= tol
    }

    /// A closed ring's closing coordinate gets the first one's result: the
    /// same coordinates as transforming every one (geo's own map).
    #[test]
    fn closing_coordinates_transform_like_the_rest() {
        let tf = Transformer::new(GK4547, AxisOrder::EastNorth).expect("4547");
        let hole = LineString::from(vec![
            (500_010.0, 2_500_010.0),
            (500_020.0, 2_500_010.0),
            (500_020.0, 2_500_020.0),
            (500_010.0, 2_500_010.0),
        ]);
        let shell = LineString::from(vec![
            (500_000.0, 2_500_000.0),
            (500_100.5, 2_500_000.25),
            (500_100.0, 2_500_100.0),
            (500_000.0, 2_500_000.0),
        ]);
        for g in [
            Geometry::Polygon(Polygon::new(shell.clone(), vec![hole.clone()])),
            Geometry::MultiPolygon(geo::MultiPolygon::new(vec![
                Polygon::new(shell.clone(), vec![]),
                Polygon::new(hole.clone(), vec![]),
            ])),
        ] {
            let map = |c: Coord<f64>| tf.to_mercator(c.x, c.y).map(|(x, y)| Coord { x, y });
            let want = match g.clone() {
                Geometry::Polygon(mut p) => {
                    p.try_map_coords_in_place(map).expect("in range");
                    Geometry::Polygon(p)
                }
                Geometry::MultiPolygon(mut m) => {
                    m.try_map_coords_in_place(map).expect("in range");
                    Geometry::MultiPolygon(m)
                }
                other => other,
            };
            let mut got = g;
            tf.geometry_to_mercator(&mut got).expect("in range");
            assert_eq!(got, want);
        }
        let mut bad = Geometry::Polygon(polygon![
            (x: 500_000.0, y: 2_500_000.0), (x: f64::NAN, y: 0.0), (x: 500_001.0, y: 2_500_001.0)
        ]);
        assert!(tf.geometry_to_mercator(&mut bad).is_err());
    }

    #[test]
    fn send_sync_clone() {
        fn assert_traits<T: Send + Sync + Clone + 'static>() {}
        assert_traits::<Transformer>();
    }

    #[test]
    fn auto_and_bad_zone_refused() {
        assert_eq!(
            Transformer::new(Crs::Wgs84, AxisOrder::Auto).err(),
            Some(CrsError::UnresolvedAxisOrder)
        );
        let bad = Transformer::new(Crs::GaussKruger { epsg: 4600 }, AxisOrder::EastNorth);
        assert!(matches!(bad, Err(CrsError::NotAllowed(_))));
    }

    #[test]
    fn both_axis_orders() {
        // echo "23.05 113.10" | cs2cs -f %.6f EPSG:4490 EPSG:4547
        //   -> 2550358.456541  407761.089348   (northing easting)
        let (e, n) = (407_761.089_348, 2_550_358.456_541);
        let en = Transformer::new(GK4547, AxisOrder::EastNorth).expect("4547");
        let ne = Transformer::new(GK4547, AxisOrder::NorthEast).expect("4547");
        let want = (113.10, 23.05);
        // 1e-8° ≈ 1 mm.
        assert!(close(en.to_lonlat(e, n).expect("EN"), want, 1e-8));
        assert!(close(ne.to_lonlat(n, e).expect("NE"), want, 1e-8));
        // from_lonlat is east/north whatever the axis order.
        for t in [&en, &ne] {
            assert!(close(
                t.from_lonlat(113.10, 23.05).expect("fwd"),
                (e, n),
                1e-3
            ));
        }
        let z38 = Transformer::new(GK4526, AxisOrder::NorthEast).expect("4526");
        assert!(close(z38.to_lonlat(n, e + 38e6).expect("NE"), want, 1e-8));
        // Geographic: only the swap.
        for crs in [Crs::Wgs84, Crs::Cgcs2000] {
            let en = Transformer::new(crs, AxisOrder::EastNorth).expect("geo");
            let ne = Transformer::new(crs, AxisOrder::NorthEast).expect("geo");
            assert_eq!(en.to_lonlat(113.1, 23.05), Ok((113.1, 23.05)));
            assert_eq!(ne.to_lonlat(23.05, 113.1), Ok((113.1, 23.05)));
            assert_eq!(ne.from_lonlat(113.1, 23.05), Ok((113.1, 23.05)));
        }
    }

    #[test]
    fn mercator_known_values() {
        // printf "23 113\n-33.9 151.2\n" | cs2cs -f %.6f EPSG:4326 EPSG:3857
        //   -> 12579102.459640 2632018.637586 ; 16831507.007943 -4015382.360073
        let t = Transformer::new(Crs::Wgs84, AxisOrder::EastNorth).expect("4326");
        let m = t.to_mercator(113.0, 23.0).expect("merc");
        assert!(
            close(m, (12_579_102.459_640, 2_632_018.637_586), 1e-5),
            "{m:?}"
        );
        let m = t.to_mercator(151.2, -33.9).expect("merc");
        assert!(
            close(m, (16_831_507.007_943, -4_015_382.360_073), 1e-5),
            "{m:?}"
        );
        // Clamped at the Web Mercator limit, like lonlat_to_mercator.
        let m = t.to_mercator(180.0, 89.9).expect("merc");
        assert!(close(
            m,
            (super::super::MERCATOR_HALF, super::super::MERCATOR_HALF),
            1e-6
        ));
        // GK source: cs2cs chain 4547 -> 4326 -> 3857 of the point above.
        let gk = Transformer::new(GK4547, AxisOrder::EastNorth).expect("4547");
        let m = gk
            .to_mercator(407_761.089_348, 2_550_358.456_541)
            .expect("merc");
        let want = lonlat_to_mercator(113.10, 23.05);
        assert!(close(m, want, 2e-3), "{m:?} vs {want:?}");
    }

    #[test]
    fn out_of_range_rejected() {
        let geo = Transformer::new(Crs::Cgcs2000, AxisOrder::EastNorth).expect("4490");
        for (x, y) in [
            (f64::NAN, 0.0),
            (0.0, f64::INFINITY),
            (181.0, 0.0),
            (0.0, -90.5),
        ] {
            assert!(matches!(geo.to_lonlat(x, y), Err(CrsError::OutOfRange(..))));
            assert!(matches!(
                geo.to_mercator(x, y),
                Err(CrsError::OutOfRange(..))
            ));
            assert!(matches!(
                geo.from_lonlat(x, y),
                Err(CrsError::OutOfRange(..))
            ));
        }
        let gk = Transformer::new(GK4547, AxisOrder::EastNorth).expect("4547");
        // Prefixed easting fed to the zone without prefix: outside the domain.
        assert!(matches!(
            gk.to_lonlat(38_407_761.0, 2_550_358.0),
            Err(CrsError::OutOfRange(..))
        ));
        assert!(matches!(
            gk.to_lonlat(f64::NAN, 2_550_358.0),
            Err(CrsError::OutOfRange(..))
        ));
        // Beyond the pole (PROJ answers lon -66, lat 72.1: the far side).
        assert!(matches!(
            gk.to_lonlat(500_000.0, 1.2e7),
            Err(CrsError::OutOfRange(..))
        ));
        // 170° / 90° from the central meridian: far side / singular.
        assert!(matches!(
            gk.from_lonlat(-76.0, 0.0),
            Err(CrsError::OutOfRange(..))
        ));
        assert!(matches!(
            gk.from_lonlat(-156.0, 0.0),
            Err(CrsError::OutOfRange(..))
        ));
        assert!(gk.from_lonlat(114.0 + 60.0, 30.0).is_ok());
        assert!(matches!(
            gk.from_lonlat(113.0, 91.0),
            Err(CrsError::OutOfRange(..))
        ));
    }

    #[test]
    fn geometries_in_place() {
        let t = Transformer::new(GK4547, AxisOrder::NorthEast).expect("4547");
        // Northing-first corners of a ~100 m square around the control point.
        let (n, e) = (2_550_358.456_541, 407_761.089_348);
        let poly: Polygon<f64> = polygon![
            (x: n, y: e), (x: n, y: e + 100.0), (x: n + 100.0, y: e + 100.0),
            (x: n + 100.0, y: e), (x: n, y: e),
        ];
        let mut g = Geometry::Polygon(poly);
        t.geometry_to_lonlat(&mut g).expect("to lonlat");
        let Geometry::Polygon(p) = &g else {
            panic!("still a polygon")
        };
        let first = p.exterior().0[0];
        assert!(close((first.x, first.y), (113.10, 23.05), 1e-8));
        assert!(p.exterior().0.iter().all(|c| c.x > 113.09 && c.x < 113.11));

        let mut g = Geometry::Point(Point::new(n, e));
        t.geometry_to_mercator(&mut g).expect("to mercator");
        let want = lonlat_to_mercator(113.10, 23.05);
        assert!(matches!(g, Geometry::Point(p) if close((p.x(), p.y()), want, 2e-3)));

        let mut bad = Geometry::LineString(LineString::from(vec![(n, e), (f64::NAN, e)]));
        assert!(t.geometry_to_lonlat(&mut bad).is_err());
    }

    #[test]
    fn axis_detection() {
        use AxisOrder::{EastNorth, NorthEast};
        let geo = Crs::Cgcs2000;
        assert_eq!(
            detect_axis_order(geo, [(113.1, 23.05), (113.2, 23.1)]),
            EastNorth
        );
        assert_eq!(
            detect_axis_order(geo, [(23.05, 113.1), (23.1, 113.2)]),
            NorthEast
        );
        // Outside China: y can't be a latitude.
        assert_eq!(detect_axis_order(Crs::Wgs84, [(-33.9, 151.2)]), NorthEast);
        assert_eq!(detect_axis_order(Crs::Wgs84, [(151.2, -33.9)]), EastNorth);
        // Ambiguous (Europe), empty, non-finite: default.
        assert_eq!(detect_axis_order(Crs::Wgs84, [(2.35, 48.85)]), EastNorth);
        assert_eq!(detect_axis_order(Crs::Wgs84, [(48.85, 2.35)]), EastNorth);
        assert_eq!(detect_axis_order(Crs::Wgs84, []), EastNorth);
        assert_eq!(
            detect_axis_order(Crs::Wgs84, [(f64::NAN, 113.0)]),
            EastNorth
        );
        // Majority wins over a stray point.
        let mostly_ne = [(23.0, 113.0), (23.1, 113.1), (113.0, 23.0)];
        assert_eq!(detect_axis_order(geo, mostly_ne), NorthEast);

        let (n, e) = (2_550_358.456_541, 407_761.089_348);
        assert_eq!(detect_axis_order(GK4547, [(e, n)]), EastNorth);
        assert_eq!(detect_axis_order(GK4547, [(n, e)]), NorthEast);
        assert_eq!(detect_axis_order(GK4526, [(e + 38e6, n)]), EastNorth);
        assert_eq!(detect_axis_order(GK4526, [(n, e + 38e6)]), NorthEast);
        // Sample given as an iterator adaptor.
        let pts = [Point::new(n, e), Point::new(n + 5.0, e + 5.0)];
        assert_eq!(
            detect_axis_order(GK4547, pts.iter().map(|p| (p.x(), p.y()))),
            NorthEast
        );
    }
}
