//! CGCS2000 3-degree Gauss-Krüger zones (EPSG:4513-4554) and a fast
//! lon/lat <-> Gauss-Krüger conversion for measuring in metres.
//!
//! * EPSG:4513-4533: zones 25-45 *with* the zone prefix in the easting
//!   (false easting `zone * 1_000_000 + 500_000`, central meridian `3 * zone`°).
//! * EPSG:4534-4554: central meridians 75°E..135°E in steps of 3° *without*
//!   prefix (false easting 500 000 m).
//!
//! All zones use the CGCS2000 ellipsoid (a = 6 378 137 m, 1/f = 298.257222101,
//! identical in shape to GRS80), scale factor 1 on the central meridian,
//! latitude of origin 0, false northing 0. The CGCS2000 datum is treated as
//! identical to WGS84 (they agree to a few centimetres).
//!
//! [`lonlat_to_gk`] / [`gk_to_lonlat`] implement the transverse Mercator with
//! the Krüger n-series to 6th order, in the Poder/Engsager formulation that
//! PROJ (`tmerc`, the default "exact" algorithm) and proj4rs (`etmerc`) use.
//! Why our own code rather than proj4rs: proj4rs' `transform()` with cached
//! `Proj` objects ran at ~4-5 M points/s (release, 2-core build machine),
//! below the 5 M/s the review engine needs per candidate vertex. Here the
//! coefficients depend only on the ellipsoid, so they are computed once at
//! compile time, there is no per-call dispatch, and one forward conversion
//! costs two `sin_cos`, one `atan2`, one `ln_1p` (one `sin_cos` fewer than
//! PROJ, see [`lonlat_to_gk`]): ~8-9 M points/s on the same machine
//! (`tests::throughput`). The tests check it against proj4rs over a grid
//! covering all 21 zones (3 nm apart) and against `cs2cs` control points
//! (< 1 µm, the precision of the cs2cs output).
//!
//! [`crate::crs::Transformer`] (building tiles from source data) uses proj4rs
//! via the proj strings from [`Crs::gk_proj_string`].

use super::Crs;

/// CGCS2000 semi-major axis, metres.
pub const CGCS2000_A: f64 = 6_378_137.0;
/// CGCS2000 inverse flattening.
pub const CGCS2000_RF: f64 = 298.257_222_101;
/// False easting of the zones without prefix (and the part after the prefix).
pub const GK_FALSE_EASTING: f64 = 500_000.0;

/// EPSG codes of the prefixed zones 25..=45.
const PREFIXED: std::ops::RangeInclusive<u32> = 4513..=4533;
/// EPSG codes of the zones without prefix, CM 75°..=135°.
const PLAIN: std::ops::RangeInclusive<u32> = 4534..=4554;
/// First and last 3-degree zone number covered by the allow-list.
const ZONE_MIN: u32 = 25;
const ZONE_MAX: u32 = 45;

impl Crs {
    /// 3-degree zone number (25..=45) of a Gauss-Krüger CRS; `None` for
    /// geographic CRSs or an EPSG code outside 4513..=4554.
    pub fn gk_zone(&self) -> Option<u32> {
        match *self {
            Crs::GaussKruger { epsg } if PREFIXED.contains(&epsg) => {
                Some(epsg - PREFIXED.start() + ZONE_MIN)
            }
            Crs::GaussKruger { epsg } if PLAIN.contains(&epsg) => {
                Some(epsg - PLAIN.start() + ZONE_MIN)
            }
            _ => None,
        }
    }

    /// Central meridian in degrees east (`3 * zone`), `None` if not a
    /// Gauss-Krüger zone of the allow-list.
    pub fn central_meridian(&self) -> Option<f64> {
        self.gk_zone().map(|z| f64::from(3 * z))
    }

    /// False easting in metres: `zone * 1e6 + 5e5` for EPSG:4513-4533,
    /// `5e5` for EPSG:4534-4554, `None` otherwise.
    pub fn false_easting(&self) -> Option<f64> {
        match *self {
            Crs::GaussKruger { epsg } if PREFIXED.contains(&epsg) => self
                .gk_zone()
                .map(|z| f64::from(z) * 1_000_000.0 + GK_FALSE_EASTING),
            Crs::GaussKruger { epsg } if PLAIN.contains(&epsg) => Some(GK_FALSE_EASTING),
            _ => None,
        }
    }

    /// Whether the easting carries the zone number (EPSG:4513-4533).
    pub fn has_zone_prefix(&self) -> bool {
        matches!(*self, Crs::GaussKruger { epsg } if PREFIXED.contains(&epsg))
    }

    /// The PROJ string tudi generates for a Gauss-Krüger zone (only ever
    /// from the allow-list; user-supplied PROJ strings are never accepted).
    pub fn gk_proj_string(&self) -> Option<String> {
        let cm = self.central_meridian()?;
        let fe = self.false_easting()?;
        Some(format!(
            "+proj=tmerc +lat_0=0 +lon_0={cm} +k=1 +x_0={fe} +y_0=0 \
             +a={CGCS2000_A} +rf={CGCS2000_RF} +units=m +no_defs"
        ))
    }
}

/// 3-degree zone number containing `lon`: zone `z` spans
/// (3z - 1.5°, 3z + 1.5°], a boundary belongs to the zone to its east.
/// Clamped to 25..=45; a non-finite `lon` gives 25.
fn zone_for_lon(lon: f64) -> u32 {
    let z = ((lon + 1.5) / 3.0).floor();
    if z.is_nan() {
        ZONE_MIN
    } else {
        // Saturating cast, then clamp: no panic for any input.
        (z as i64).clamp(i64::from(ZONE_MIN), i64::from(ZONE_MAX)) as u32
    }
}

/// The Gauss-Krüger zone *without* prefix (EPSG:4534-4554) whose central
/// meridian is nearest `lon` (e.g. Nanhai, lon ≈ 113.0 -> EPSG:4547, CM 114°).
/// Longitudes outside China clamp to CM 75° / 135°.
pub fn gk_for_lon(lon: f64) -> Crs {
    Crs::GaussKruger {
        epsg: PLAIN.start() + zone_for_lon(lon) - ZONE_MIN,
    }
}

/// Coefficients of the 6th-order Krüger series for one ellipsoid
/// (Poder/Engsager, as in PROJ's `tmerc.cpp`), stored in ascending order.
struct Krueger {
    /// Rectifying radius times scale factor: metres per unit of normalised N/E.
    qn: f64,
    /// Geodetic -> Gaussian (conformal) latitude.
    cbg: [f64; 6],
    /// Gaussian -> geodetic latitude.
    cgb: [f64; 6],
    /// Spherical -> ellipsoidal normalised N, E.
    gtu: [f64; 6],
    /// Ellipsoidal -> spherical normalised N, E.
    utg: [f64; 6],
}

impl Krueger {
    #[rustfmt::skip]
    const fn new(a: f64, f: f64, k0: f64) -> Krueger {
        let n = f / (2.0 - f);
        let n2 = n * n;
        let n3 = n2 * n;
        let n4 = n2 * n2;
        let n5 = n4 * n;
        let n6 = n4 * n2;
        Krueger {
            qn: a * k0 / (1.0 + n) * (1.0 + n2 * (1.0 / 4.0 + n2 * (1.0 / 64.0 + n2 / 256.0))),
            cbg: [
                n * (-2.0 + n * (2.0 / 3.0 + n * (4.0 / 3.0 + n * (-82.0 / 45.0 + n * (32.0 / 45.0 + n * (4642.0 / 4725.0)))))),
                n2 * (5.0 / 3.0 + n * (-16.0 / 15.0 + n * (-13.0 / 9.0 + n * (904.0 / 315.0 + n * (-1522.0 / 945.0))))),
                n3 * (-26.0 / 15.0 + n * (34.0 / 21.0 + n * (8.0 / 5.0 + n * (-12686.0 / 2835.0)))),
                n4 * (1237.0 / 630.0 + n * (-12.0 / 5.0 + n * (-24832.0 / 14175.0))),
                n5 * (-734.0 / 315.0 + n * (109598.0 / 31185.0)),
                n6 * (444337.0 / 155925.0),
            ],
            cgb: [
                n * (2.0 + n * (-2.0 / 3.0 + n * (-2.0 + n * (116.0 / 45.0 + n * (26.0 / 45.0 + n * (-2854.0 / 675.0)))))),
                n2 * (7.0 / 3.0 + n * (-8.0 / 5.0 + n * (-227.0 / 45.0 + n * (2704.0 / 315.0 + n * (2323.0 / 945.0))))),
                n3 * (56.0 / 15.0 + n * (-136.0 / 35.0 + n * (-1262.0 / 105.0 + n * (73814.0 / 2835.0)))),
                n4 * (4279.0 / 630.0 + n * (-332.0 / 35.0 + n * (-399572.0 / 14175.0))),
                n5 * (4174.0 / 315.0 + n * (-144838.0 / 6237.0)),
                n6 * (601676.0 / 22275.0),
            ],
            gtu: [
                n * (0.5 + n * (-2.0 / 3.0 + n * (5.0 / 16.0 + n * (41.0 / 180.0 + n * (-127.0 / 288.0 + n * (7891.0 / 37800.0)))))),
                n2 * (13.0 / 48.0 + n * (-3.0 / 5.0 + n * (557.0 / 1440.0 + n * (281.0 / 630.0 + n * (-1983433.0 / 1935360.0))))),
                n3 * (61.0 / 240.0 + n * (-103.0 / 140.0 + n * (15061.0 / 26880.0 + n * (167603.0 / 181440.0)))),
                n4 * (49561.0 / 161280.0 + n * (-179.0 / 168.0 + n * (6601661.0 / 7257600.0))),
                n5 * (34729.0 / 80640.0 + n * (-3418889.0 / 1995840.0)),
                n6 * (212378941.0 / 319334400.0),
            ],
            utg: [
                n * (-0.5 + n * (2.0 / 3.0 + n * (-37.0 / 96.0 + n * (1.0 / 360.0 + n * (81.0 / 512.0 + n * (-96199.0 / 604800.0)))))),
                n2 * (-1.0 / 48.0 + n * (-1.0 / 15.0 + n * (437.0 / 1440.0 + n * (-46.0 / 105.0 + n * (1118711.0 / 3870720.0))))),
                n3 * (-17.0 / 480.0 + n * (37.0 / 840.0 + n * (209.0 / 4480.0 + n * (-5569.0 / 90720.0)))),
                n4 * (-4397.0 / 161280.0 + n * (11.0 / 504.0 + n * (830251.0 / 7257600.0))),
                n5 * (-4583.0 / 161280.0 + n * (108847.0 / 3991680.0)),
                n6 * (-20648693.0 / 638668800.0),
            ],
        }
    }
}

/// CGCS2000, k0 = 1, computed at compile time.
const CGCS2000_GK: Krueger = Krueger::new(CGCS2000_A, 1.0 / CGCS2000_RF, 1.0);

/// Normalised easting limit of PROJ's implementation (150° of arc).
const MAX_CE: f64 = 2.623_395_162_778;

/// `b + Σ c[k] sin(2(k+1)b)` by Clenshaw summation, given cos/sin of `2b`.
#[inline(always)]
fn gatg(c: &[f64; 6], b: f64, cos_2b: f64, sin_2b: f64) -> f64 {
    let two_cos_2b = 2.0 * cos_2b;
    let (mut h1, mut h2, mut h) = (c[5], 0.0, 0.0);
    for &ck in c[..5].iter().rev() {
        h = -h2 + two_cos_2b * h1 + ck;
        h2 = h1;
        h1 = h;
    }
    b + h * sin_2b
}

/// Complex Clenshaw summation of `Σ a[k] sin(2(k+1)(r + i·im))`, given
/// sin/cos of `2r` and sinh/cosh of `2im`; returns (real, imaginary) parts.
#[inline(always)]
fn clens_cplx(a: &[f64; 6], sin_r: f64, cos_r: f64, sinh_i: f64, cosh_i: f64) -> (f64, f64) {
    let r = 2.0 * cos_r * cosh_i;
    let i = -2.0 * sin_r * sinh_i;
    let (mut hr, mut hi) = (a[5], 0.0);
    let (mut hr1, mut hi1) = (0.0, 0.0);
    for &ak in a[..5].iter().rev() {
        let (hr2, hi2) = (hr1, hi1);
        hr1 = hr;
        hi1 = hi;
        hr = -hr2 + r * hr1 - i * hi1 + ak;
        hi = -hi2 + i * hr1 + r * hi1;
    }
    let r = sin_r * cosh_i;
    let i = cos_r * sinh_i;
    (r * hr - i * hi, r * hi + i * hr)
}

/// Wraps a longitude difference in degrees into [-180, 180].
#[inline(always)]
pub(super) fn wrap180(d: f64) -> f64 {
    if (-180.0..=180.0).contains(&d) {
        d
    } else {
        (d + 180.0).rem_euclid(360.0) - 180.0
    }
}

/// lon/lat degrees (CGCS2000 ≈ WGS84) -> Gauss-Krüger (easting, northing) in
/// metres for the given central meridian, false easting 500 000 m, no zone
/// prefix. Fast path for measuring areas and distances (see module docs).
///
/// Returns `(NaN, NaN)` for non-finite input, |lat| > 90, or a point more
/// than 90° of longitude from the central meridian. (PROJ also projects that
/// far hemisphere, folded back beyond the pole, which is never a meaningful
/// Gauss-Krüger coordinate; it fails near (lat 0, CM ± 90°), as this does.)
/// Check `is_finite()` if the input is untrusted.
#[inline]
pub fn lonlat_to_gk(lon: f64, lat: f64, central_meridian: f64) -> (f64, f64) {
    let k = &CGCS2000_GK;
    if lat.is_nan() || lat.abs() > 90.0 {
        return (f64::NAN, f64::NAN);
    }
    let dlon = wrap180(lon - central_meridian);
    if dlon.is_nan() || dlon.abs() > 90.0 {
        return (f64::NAN, f64::NAN);
    }
    let lam = dlon.to_radians();
    let phi = lat.to_radians();
    // Geodetic -> Gaussian (conformal) latitude: cn = phi + d, |d| < 0.0034.
    let (sin_phi, cos_phi) = phi.sin_cos();
    let sin_2phi = 2.0 * sin_phi * cos_phi;
    let cos_2phi = (cos_phi - sin_phi) * (cos_phi + sin_phi);
    let d = gatg(&k.cbg, phi, cos_2phi, sin_2phi) - phi;
    // sin/cos(phi + d) by the addition theorem with Taylor series for the
    // small d (the next terms, d^7/5040 and d^6/720, are < 3e-18): saves a
    // sin_cos call over PROJ's code.
    let d2 = d * d;
    let sin_d = d * (1.0 - d2 / 6.0 * (1.0 - d2 / 20.0));
    let cos_d = 1.0 - d2 / 2.0 * (1.0 - d2 / 12.0);
    let sin_cn = sin_phi * cos_d + cos_phi * sin_d;
    let cos_cn = cos_phi * cos_d - sin_phi * sin_d;
    // Gaussian lat, lon -> complex spherical N, E (PROJ's optimised form:
    // sin/cos/sinh/cosh of the doubled arguments from algebraic identities).
    let (sin_ce, cos_ce) = lam.sin_cos();
    let cos_cn_cos_ce = cos_cn * cos_ce;
    let cn = sin_cn.atan2(cos_cn_cos_ce);
    // sin_cn² + cos_cn_cos_ce² <= 1: no overflow, so plain sqrt is exact
    // enough and faster than hypot.
    let inv_denom = 1.0 / (sin_cn * sin_cn + cos_cn_cos_ce * cos_cn_cos_ce).sqrt();
    let tan_ce = sin_ce * cos_cn * inv_denom;
    // asinh without std's hypot call: ln(1 + x + x²/(1 + sqrt(1 + x²))),
    // accurate for small |x| too.
    let x = tan_ce.abs();
    let ce = (x + x * x / (1.0 + (1.0 + x * x).sqrt()))
        .ln_1p()
        .copysign(tan_ce);
    let two_inv_denom = 2.0 * inv_denom;
    let two_inv_denom_sq = two_inv_denom * inv_denom;
    let tmp_r = cos_cn_cos_ce * two_inv_denom_sq;
    let sin_arg_r = sin_cn * tmp_r;
    let cos_arg_r = cos_cn_cos_ce * tmp_r - 1.0;
    let sinh_arg_i = tan_ce * two_inv_denom;
    let cosh_arg_i = two_inv_denom_sq - 1.0;
    // Spherical -> ellipsoidal normalised N, E.
    let (dcn, dce) = clens_cplx(&k.gtu, sin_arg_r, cos_arg_r, sinh_arg_i, cosh_arg_i);
    let (cn, ce) = (cn + dcn, ce + dce);
    if ce.abs() <= MAX_CE {
        (k.qn * ce + GK_FALSE_EASTING, k.qn * cn)
    } else {
        (f64::NAN, f64::NAN)
    }
}

/// Gauss-Krüger (easting with false easting 500 000 m, no zone prefix,
/// northing) in metres for the given central meridian -> lon/lat degrees.
/// Inverse of [`lonlat_to_gk`]; longitude wrapped into [-180, 180].
///
/// Returns `(NaN, NaN)` for non-finite input, an easting outside the
/// projection's domain (more than ~150° of arc from the central meridian)
/// or a northing beyond the pole (longitude more than 90° from the CM).
#[inline]
pub fn gk_to_lonlat(easting: f64, northing: f64, central_meridian: f64) -> (f64, f64) {
    let k = &CGCS2000_GK;
    let cn = northing / k.qn;
    let ce = (easting - GK_FALSE_EASTING) / k.qn;
    if ce.is_nan() || ce.abs() > MAX_CE || !cn.is_finite() {
        return (f64::NAN, f64::NAN);
    }
    // Ellipsoidal normalised N, E -> complex spherical N, E.
    let (sin_arg_r, cos_arg_r) = (2.0 * cn).sin_cos();
    let exp_2ce = (2.0 * ce).exp();
    let half_inv_exp_2ce = 0.5 / exp_2ce;
    let sinh_arg_i = 0.5 * exp_2ce - half_inv_exp_2ce;
    let cosh_arg_i = 0.5 * exp_2ce + half_inv_exp_2ce;
    let (dcn, dce) = clens_cplx(&k.utg, sin_arg_r, cos_arg_r, sinh_arg_i, cosh_arg_i);
    let (cn, ce) = (cn + dcn, ce + dce);
    // Complex spherical -> Gaussian lat, lon.
    let (sin_cn, cos_cn) = cn.sin_cos();
    let sinh_ce = ce.sinh();
    let lam = sinh_ce.atan2(cos_cn);
    if lam.abs() > std::f64::consts::FRAC_PI_2 {
        return (f64::NAN, f64::NAN);
    }
    let modulus = (sinh_ce * sinh_ce + cos_cn * cos_cn).sqrt();
    let cn = sin_cn.atan2(modulus);
    // Gaussian -> geodetic latitude.
    let tmp = 2.0 * modulus / (sinh_ce * sinh_ce + 1.0);
    let sin_2cn = sin_cn * tmp;
    let cos_2cn = tmp * modulus - 1.0;
    let phi = gatg(&k.cgb, cn, cos_2cn, sin_2cn);
    let lon = wrap180(central_meridian + lam.to_degrees());
    (lon, phi.to_degrees())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proj4rs::Proj;
    use proj4rs::transform::transform;

    #[test]
    fn zone_metadata() {
        let z38 = Crs::GaussKruger { epsg: 4526 };
        assert_eq!(z38.gk_zone(), Some(38));
        assert_eq!(z38.central_meridian(), Some(114.0));
        assert_eq!(z38.false_easting(), Some(38_500_000.0));
        assert!(z38.has_zone_prefix());
        let cm114 = Crs::GaussKruger { epsg: 4547 };
        assert_eq!(cm114.central_meridian(), Some(114.0));
        assert_eq!(cm114.false_easting(), Some(500_000.0));
        assert!(!cm114.has_zone_prefix());
        let ends = [(4513, 75.0, 25_500_000.0), (4533, 135.0, 45_500_000.0)];
        for (epsg, cm, fe) in ends {
            let c = Crs::GaussKruger { epsg };
            assert_eq!(
                (c.central_meridian(), c.false_easting()),
                (Some(cm), Some(fe))
            );
        }
        let ends = [(4534, 75.0), (4546, 111.0), (4554, 135.0)];
        for (epsg, cm) in ends {
            let c = Crs::GaussKruger { epsg };
            assert_eq!(
                (c.central_meridian(), c.false_easting()),
                (Some(cm), Some(5e5))
            );
        }
        for c in [Crs::Wgs84, Crs::Cgcs2000, Crs::GaussKruger { epsg: 4555 }] {
            assert_eq!((c.central_meridian(), c.false_easting()), (None, None));
            assert_eq!(c.gk_proj_string(), None);
        }
    }

    #[test]
    fn nearest_zone() {
        assert_eq!(gk_for_lon(113.0), Crs::GaussKruger { epsg: 4547 });
        assert_eq!(gk_for_lon(112.6), Crs::GaussKruger { epsg: 4547 });
        assert_eq!(gk_for_lon(112.4), Crs::GaussKruger { epsg: 4546 });
        assert_eq!(gk_for_lon(112.5), Crs::GaussKruger { epsg: 4547 });
        assert_eq!(gk_for_lon(87.6), Crs::GaussKruger { epsg: 4538 });
        assert_eq!(gk_for_lon(126.6), Crs::GaussKruger { epsg: 4551 });
        assert_eq!(gk_for_lon(0.0), Crs::GaussKruger { epsg: 4534 });
        assert_eq!(gk_for_lon(179.0), Crs::GaussKruger { epsg: 4554 });
        assert_eq!(gk_for_lon(f64::NAN), Crs::GaussKruger { epsg: 4534 });
        assert_eq!(gk_for_lon(f64::INFINITY), Crs::GaussKruger { epsg: 4554 });
        for i in 0..=600 {
            let lon = 75.0 + f64::from(i) * 0.1;
            let cm = gk_for_lon(lon).central_meridian().unwrap_or(f64::NAN);
            assert!((lon - cm).abs() <= 1.5 + 1e-9, "{lon} -> {cm}");
        }
    }

    fn proj4rs_pair(crs: Crs) -> (Proj, Proj) {
        let s = crs.gk_proj_string().expect("GK zone");
        let gk = Proj::from_proj_string(&s).expect("valid proj string");
        let ll = Proj::from_proj_string("+proj=longlat +a=6378137 +rf=298.257222101 +no_defs")
            .expect("valid proj string");
        (gk, ll)
    }

    /// The Krüger series here against proj4rs (a port of PROJ's etmerc) over
    /// a grid covering every zone, ±4.5° around each central meridian
    /// (wider than the 1.5° half-zone, data may stray) and lat 0..56°N.
    #[test]
    fn series_matches_proj4rs_in_all_zones() {
        let mut worst_m: f64 = 0.0;
        let mut worst_deg: f64 = 0.0;
        for epsg in 4534..=4554 {
            let crs = Crs::GaussKruger { epsg };
            let cm = crs.central_meridian().unwrap_or(f64::NAN);
            let (gk, ll) = proj4rs_pair(crs);
            for i in -9..=9 {
                for j in 0..=28 {
                    let lon = cm + f64::from(i) * 0.5;
                    let lat = f64::from(j) * 2.0;
                    let mut p = (lon.to_radians(), lat.to_radians(), 0.0);
                    transform(&ll, &gk, &mut p).expect("proj4rs forward");
                    let (e, n) = lonlat_to_gk(lon, lat, cm);
                    worst_m = worst_m.max((e - p.0).abs()).max((n - p.1).abs());
                    let mut q = (p.0, p.1, 0.0);
                    transform(&gk, &ll, &mut q).expect("proj4rs inverse");
                    let (lon2, lat2) = gk_to_lonlat(p.0, p.1, cm);
                    worst_deg = worst_deg
                        .max((lon2 - q.0.to_degrees()).abs())
                        .max((lat2 - q.1.to_degrees()).abs());
                }
            }
        }
        println!("Krüger series vs proj4rs: {worst_m:.1e} m forward, {worst_deg:.1e}° inverse");
        // Same algorithm, different evaluation order: nanometres apart.
        assert!(
            worst_m < 1e-6,
            "forward differs from proj4rs by {worst_m} m"
        );
        assert!(
            worst_deg < 1e-11,
            "inverse differs from proj4rs by {worst_deg}°"
        );
    }

    #[test]
    fn round_trip() {
        for i in 0..=40 {
            for j in 0..=50 {
                let lon = 109.0 + f64::from(i) * 0.25;
                let lat = 3.0 + f64::from(j);
                let (e, n) = lonlat_to_gk(lon, lat, 114.0);
                let (lon2, lat2) = gk_to_lonlat(e, n, 114.0);
                assert!((lon2 - lon).abs() < 1e-9 && (lat2 - lat).abs() < 1e-9);
            }
        }
        // Southern hemisphere and across the antimeridian wrap.
        let (e, n) = lonlat_to_gk(-179.5, -33.0, 179.0);
        assert!(n < 0.0 && e > 500_000.0);
        let (lon, lat) = gk_to_lonlat(e, n, 179.0);
        assert!((lon + 179.5).abs() < 1e-9 && (lat + 33.0).abs() < 1e-9);
    }

    #[test]
    fn degenerate_input_gives_nan_not_panic() {
        let cases = [
            (f64::NAN, 23.0),
            (113.0, f64::NAN),
            (f64::INFINITY, 23.0),
            (113.0, 91.0),
            (114.0 + 170.0, 0.0),
            (114.0 + 89.9999, 0.0),
            (114.0 - 90.5, 45.0),
        ];
        for (lon, lat) in cases {
            let (e, n) = lonlat_to_gk(lon, lat, 114.0);
            assert!(e.is_nan() && n.is_nan(), "({lon}, {lat}) -> ({e}, {n})");
        }
        let beyond_pole = (5e5, 1.2e7);
        for (e, n) in [
            (f64::NAN, 0.0),
            (5e5, f64::INFINITY),
            (38_500_000.0, 2.5e6),
            beyond_pole,
        ] {
            let (lon, lat) = gk_to_lonlat(e, n, 114.0);
            assert!(lon.is_nan() && lat.is_nan(), "({e}, {n}) -> ({lon}, {lat})");
        }
        // The poles are fine.
        let (e, n) = lonlat_to_gk(114.0, 90.0, 114.0);
        assert!((e - 500_000.0).abs() < 1e-6 && n > 9.9e6);
    }

    /// On-CPU time of this thread in seconds (Linux), so that the figure is
    /// not skewed by other processes competing for the cores.
    fn thread_cpu_secs() -> Option<f64> {
        let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
        let ns: f64 = s.split_whitespace().next()?.parse().ok()?;
        Some(ns * 1e-9)
    }

    fn rate(points: u32, f: impl FnOnce() -> f64) -> (f64, f64) {
        let (wall, cpu) = (std::time::Instant::now(), thread_cpu_secs());
        std::hint::black_box(f());
        let wall = wall.elapsed().as_secs_f64();
        let cpu = cpu.zip(thread_cpu_secs()).map_or(wall, |(a, b)| b - a);
        (
            f64::from(points) / wall / 1e6,
            f64::from(points) / cpu / 1e6,
        )
    }

    /// Throughput of the fast path. Run with
    /// `cargo test --release --lib crs::gk::tests::throughput -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn throughput() {
        let n = 20_000_000u32;
        let fwd = rate(n, || {
            let mut acc = 0.0;
            for i in 0..n {
                let lon = 112.9 + f64::from(i % 1000) * 4e-4;
                let lat = 22.8 + f64::from(i / 1000 % 1000) * 5e-4;
                let (e, n) = lonlat_to_gk(std::hint::black_box(lon), lat, 114.0);
                acc += e + n;
            }
            acc
        });
        let inv = rate(n, || {
            let mut acc = 0.0;
            for i in 0..n {
                let e = 380_000.0 + f64::from(i % 1000) * 40.0;
                let nn = 2_520_000.0 + f64::from(i / 1000 % 1000) * 55.0;
                let (lon, lat) = gk_to_lonlat(std::hint::black_box(e), nn, 114.0);
                acc += lon + lat;
            }
            acc
        });
        // The same forward conversion through proj4rs, `Proj`s built once.
        let (gk, ll) = proj4rs_pair(Crs::GaussKruger { epsg: 4547 });
        let p4 = rate(n / 4, || {
            let mut acc = 0.0;
            for i in 0..n / 4 {
                let lon = 112.9 + f64::from(i % 1000) * 4e-4;
                let lat = 22.8 + f64::from(i / 1000 % 1000) * 5e-4;
                let mut p = (
                    std::hint::black_box(lon).to_radians(),
                    lat.to_radians(),
                    0.0,
                );
                if transform(&ll, &gk, &mut p).is_ok() {
                    acc += p.0 + p.1;
                }
            }
            acc
        });
        println!(
            "M points/s (wall clock, on-CPU): lonlat_to_gk {:.1}, {:.1}; gk_to_lonlat {:.1}, {:.1}; proj4rs forward {:.1}, {:.1}",
            fwd.0, fwd.1, inv.0, inv.1, p4.0, p4.1
        );
        assert!(fwd.1 >= 5.0 || cfg!(debug_assertions));
    }
}
