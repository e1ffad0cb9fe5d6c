//! Format detection by magic bytes. The content decides; a declared format
//! (multipart content type, `?format=`) or a file extension that disagrees
//! with the content is refused rather than guessed around.

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
    }
}

/// Detects the format of an upload from its first bytes (16 are enough),
/// then checks it against the declared format and the file name's extension.
///
/// * FlatGeobuf: `fgb\x03fgb` (any minor version byte after it);
/// * GeoPackage: `SQLite format 3\0` (the `application_id` is checked when
///   the file is opened);
/// * zipped Shapefile: `PK\x03\x04` (or an empty archive, refused later);
/// * GeoJSON: `{` after optional whitespace and UTF-8 BOM.
///
/// A `declared` format that is not one of the four is
/// [`IngestError::UnsupportedFormat`]; one that disagrees with the content
/// is [`IngestError::FormatMismatch`]. An extension that disagrees is a
/// mismatch too, except unknown extensions, which are ignored.
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
    let Some(actual) = actual else {
        return Err(match declared_fmt {
            Some(d) => IngestError::FormatMismatch {
                declared: d.name(),
                actual: "not a recognised geospatial format",
            },
            None => IngestError::UnsupportedFormat(
                "content is not GeoJSON, FlatGeobuf, GeoPackage or a zip archive".into(),
            ),
        });
    };
    if let Some(d) = declared_fmt
        && d != actual
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
        && ext != actual
    {
        return Err(IngestError::FormatMismatch {
            declared: ext.name(),
            actual: content_name(actual),
        });
    }
    Ok(actual)
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
