//! Tests for `src/ingest`: each reader on the small real files in
//! `fixtures/uploads/` (made with ogr2ogr from `fixtures/small/village_boundary.geojson`)
//! and each refused input, crafted here.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use geo::{Geometry, LineString, Polygon};
use zip::write::SimpleFileOptions;

use super::*;
use crate::layer::read::RawFeature;
use crate::layer::{GeomKind, Value};

const DOC_NO: &str = "南府复〔2021〕101号";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/uploads")
        .join(name)
}

fn ingest_fixture(name: &str, format: UploadFormat) -> Ingested {
    ingest(&fixture(name), format, &IngestOptions::default()).unwrap()
}

fn strings(ing: &Ingested, field: &str) -> Vec<String> {
    let k = ing.fields.iter().position(|f| f == field).unwrap() as u16;
    ing.dataset
        .features
        .iter()
        .filter_map(|f| f.props.iter().find(|(i, _)| *i == k))
        .filter_map(|(_, v)| v.as_str().map(str::to_string))
        .collect()
}

/// The fixture's features lie in Nanhai, Foshan.
fn assert_nanhai(r: &ValidationReport) {
    let b = r.bounds_lonlat.unwrap();
    assert!(b.min_x > 112.9 && b.max_x < 113.0, "{b:?}");
    assert!(b.min_y > 22.8 && b.max_y < 23.0, "{b:?}");
}

/// The five parts of the fixture shapefile, by extension.
fn shapefile_parts() -> Vec<(String, Vec<u8>)> {
    let mut z = zip::ZipArchive::new(std::fs::File::open(fixture("village_4547_gbk.zip")).unwrap())
        .unwrap();
    (0..z.len())
        .map(|i| {
            let mut f = z.by_index(i).unwrap();
            let mut v = Vec::new();
            f.read_to_end(&mut v).unwrap();
            (f.name().unwrap().rsplit('.').next().unwrap().to_string(), v)
        })
        .collect()
}

fn part(ext: &str) -> Vec<u8> {
    shapefile_parts()
        .into_iter()
        .find(|(e, _)| e == ext)
        .unwrap()
        .1
}

/// Writes a zip of `entries` (deflated) into a temp file.
fn make_zip(entries: &[(&str, Vec<u8>)]) -> tempfile::NamedTempFile {
    let tmp = tempfile::NamedTempFile::new().unwrap();
    let mut w = zip::ZipWriter::new(tmp.reopen().unwrap());
    let opts = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in entries {
        w.start_file(*name, opts).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap();
    tmp
}

fn shp_zip_with(skip: &[&str], extra: &[(&str, Vec<u8>)]) -> tempfile::NamedTempFile {
    let mut entries: Vec<(String, Vec<u8>)> = shapefile_parts()
        .into_iter()
        .filter(|(e, _)| !skip.contains(&e.as_str()))
        .map(|(e, v)| (format!("village.{e}"), v))
        .collect();
    entries.extend(extra.iter().map(|(n, v)| (n.to_string(), v.clone())));
    let refs: Vec<(&str, Vec<u8>)> = entries
        .iter()
        .map(|(n, v)| (n.as_str(), v.clone()))
        .collect();
    make_zip(&refs)
}

fn zip_err(tmp: &tempfile::NamedTempFile, opts: &IngestOptions) -> IngestError {
    ingest(tmp.path(), UploadFormat::ShapefileZip, opts).unwrap_err()
}

fn write_tmp(bytes: &[u8]) -> tempfile::NamedTempFile {
    let mut tmp = tempfile::NamedTempFile::new().unwrap();
    tmp.write_all(bytes).unwrap();
    tmp
}

// ---- sniffing

#[test]
fn sniff_by_magic() {
    use UploadFormat::*;
    assert_eq!(
        sniff(b"fgb\x03fgb\x01rest", None, None).unwrap(),
        FlatGeobuf
    );
    assert_eq!(
        sniff(b"SQLite format 3\0....", None, None).unwrap(),
        GeoPackage
    );
    assert_eq!(sniff(b"PK\x03\x04....", None, None).unwrap(), ShapefileZip);
    assert_eq!(
        sniff(b"\xEF\xBB\xBF \n {\"type\"", None, None).unwrap(),
        GeoJson
    );
    assert_eq!(
        sniff(b"{}", Some("a.geojson"), Some("application/geo+json")).unwrap(),
        GeoJson
    );
    // Other content is GDAL's to try, when the server has it (src/ingest/ogr.rs).
    #[cfg(not(feature = "gdal"))]
    {
        assert!(matches!(
            sniff(b"<kml>", None, None),
            Err(IngestError::UnsupportedFormat(_))
        ));
        let e = sniff(b"{}", None, Some("dxf")).unwrap_err();
        assert!(matches!(e, IngestError::UnsupportedFormat(_)), "{e}");
        assert!(e.to_string().contains("without GDAL support"), "{e}");
    }
    #[cfg(feature = "gdal")]
    {
        assert_eq!(sniff(b"<kml>", None, None).unwrap(), Ogr);
        assert_eq!(sniff(b"<kml>", Some("a.kml"), Some("kml")).unwrap(), Ogr);
        assert!(matches!(
            sniff(b"{}", None, Some("dxf")),
            Err(IngestError::FormatMismatch { .. })
        ));
    }
}

#[test]
fn sniff_refuses_declared_mismatch() {
    let e = sniff(b"PK\x03\x04....", None, Some("gpkg")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "declared GeoPackage but the content is a zip archive"
    );
    assert_eq!(e.http_status(), 422);
    assert!(matches!(
        sniff(b"SQLite format 3\0", Some("parcels.zip"), None),
        Err(IngestError::FormatMismatch { .. })
    ));
    // ingest re-checks the content against the format it is given.
    let e = ingest(
        &fixture("village.fgb"),
        UploadFormat::GeoJson,
        &IngestOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(e, IngestError::FormatMismatch { .. }), "{e}");
}

// ---- readers

#[test]
fn geojson_fixture() {
    let ing = ingest_fixture("village.geojson", UploadFormat::GeoJson);
    let r = &ing.report;
    assert_eq!(r.feature_count, 15);
    assert_eq!(r.crs, "EPSG:4326");
    assert_eq!(r.crs_source, CrsSource::GeoJsonDefault);
    assert_eq!(r.geometry_kind, Some(GeomKind::Polygon));
    assert!(r.is_publishable());
    assert_eq!(r.schema.len(), 4);
    assert!(strings(&ing, "doc_no").iter().any(|s| s == DOC_NO));
    assert_nanhai(r);
}

#[test]
fn flatgeobuf_fixture() {
    let ing = ingest_fixture("village.fgb", UploadFormat::FlatGeobuf);
    let r = &ing.report;
    assert_eq!(r.feature_count, 15);
    assert_eq!(
        (r.crs.as_str(), r.crs_source),
        ("EPSG:4326", CrsSource::FgbHeader)
    );
    let names: Vec<&str> = r.schema.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["id", "zldwdm", "version", "doc_no"]);
    assert!(strings(&ing, "doc_no").iter().any(|s| s == DOC_NO));
    assert_nanhai(r);
}

#[test]
fn geopackage_fixture_in_gauss_kruger() {
    let ing = ingest_fixture("village_4547.gpkg", UploadFormat::GeoPackage);
    let r = &ing.report;
    assert_eq!(r.feature_count, 15);
    assert_eq!(
        (r.crs.as_str(), r.crs_source),
        ("EPSG:4547", CrsSource::GpkgSrs)
    );
    assert_eq!(r.layer_name.as_deref(), Some("village_boundary"));
    assert_eq!(r.axis_order, crate::crs::AxisOrder::EastNorth);
    let b = r.bounds.unwrap();
    assert!(b.min_x > 380_000.0 && b.max_y < 2_600_000.0, "{b:?}");
    assert_nanhai(r);
    let ver = r.schema.iter().find(|f| f.name == "version").unwrap();
    assert_eq!(ver.field_type, FieldType::Number);
    assert!(strings(&ing, "批准文号").iter().any(|s| s == DOC_NO));
    assert!(ing.dataset.features.iter().all(|f| f.id.is_some()));
}

#[test]
fn shapefile_fixture_gbk_and_prj() {
    let ing = ingest_fixture("village_4547_gbk.zip", UploadFormat::ShapefileZip);
    let r = &ing.report;
    assert_eq!(r.feature_count, 15);
    assert_eq!(
        (r.crs.as_str(), r.crs_source),
        ("EPSG:4547", CrsSource::Prj)
    );
    assert_eq!(r.encoding.as_deref(), Some("GBK"));
    assert_eq!(r.geometry_kind, Some(GeomKind::Polygon));
    // Field name and value both GBK in the .dbf.
    assert!(strings(&ing, "批准文号").iter().any(|s| s == DOC_NO));
    assert_nanhai(r);
    let json = serde_json::to_string(r).unwrap();
    assert!(json.contains("\"crs_source\":\"prj\""), "{json}");
    assert!(json.contains(DOC_NO) || json.contains("批准文号"));
}

#[test]
fn shapefile_without_cpg_guesses_gb18030() {
    let tmp = shp_zip_with(&["cpg"], &[]);
    let ing = ingest(
        tmp.path(),
        UploadFormat::ShapefileZip,
        &IngestOptions::default(),
    )
    .unwrap();
    assert!(strings(&ing, "批准文号").iter().any(|s| s == DOC_NO));
    let enc = ing.report.encoding.clone().unwrap();
    assert!(enc == "GBK" || enc.starts_with("GB18030"), "{enc}");
}

#[test]
fn cpg_labels() {
    use shp::encoding_for_cpg;
    assert_eq!(encoding_for_cpg("GBK"), Some(encoding_rs::GBK));
    assert_eq!(encoding_for_cpg("ANSI 936\r\n"), Some(encoding_rs::GBK));
    assert_eq!(encoding_for_cpg("UTF-8"), Some(encoding_rs::UTF_8));
    assert_eq!(encoding_for_cpg("65001"), Some(encoding_rs::UTF_8));
    assert_eq!(encoding_for_cpg("GB18030"), Some(encoding_rs::GB18030));
    assert_eq!(encoding_for_cpg("nonsense"), None);
}

#[test]
fn shapefile_without_prj_needs_override() {
    let tmp = shp_zip_with(&["prj"], &[]);
    let e = zip_err(&tmp, &IngestOptions::default());
    assert!(matches!(e, IngestError::UnknownCrs(_)), "{e}");
    assert_eq!(e.http_status(), 422);
    let opts = IngestOptions {
        crs_override: Some(crate::crs::Crs::GaussKruger { epsg: 4547 }),
        ..IngestOptions::default()
    };
    let ing = ingest(tmp.path(), UploadFormat::ShapefileZip, &opts).unwrap();
    assert_eq!(ing.report.crs_source, CrsSource::Override);
    assert_nanhai(&ing.report);
}

// ---- bad archives

#[test]
fn zip_bomb_ratio_and_total() {
    let zeros = vec![0u8; 8 << 20];
    let tmp = shp_zip_with(&["dbf"], &[("village.dbf", zeros)]);
    let e = zip_err(&tmp, &IngestOptions::default());
    assert!(matches!(e, IngestError::ArchiveTooLarge(_)), "{e}");
    assert_eq!(e.http_status(), 413);
    // Total cap, counted while inflating the real parts.
    let tmp = shp_zip_with(&[], &[]);
    let opts = IngestOptions {
        max_uncompressed_bytes: 4000,
        ..IngestOptions::default()
    };
    assert!(matches!(
        zip_err(&tmp, &opts),
        IngestError::ArchiveTooLarge(_)
    ));
}

#[test]
fn zip_slip_absolute_symlink_nested() {
    let cases: Vec<(&str, tempfile::NamedTempFile)> = vec![
        ("..", shp_zip_with(&[], &[("../evil.txt", b"x".to_vec())])),
        (
            "..",
            shp_zip_with(&[], &[("a/../../evil.txt", b"x".to_vec())]),
        ),
        (
            "absolute",
            shp_zip_with(&[], &[("/etc/evil.txt", b"x".to_vec())]),
        ),
        (
            "absolute",
            shp_zip_with(&[], &[("C:/evil.txt", b"x".to_vec())]),
        ),
        (
            "nested",
            shp_zip_with(&[], &[("inner.zip", b"PK\x03\x04".to_vec())]),
        ),
    ];
    for (why, tmp) in cases {
        let e = zip_err(&tmp, &IngestOptions::default());
        assert!(matches!(e, IngestError::UnsafeArchive { .. }), "{why}: {e}");
        assert!(e.to_string().contains(why) || why == "nested", "{e}");
    }
    // A nested archive hiding behind a shapefile extension.
    let inner = make_zip(&[("x.txt", b"x".to_vec())]);
    let bytes = std::fs::read(inner.path()).unwrap();
    let tmp = shp_zip_with(&["dbf"], &[("village.dbf", bytes)]);
    let e = zip_err(&tmp, &IngestOptions::default());
    assert!(matches!(e, IngestError::UnsafeArchive { .. }), "{e}");
}

#[test]
fn zip_symlink_entry() {
    let tmp = tempfile::NamedTempFile::new().unwrap();
    let mut w = zip::ZipWriter::new(tmp.reopen().unwrap());
    let opts = SimpleFileOptions::default();
    for (e, v) in shapefile_parts() {
        w.start_file(format!("village.{e}"), opts).unwrap();
        w.write_all(&v).unwrap();
    }
    w.add_symlink("link.txt", "/etc/passwd", opts).unwrap();
    w.finish().unwrap();
    let e = zip_err(&tmp, &IngestOptions::default());
    assert!(matches!(e, IngestError::UnsafeArchive { .. }), "{e}");
    assert!(e.to_string().contains("symbolic link"));
}

#[test]
fn zip_missing_parts_and_two_shapefiles() {
    for (skip, part_name) in [("shx", ".shx"), ("dbf", ".dbf"), ("shp", ".shp")] {
        let tmp = shp_zip_with(&[skip], &[]);
        match zip_err(&tmp, &IngestOptions::default()) {
            IngestError::MissingPart(p) => assert_eq!(p, part_name),
            e => panic!("{skip}: {e}"),
        }
    }
    let tmp = shp_zip_with(&[], &[("other.shp", part("shp"))]);
    let e = zip_err(&tmp, &IngestOptions::default());
    assert!(matches!(e, IngestError::AmbiguousArchive(_)), "{e}");
    // Naming the layer picks one.
    let opts = IngestOptions {
        layer_name: Some("village".into()),
        ..IngestOptions::default()
    };
    assert_eq!(
        ingest(tmp.path(), UploadFormat::ShapefileZip, &opts)
            .unwrap()
            .report
            .feature_count,
        15
    );
}

#[test]
fn corrupt_zip_and_shp() {
    let bytes = std::fs::read(fixture("village_4547_gbk.zip")).unwrap();
    let tmp = write_tmp(&bytes[..bytes.len() / 2]);
    let e = zip_err(&tmp, &IngestOptions::default());
    assert!(matches!(e, IngestError::Corrupt { .. }), "{e}");
    let shp = part("shp");
    let tmp = shp_zip_with(&["shp"], &[("village.shp", shp[..shp.len() / 2].to_vec())]);
    let e = zip_err(&tmp, &IngestOptions::default());
    assert!(matches!(e, IngestError::Corrupt { .. }), "{e}");
}

// ---- truncated / corrupt single files

#[test]
fn truncated_geopackage_and_flatgeobuf() {
    for (name, format) in [
        ("village_4547.gpkg", UploadFormat::GeoPackage),
        ("village.fgb", UploadFormat::FlatGeobuf),
        ("village.geojson", UploadFormat::GeoJson),
    ] {
        let bytes = std::fs::read(fixture(name)).unwrap();
        for cut in [bytes.len() / 2, bytes.len() - 7, 120] {
            let tmp = write_tmp(&bytes[..cut]);
            let e = ingest(tmp.path(), format, &IngestOptions::default()).unwrap_err();
            assert!(
                matches!(e, IngestError::Corrupt { .. }),
                "{name} at {cut}: {e}"
            );
        }
    }
}

#[test]
fn sqlite_that_is_not_a_geopackage() {
    let tmp = tempfile::NamedTempFile::new().unwrap();
    let c = rusqlite::Connection::open(tmp.path()).unwrap();
    c.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1);")
        .unwrap();
    drop(c);
    let e = ingest(
        tmp.path(),
        UploadFormat::GeoPackage,
        &IngestOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(e, IngestError::UnsupportedFormat(_)), "{e}");
}

// ---- coordinates and caps

#[test]
fn out_of_range_coordinates_are_rejected_per_feature() {
    let json = r#"{"type":"FeatureCollection","features":[
      {"type":"Feature","properties":{"n":1},"geometry":{"type":"Point","coordinates":[113.0,23.0]}},
      {"type":"Feature","properties":{"n":2},"geometry":{"type":"Point","coordinates":[500.0,23.0]}},
      {"type":"Feature","properties":{"n":3},"geometry":null}]}"#;
    let tmp = write_tmp(json.as_bytes());
    let ing = ingest(tmp.path(), UploadFormat::GeoJson, &IngestOptions::default()).unwrap();
    let r = &ing.report;
    assert_eq!((r.feature_count, r.rejected), (1, 2));
    assert!(!r.is_publishable());
    assert_eq!(r.problems[0].row, 1);
    assert!(
        r.problems[0].problem.contains("outside"),
        "{:?}",
        r.problems
    );
    assert_eq!(r.problems[0].action, FixAction::Rejected);
}

#[test]
fn nan_and_bowtie_through_validation() {
    let ok = Polygon::new(
        LineString::from(vec![
            (113.0, 23.0),
            (113.01, 23.0),
            (113.01, 23.01),
            (113.0, 23.0),
        ]),
        vec![],
    );
    let bowtie = Polygon::new(
        LineString::from(vec![
            (113.0, 23.0),
            (113.01, 23.01),
            (113.01, 23.0),
            (113.0, 23.01),
            (113.0, 23.0),
        ]),
        vec![],
    );
    let nan = Polygon::new(
        LineString::from(vec![
            (113.0, 23.0),
            (f64::NAN, 23.0),
            (113.01, 23.01),
            (113.0, 23.0),
        ]),
        vec![],
    );
    let features = [ok, bowtie, nan]
        .into_iter()
        .enumerate()
        .map(|(i, p)| RawFeature {
            row: i as u64,
            id: None,
            geometry: Some(Geometry::Polygon(p)),
            props: vec![(0, Value::Int(i as i64))],
        })
        .collect();
    let outcome = ReadOutcome {
        dataset: RawDataset {
            features,
            field_types: vec![Some(FieldType::Number)],
            ..RawDataset::default()
        },
        fields: vec!["n".into()],
        declared_crs: None,
        layer_name: None,
        encoding: None,
        warnings: vec![],
    };
    let ing = report::validate(outcome, UploadFormat::GeoJson, &IngestOptions::default()).unwrap();
    let r = &ing.report;
    assert_eq!((r.feature_count, r.repaired, r.rejected), (2, 1, 1));
    assert_eq!(r.problems[0].action, FixAction::Repaired);
    assert!(
        r.problems[1].problem.contains("non-finite"),
        "{:?}",
        r.problems
    );
}

#[test]
fn vertex_cap_names_the_feature() {
    let opts = IngestOptions {
        max_vertices_per_feature: 5,
        ..IngestOptions::default()
    };
    for (name, format) in [
        ("village.geojson", UploadFormat::GeoJson),
        ("village_4547.gpkg", UploadFormat::GeoPackage),
        ("village_4547_gbk.zip", UploadFormat::ShapefileZip),
    ] {
        let e = ingest(&fixture(name), format, &opts).unwrap_err();
        match e {
            IngestError::TooManyVertices { row, limit, .. } => assert_eq!((row, limit), (0, 5)),
            e => panic!("{name}: {e}"),
        }
    }
    let opts = IngestOptions {
        max_features: 3,
        ..IngestOptions::default()
    };
    let e = ingest(
        &fixture("village_4547.gpkg"),
        UploadFormat::GeoPackage,
        &opts,
    )
    .unwrap_err();
    assert!(
        matches!(e, IngestError::TooManyFeatures { limit: 3 }),
        "{e}"
    );
}

// ---- schema comparison

#[test]
fn schema_diff_and_count_change() {
    let prev = vec![
        ("id".to_string(), FieldType::String),
        ("area".to_string(), FieldType::String),
        ("old".to_string(), FieldType::Boolean),
    ];
    let new = vec![
        ("id".to_string(), FieldType::String),
        ("area".to_string(), FieldType::Number),
        ("owner".to_string(), FieldType::String),
    ];
    let d = compare_schema(&prev, &new);
    assert_eq!(d.added.len(), 1);
    assert_eq!(d.added[0].name, "owner");
    assert_eq!(d.removed[0].name, "old");
    assert_eq!(
        d.retyped,
        vec![("area".to_string(), FieldType::String, FieldType::Number)]
    );
    let mut ing = ingest_fixture("village.geojson", UploadFormat::GeoJson);
    let schema = ing.schema();
    ing.report.compare_with(&schema, 20);
    let c = ing.report.change.clone().unwrap();
    assert_eq!(c.schema, SchemaDiff::default());
    assert_eq!(c.feature_count_change, -5);
}

#[test]
fn zip_bomb_with_lying_sizes_is_stopped_while_inflating() {
    let zeros = vec![0u8; 8 << 20];
    let tmp = shp_zip_with(&["dbf"], &[("village.dbf", zeros)]);
    let mut bytes = std::fs::read(tmp.path()).unwrap();
    // Make the local and central headers claim 1000 bytes uncompressed.
    let name = b"village.dbf";
    let hits: Vec<usize> = (0..bytes.len() - name.len())
        .filter(|&p| &bytes[p..p + name.len()] == name)
        .collect();
    for p in hits {
        if p >= 30 && bytes[p - 30..p - 26] == *b"PK\x03\x04" {
            bytes[p - 8..p - 4].copy_from_slice(&1000u32.to_le_bytes());
        }
        if p >= 46 && bytes[p - 46..p - 42] == *b"PK\x01\x02" {
            bytes[p - 22..p - 18].copy_from_slice(&1000u32.to_le_bytes());
        }
    }
    let tmp = write_tmp(&bytes);
    let e = zip_err(&tmp, &IngestOptions::default());
    assert!(
        matches!(
            e,
            IngestError::ArchiveTooLarge(_) | IngestError::Corrupt { .. }
        ),
        "{e}"
    );
}

#[test]
fn geojson_legacy_crs_member() {
    let json = r#"{"type":"FeatureCollection",
      "crs":{"type":"name","properties":{"name":"urn:ogc:def:crs:EPSG::4547"}},
      "features":[{"type":"Feature","properties":{"n":1},
        "geometry":{"type":"Point","coordinates":[390000.0,2540000.0]}}]}"#;
    let tmp = write_tmp(json.as_bytes());
    let ing = ingest(tmp.path(), UploadFormat::GeoJson, &IngestOptions::default()).unwrap();
    assert_eq!(ing.report.crs, "EPSG:4547");
    assert_eq!(ing.report.crs_source, CrsSource::GeoJsonCrsMember);
    assert_nanhai(&ing.report);
    let tmp = write_tmp(json.replace("4547", "3857").as_bytes());
    let e = ingest(tmp.path(), UploadFormat::GeoJson, &IngestOptions::default()).unwrap_err();
    assert!(matches!(e, IngestError::UnknownCrs(_)), "{e}");
}

#[test]
fn geopackage_named_table() {
    let opts = IngestOptions {
        layer_name: Some("nope".into()),
        ..IngestOptions::default()
    };
    let e = ingest(
        &fixture("village_4547.gpkg"),
        UploadFormat::GeoPackage,
        &opts,
    )
    .unwrap_err();
    assert!(e.to_string().contains("village_boundary"), "{e}");
    let opts = IngestOptions {
        layer_name: Some("village_boundary".into()),
        ..IngestOptions::default()
    };
    let ing = ingest(
        &fixture("village_4547.gpkg"),
        UploadFormat::GeoPackage,
        &opts,
    )
    .unwrap();
    assert_eq!(ing.report.feature_count, 15);
}
