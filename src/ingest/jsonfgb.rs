//! GeoJSON and FlatGeobuf uploads, through the layer reader
//! ([`crate::layer::read::read`]) with every attribute kept.
//!
//! FlatGeobuf lists its columns in the header. GeoJSON has no schema: the
//! reader keeps every property it meets, in first-seen order (one pass). The legacy GeoJSON `crs`
//! member (`"crs": {"type": "name", "properties": {"name": "EPSG:4547"}}`),
//! still written by GDAL for non-WGS84 data, is honoured when it appears
//! before the features; otherwise RFC 7946's WGS 84 applies.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use crate::crs::Crs;
use crate::layer::SourceFormat;
use crate::layer::read::{ReadError, read as read_source, read_all_fields};

use super::{CrsSource, IngestError, IngestOptions, ReadOutcome, UploadFormat};

/// How far into a GeoJSON file the `crs` member is looked for.
const CRS_SCAN_BYTES: u64 = 64 * 1024;

pub(crate) fn read(
    path: &Path,
    format: UploadFormat,
    _opts: &IngestOptions,
) -> Result<ReadOutcome, IngestError> {
    let map = |e: ReadError| match e {
        ReadError::Io(e) => IngestError::Io(e),
        ReadError::Format { message, .. } => IngestError::corrupt(format, message),
    };
    let open = || -> Result<BufReader<File>, IngestError> { Ok(BufReader::new(File::open(path)?)) };
    let (dataset, fields, declared_crs) = match format {
        UploadFormat::FlatGeobuf => {
            let fgb = flatgeobuf::FgbReader::open(open()?)
                .map_err(|e| IngestError::corrupt(format, e))?;
            let fields: Vec<String> = fgb
                .header()
                .columns()
                .map(|cols| cols.iter().map(|c| c.name().to_string()).collect())
                .unwrap_or_default();
            let dataset =
                read_source(open()?, SourceFormat::FlatGeobuf, &fields, None).map_err(map)?;
            (dataset, fields, None)
        }
        _ => {
            let declared = geojson_crs(path)?;
            let (dataset, fields) = read_all_fields(open()?, SourceFormat::GeoJson).map_err(map)?;
            (dataset, fields, declared)
        }
    };
    let declared_crs = match (format, dataset.declared_epsg) {
        (UploadFormat::FlatGeobuf, Some(code)) => {
            let crs = u32::try_from(code)
                .ok()
                .and_then(Crs::from_epsg)
                .ok_or_else(|| {
                    IngestError::UnknownCrs(format!("FlatGeobuf header declares EPSG:{code}"))
                })?;
            Some((crs, CrsSource::FgbHeader))
        }
        _ => declared_crs,
    };
    Ok(ReadOutcome {
        dataset,
        fields,
        declared_crs,
        layer_name: None,
        encoding: None,
        warnings: Vec::new(),
    })
}

/// The legacy `crs` member of a GeoJSON file, if it appears (as a named
/// CRS) in the first [`CRS_SCAN_BYTES`] before `"features"`.
fn geojson_crs(path: &Path) -> Result<Option<(Crs, CrsSource)>, IngestError> {
    let mut head = Vec::new();
    File::open(path)?
        .take(CRS_SCAN_BYTES)
        .read_to_end(&mut head)?;
    let text = String::from_utf8_lossy(&head);
    let Some(name) = crs_member_name(&text) else {
        return Ok(None);
    };
    let crs = Crs::parse(&name)
        .map_err(|e| IngestError::UnknownCrs(format!("GeoJSON `crs` member: {e}")))?;
    Ok(Some((crs, CrsSource::GeoJsonCrsMember)))
}

/// Extracts `properties.name` of a top-level-looking `"crs"` member that
/// comes before `"features"`. A heuristic scan, not a JSON parse: it only
/// has to recognise what GDAL and QGIS write.
pub(crate) fn crs_member_name(text: &str) -> Option<String> {
    let crs_at = text.find("\"crs\"")?;
    if let Some(f) = text.find("\"features\"")
        && f < crs_at
    {
        return None;
    }
    let rest = &text[crs_at + 5..];
    // The member is short: a `"name":` far away belongs to something else.
    // (`"type": "name"` also contains `"name"`, not followed by a colon.)
    let mut from = 0;
    while let Some(at) = rest[from..].find("\"name\"") {
        let at = from + at;
        if at > 200 {
            return None;
        }
        from = at + 6;
        let Some(after) = rest[from..].trim_start().strip_prefix(':') else {
            continue;
        };
        let value = after.trim_start().strip_prefix('"')?;
        let end = value.find('"')?;
        return Some(value[..end].to_string());
    }
    None
}
