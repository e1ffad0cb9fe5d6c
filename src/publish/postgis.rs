//! Layer versions as PostGIS tables (with `--store postgres://...`): one
//! ordinary table per version in schema `tudi_layers`, named `{id}_v{n}`,
//! with `tudi_fid` (the feature id), `geom` (`geometry(Geometry, SRID)` in
//! the upload's CRS, x = easting/longitude, GiST-indexed) and one column
//! per attribute (`bigint`, `double precision`, `boolean` or `text`), so
//! QGIS and `ogr2ogr` read it like any PostGIS table.
//!
//! A publish writes the features to `pending_{unix time}_{random}` in one
//! transaction (`COPY`); the catalog's commit renames it to its final name
//! in the version's own transaction ([`crate::store::pg::PgCatalog`]). A
//! crash in between leaves a pending table, dropped by a later start-up
//! once it is older than [`ORPHAN_GRACE`] (younger ones may belong to a
//! publish in flight on another instance).

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use flatgeobuf::ColumnType;
use geo::MapCoordsInPlace;
use geozero::wkb::Wkb;
use geozero::{CoordDimensions, ToGeo, ToWkb};
use sha2::{Digest, Sha256};

use super::fgb::{FID_COLUMN, column_types};
use super::versions::{Stored, VersionStore, VersionWrite};
use super::{PublishError, versions::remove_stale_uploads};
use crate::crs::AxisOrder;
use crate::layer::read::{RawDataset, RawFeature};
use crate::layer::{FieldType, LayerDef, Value};
use crate::store::pg::{LAYERS_SCHEMA, Pool, pg_error};
use crate::store::pg::{PENDING_PREFIX, POSTGIS_PREFIX};
use crate::store::{Catalog, StoreError};

/// Pending tables older than this are taken as left by a crash.
pub const ORPHAN_GRACE: Duration = Duration::from_secs(2 * 3600);

/// Geometry column name.
pub const GEOM_COLUMN: &str = "geom";

/// Rows read at a time when loading a version.
const READ_BATCH: i32 = 5000;

pub struct PostGisVersions {
    pool: Arc<Pool>,
    /// The data folder (its `tmp/` uploads are cleaned at start-up).
    data_dir: std::path::PathBuf,
}

impl PostGisVersions {
    pub fn new(pool: Arc<Pool>, data_dir: &std::path::Path) -> PostGisVersions {
        PostGisVersions {
            pool,
            data_dir: data_dir.to_path_buf(),
        }
    }
}

/// `"name"` with quotes doubled.
pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn sql_type(t: ColumnType) -> &'static str {
    match t {
        ColumnType::Long => "bigint",
        ColumnType::Double => "double precision",
        ColumnType::Bool => "boolean",
        _ => "text",
    }
}

/// Appends `s` escaped for `COPY ... FROM STDIN` text format.
fn copy_text(out: &mut Vec<u8>, s: &str) {
    for b in s.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            other => out.push(other),
        }
    }
}

fn copy_value(out: &mut Vec<u8>, ty: ColumnType, v: &Value) {
    match (ty, v) {
        (ColumnType::Long, Value::Int(n)) => {
            let _ = write!(out, "{n}");
        }
        (ColumnType::Double, Value::Int(n)) => {
            let _ = write!(out, "{n}");
        }
        (ColumnType::Double, Value::Float(x)) if x.is_finite() => {
            let _ = write!(out, "{x}");
        }
        (ColumnType::Bool, Value::Bool(b)) => out.push(if *b { b't' } else { b'f' }),
        (ColumnType::String, Value::String(s)) => copy_text(out, s),
        (ColumnType::String, Value::Int(n)) => {
            let _ = write!(out, "{n}");
        }
        (ColumnType::String, Value::Float(x)) => {
            let _ = write!(out, "{x}");
        }
        (ColumnType::String, Value::Bool(b)) => {
            let _ = write!(out, "{b}");
        }
        _ => out.extend_from_slice(b"\\N"),
    }
}

fn write_err(e: StoreError) -> PublishError {
    match e {
        e @ StoreError::Unavailable(_) => PublishError::Store(e),
        other => PublishError::Write(format!("PostGIS: {other}")),
    }
}

/// PostgreSQL's longest identifier in bytes (`NAMEDATALEN - 1`); longer
/// names would be cut silently, so two fields could land in one column.
pub const MAX_COLUMN_BYTES: usize = 63;

/// Whether `fields` can be columns of a version table under their own names
/// (what QGIS users see): not empty, no NUL, at most 63 bytes, not
/// `tudi_fid` or `geom`. The error names the first bad field.
pub fn check_column_names(fields: &[String]) -> Result<(), String> {
    for f in fields {
        let shown = f.replace('\0', "\\0");
        if f.is_empty() {
            return Err("an attribute has an empty name; PostGIS columns need one".into());
        }
        if f.contains('\0') {
            return Err(format!(
                "attribute `{shown}` contains a NUL character, which a PostGIS column name cannot"
            ));
        }
        if f.len() > MAX_COLUMN_BYTES {
            return Err(format!(
                "attribute `{shown}` is {} bytes long; PostGIS column names are at most \
                 {MAX_COLUMN_BYTES} bytes: shorten it",
                f.len()
            ));
        }
        if f == FID_COLUMN || f == GEOM_COLUMN {
            return Err(format!(
                "attribute `{f}` collides with the version table's own `{f}` column \
                 ({FID_COLUMN} and {GEOM_COLUMN} are reserved): rename it"
            ));
        }
    }
    Ok(())
}

impl VersionStore for PostGisVersions {
    fn check_fields(&self, fields: &[String]) -> Result<(), String> {
        check_column_names(fields)
    }

    fn write(&self, w: &VersionWrite<'_>) -> Result<Stored, PublishError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let table = format!("{PENDING_PREFIX}{now}_{:08x}", rand::random::<u32>());
        let qt = format!("{LAYERS_SCHEMA}.{}", quote_ident(&table));
        let srid = w.crs.epsg() as i32;
        let types = column_types(w.dataset, w.fields.len());
        let mut cols = format!(
            "{FID_COLUMN} bigint NOT NULL, {GEOM_COLUMN} geometry(Geometry, {srid}) NOT NULL"
        );
        let mut names = format!("{FID_COLUMN}, {GEOM_COLUMN}");
        for (name, ty) in w.fields.iter().zip(&types) {
            cols.push_str(&format!(", {} {}", quote_ident(name), sql_type(*ty)));
            names.push_str(&format!(", {}", quote_ident(name)));
        }
        let mut c = self.pool.get().map_err(write_err)?;
        let mut tx = c.transaction().map_err(|e| write_err(pg_error(e)))?;
        tx.batch_execute(&format!("CREATE TABLE {qt} ({cols})"))
            .map_err(|e| write_err(pg_error(e)))?;
        let mut copy = tx
            .copy_in(&format!("COPY {qt} ({names}) FROM STDIN"))
            .map_err(|e| write_err(pg_error(e)))?;
        let mut hash = Sha256::new();
        let mut bytes = 0u64;
        let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
        let mut vals: Vec<Option<&Value>> = vec![None; w.fields.len()];
        let swap = w.axis == AxisOrder::NorthEast;
        for f in &w.dataset.features {
            let Some(g) = &f.geometry else { continue };
            let wkb = if swap {
                let mut g = g.clone();
                g.map_coords_in_place(|c| geo::Coord { x: c.y, y: c.x });
                g.to_ewkb(CoordDimensions::xy(), Some(srid))
            } else {
                g.to_ewkb(CoordDimensions::xy(), Some(srid))
            }
            .map_err(|e| PublishError::Write(format!("geometry to WKB: {e}")))?;
            let fid = f.id.unwrap_or(f.row + 1);
            let _ = write!(buf, "{fid}\t{}", hex::encode(&wkb));
            vals.iter_mut().for_each(|v| *v = None);
            for (k, v) in &f.props {
                if let Some(slot) = vals.get_mut(*k as usize) {
                    *slot = Some(v);
                }
            }
            for (v, ty) in vals.iter().zip(&types) {
                buf.push(b'\t');
                match v {
                    Some(v) => copy_value(&mut buf, *ty, v),
                    None => buf.extend_from_slice(b"\\N"),
                }
            }
            buf.push(b'\n');
            if buf.len() >= 1 << 20 {
                hash.update(&buf);
                bytes += buf.len() as u64;
                copy.write_all(&buf)
                    .map_err(|e| write_err(StoreError::Unavailable(e.to_string())))?;
                buf.clear();
            }
        }
        hash.update(&buf);
        bytes += buf.len() as u64;
        copy.write_all(&buf)
            .map_err(|e| write_err(StoreError::Unavailable(e.to_string())))?;
        copy.finish().map_err(|e| write_err(pg_error(e)))?;
        tx.batch_execute(&format!(
            "CREATE INDEX ON {qt} USING gist ({GEOM_COLUMN}); ANALYZE {qt}"
        ))
        .map_err(|e| write_err(pg_error(e)))?;
        tx.commit().map_err(|e| write_err(pg_error(e)))?;
        Ok(Stored {
            location: format!("{POSTGIS_PREFIX}{table}"),
            format: "postgis",
            bytes,
            sha256: hex::encode(hash.finalize()),
            path: None,
        })
    }

    fn discard(&self, stored: &Stored) {
        let Some(table) = stored.location.strip_prefix(POSTGIS_PREFIX) else {
            return;
        };
        if !table.starts_with(PENDING_PREFIX) {
            return;
        }
        if let Ok(mut c) = self.pool.get() {
            let _ = c.batch_execute(&format!(
                "DROP TABLE IF EXISTS {LAYERS_SCHEMA}.{}",
                quote_ident(table)
            ));
        }
    }

    fn owns(&self, location: &str) -> bool {
        location.starts_with(POSTGIS_PREFIX)
    }

    fn read(&self, location: &str, def: &LayerDef) -> Result<RawDataset, PublishError> {
        let table = location.strip_prefix(POSTGIS_PREFIX).ok_or_else(|| {
            PublishError::NotFound(format!("`{location}` is not a PostGIS table"))
        })?;
        let qt = format!("{LAYERS_SCHEMA}.{}", quote_ident(table));
        let mut c = self.pool.get()?;
        let mut tx = c
            .build_transaction()
            .read_only(true)
            .start()
            .map_err(pg_error)?;
        // The table's attribute columns and their types.
        let cols = tx
            .query(
                "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod)
                 FROM pg_attribute a
                 JOIN pg_class t ON t.oid = a.attrelid
                 JOIN pg_namespace n ON n.oid = t.relnamespace
                 WHERE n.nspname = $1 AND t.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped
                 ORDER BY a.attnum",
                &[&LAYERS_SCHEMA, &table],
            )
            .map_err(pg_error)?;
        if cols.is_empty() {
            return Err(PublishError::Store(StoreError::Corrupt(format!(
                "the table of `{}` ({table}) is missing",
                def.id
            ))));
        }
        let mut seen_fields = Vec::new();
        // (allow-list index, column type) of each selected attribute.
        let mut picked: Vec<(u16, String)> = Vec::new();
        let mut select = format!("SELECT {FID_COLUMN}, ST_AsBinary({GEOM_COLUMN})");
        for r in &cols {
            let name: String = r.try_get(0).map_err(pg_error)?;
            let ty: String = r.try_get(1).map_err(pg_error)?;
            if name == FID_COLUMN || name == GEOM_COLUMN {
                continue;
            }
            seen_fields.push(name.clone());
            if let Some(i) = def.attributes.iter().position(|a| *a == name) {
                select.push_str(&format!(", {}", quote_ident(&name)));
                picked.push((i as u16, ty));
            }
        }
        select.push_str(&format!(" FROM {qt} ORDER BY {FID_COLUMN}"));
        let mut field_types: Vec<Option<FieldType>> = vec![None; def.attributes.len()];
        for (i, ty) in &picked {
            field_types[*i as usize] = Some(match ty.as_str() {
                "bigint" | "double precision" | "integer" => FieldType::Number,
                "boolean" => FieldType::Boolean,
                _ => FieldType::String,
            });
        }
        let portal = tx.bind(select.as_str(), &[]).map_err(pg_error)?;
        let mut features = Vec::new();
        loop {
            let rows = tx.query_portal(&portal, READ_BATCH).map_err(pg_error)?;
            if rows.is_empty() {
                break;
            }
            for r in rows {
                let fid: i64 = r.try_get(0).map_err(pg_error)?;
                let wkb: Vec<u8> = r.try_get(1).map_err(pg_error)?;
                let geometry = Wkb(wkb).to_geo().map_err(|e| {
                    PublishError::Store(StoreError::Corrupt(format!(
                        "`{}` feature {fid}: {e}",
                        def.id
                    )))
                })?;
                let mut props = Vec::with_capacity(picked.len());
                for (j, (i, ty)) in picked.iter().enumerate() {
                    let col = j + 2;
                    let v = match ty.as_str() {
                        "bigint" => r
                            .try_get::<_, Option<i64>>(col)
                            .map_err(pg_error)?
                            .map(Value::Int),
                        "integer" => r
                            .try_get::<_, Option<i32>>(col)
                            .map_err(pg_error)?
                            .map(|n| Value::Int(n.into())),
                        "double precision" => r
                            .try_get::<_, Option<f64>>(col)
                            .map_err(pg_error)?
                            .map(Value::Float),
                        "boolean" => r
                            .try_get::<_, Option<bool>>(col)
                            .map_err(pg_error)?
                            .map(Value::Bool),
                        _ => r
                            .try_get::<_, Option<String>>(col)
                            .map_err(pg_error)?
                            .map(|s| Value::String(Arc::from(s))),
                    };
                    if let Some(v) = v {
                        props.push((*i, v));
                    }
                }
                let row = features.len() as u64;
                features.push(RawFeature {
                    row,
                    id: u64::try_from(fid).ok(),
                    geometry: Some(geometry),
                    props,
                });
            }
        }
        tx.commit().map_err(pg_error)?;
        Ok(RawDataset {
            features,
            field_types,
            seen_fields,
            declared_epsg: None,
        })
    }

    fn clean_orphans(&self, _catalog: &dyn Catalog) {
        // Uploads: the data folder may be shared by instances on one host.
        remove_stale_uploads(&self.data_dir.join("tmp"), Some(ORPHAN_GRACE));
        let Ok(mut c) = self.pool.get() else {
            return;
        };
        let Ok(rows) = c.query(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = $1 AND tablename LIKE $2",
            &[&LAYERS_SCHEMA, &format!("{PENDING_PREFIX}%")],
        ) else {
            return;
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        for r in rows {
            let Ok(name) = r.try_get::<_, String>(0) else {
                continue;
            };
            let made = name
                .strip_prefix(PENDING_PREFIX)
                .and_then(|s| s.split('_').next())
                .and_then(|s| s.parse::<u64>().ok());
            if made.is_some_and(|t| now.saturating_sub(t) > ORPHAN_GRACE.as_secs()) {
                tracing::warn!(table = %name, "dropping a PostGIS table of a publish never committed");
                let _ = c.batch_execute(&format!(
                    "DROP TABLE IF EXISTS {LAYERS_SCHEMA}.{}",
                    quote_ident(&name)
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_names_are_checked() {
        let ok =
            |v: &[&str]| check_column_names(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert!(ok(&["name", "Geom", "TUDI_FID", &"地".repeat(21)]).is_ok());
        for bad in ["geom", "tudi_fid", "", "a\0b"] {
            assert!(ok(&["n", bad]).is_err(), "{bad:?}");
        }
        let e = ok(&[&"é".repeat(32)]).unwrap_err();
        assert!(e.contains("64 bytes"), "{e}");
    }
}
