//! Coordinate reference systems: the EPSG allow-list (EPSG:4326, EPSG:4490,
//! CGCS2000 3-degree Gauss-Krüger zones EPSG:4513-4554), axis order, and the
//! transforms tudi needs: source CRS -> lon/lat -> Web Mercator, and lon/lat ->
//! Gauss-Krüger metres for measuring areas and distances.
//!
//! * [`gk`]: the Gauss-Krüger zones ([`Crs::central_meridian`], [`gk_for_lon`])
//!   and the fast [`lonlat_to_gk`] / [`gk_to_lonlat`] used for measuring.
//! * [`transform`]: [`Transformer`] (source CRS -> lon/lat / Web Mercator,
//!   built once per layer) and [`detect_axis_order`].
//! * [`prj`]: [`parse_prj_wkt`], recognising `.prj` / WKT of allow-listed CRSs.

use serde::Serialize;

pub mod gk;
pub mod prj;
pub mod transform;
mod wkt;

#[cfg(test)]
mod control_points;

pub use gk::{gk_for_lon, gk_to_lonlat, lonlat_to_gk};
pub use prj::parse_prj_wkt;
pub use transform::{Transformer, detect_axis_order};

/// Radius of the Web Mercator sphere (EPSG:3857), metres.
pub const EARTH_RADIUS: f64 = 6_378_137.0;
/// Half the side of the Web Mercator square, metres.
pub const MERCATOR_HALF: f64 = std::f64::consts::PI * EARTH_RADIUS;
/// Web Mercator's latitude limit, degrees.
pub const MAX_LAT: f64 = 85.051_128_779_806_59;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CrsError {
    #[error(
        "`{0}` is not an accepted CRS: use EPSG:4326, EPSG:4490 or a CGCS2000 Gauss-Krüger zone EPSG:4513-4554"
    )]
    NotAllowed(String),
    #[error("`{0}` is not a valid axis order (auto, east_north or north_east)")]
    AxisOrder(String),
    #[error("coordinate ({0}, {1}) is outside the valid range of {2}")]
    OutOfRange(f64, f64, String),
    /// A [`Transformer`] needs `east_north` or `north_east`; resolve `auto`
    /// with [`detect_axis_order`] first.
    #[error("axis order `auto` must be resolved (detect_axis_order) before transforming")]
    UnresolvedAxisOrder,
    /// proj4rs refused a projection tudi generated (a bug, not bad input).
    #[error("projection setup failed for {0}: {1}")]
    Projection(String, String),
}

/// An allow-listed CRS.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum Crs {
    Wgs84,
    Cgcs2000,
    /// CGCS2000 3-degree Gauss-Krüger: `epsg` in 4513..=4554.
    GaussKruger {
        epsg: u32,
    },
}

impl Crs {
    pub fn epsg(&self) -> u32 {
        match self {
            Crs::Wgs84 => 4326,
            Crs::Cgcs2000 => 4490,
            Crs::GaussKruger { epsg } => *epsg,
        }
    }

    /// Parses `EPSG:4547`, `epsg:4547`, `4547` or `urn:ogc:def:crs:EPSG::4547`;
    /// also `CRS84` / `OGC:CRS84`. Anything not on the allow-list is refused.
    pub fn parse(s: &str) -> Result<Crs, CrsError> {
        let t = s.trim();
        let upper = t.to_ascii_uppercase();
        if matches!(
            upper.as_str(),
            "CRS84" | "OGC:CRS84" | "URN:OGC:DEF:CRS:OGC:1.3:CRS84" | "URN:OGC:DEF:CRS:OGC::CRS84"
        ) {
            return Ok(Crs::Wgs84);
        }
        let code = upper
            .strip_prefix("URN:OGC:DEF:CRS:EPSG::")
            .or_else(|| upper.strip_prefix("URN:OGC:DEF:CRS:EPSG:6.6:"))
            .or_else(|| upper.strip_prefix("EPSG:"))
            .unwrap_or(&upper);
        let code: u32 = code
            .parse()
            .map_err(|_| CrsError::NotAllowed(t.to_string()))?;
        Crs::from_epsg(code).ok_or_else(|| CrsError::NotAllowed(t.to_string()))
    }

    pub fn from_epsg(code: u32) -> Option<Crs> {
        match code {
            4326 => Some(Crs::Wgs84),
            4490 => Some(Crs::Cgcs2000),
            4513..=4554 => Some(Crs::GaussKruger { epsg: code }),
            _ => None,
        }
    }

    pub fn is_geographic(&self) -> bool {
        matches!(self, Crs::Wgs84 | Crs::Cgcs2000)
    }
}

/// Order of the two axes in source coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AxisOrder {
    /// Detect from the data's coordinate ranges.
    Auto,
    /// x = easting / longitude (GeoJSON, most GIS files).
    EastNorth,
    /// x = northing / latitude (the EPSG definition of these CRSs).
    NorthEast,
}

impl AxisOrder {
    pub fn parse(s: &str) -> Result<AxisOrder, CrsError> {
        match s {
            "auto" => Ok(AxisOrder::Auto),
            "east_north" => Ok(AxisOrder::EastNorth),
            "north_east" => Ok(AxisOrder::NorthEast),
            _ => Err(CrsError::AxisOrder(s.to_string())),
        }
    }
}

/// lon/lat degrees -> EPSG:3857 metres (spherical, exact formula).
pub fn lonlat_to_mercator(lon: f64, lat: f64) -> (f64, f64) {
    let lat = lat.clamp(-MAX_LAT, MAX_LAT);
    let x = lon.to_radians() * EARTH_RADIUS;
    let y = (std::f64::consts::FRAC_PI_4 + lat.to_radians() / 2.0)
        .tan()
        .ln()
        * EARTH_RADIUS;
    (x, y)
}

/// EPSG:3857 metres -> lon/lat degrees.
pub fn mercator_to_lonlat(x: f64, y: f64) -> (f64, f64) {
    let lon = (x / EARTH_RADIUS).to_degrees();
    let lat = (2.0 * (y / EARTH_RADIUS).exp().atan() - std::f64::consts::FRAC_PI_2).to_degrees();
    (lon, lat)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_allow_list() {
        let gk = |epsg| Ok(Crs::GaussKruger { epsg });
        assert_eq!(Crs::parse("EPSG:4547"), gk(4547));
        assert_eq!(Crs::parse(" epsg:4526 "), gk(4526));
        assert_eq!(Crs::parse("4513"), gk(4513));
        assert_eq!(Crs::parse("urn:ogc:def:crs:EPSG::4554"), gk(4554));
        assert_eq!(Crs::parse("EPSG:4490"), Ok(Crs::Cgcs2000));
        assert_eq!(Crs::parse("EPSG:4326"), Ok(Crs::Wgs84));
        assert_eq!(Crs::parse("OGC:CRS84"), Ok(Crs::Wgs84));
        assert_eq!(Crs::parse("CRS84"), Ok(Crs::Wgs84));
    }

    #[test]
    fn parse_rejects_everything_else() {
        for s in [
            "EPSG:3857",
            "ugh",
            "+proj=longlat",
            "+proj=longlat +datum=WGS84 +no_defs",
            "EPSG:4512",
            "EPSG:4555",
            "EPSG:4214",
            "EPSG:-4547",
            "EPSG:4547 +towgs84=0,0,0",
            "https://epsg.io/4547",
            "/usr/share/proj/proj.db",
            "",
        ] {
            assert!(
                matches!(Crs::parse(s), Err(CrsError::NotAllowed(_))),
                "{s:?}"
            );
        }
    }

    #[test]
    fn axis_order_parse() {
        assert_eq!(AxisOrder::parse("auto"), Ok(AxisOrder::Auto));
        assert_eq!(AxisOrder::parse("north_east"), Ok(AxisOrder::NorthEast));
        assert_eq!(AxisOrder::parse("east_north"), Ok(AxisOrder::EastNorth));
        assert!(AxisOrder::parse("lat_lon").is_err());
    }

    #[test]
    fn mercator_round_trip_and_known_value() {
        // echo "23 113" | cs2cs -f %.6f EPSG:4326 EPSG:3857
        //   -> 12579102.459640 2632018.637586
        let (x, y) = lonlat_to_mercator(113.0, 23.0);
        assert!((x - 12_579_102.459_640).abs() < 1e-5 && (y - 2_632_018.637_586).abs() < 1e-5);
        // echo "22.8 112.9" | cs2cs -f %.6f EPSG:4326 EPSG:3857
        //   -> 12567970.510561 2607849.872687
        let (x, y) = lonlat_to_mercator(112.9, 22.8);
        assert!((x - 12_567_970.510_561).abs() < 1e-5 && (y - 2_607_849.872_687).abs() < 1e-5);
        let (lon, lat) = mercator_to_lonlat(x, y);
        assert!((lon - 112.9).abs() < 1e-12 && (lat - 22.8).abs() < 1e-12);
        let (_, y) = lonlat_to_mercator(0.0, 90.0);
        assert!((y - MERCATOR_HALF).abs() < 1e-6);
    }
}
