//! Control points computed with PROJ 9.1.1's `cs2cs` (Debian bookworm
//! `proj-bin`), checked against both Gauss-Krüger paths: the Krüger series
//! ([`lonlat_to_gk`] / [`gk_to_lonlat`]) and proj4rs ([`Transformer`]).
//!
//! cs2cs honours the EPSG axis order: EPSG:4490 input is *lat lon*, EPSG:45xx
//! output is *northing easting*. The forward tables were produced by
//!
//! ```text
//! printf '22.80 112.90\n23.00 113.00\n...' | cs2cs -f %.6f EPSG:4490 EPSG:4547
//! ```
//!
//! (same for EPSG:4526 and EPSG:4546), the inverse table by e.g.
//! `echo "2550000 400000" | cs2cs -f %.10f EPSG:4547 EPSG:4490`.

use super::{AxisOrder, Crs, Transformer, gk_to_lonlat, lonlat_to_gk};

/// Nanhai (and one point in west Foshan's zone), lon/lat degrees.
const NANHAI: [(f64, f64); 7] = [
    (112.90, 22.80),
    (113.00, 23.00),
    (113.10, 23.05),
    (113.15, 23.15),
    (113.25, 23.25),
    (113.30, 23.30),
    (112.95, 23.10),
];

/// `printf '22.80 112.90\n23.00 113.00\n23.05 113.10\n23.15 113.15\n23.25 113.25\n23.30 113.30\n23.10 112.95\n' | cs2cs -f %.6f EPSG:4490 EPSG:4547`
/// (northing, easting) for each point of [`NANHAI`].
const CS2CS_4547: [(f64, f64); 7] = [
    (2522809.233573, 387054.858697),
    (2544887.193691, 397473.823160),
    (2550358.456541, 407761.089348),
    (2561403.202259, 412950.211904),
    (2572422.320032, 423248.912886),
    (2577934.439614, 428392.569864),
    (2555998.802767, 392426.602767),
];

/// Same input, `cs2cs -f %.6f EPSG:4490 EPSG:4526` (zone 38, prefixed).
const CS2CS_4526: [(f64, f64); 7] = [
    (2522809.233573, 38387054.858697),
    (2544887.193691, 38397473.823160),
    (2550358.456541, 38407761.089348),
    (2561403.202259, 38412950.211904),
    (2572422.320032, 38423248.912886),
    (2577934.439614, 38428392.569864),
    (2555998.802767, 38392426.602767),
];

/// Same input, `cs2cs -f %.6f EPSG:4490 EPSG:4546` (CM 111°, west Foshan's
/// zone; Nanhai lies ~2° east of it).
const CS2CS_4546: [(f64, f64); 7] = [
    (2523642.960886, 695103.811120),
    (2545936.478851, 705074.202168),
    (2551619.750134, 715251.594222),
    (2562774.207551, 720215.092148),
    (2574009.567916, 730289.729279),
    (2579630.335659, 735321.231918),
    (2556946.330623, 699798.254811),
];

/// Far points: (epsg, lon, lat, northing, easting).
const FAR: [(u32, f64, f64, f64, f64); 4] = [
    // echo "43.80 87.60" | cs2cs -f %.6f EPSG:4490 EPSG:4538   (Ürümqi, CM 87)
    (4538, 87.60, 43.80, 4851775.302748, 548285.115077),
    // echo "43.80 87.60" | cs2cs -f %.6f EPSG:4490 EPSG:4517   (zone 29)
    (4517, 87.60, 43.80, 4851775.302748, 29548285.115077),
    // echo "45.75 126.63" | cs2cs -f %.6f EPSG:4490 EPSG:4551  (Harbin, CM 126)
    (4551, 126.63, 45.75, 5068491.760204, 549021.174916),
    // echo "18.25 109.50" | cs2cs -f %.6f EPSG:4490 EPSG:4546  (Sanya, zone edge)
    (4546, 109.50, 18.25, 2019302.837019, 341353.216072),
];

/// Inverse: (epsg, northing, easting, lat, lon) from
/// `echo "N E" | cs2cs -f %.10f EPSG:xxxx EPSG:4490`.
const CS2CS_INVERSE: [(u32, f64, f64, f64, f64); 6] = [
    (4547, 2550000.0, 400000.0, 23.0463145691, 113.0243044184),
    (4547, 2520000.0, 430000.0, 22.7769709028, 113.3183493918),
    (4547, 2580000.0, 380000.0, 23.3158222536, 112.8268350833),
    (4526, 2550000.0, 38400000.0, 23.0463145691, 113.0243044184),
    (4546, 2550000.0, 600000.0, 23.0463145691, 111.9756955816),
    (4538, 4850000.0, 520000.0, 43.7853267483, 87.2484631603),
];

/// 1 mm.
const TOL_M: f64 = 1e-3;

/// Distance in metres between two nearby lon/lat points (local sphere;
/// plenty for a millimetre tolerance).
fn metres_apart(a: (f64, f64), b: (f64, f64)) -> f64 {
    let k = 6_371_000.0_f64.to_radians();
    let dx = (a.0 - b.0) * k * a.1.to_radians().cos();
    let dy = (a.1 - b.1) * k;
    dx.hypot(dy)
}

/// All forward control points as (crs, lon, lat, northing, easting).
fn forward_points() -> Vec<(Crs, f64, f64, f64, f64)> {
    let mut out = Vec::new();
    for (epsg, table) in [(4547, CS2CS_4547), (4526, CS2CS_4526), (4546, CS2CS_4546)] {
        for (&(lon, lat), &(n, e)) in NANHAI.iter().zip(table.iter()) {
            out.push((Crs::GaussKruger { epsg }, lon, lat, n, e));
        }
    }
    for (epsg, lon, lat, n, e) in FAR {
        out.push((Crs::GaussKruger { epsg }, lon, lat, n, e));
    }
    out
}

/// Krüger series with the zone's prefix added back.
fn series_fwd(crs: Crs, lon: f64, lat: f64) -> (f64, f64) {
    let cm = crs.central_meridian().unwrap_or(f64::NAN);
    let fe = crs.false_easting().unwrap_or(f64::NAN);
    let (e, n) = lonlat_to_gk(lon, lat, cm);
    (e - 500_000.0 + fe, n)
}

fn series_inv(crs: Crs, e: f64, n: f64) -> (f64, f64) {
    let cm = crs.central_meridian().unwrap_or(f64::NAN);
    let fe = crs.false_easting().unwrap_or(f64::NAN);
    gk_to_lonlat(e - fe + 500_000.0, n, cm)
}

#[test]
fn forward_matches_cs2cs() {
    for (crs, lon, lat, n, e) in forward_points() {
        let (se, sn) = series_fwd(crs, lon, lat);
        assert!(
            (se - e).abs() < TOL_M && (sn - n).abs() < TOL_M,
            "series {crs:?} ({lon}, {lat}): ({se}, {sn}) vs cs2cs ({e}, {n})"
        );
        let t = Transformer::new(crs, AxisOrder::EastNorth).expect("allow-listed");
        let (pe, pn) = t.from_lonlat(lon, lat).expect("in range");
        assert!(
            (pe - e).abs() < TOL_M && (pn - n).abs() < TOL_M,
            "proj4rs {crs:?} ({lon}, {lat}): ({pe}, {pn}) vs cs2cs ({e}, {n})"
        );
    }
}

#[test]
fn inverse_of_forward_points_matches_input() {
    for (crs, lon, lat, n, e) in forward_points() {
        let got = series_inv(crs, e, n);
        assert!(
            metres_apart(got, (lon, lat)) < TOL_M,
            "series {crs:?} ({e}, {n}) -> {got:?}"
        );
        // Both axis orders through proj4rs.
        let en = Transformer::new(crs, AxisOrder::EastNorth).expect("allow-listed");
        let ne = Transformer::new(crs, AxisOrder::NorthEast).expect("allow-listed");
        let got = en.to_lonlat(e, n).expect("in range");
        assert!(
            metres_apart(got, (lon, lat)) < TOL_M,
            "proj4rs EN {crs:?} -> {got:?}"
        );
        let got = ne.to_lonlat(n, e).expect("in range");
        assert!(
            metres_apart(got, (lon, lat)) < TOL_M,
            "proj4rs NE {crs:?} -> {got:?}"
        );
    }
}

#[test]
fn inverse_matches_cs2cs() {
    for (epsg, n, e, lat, lon) in CS2CS_INVERSE {
        let crs = Crs::GaussKruger { epsg };
        let got = series_inv(crs, e, n);
        assert!(
            metres_apart(got, (lon, lat)) < TOL_M,
            "series EPSG:{epsg} -> {got:?}"
        );
        let t = Transformer::new(crs, AxisOrder::NorthEast).expect("allow-listed");
        let got = t.to_lonlat(n, e).expect("in range");
        assert!(
            metres_apart(got, (lon, lat)) < TOL_M,
            "proj4rs EPSG:{epsg} -> {got:?}"
        );
    }
}

#[test]
fn round_trip_lonlat_gk_lonlat() {
    for (crs, lon, lat, _, _) in forward_points() {
        let (e, n) = series_fwd(crs, lon, lat);
        let (lon2, lat2) = series_inv(crs, e, n);
        assert!(
            (lon2 - lon).abs() < 1e-9 && (lat2 - lat).abs() < 1e-9,
            "series {crs:?}"
        );
        let t = Transformer::new(crs, AxisOrder::EastNorth).expect("allow-listed");
        let (e, n) = t.from_lonlat(lon, lat).expect("in range");
        let (lon2, lat2) = t.to_lonlat(e, n).expect("in range");
        assert!(
            (lon2 - lon).abs() < 1e-9 && (lat2 - lat).abs() < 1e-9,
            "proj4rs {crs:?}"
        );
    }
}

/// How far each path is from cs2cs (run with `--nocapture` to see).
#[test]
fn report_worst_differences() {
    let (mut series, mut proj4rs): (f64, f64) = (0.0, 0.0);
    for (crs, lon, lat, n, e) in forward_points() {
        let (se, sn) = series_fwd(crs, lon, lat);
        series = series.max((se - e).abs()).max((sn - n).abs());
        let t = Transformer::new(crs, AxisOrder::EastNorth).expect("allow-listed");
        let (pe, pn) = t.from_lonlat(lon, lat).expect("in range");
        proj4rs = proj4rs.max((pe - e).abs()).max((pn - n).abs());
    }
    println!(
        "worst forward difference to cs2cs (6-decimal output): series {series:.2e} m, proj4rs {proj4rs:.2e} m"
    );
    assert!(series < 2e-6 && proj4rs < 2e-6);
}
