//! Tile addresses (XYZ scheme: y = 0 at the north edge) and their bounds in
//! EPSG:3857 metres.

use std::fmt;

use geo::{Rect, coord};

use super::TileError;
use crate::crs::MERCATOR_HALF;
use crate::layer::config::MAX_ZOOM;

/// A checked tile address: `z <= MAX_ZOOM`, `x, y < 2^z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TileCoord {
    pub z: u8,
    pub x: u32,
    pub y: u32,
}

impl TileCoord {
    /// Checks the ranges; the error names the bad value and the allowed range.
    pub fn new(z: u32, x: u64, y: u64) -> Result<TileCoord, TileError> {
        if z > u32::from(MAX_ZOOM) {
            return Err(TileError::Zoom {
                z: u64::from(z),
                max: MAX_ZOOM,
            });
        }
        let z8 = z as u8;
        let max = (1u64 << z) - 1;
        for (axis, value) in [('x', x), ('y', y)] {
            if value > max {
                return Err(TileError::OutOfRange {
                    axis,
                    value,
                    z: z8,
                    max,
                });
            }
        }
        Ok(TileCoord {
            z: z8,
            x: x as u32,
            y: y as u32,
        })
    }

    /// Parses the three path segments of `/{z}/{x}/{y}`; `y` may carry a
    /// `.mvt` or `.pbf` suffix. Only plain decimal digits are accepted (no
    /// sign, no spaces); negative or overflowing numbers get a clear message.
    pub fn parse(z: &str, x: &str, y: &str) -> Result<TileCoord, TileError> {
        let y = y
            .strip_suffix(".mvt")
            .or_else(|| y.strip_suffix(".pbf"))
            .unwrap_or(y);
        let z = parse_number('z', z)?;
        let x = parse_number('x', x)?;
        let y = parse_number('y', y)?;
        let z = u32::try_from(z).map_err(|_| TileError::Zoom { z, max: MAX_ZOOM })?;
        TileCoord::new(z, x, y)
    }

    /// Side of this tile in EPSG:3857 metres.
    pub fn size_m(&self) -> f64 {
        2.0 * MERCATOR_HALF / (1u64 << self.z) as f64
    }

    /// Bounds in EPSG:3857 metres (no buffer).
    pub fn bounds(&self) -> Rect {
        let size = self.size_m();
        let min_x = -MERCATOR_HALF + f64::from(self.x) * size;
        let max_x = -MERCATOR_HALF + f64::from(self.x + 1) * size;
        let max_y = MERCATOR_HALF - f64::from(self.y) * size;
        let min_y = MERCATOR_HALF - f64::from(self.y + 1) * size;
        Rect::new(coord! { x: min_x, y: min_y }, coord! { x: max_x, y: max_y })
    }
}

impl fmt::Display for TileCoord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.z, self.x, self.y)
    }
}

fn parse_number(axis: char, text: &str) -> Result<u64, TileError> {
    let err = |reason| TileError::Parse {
        axis,
        text: text.chars().take(32).collect(),
        reason,
    };
    if text.is_empty() {
        return Err(err("empty"));
    }
    if text.starts_with('-') && text.len() > 1 && text[1..].bytes().all(|b| b.is_ascii_digit()) {
        return Err(err("must not be negative"));
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err("not a non-negative decimal integer"));
    }
    text.parse::<u64>().map_err(|_| err("number too large"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    #[test]
    fn z0_covers_the_whole_mercator_square() {
        let b = TileCoord::new(0, 0, 0).unwrap().bounds();
        let h = 20_037_508.342_789_244;
        assert!(close(b.min().x, -h) && close(b.min().y, -h));
        assert!(close(b.max().x, h) && close(b.max().y, h));
    }

    #[test]
    fn z1_tile_1_0_is_the_north_east_quarter() {
        let b = TileCoord::new(1, 1, 0).unwrap().bounds();
        let h = 20_037_508.342_789_244;
        assert!(close(b.min().x, 0.0) && close(b.min().y, 0.0));
        assert!(close(b.max().x, h) && close(b.max().y, h));
    }

    #[test]
    fn z14_tile_matches_formula() {
        // Values computed independently in Python:
        //   s = 2*H/2**z; (-H + x*s, H - (y+1)*s, -H + (x+1)*s, H - y*s)
        // and, via lon/lat (mercantile's ul()): west lon = 13363/2^14*360-180
        // = 113.62060546875, north lat = atan(sinh(pi*(1-2*7150/2^14))).
        let t = TileCoord::new(14, 13363, 7150).unwrap();
        let b = t.bounds();
        assert!(close(b.min().x, 12_648_187.944_404_684));
        assert!(close(b.min().y, 2_546_270.286_235_790_7));
        assert!(close(b.max().x, 12_650_633.929_309_811));
        assert!(close(b.max().y, 2_548_716.271_140_918));
        let n = 2f64.powi(14);
        let west = 13363.0 / n * 360.0 - 180.0;
        let north = (std::f64::consts::PI * (1.0 - 2.0 * 7150.0 / n))
            .sinh()
            .atan()
            .to_degrees();
        let (x, y) = crate::crs::lonlat_to_mercator(west, north);
        assert!((x - b.min().x).abs() < 1e-3 && (y - b.max().y).abs() < 1e-3);
    }

    #[test]
    fn z22_south_west_corner_tile() {
        let b = TileCoord::new(22, 0, 4_194_303).unwrap().bounds();
        assert!(close(b.min().x, -20_037_508.342_789_244));
        assert!(close(b.min().y, -20_037_508.342_789_244));
        assert!(close(b.max().x, -20_037_498.788_160_708));
    }

    #[test]
    fn new_rejects_out_of_range_with_message() {
        let e = TileCoord::new(23, 0, 0).unwrap_err();
        assert_eq!(e.to_string(), "zoom 23 is out of range: allowed 0..=22");
        let e = TileCoord::new(3, 8, 0).unwrap_err();
        assert_eq!(
            e.to_string(),
            "tile x = 8 is out of range at zoom 3: allowed 0..=7"
        );
        let e = TileCoord::new(0, 0, 1).unwrap_err();
        assert!(e.to_string().contains("tile y = 1"));
        assert!(TileCoord::new(22, (1 << 22) - 1, (1 << 22) - 1).is_ok());
    }

    #[test]
    fn parse_accepts_suffixes() {
        let want = TileCoord::new(14, 13363, 7150).unwrap();
        assert_eq!(TileCoord::parse("14", "13363", "7150").unwrap(), want);
        assert_eq!(TileCoord::parse("14", "13363", "7150.mvt").unwrap(), want);
        assert_eq!(TileCoord::parse("14", "13363", "7150.pbf").unwrap(), want);
        assert_eq!(want.to_string(), "14/13363/7150");
    }

    #[test]
    fn parse_rejects_bad_text() {
        let cases = [
            (
                ("a", "0", "0"),
                "tile z `a` is not valid: not a non-negative decimal integer",
            ),
            (
                ("1", "-1", "0"),
                "tile x `-1` is not valid: must not be negative",
            ),
            (("1", "0", ""), "tile y `` is not valid: empty"),
            (("1", "0", ".mvt"), "tile y `` is not valid: empty"),
            (
                ("1", "0", "0.png"),
                "tile y `0.png` is not valid: not a non-negative decimal integer",
            ),
            (
                ("1", "+1", "0"),
                "tile x `+1` is not valid: not a non-negative decimal integer",
            ),
            (
                ("1", " 1", "0"),
                "tile x ` 1` is not valid: not a non-negative decimal integer",
            ),
            (
                ("1", "99999999999999999999999", "0"),
                "tile x `99999999999999999999999` is not valid: number too large",
            ),
            (
                ("99999999999", "0", "0"),
                "zoom 99999999999 is out of range: allowed 0..=22",
            ),
            (
                ("2", "4", "0"),
                "tile x = 4 is out of range at zoom 2: allowed 0..=3",
            ),
        ];
        for ((z, x, y), msg) in cases {
            let e = TileCoord::parse(z, x, y).unwrap_err();
            assert_eq!(e.to_string(), msg, "input {z}/{x}/{y}");
        }
    }
}
