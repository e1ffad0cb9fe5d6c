//! What to export: the bounding box (`W,S,E,N` in lon/lat) and the tiles
//! that cover it at each zoom, in PMTiles tile-id order (zoom by zoom, each
//! zoom along its Hilbert curve), which is the order a PMTiles archive wants
//! its tiles in ("clustered") and keeps neighbouring tiles together.

use anyhow::{Context, bail};

use crate::tiles::TileCoord;

/// Latitude limit of Web Mercator tiles.
pub const MAX_LAT: f64 = 85.051_128_779_806_59;

/// Most tiles one export may enumerate (a `z20` export of a whole district
/// is a billion tiles: ask for a smaller box or zoom instead).
pub const MAX_TILES: u64 = 50_000_000;

/// A lon/lat bounding box `[west, south, east, north]`.
pub type Bbox = [f64; 4];

/// Parses `W,S,E,N` (degrees; west < east, south < north, inside the Web
/// Mercator square).
pub fn parse_bbox(s: &str) -> anyhow::Result<Bbox> {
    let parts: Vec<&str> = s.split(',').map(str::trim).collect();
    if parts.len() != 4 {
        bail!("--bbox `{s}`: expected four numbers W,S,E,N");
    }
    let mut b = [0.0; 4];
    for (v, p) in b.iter_mut().zip(&parts) {
        *v = p
            .parse::<f64>()
            .with_context(|| format!("--bbox `{s}`: `{p}` is not a number"))?;
        if !v.is_finite() {
            bail!("--bbox `{s}`: `{p}` is not a finite number");
        }
    }
    check_bbox(&b).with_context(|| format!("--bbox `{s}`"))?;
    Ok(b)
}

/// Checks the ranges of a bounding box.
pub fn check_bbox(b: &Bbox) -> anyhow::Result<()> {
    let [w, s, e, n] = *b;
    if !(-180.0..=180.0).contains(&w) || !(-180.0..=180.0).contains(&e) {
        bail!("longitudes must be within -180..180");
    }
    if !(-MAX_LAT..=MAX_LAT).contains(&s) || !(-MAX_LAT..=MAX_LAT).contains(&n) {
        bail!("latitudes must be within -{MAX_LAT:.4}..{MAX_LAT:.4} (Web Mercator)");
    }
    if w >= e || s >= n {
        bail!("west must be less than east and south less than north");
    }
    Ok(())
}

/// Every tile of zooms `minzoom..=maxzoom` that meets `bbox`, sorted by
/// PMTiles tile id. Fails if there would be more than [`MAX_TILES`].
pub fn tiles(bbox: &Bbox, minzoom: u8, maxzoom: u8) -> anyhow::Result<Vec<TileCoord>> {
    let mut ranges = Vec::new();
    let mut total: u64 = 0;
    for z in minzoom..=maxzoom {
        let (x0, y0, x1, y1) =
            martin_tile_utils::bbox_to_xyz(bbox[0], bbox[1], bbox[2], bbox[3], z);
        total += (u64::from(x1 - x0) + 1) * (u64::from(y1 - y0) + 1);
        if total > MAX_TILES {
            bail!(
                "the box covers more than {MAX_TILES} tiles up to zoom {z}: use a smaller --bbox or --maxzoom"
            );
        }
        ranges.push((z, x0, y0, x1, y1));
    }
    let mut out: Vec<(u64, TileCoord)> = Vec::with_capacity(usize::try_from(total)?);
    for (z, x0, y0, x1, y1) in ranges {
        for x in x0..=x1 {
            for y in y0..=y1 {
                let id = pmtiles::TileCoord::new(z, x, y)
                    .map(|c| pmtiles::TileId::from(c).value())
                    .with_context(|| format!("tile {z}/{x}/{y}"))?;
                let coord = TileCoord::new(u32::from(z), u64::from(x), u64::from(y))?;
                out.push((id, coord));
            }
        }
    }
    out.sort_unstable_by_key(|(id, _)| *id);
    Ok(out.into_iter().map(|(_, c)| c).collect())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn bbox_parsing_names_the_problem() {
        assert_eq!(
            parse_bbox("112.9, 22.9,113.0,23.0").unwrap(),
            [112.9, 22.9, 113.0, 23.0]
        );
        for bad in [
            "1,2,3",
            "a,1,2,3",
            "113,23,112,24",
            "0,-90,1,1",
            "0,0,1,nan",
        ] {
            assert!(parse_bbox(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tiles_cover_the_box_in_tile_id_order() {
        let b = [112.9, 22.9, 113.0, 23.0];
        let t = tiles(&b, 0, 12).unwrap();
        // z0-z6: one tile each; z12: the box spans 0.1 deg = ~1.14 tiles.
        assert_eq!(t.iter().filter(|c| c.z <= 6).count(), 7);
        assert!(t.iter().all(|c| c.z <= 12));
        let ids: Vec<u64> = t
            .iter()
            .map(|c| pmtiles::TileId::from(pmtiles::TileCoord::new(c.z, c.x, c.y).unwrap()).value())
            .collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        // Every z12 tile's bounds meet the box.
        for c in t.iter().filter(|c| c.z == 12) {
            let r = c.bounds();
            let (w, s) = crate::crs::mercator_to_lonlat(r.min().x, r.min().y);
            let (e, n) = crate::crs::mercator_to_lonlat(r.max().x, r.max().y);
            assert!(w <= b[2] && e >= b[0] && s <= b[3] && n >= b[1], "{c}");
        }
    }

    #[test]
    fn huge_exports_are_refused() {
        let e = tiles(&[-180.0, -85.0, 180.0, 85.0], 0, 16).unwrap_err();
        assert!(e.to_string().contains("smaller"), "{e}");
    }
}
