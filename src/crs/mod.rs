//! Coordinate reference systems: the EPSG allow-list (EPSG:4326, EPSG:4490,
//! CGCS2000 3-degree Gauss-Krüger zones EPSG:4513-4554), axis order, and the
//! transforms tudi needs: source CRS -> lon/lat -> Web Mercator, and lon/lat ->
//! Gauss-Krüger metres for measuring areas and distances.

use serde::Serialize;

/// Radius of the Web Mercator sphere (EPSG:3857), metres.
pub const EARTH_RADIUS: f64 = 6_378_137.0;
/// Half the side of the Web Mercator square, metres.
pub const MERCATOR_HALF: f64 = std::f64::consts::PI * EARTH_RADIUS;
/// Web Mercator's latitude limit, degrees.
pub const MAX_LAT: f64 = 85.051_128_779_806_59;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CrsError {
    #[error("`{0}` is not an accepted CRS: use EPSG:4326, EPSG:4490 or a CGCS2000 Gauss-Krüger zone EPSG:4513-4554")]
    NotAllowed(String),
    #[error("`{0}` is not a valid axis order (auto, east_north or north_east)")]
    AxisOrder(String),
    #[error("coordinate ({0}, {1}) is outside the valid range of {2}")]
    OutOfRange(f64, f64, String),
}

/// An allow-listed CRS.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum Crs {
    Wgs84,
    Cgcs2000,
    /// CGCS2000 3-degree Gauss-Krüger: `epsg` in 4513..=4554.
    GaussKruger { epsg: u32 },
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
        let code: u32 = code.parse().map_err(|_| CrsError::NotAllowed(t.to_string()))?;
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
    let y = (std::f64::consts::FRAC_PI_4 + lat.to_radians() / 2.0).tan().ln() * EARTH_RADIUS;
    (x, y)
}

/// EPSG:3857 metres -> lon/lat degrees.
pub fn mercator_to_lonlat(x: f64, y: f64) -> (f64, f64) {
    let lon = (x / EARTH_RADIUS).to_degrees();
    let lat = (2.0 * (y / EARTH_RADIUS).exp().atan() - std::f64::consts::FRAC_PI_2).to_degrees();
    (lon, lat)
}
