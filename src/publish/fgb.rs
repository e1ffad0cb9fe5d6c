//! Writes a validated upload as the FlatGeobuf file of a layer version: an
//! open format QGIS and GDAL read, in the upload's CRS (declared in the
//! header) with x = easting/longitude, a packed spatial index, and the
//! feature ids kept in a `tudi_fid` column (the index reorders features).
//!
//! The file is written to a temporary name, fsync'd, renamed into place and
//! its folder fsync'd, so a crash leaves either no file or a complete one.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::Path;

use flatgeobuf::{ColumnType, FgbCrs, FgbWriter, FgbWriterOptions, GeometryType};
use geo::MapCoordsInPlace;
use geozero::{ColumnValue, PropertyProcessor};
use sha2::{Digest, Sha256};

use super::PublishError;
use crate::crs::{AxisOrder, Crs};
use crate::layer::Value;
use crate::layer::read::RawDataset;

/// The id column added to every stored version.
pub const FID_COLUMN: &str = "tudi_fid";

/// Size and digest of a written file.
pub struct Written {
    pub bytes: u64,
    pub sha256: String,
}

/// Column type for a field: `Long` when every value is an integer, `Double`
/// for numbers, `Bool`, else `String`.
pub(crate) fn column_types(ds: &RawDataset, n: usize) -> Vec<ColumnType> {
    let mut seen: Vec<(bool, bool, bool, bool)> = vec![(false, false, false, false); n];
    for f in &ds.features {
        for (k, v) in &f.props {
            let Some(s) = seen.get_mut(*k as usize) else {
                continue;
            };
            match v {
                Value::Int(_) => s.0 = true,
                Value::Float(_) => s.1 = true,
                Value::Bool(_) => s.2 = true,
                Value::String(_) => s.3 = true,
            }
        }
    }
    seen.into_iter()
        .map(
            |(int, float, boolean, string)| match (int, float, boolean, string) {
                (_, _, _, true) => ColumnType::String,
                (true, false, false, false) => ColumnType::Long,
                (_, _, false, false) if int || float => ColumnType::Double,
                (false, false, true, false) => ColumnType::Bool,
                (false, false, false, false) => ColumnType::String,
                _ => ColumnType::String,
            },
        )
        .collect()
}

/// Writes `ds` (coordinates in `crs`, axis order `axis`) to `path`.
pub fn write(
    ds: &RawDataset,
    fields: &[String],
    crs: Crs,
    axis: AxisOrder,
    name: &str,
    title: &str,
    path: &Path,
) -> Result<Written, PublishError> {
    let io = |e: std::io::Error| PublishError::Io(path.to_path_buf(), e);
    let fgb_err = |e: &dyn std::fmt::Display| PublishError::Write(format!("FlatGeobuf: {e}"));
    let options = FgbWriterOptions {
        write_index: true,
        detect_type: true,
        promote_to_multi: false,
        crs: FgbCrs {
            code: crs.epsg() as i32,
            ..Default::default()
        },
        title: Some(title),
        ..Default::default()
    };
    let mut fgb = FgbWriter::create_with_options(name, GeometryType::Unknown, options)
        .map_err(|e| fgb_err(&e))?;
    let types = column_types(ds, fields.len());
    fgb.add_column(FID_COLUMN, ColumnType::ULong, |_, c| c.nullable = false);
    for (name, ty) in fields.iter().zip(&types) {
        fgb.add_column(name, *ty, |_, c| c.nullable = true);
    }
    let swap = axis == AxisOrder::NorthEast;
    for f in &ds.features {
        let Some(g) = &f.geometry else { continue };
        let mut g = g.clone();
        if swap {
            g.map_coords_in_place(|c| geo::Coord { x: c.y, y: c.x });
        }
        let fid = f.id.unwrap_or(f.row + 1);
        fgb.add_feature_geom(g, |out| {
            // Writing into the in-memory feature buffer cannot fail.
            let _ = out.property(0, FID_COLUMN, &ColumnValue::ULong(fid));
            for (k, v) in &f.props {
                let i = *k as usize;
                let (Some(name), Some(ty)) = (fields.get(i), types.get(i)) else {
                    continue;
                };
                let text;
                let cv = match (*ty, v) {
                    (ColumnType::Long, Value::Int(n)) => ColumnValue::Long(*n),
                    (ColumnType::Double, Value::Int(n)) => ColumnValue::Double(*n as f64),
                    (ColumnType::Double, Value::Float(x)) => ColumnValue::Double(*x),
                    (ColumnType::Bool, Value::Bool(b)) => ColumnValue::Bool(*b),
                    (_, Value::String(s)) => ColumnValue::String(s),
                    (_, other) => {
                        text = match other {
                            Value::Int(n) => n.to_string(),
                            Value::Float(x) => x.to_string(),
                            Value::Bool(b) => b.to_string(),
                            Value::String(s) => s.to_string(),
                        };
                        ColumnValue::String(&text)
                    }
                };
                let _ = out.property(i + 1, name, &cv);
            }
        })
        .map_err(|e| fgb_err(&e))?;
    }
    let tmp = path.with_extension("fgb.part");
    {
        let file = File::create(&tmp).map_err(io)?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        fgb.write(&mut out).map_err(|e| fgb_err(&e))?;
        out.flush().map_err(io)?;
        let file = out.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)?;
    }
    std::fs::rename(&tmp, path).map_err(io)?;
    if let Some(dir) = path.parent() {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| PublishError::Io(dir.to_path_buf(), e))?;
    }
    let (bytes, sha256) = hash_file(path)?;
    Ok(Written { bytes, sha256 })
}

/// Size and SHA-256 (hex) of a file, streamed.
pub fn hash_file(path: &Path) -> Result<(u64, String), PublishError> {
    let io = |e: std::io::Error| PublishError::Io(path.to_path_buf(), e);
    let mut f = File::open(path).map_err(io)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        total += n as u64;
        h.update(&buf[..n]);
    }
    Ok((total, hex::encode(h.finalize())))
}
