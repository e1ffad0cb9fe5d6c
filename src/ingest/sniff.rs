//! Format detection by magic bytes. The content decides; a declared format
//! (multipart content type, `?format=`) or a file extension that disagrees
//! with the content is refused rather than guessed around.
//!
//! With the cargo feature `gdal`, content none of the native readers knows
//! is [`UploadFormat::Ogr`]: GDAL gets to try it (and the upload is a `415`
//! if GDAL cannot open it either). A declared OGR format (`kml`, `dxf`,
//! `gdb`...) also accepts a zip, which may hold a multi-file dataset.

use super::{IngestError, UploadFormat};

const FGB_MAGIC: &[u8] = b"fgb\x03fgb";
const SQLITE_MAGIC: &[u8] = b"SQLite format 3\0";
const ZIP_MAGIC: &[u8] = b"PK\x03\x04";
const ZIP_EMPTY: &[u8] = b"PK\x05\x06";
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// What the content is, in words, for error messages.
pub(crate) fn content_name(f: UploadFormat) -> &'static str {
    match f {
        UploadFormat::GeoJson => "JSON",
        UploadFormat::FlatGeobuf => "FlatGeobuf",
        UploadFormat::GeoPackage => "an SQLite database",
        UploadFormat::ShapefileZip => "a zip archive",
        UploadFormat::Ogr => "not a recognised geospatial format",
    }
}

/// Detects the format of an upload from its first bytes (16 are enough),
/// then checks it against the declared format and the file name's extension.
///
/// * FlatGeobuf: `fgb\x03fgb` (any minor version byte after it);
/// * GeoPackage: `SQLite format 3\0` (the `application_id` is checked when
///   the file is opened);
/// * zipped Shapefile: `PK\x03\x04` (or an empty archive, refused later);
/// * GeoJSON: `{` after optional whitespace and UTF-8 BOM;
/// * anything else: [`UploadFormat::Ogr`] with the `gdal` feature (GDAL
///   decides when it opens the file), else [`IngestError::UnsupportedFormat`].
///
/// A `declared` format tudi does not know is
/// [`IngestError::UnsupportedFormat`], and so is a declared OGR format in a
/// build without GDAL; one that disagrees with the content is
/// [`IngestError::FormatMismatch`] (a declared OGR format accepts a zip). An
/// extension that disagrees is a mismatch too, except unknown extensions,
/// which are ignored.
pub fn sniff(
    bytes_prefix: &[u8],
    file_name: Option<&str>,
    declared: Option<&str>,
) -> Result<UploadFormat, IngestError> {
    let actual = detect(bytes_prefix);
    let declared_fmt = match declared.map(str::trim).filter(|d| !d.is_empty()) {
        Some(d) => Some(
            UploadFormat::parse(d)
                .ok_or_else(|| IngestError::UnsupportedFormat(format!("declared format `{d}`")))?,
        ),
        None => None,
    };
    #[cfg(not(feature = "gdal"))]
    if declared_fmt == Some(UploadFormat::Ogr) {
        return Err(super::no_gdal(&format!(
            "declared format `{}`",
            declared.unwrap_or_default().trim()
        )));
    }
    // Content the native readers do not know: GDAL's turn, when built in.
    let actual = actual.or(cfg!(feature = "gdal").then_some(UploadFormat::Ogr));
    let Some(actual) = actual else {
        return Err(match declared_fmt {
            Some(d) => IngestError::FormatMismatch {
                declared: d.name(),
                actual: "not a recognised geospatial format",
            },
            None => IngestError::UnsupportedFormat(
                "content is not GeoJSON, FlatGeobuf, GeoPackage or a zip archive \
                 (other formats need a server built with GDAL, cargo feature `gdal`)"
                    .into(),
            ),
        });
    };
    if let Some(d) = declared_fmt
        && !compatible(d, actual)
    {
        return Err(IngestError::FormatMismatch {
            declared: d.name(),
            actual: content_name(actual),
        });
    }
    if let Some(ext) = file_name
        .and_then(|n| n.rsplit_once('.'))
        .map(|(_, e)| e)
        .and_then(UploadFormat::parse)
        && !compatible(ext, actual)
    {
        return Err(IngestError::FormatMismatch {
            declared: ext.name(),
            actual: content_name(actual),
        });
    }
    // A zip declared (or named) as an OGR format is read by GDAL.
    let ext_ogr = file_name
        .and_then(|n| n.rsplit_once('.'))
        .and_then(|(_, e)| UploadFormat::parse(e))
        == Some(UploadFormat::Ogr);
    if actual == UploadFormat::ShapefileZip
        && (declared_fmt == Some(UploadFormat::Ogr) || (declared_fmt.is_none() && ext_ogr))
    {
        return Ok(UploadFormat::Ogr);
    }
    Ok(actual)
}

/// Whether content detected as `actual` may be read as `declared`: the same
/// format, or an OGR format in a zip (FileGDB folder, MapInfo TAB, KMZ).
fn compatible(declared: UploadFormat, actual: UploadFormat) -> bool {
    declared == actual || (declared == UploadFormat::Ogr && actual == UploadFormat::ShapefileZip)
}

fn detect(b: &[u8]) -> Option<UploadFormat> {
    if b.starts_with(FGB_MAGIC) {
        return Some(UploadFormat::FlatGeobuf);
    }
    if b.starts_with(SQLITE_MAGIC) {
        return Some(UploadFormat::GeoPackage);
    }
    if b.starts_with(ZIP_MAGIC) || b.starts_with(ZIP_EMPTY) {
        return Some(UploadFormat::ShapefileZip);
    }
    let b = b.strip_prefix(UTF8_BOM).unwrap_or(b);
    match b.iter().find(|c| !c.is_ascii_whitespace()) {
        Some(b'{') => Some(UploadFormat::GeoJson),
        _ => None,
    }
}
