//! GeoPackage uploads: an SQLite file opened read-only, queried with plain
//! SELECTs only.
//!
//! The file is distrusted: it is opened `SQLITE_OPEN_READ_ONLY` with
//! `query_only` and `trusted_schema = OFF` (so schema-defined functions,
//! views and triggers cannot run anything with side effects; triggers never
//! fire on SELECT anyway), only tables (not views) listed in
//! `gpkg_contents` are read, identifiers are quoted, and the header's page
//! count is checked against the file size so a truncated upload is refused
//! up front rather than half-read. Geometry blobs (GeoPackage header + WKB)
//! are decoded by geozero into a size-capped sink ([`super::geomcap`]).

use std::path::Path;
use std::sync::Arc;

use geozero::GeozeroGeometry;
use geozero::wkb::GpkgWkb;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use crate::crs::{Crs, parse_prj_wkt};
use crate::layer::read::{RawDataset, RawFeature};
use crate::layer::{FieldType, Value};

use super::geomcap::{CappedGeo, OVER_CAP};
use super::{CrsSource, IngestError, IngestOptions, ReadOutcome, UploadFormat};

const FMT: UploadFormat = UploadFormat::GeoPackage;
/// `application_id` values of GeoPackage 1.2+ (`GPKG`) and 1.0/1.1 (`GP10`, `GP11`).
const APP_IDS: [i64; 3] = [0x4750_4B47, 0x4750_3130, 0x4750_3131];

fn corrupt(e: impl ToString) -> IngestError {
    IngestError::corrupt(FMT, e)
}

/// Quotes an SQL identifier.
fn quote(id: &str) -> String {
    format!("\"{}\"", id.replace('"', "\"\""))
}

/// Refuses a file shorter than its header says (a truncated upload).
fn check_length(path: &Path) -> Result<(), IngestError> {
    use std::io::Read;
    let len = std::fs::metadata(path)?.len();
    let mut h = [0u8; 100];
    std::fs::File::open(path)?
        .read_exact(&mut h)
        .map_err(|_| corrupt("shorter than the 100-byte SQLite header"))?;
    let page = match u16::from_be_bytes([h[16], h[17]]) {
        1 => 65_536u64,
        p if p >= 512 && p.is_power_of_two() => u64::from(p),
        p => return Err(corrupt(format!("invalid page size {p}"))),
    };
    let pages = u64::from(u32::from_be_bytes([h[28], h[29], h[30], h[31]]));
    let counter_valid = h[24..28] == h[92..96];
    if counter_valid && pages > 0 && pages * page > len {
        return Err(corrupt(format!(
            "truncated: the header announces {} bytes, the file has {len}",
            pages * page
        )));
    }
    if len % page != 0 {
        return Err(corrupt(format!(
            "truncated: {len} bytes is not a whole number of {page}-byte pages"
        )));
    }
    Ok(())
}

/// Reads one feature table (the named one, else the first listed).
pub fn read(path: &Path, opts: &IngestOptions) -> Result<ReadOutcome, IngestError> {
    check_length(path)?;
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(corrupt)?;
    conn.pragma_update(None, "query_only", true)
        .map_err(corrupt)?;
    conn.pragma_update(None, "trusted_schema", false)
        .map_err(corrupt)?;
    let app_id: i64 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(corrupt)?;
    if !APP_IDS.contains(&app_id) {
        return Err(IngestError::UnsupportedFormat(format!(
            "an SQLite database that is not a GeoPackage (application_id {app_id:#x})"
        )));
    }
    let mut warnings = Vec::new();
    let (table, geom_col, srs_id) = pick_table(&conn, opts, &mut warnings)?;
    let declared_crs = srs_crs(&conn, srs_id)?;
    let (columns, pk) = table_columns(&conn, &table, &geom_col)?;

    let mut select: Vec<String> = Vec::new();
    select.push(pk.as_deref().map(quote).unwrap_or_else(|| "rowid".into()));
    select.push(quote(&geom_col));
    select.extend(columns.iter().map(|(n, _)| quote(n)));
    let sql = format!("SELECT {} FROM {}", select.join(", "), quote(&table));
    let mut stmt = conn.prepare(&sql).map_err(corrupt)?;
    let mut rows = stmt.query([]).map_err(corrupt)?;
    let mut features = Vec::new();
    let mut field_types: Vec<Option<FieldType>> = columns.iter().map(|(_, t)| *t).collect();
    let mut row_no = 0u64;
    while let Some(r) = rows.next().map_err(corrupt)? {
        if features.len() >= opts.max_features {
            return Err(IngestError::TooManyFeatures {
                limit: opts.max_features,
            });
        }
        let fid = match r.get_ref(0).map_err(corrupt)? {
            ValueRef::Integer(i) => u64::try_from(i).ok(),
            _ => None,
        };
        let geometry = match r.get_ref(1).map_err(corrupt)? {
            ValueRef::Blob(b) => decode(b, row_no, opts.max_vertices_per_feature)?,
            _ => None,
        };
        let mut props = Vec::new();
        for (i, slot) in field_types.iter_mut().enumerate() {
            let v = match r.get_ref(i + 2).map_err(corrupt)? {
                ValueRef::Null | ValueRef::Blob(_) => continue,
                ValueRef::Integer(n) if *slot == Some(FieldType::Boolean) => Value::Bool(n != 0),
                ValueRef::Integer(n) => Value::Int(n),
                ValueRef::Real(f) => Value::Float(f),
                ValueRef::Text(t) => Value::String(Arc::from(String::from_utf8_lossy(t))),
            };
            // SQLite's typing is per value: a declared INTEGER column may
            // hold text. Mixed columns are served as strings, like read.rs.
            let t = v.field_type();
            if slot.is_none() {
                *slot = Some(t);
            } else if *slot != Some(t) {
                *slot = Some(FieldType::String);
            }
            props.push((i as u16, v));
        }
        features.push(RawFeature {
            row: row_no,
            id: fid,
            geometry,
            props,
        });
        row_no += 1;
    }
    let fields: Vec<String> = columns.into_iter().map(|(n, _)| n).collect();
    Ok(ReadOutcome {
        dataset: RawDataset {
            features,
            field_types,
            seen_fields: fields.clone(),
            declared_epsg: declared_crs.map(|c| c.epsg() as i32),
        },
        fields,
        declared_crs: declared_crs.map(|c| (c, CrsSource::GpkgSrs)),
        layer_name: Some(table),
        encoding: None,
        warnings,
    })
}

/// Decodes one GeoPackage geometry blob; `None` for an empty geometry.
fn decode(
    blob: &[u8],
    row: u64,
    max_vertices: usize,
) -> Result<Option<geo::Geometry>, IngestError> {
    // Header flags byte: bit 4 = empty geometry.
    if blob.len() >= 4 && blob[..2] == *b"GP" && blob[3] & 0x10 != 0 {
        return Ok(None);
    }
    let mut sink = CappedGeo::new(blob.len(), max_vertices);
    match GpkgWkb(blob).process_geom(&mut sink) {
        Ok(()) => Ok(sink.take()),
        Err(e) if e.to_string().contains(OVER_CAP) => Err(IngestError::TooManyVertices {
            row,
            vertices: sink.vertices,
            limit: max_vertices,
        }),
        Err(e) => Err(corrupt(format!("geometry of feature {row}: {e}"))),
    }
}

/// Picks the feature table: `(table, geometry column, srs_id)`.
fn pick_table(
    conn: &Connection,
    opts: &IngestOptions,
    warnings: &mut Vec<String>,
) -> Result<(String, String, i64), IngestError> {
    let mut stmt = conn
        .prepare(
            "SELECT c.table_name, g.column_name, g.srs_id FROM gpkg_contents c \
             JOIN gpkg_geometry_columns g ON g.table_name = c.table_name \
             JOIN sqlite_master m ON m.name = c.table_name AND m.type = 'table' \
             WHERE c.data_type = 'features' ORDER BY c.rowid",
        )
        .map_err(|e| corrupt(format!("no GeoPackage feature metadata: {e}")))?;
    let tables: Vec<(String, String, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .map_err(corrupt)?
        .collect::<Result<_, _>>()
        .map_err(corrupt)?;
    let names = || {
        tables
            .iter()
            .map(|t| t.0.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let chosen = match &opts.layer_name {
        Some(want) => tables
            .iter()
            .find(|t| &t.0 == want)
            .cloned()
            .ok_or_else(|| {
                IngestError::AmbiguousArchive(format!(
                    "no feature table `{want}` in the GeoPackage (tables: {})",
                    names()
                ))
            })?,
        None => tables
            .first()
            .cloned()
            .ok_or_else(|| corrupt("the GeoPackage has no feature table"))?,
    };
    if opts.layer_name.is_none() && tables.len() > 1 {
        warnings.push(format!(
            "GeoPackage has {} feature tables ({}); read `{}`",
            tables.len(),
            names(),
            chosen.0
        ));
    }
    Ok(chosen)
}

/// The allow-listed CRS of a `gpkg_spatial_ref_sys` entry. `None` for the
/// GeoPackage "undefined" systems (srs_id 0 and -1).
fn srs_crs(conn: &Connection, srs_id: i64) -> Result<Option<Crs>, IngestError> {
    if srs_id == 0 || srs_id == -1 {
        return Ok(None);
    }
    let (org, code, def): (String, i64, String) = conn
        .query_row(
            "SELECT organization, organization_coordsys_id, definition \
             FROM gpkg_spatial_ref_sys WHERE srs_id = ?1",
            [srs_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .map_err(|e| corrupt(format!("srs_id {srs_id} not in gpkg_spatial_ref_sys: {e}")))?;
    if org.eq_ignore_ascii_case("EPSG") {
        return u32::try_from(code)
            .ok()
            .and_then(Crs::from_epsg)
            .map(Some)
            .ok_or_else(|| IngestError::UnknownCrs(format!("GeoPackage srs EPSG:{code}")));
    }
    parse_prj_wkt(&def)
        .map(Some)
        .map_err(|e| IngestError::UnknownCrs(format!("GeoPackage srs {org}:{code}: {e}")))
}

/// Attribute columns `(name, declared type)` other than the key and the
/// geometry, plus the integer primary key column if any.
type Columns = (Vec<(String, Option<FieldType>)>, Option<String>);

fn table_columns(conn: &Connection, table: &str, geom: &str) -> Result<Columns, IngestError> {
    let mut stmt = conn
        .prepare(&format!("PRAGMA table_info({})", quote(table)))
        .map_err(corrupt)?;
    let cols: Vec<(String, String, i64)> = stmt
        .query_map([], |r| Ok((r.get(1)?, r.get(2)?, r.get(5)?)))
        .map_err(corrupt)?
        .collect::<Result<_, _>>()
        .map_err(corrupt)?;
    let mut pk = None;
    let mut out = Vec::new();
    for (name, ty, is_pk) in cols {
        let ty = ty.to_ascii_uppercase();
        if name.eq_ignore_ascii_case(geom) {
            continue;
        }
        if is_pk == 1 && ty == "INTEGER" {
            pk = Some(name);
            continue;
        }
        let t = match ty.as_str() {
            "BOOLEAN" => Some(FieldType::Boolean),
            "BLOB" => continue,
            t if t.contains("INT") || t == "REAL" || t == "FLOAT" || t == "DOUBLE" => {
                Some(FieldType::Number)
            }
            t if t.starts_with("TEXT") || t == "DATE" || t == "DATETIME" => Some(FieldType::String),
            _ => None,
        };
        out.push((name, t));
    }
    Ok((out, pk))
}
