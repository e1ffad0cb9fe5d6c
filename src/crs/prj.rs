//! Recognising a `.prj` / WKT CRS definition as one of the allow-listed CRSs.
//!
//! [`parse_prj_wkt`] reads ESRI WKT (what ArcGIS and ogr2ogr write to `.prj`),
//! OGC WKT1 and WKT2. It identifies the CRS by the root node's
//! `AUTHORITY["EPSG","NNNN"]` / `ID["EPSG",NNNN]` if there is one, else by
//! its name (`CGCS2000_3_Degree_GK_CM_114E`,
//! `CGCS2000 / 3-degree Gauss-Kruger zone 38`, `GCS_WGS_1984`, ...), and
//! then cross-checks the definition against the allow-listed CRS: ellipsoid
//! (CGCS2000/GRS80 or WGS84: a = 6378137 m), prime meridian, degree and metre
//! units, projection method (Transverse Mercator / Gauss-Krüger), central
//! meridian, false easting, and, when present, scale factor, latitude of
//! origin and false northing. Any mismatch, any other CRS, and anything that
//! is not WKT (PROJ strings, URLs, `ugh`) is [`CrsError::NotAllowed`]: the
//! text never reaches a projection library.

use super::wkt::{Node, Value, normalise, parse_tree};
use super::{Crs, CrsError};

const DEGREE: f64 = 0.017_453_292_519_943_3;

fn geographic_by_name(name: &str) -> Option<Crs> {
    match normalise(name).as_str() {
        "gcs_wgs_1984" | "wgs_84" | "wgs84" | "wgs_1984" | "gcs_wgs84" => Some(Crs::Wgs84),
        "gcs_china_geodetic_coordinate_system_2000"
        | "china_geodetic_coordinate_system_2000"
        | "cgcs2000"
        | "gcs_cgcs2000"
        | "gcs_cgcs_2000"
        | "cgcs_2000" => Some(Crs::Cgcs2000),
        _ => None,
    }
}

/// `CGCS2000_3_Degree_GK_CM_114E`, `CGCS2000 / 3-degree Gauss-Kruger CM 114E`
/// -> EPSG:4547; `..._GK_Zone_38`, `... Gauss-Kruger zone 38` -> EPSG:4526.
fn projected_by_name(name: &str) -> Option<Crs> {
    let n = normalise(name);
    let rest = n
        .strip_prefix("cgcs2000_3_degree_gk_")
        .or_else(|| n.strip_prefix("cgcs2000_3_degree_gauss_kruger_"))?;
    let epsg = if let Some(cm) = rest.strip_prefix("cm_").and_then(|r| r.strip_suffix('e')) {
        let cm: u32 = cm.parse().ok()?;
        if !(75..=135).contains(&cm) || !cm.is_multiple_of(3) {
            return None;
        }
        4534 + (cm - 75) / 3
    } else {
        let zone: u32 = rest.strip_prefix("zone_")?.parse().ok()?;
        if !(25..=45).contains(&zone) {
            return None;
        }
        4513 + zone - 25
    };
    Crs::from_epsg(epsg)
}

fn near(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

/// Checks a geographic CRS node (root or base CRS of a projected one).
fn check_geographic(geog: &Node) -> Result<(), String> {
    let ellps = geog
        .find(&["SPHEROID", "ELLIPSOID"])
        .ok_or("no ellipsoid")?;
    let (a, rf) = (ellps.num(1), ellps.num(2));
    let rf_ok = |rf: f64| near(rf, 298.257_222_101, 1e-6) || near(rf, 298.257_223_563, 1e-6);
    match (a, rf) {
        (Some(a), Some(rf)) if near(a, 6_378_137.0, 1e-3) && rf_ok(rf) => {}
        _ => {
            return Err(format!(
                "ellipsoid `{}` is not CGCS2000/WGS84",
                ellps.name()
            ));
        }
    }
    if let Some(pm) = geog.child(&["PRIMEM", "PRIMEMERIDIAN"])
        && pm.num(1) != Some(0.0)
    {
        return Err("prime meridian is not Greenwich".into());
    }
    if let Some(unit) = geog.child(&["UNIT"])
        && !unit.num(1).is_some_and(|f| near(f, DEGREE, 1e-15))
    {
        return Err("angular unit is not degree".into());
    }
    Ok(())
}

/// Checks units everywhere: every `ANGLEUNIT` is degree, every `LENGTHUNIT`
/// is metre.
fn check_units(root: &Node) -> Result<(), String> {
    let mut units = Vec::new();
    root.find_all(&["ANGLEUNIT"], &mut units);
    if units
        .iter()
        .any(|u| !u.num(1).is_some_and(|f| near(f, DEGREE, 1e-15)))
    {
        return Err("angular unit is not degree".into());
    }
    units.clear();
    root.find_all(&["LENGTHUNIT"], &mut units);
    if units.iter().any(|u| u.num(1) != Some(1.0)) {
        return Err("length unit is not metre".into());
    }
    Ok(())
}

/// Checks a projected CRS node against Gauss-Krüger zone `crs`.
fn check_projected(root: &Node, crs: Crs) -> Result<(), String> {
    let (Some(cm), Some(fe)) = (crs.central_meridian(), crs.false_easting()) else {
        return Err("not a Gauss-Krüger zone".into());
    };
    let geog = root
        .child(&["GEOGCS", "BASEGEOGCRS", "BASEGEODCRS"])
        .ok_or("no base geographic CRS")?;
    check_geographic(geog)?;
    // WKT1: PROJECTION + PARAMETERs on the root; WKT2: CONVERSION[METHOD, PARAMETER...].
    let conv = root.child(&["CONVERSION"]).unwrap_or(root);
    let method = conv
        .child(&["PROJECTION", "METHOD"])
        .map(|m| normalise(m.name()))
        .unwrap_or_default();
    if !matches!(method.as_str(), "gauss_kruger" | "transverse_mercator") {
        return Err(format!("projection `{method}` is not Transverse Mercator"));
    }
    let p_cm = conv.param(&[
        "central_meridian",
        "longitude_of_natural_origin",
        "longitude_of_origin",
    ]);
    match p_cm {
        Some(v) if near(v, cm, 1e-9) => {}
        Some(v) => return Err(format!("central meridian {v} does not match {cm}")),
        None => return Err("no central meridian".into()),
    }
    match conv.param(&["false_easting"]) {
        Some(v) if near(v, fe, 1e-3) => {}
        Some(v) => return Err(format!("false easting {v} does not match {fe}")),
        None => return Err("no false easting".into()),
    }
    let optional = [
        (&["false_northing"][..], 0.0, "false northing"),
        (
            &["scale_factor", "scale_factor_at_natural_origin"][..],
            1.0,
            "scale factor",
        ),
        (
            &["latitude_of_origin", "latitude_of_natural_origin"][..],
            0.0,
            "latitude of origin",
        ),
    ];
    for (names, want, what) in optional {
        if let Some(v) = conv.param(names)
            && !near(v, want, 1e-9)
        {
            return Err(format!("{what} {v} is not {want}"));
        }
    }
    if let Some(unit) = root.child(&["UNIT"])
        && unit.num(1) != Some(1.0)
    {
        return Err("linear unit is not metre".into());
    }
    Ok(())
}

/// Recognises an ESRI / OGC WKT1 / WKT2 CRS (a `.prj` file's content) as an
/// allow-listed [`Crs`]; see the module docs. Everything else, including
/// definitions whose parameters contradict their name or EPSG code, is
/// [`CrsError::NotAllowed`].
pub fn parse_prj_wkt(wkt: &str) -> Result<Crs, CrsError> {
    let refuse = |what: &str, why: &str| CrsError::NotAllowed(format!("{what} ({why})"));
    let root = parse_tree(wkt).map_err(|why| refuse("WKT", &why))?;
    let name = root.name().to_string();
    let label = if name.is_empty() {
        root.keyword.clone()
    } else {
        name.clone()
    };
    let projected = match root.keyword.as_str() {
        "PROJCS" | "PROJCRS" | "PROJECTEDCRS" => true,
        "GEOGCS" | "GEOGCRS" | "GEOGRAPHICCRS" | "GEODCRS" | "GEODETICCRS" => false,
        k => {
            return Err(refuse(
                &label,
                &format!("{k} is not a geographic or projected CRS"),
            ));
        }
    };
    let crs = match root.epsg() {
        Some(code) => {
            Crs::from_epsg(code).ok_or_else(|| refuse(&label, &format!("EPSG:{code}")))?
        }
        None if projected => projected_by_name(&name)
            .ok_or_else(|| refuse(&label, "not a CGCS2000 3-degree Gauss-Krüger zone"))?,
        None => {
            geographic_by_name(&name).ok_or_else(|| refuse(&label, "not WGS 84 or CGCS2000"))?
        }
    };
    if projected == crs.is_geographic() {
        return Err(refuse(&label, "EPSG code does not match the CRS type"));
    }
    let checked = if projected {
        check_projected(&root, crs)
    } else {
        let cartesian = root
            .child(&["CS"])
            .is_some_and(|cs| matches!(cs.args.first(), Some(Value::Word(w)) if !w.eq_ignore_ascii_case("ellipsoidal")));
        if cartesian {
            Err("not an ellipsoidal coordinate system".to_string())
        } else {
            check_geographic(&root)
        }
    };
    checked
        .and_then(|()| check_units(&root))
        .map_err(|why| refuse(&label, &why))?;
    Ok(crs)
}

#[cfg(test)]
mod tests {
    use super::*;

    // `ogr2ogr -f "ESRI Shapefile" -a_srs EPSG:4547 s.shp ...`; cat s.prj
    // (GDAL 3.6.2; identical to `gdalsrsinfo -o wkt_esri EPSG:4547` on one line).
    const ESRI_4547: &str = r#"PROJCS["CGCS2000_3_Degree_GK_CM_114E",GEOGCS["GCS_China_Geodetic_Coordinate_System_2000",DATUM["D_China_2000",SPHEROID["CGCS2000",6378137.0,298.257222101]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],PROJECTION["Gauss_Kruger"],PARAMETER["False_Easting",500000.0],PARAMETER["False_Northing",0.0],PARAMETER["Central_Meridian",114.0],PARAMETER["Scale_Factor",1.0],PARAMETER["Latitude_Of_Origin",0.0],UNIT["Meter",1.0]]"#;
    // ogr2ogr ... -a_srs EPSG:4526
    const ESRI_4526: &str = r#"PROJCS["CGCS2000_3_Degree_GK_Zone_38",GEOGCS["GCS_China_Geodetic_Coordinate_System_2000",DATUM["D_China_2000",SPHEROID["CGCS2000",6378137.0,298.257222101]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],PROJECTION["Gauss_Kruger"],PARAMETER["False_Easting",38500000.0],PARAMETER["False_Northing",0.0],PARAMETER["Central_Meridian",114.0],PARAMETER["Scale_Factor",1.0],PARAMETER["Latitude_Of_Origin",0.0],UNIT["Meter",1.0]]"#;
    // ogr2ogr ... -a_srs EPSG:4490
    const ESRI_4490: &str = r#"GEOGCS["GCS_China_Geodetic_Coordinate_System_2000",DATUM["D_China_2000",SPHEROID["CGCS2000",6378137.0,298.257222101]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]]"#;
    // ogr2ogr ... -a_srs EPSG:4326
    const ESRI_4326: &str = r#"GEOGCS["GCS_WGS_1984",DATUM["D_WGS_1984",SPHEROID["WGS_1984",6378137.0,298.257223563]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]]"#;
    // gdalsrsinfo -o wkt_esri EPSG:4546
    const ESRI_4546: &str = r#"PROJCS["CGCS2000_3_Degree_GK_CM_111E",
    GEOGCS["GCS_China_Geodetic_Coordinate_System_2000",
        DATUM["D_China_2000",
            SPHEROID["CGCS2000",6378137.0,298.257222101]],
        PRIMEM["Greenwich",0.0],
        UNIT["Degree",0.0174532925199433]],
    PROJECTION["Gauss_Kruger"],
    PARAMETER["False_Easting",500000.0],
    PARAMETER["False_Northing",0.0],
    PARAMETER["Central_Meridian",111.0],
    PARAMETER["Scale_Factor",1.0],
    PARAMETER["Latitude_Of_Origin",0.0],
    UNIT["Meter",1.0]]"#;
    // gdalsrsinfo -o wkt1 EPSG:4547
    const WKT1_4547: &str = r#"PROJCS["CGCS2000 / 3-degree Gauss-Kruger CM 114E",
    GEOGCS["China Geodetic Coordinate System 2000",
        DATUM["China_2000",
            SPHEROID["CGCS2000",6378137,298.257222101,
                AUTHORITY["EPSG","1024"]],
            AUTHORITY["EPSG","1043"]],
        PRIMEM["Greenwich",0,
            AUTHORITY["EPSG","8901"]],
        UNIT["degree",0.0174532925199433,
            AUTHORITY["EPSG","9122"]],
        AUTHORITY["EPSG","4490"]],
    PROJECTION["Transverse_Mercator"],
    PARAMETER["latitude_of_origin",0],
    PARAMETER["central_meridian",114],
    PARAMETER["scale_factor",1],
    PARAMETER["false_easting",500000],
    PARAMETER["false_northing",0],
    UNIT["metre",1,
        AUTHORITY["EPSG","9001"]],
    AXIS["Northing",NORTH],
    AXIS["Easting",EAST],
    AUTHORITY["EPSG","4547"]]"#;
    // gdalsrsinfo -o wkt1 EPSG:4326
    const WKT1_4326: &str = r#"GEOGCS["WGS 84",
    DATUM["WGS_1984",
        SPHEROID["WGS 84",6378137,298.257223563,
            AUTHORITY["EPSG","7030"]],
        AUTHORITY["EPSG","6326"]],
    PRIMEM["Greenwich",0,
        AUTHORITY["EPSG","8901"]],
    UNIT["degree",0.0174532925199433,
        AUTHORITY["EPSG","9122"]],
    AXIS["Latitude",NORTH],
    AXIS["Longitude",EAST],
    AUTHORITY["EPSG","4326"]]"#;
    // gdalsrsinfo -o wkt2 EPSG:4526
    const WKT2_4526: &str = r#"PROJCRS["CGCS2000 / 3-degree Gauss-Kruger zone 38",
    BASEGEOGCRS["China Geodetic Coordinate System 2000",
        DATUM["China 2000",
            ELLIPSOID["CGCS2000",6378137,298.257222101,
                LENGTHUNIT["metre",1]]],
        PRIMEM["Greenwich",0,
            ANGLEUNIT["degree",0.0174532925199433]],
        ID["EPSG",4490]],
    CONVERSION["3-degree Gauss-Kruger zone 38",
        METHOD["Transverse Mercator",
            ID["EPSG",9807]],
        PARAMETER["Latitude of natural origin",0,
            ANGLEUNIT["degree",0.0174532925199433],
            ID["EPSG",8801]],
        PARAMETER["Longitude of natural origin",114,
            ANGLEUNIT["degree",0.0174532925199433],
            ID["EPSG",8802]],
        PARAMETER["Scale factor at natural origin",1,
            SCALEUNIT["unity",1],
            ID["EPSG",8805]],
        PARAMETER["False easting",38500000,
            LENGTHUNIT["metre",1],
            ID["EPSG",8806]],
        PARAMETER["False northing",0,
            LENGTHUNIT["metre",1],
            ID["EPSG",8807]]],
    CS[Cartesian,2],
        AXIS["northing (X)",north,
            ORDER[1],
            LENGTHUNIT["metre",1]],
        AXIS["easting (Y)",east,
            ORDER[2],
            LENGTHUNIT["metre",1]],
    USAGE[
        SCOPE["Cadastre, engineering survey, topographic mapping (large scale)."],
        AREA["China - onshore between 112°30'E and 115°30'E."],
        BBOX[21.52,112.5,45.45,115.5]],
    ID["EPSG",4526]]"#;
    // gdalsrsinfo -o wkt2 EPSG:4490
    const WKT2_4490: &str = r#"GEOGCRS["China Geodetic Coordinate System 2000",
    DATUM["China 2000",
        ELLIPSOID["CGCS2000",6378137,298.257222101,
            LENGTHUNIT["metre",1]]],
    PRIMEM["Greenwich",0,
        ANGLEUNIT["degree",0.0174532925199433]],
    CS[ellipsoidal,2],
        AXIS["geodetic latitude (Lat)",north,
            ORDER[1],
            ANGLEUNIT["degree",0.0174532925199433]],
        AXIS["geodetic longitude (Lon)",east,
            ORDER[2],
            ANGLEUNIT["degree",0.0174532925199433]],
    USAGE[
        SCOPE["Horizontal component of 3D system."],
        AREA["China - onshore and offshore."],
        BBOX[16.7,73.62,53.56,134.77]],
    ID["EPSG",4490]]"#;
    // gdalsrsinfo -o wkt_esri EPSG:3857
    const ESRI_3857: &str = r#"PROJCS["WGS_1984_Web_Mercator_Auxiliary_Sphere",GEOGCS["GCS_WGS_1984",DATUM["D_WGS_1984",SPHEROID["WGS_1984",6378137.0,298.257223563]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],PROJECTION["Mercator_Auxiliary_Sphere"],PARAMETER["False_Easting",0.0],PARAMETER["False_Northing",0.0],PARAMETER["Central_Meridian",0.0],PARAMETER["Standard_Parallel_1",0.0],PARAMETER["Auxiliary_Sphere_Type",0.0],UNIT["Meter",1.0]]"#;
    // gdalsrsinfo -o wkt_esri EPSG:4509 (CGCS2000 *6-degree* zone, CM 117E)
    const ESRI_4509: &str = r#"PROJCS["CGCS2000_GK_CM_117E",GEOGCS["GCS_China_Geodetic_Coordinate_System_2000",DATUM["D_China_2000",SPHEROID["CGCS2000",6378137.0,298.257222101]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],PROJECTION["Gauss_Kruger"],PARAMETER["False_Easting",500000.0],PARAMETER["False_Northing",0.0],PARAMETER["Central_Meridian",117.0],PARAMETER["Scale_Factor",1.0],PARAMETER["Latitude_Of_Origin",0.0],UNIT["Meter",1.0]]"#;
    // gdalsrsinfo -o wkt_esri EPSG:4214
    const ESRI_BEIJING54: &str = r#"GEOGCS["GCS_Beijing_1954",DATUM["D_Beijing_1954",SPHEROID["Krasovsky_1940",6378245.0,298.3]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]]"#;

    fn gk(epsg: u32) -> Crs {
        Crs::GaussKruger { epsg }
    }

    #[test]
    fn accepts_real_prj_files() {
        assert_eq!(parse_prj_wkt(ESRI_4547), Ok(gk(4547)));
        assert_eq!(parse_prj_wkt(ESRI_4526), Ok(gk(4526)));
        assert_eq!(parse_prj_wkt(ESRI_4546), Ok(gk(4546)));
        assert_eq!(parse_prj_wkt(ESRI_4490), Ok(Crs::Cgcs2000));
        assert_eq!(parse_prj_wkt(ESRI_4326), Ok(Crs::Wgs84));
        assert_eq!(parse_prj_wkt(WKT1_4547), Ok(gk(4547)));
        assert_eq!(parse_prj_wkt(WKT1_4326), Ok(Crs::Wgs84));
        assert_eq!(parse_prj_wkt(WKT2_4526), Ok(gk(4526)));
        assert_eq!(parse_prj_wkt(WKT2_4490), Ok(Crs::Cgcs2000));
        // With a BOM and a trailing newline, as some editors save .prj files.
        assert_eq!(
            parse_prj_wkt(&format!("\u{feff}{ESRI_4547}\r\n")),
            Ok(gk(4547))
        );
    }

    #[test]
    fn recognises_names() {
        // Authority removed: WKT1 names in OGC spelling.
        let no_auth = WKT1_4547.replace(",\n    AUTHORITY[\"EPSG\",\"4547\"]]", "]");
        assert!(no_auth.len() < WKT1_4547.len());
        assert_eq!(parse_prj_wkt(&no_auth), Ok(gk(4547)));
        let zone38 = no_auth
            .replace("CM 114E", "zone 38")
            .replace("\"false_easting\",500000", "\"false_easting\",38500000");
        assert_eq!(parse_prj_wkt(&zone38), Ok(gk(4526)));
        let wkt2 = WKT2_4490.replace(",\n    ID[\"EPSG\",4490]]", "]");
        assert!(wkt2.len() < WKT2_4490.len());
        assert_eq!(parse_prj_wkt(&wkt2), Ok(Crs::Cgcs2000));
        let wgs = WKT1_4326.replace(",\n    AUTHORITY[\"EPSG\",\"4326\"]]", "]");
        assert_eq!(parse_prj_wkt(&wgs), Ok(Crs::Wgs84));
        // Ends of the allow-list.
        let cm75 = ESRI_4547
            .replace("CM_114E", "CM_75E")
            .replace("\",114.0", "\",75.0");
        assert_eq!(parse_prj_wkt(&cm75), Ok(gk(4534)));
        let z45 = ESRI_4526
            .replace("Zone_38", "Zone_45")
            .replace("38500000", "45500000")
            .replace("\",114.0", "\",135.0");
        assert_eq!(parse_prj_wkt(&z45), Ok(gk(4533)));
    }

    fn refused(wkt: &str) -> bool {
        matches!(parse_prj_wkt(wkt), Err(CrsError::NotAllowed(_)))
    }

    #[test]
    fn rejects_other_crs_and_contradictions() {
        assert!(refused(ESRI_3857));
        assert!(refused(ESRI_4509), "6-degree zone");
        assert!(refused(ESRI_BEIJING54));
        assert!(refused(&WKT1_4326.replace("\"4326\"]]", "\"3857\"]]")));
        // Name says CM 114E, parameters say otherwise.
        assert!(refused(&ESRI_4547.replace("\",114.0", "\",117.0")));
        assert!(refused(&ESRI_4547.replace("500000.0", "38500000.0")));
        assert!(refused(&ESRI_4526.replace("38500000.0", "500000.0")));
        assert!(refused(
            &ESRI_4547.replace("\"Scale_Factor\",1.0", "\"Scale_Factor\",0.9996")
        ));
        assert!(refused(
            &ESRI_4547.replace("\"False_Northing\",0.0", "\"False_Northing\",1e6")
        ));
        assert!(refused(
            &ESRI_4547.replace("Gauss_Kruger", "Lambert_Conformal_Conic")
        ));
        assert!(refused(
            &ESRI_4547.replace("[\"Meter\",1.0]", "[\"Foot_US\",0.3048006096012192]")
        ));
        assert!(refused(
            &ESRI_4547.replace("6378137.0,298.257222101", "6378245.0,298.3")
        ));
        assert!(refused(&ESRI_4490.replace("0.0174532925199433", "1.0")));
        // EPSG code and parameters disagree.
        assert!(refused(
            &WKT1_4547.replace("central_meridian\",114", "central_meridian\",117")
        ));
        assert!(refused(
            &WKT2_4526.replace("ID[\"EPSG\",4526]]", "ID[\"EPSG\",4547]]")
        ));
        // Projected code on a geographic CRS.
        assert!(refused(&WKT1_4326.replace("\"4326\"]]", "\"4547\"]]")));
        // Missing mandatory parameters on the name path.
        assert!(refused(
            &ESRI_4547.replace("PARAMETER[\"Central_Meridian\",114.0],", "")
        ));
        // Unknown names and zones outside the allow-list.
        assert!(refused(
            &ESRI_4547
                .replace("CM_114E", "CM_113E")
                .replace("\",114.0", "\",113.0")
        ));
        assert!(refused(&ESRI_4526.replace("Zone_38", "Zone_46")));
        assert!(refused(&ESRI_4490.replace(
            "GCS_China_Geodetic_Coordinate_System_2000",
            "GCS_Xian_1980"
        )));
    }

    #[test]
    fn rejects_non_wkt() {
        for s in [
            "",
            "ugh",
            "EPSG:4547",
            "+proj=longlat +datum=WGS84",
            "+proj=tmerc +lon_0=114 +x_0=500000 +ellps=GRS80",
            "https://epsg.io/4547.wkt",
            "/etc/passwd",
            "GEOGCS[",
            "GEOGCS[\"WGS 84\"",
            "GEOGCS[\"unterminated]",
            "GEOGCS[\"GCS_WGS_1984\"] trailing",
            "COMPD_CS[\"x\",PROJCS[\"y\"]]",
            "BOUNDCRS[SOURCECRS[GEOGCRS[\"WGS 84\"]]]",
        ] {
            assert!(refused(s), "{s:?}");
        }
        // Deep nesting and huge input are refused without recursing/reading far.
        let deep = format!("GEOGCS[{}1{}]", "A[".repeat(10_000), "]".repeat(10_000));
        assert!(refused(&deep));
        assert!(refused(&format!(
            "GEOGCS[\"{}\"]",
            "x".repeat(super::super::wkt::MAX_LEN)
        )));
    }
}
