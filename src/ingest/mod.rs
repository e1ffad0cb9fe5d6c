//! Ingesting an uploaded file (already on disk in a temporary folder) into a
//! validated [`RawDataset`] plus a JSON-serialisable [`ValidationReport`].
//! No HTTP and no async here: the HTTP layer calls [`sniff`] on the first
//! bytes, then [`ingest`] (on a blocking thread), and maps [`IngestError`] to
//! a status code with [`IngestError::http_status`].
//!
//! * [`sniff`]: format detection by magic bytes, checked against the declared
//!   format and the file name.
//! * readers: GeoJSON and FlatGeobuf through [`crate::layer::read`] (all
//!   attributes kept), GeoPackage ([`gpkg`], read-only SQLite, plain SELECTs),
//!   zipped Shapefile ([`archive`] for the hardened unzip, [`shp`] for the
//!   `.shp`/`.dbf` decoding with `.prj` and `.cpg`).
//! * with the cargo feature `gdal`, [`UploadFormat::Ogr`]: every other OGR
//!   vector format (DXF, KML, GML, MapInfo, FileGDB, CSV with WKT) through
//!   the system GDAL (`ogr`). Without the feature such uploads are refused
//!   with a `415` that says so.
//! * [`report`]: CRS resolution, per-feature validation and repair,
//!   coordinate ranges, attribute schema, [`compare_schema`].
//!
//! Coordinates stay in the source CRS in the returned dataset; the report
//! says which CRS (and where it came from) and which axis order was detected,
//! so the loader can reproject with [`crate::crs::Transformer`].

use std::path::Path;

use serde::Serialize;

use crate::crs::Crs;
use crate::layer::FieldType;
use crate::layer::read::RawDataset;

pub mod archive;
mod geomcap;
pub mod gpkg;
mod jsonfgb;
#[cfg(feature = "gdal")]
pub mod ogr;
pub mod report;
pub mod shp;
mod sniff;

#[cfg(test)]
mod tests;

pub use report::{
    Bounds, CrsSource, FeatureProblem, FieldSchema, FixAction, SchemaDiff, ValidationReport,
    VersionChange, compare_schema,
};
pub use sniff::sniff;

/// The upload formats tudi accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadFormat {
    GeoJson,
    FlatGeobuf,
    GeoPackage,
    ShapefileZip,
    /// Any other vector format GDAL reads (DXF, KML, GML, MapInfo, zipped
    /// FileGDB, CSV...): only with the cargo feature `gdal`.
    Ogr,
}

impl UploadFormat {
    /// Human name used in error messages.
    pub fn name(&self) -> &'static str {
        match self {
            UploadFormat::GeoJson => "GeoJSON",
            UploadFormat::FlatGeobuf => "FlatGeobuf",
            UploadFormat::GeoPackage => "GeoPackage",
            UploadFormat::ShapefileZip => "zipped Shapefile",
            UploadFormat::Ogr => "GDAL/OGR vector file",
        }
    }

    /// Parses a declared format: a MIME type, a file extension or a name
    /// (`geojson`, `application/geo+json`, `fgb`, `gpkg`, `zip`, `shp`...;
    /// `dxf`, `kml`, `kmz`, `gml`, `tab`, `mif`, `gdb`, `csv`, `ogr` are
    /// [`UploadFormat::Ogr`], whether or not this build has GDAL).
    pub fn parse(s: &str) -> Option<UploadFormat> {
        let t = s.trim().trim_start_matches('.').to_ascii_lowercase();
        let t = t.split(';').next().unwrap_or("").trim();
        Some(match t {
            "geojson" | "json" | "application/geo+json" | "application/json" => {
                UploadFormat::GeoJson
            }
            "fgb" | "flatgeobuf" | "application/flatgeobuf" => UploadFormat::FlatGeobuf,
            "gpkg" | "geopackage" | "application/geopackage+sqlite3" => UploadFormat::GeoPackage,
            "zip"
            | "shp"
            | "shapefile"
            | "shapefile_zip"
            | "application/zip"
            | "application/x-zip-compressed" => UploadFormat::ShapefileZip,
            "dxf"
            | "kml"
            | "kmz"
            | "gml"
            | "tab"
            | "mif"
            | "gdb"
            | "filegdb"
            | "csv"
            | "ogr"
            | "gdal"
            | "application/vnd.google-earth.kml+xml"
            | "application/vnd.google-earth.kmz"
            | "application/gml+xml"
            | "image/vnd.dxf"
            | "application/dxf"
            | "text/csv" => UploadFormat::Ogr,
            _ => return None,
        })
    }
}

/// Limits and choices for one ingest.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// CRS chosen by the uploader; wins over whatever the file declares.
    pub crs_override: Option<Crs>,
    /// GeoPackage table or Shapefile base name to read when there are several.
    pub layer_name: Option<String>,
    /// A feature with more vertices is an error ([`IngestError::TooManyVertices`]).
    pub max_vertices_per_feature: usize,
    /// More features is an error ([`IngestError::TooManyFeatures`]).
    pub max_features: usize,
    /// Zip: total bytes inflated across the entries read.
    pub max_uncompressed_bytes: u64,
    /// Zip: uncompressed / compressed size above which an entry is a bomb
    /// (entries smaller than [`IngestOptions::ratio_free_bytes`] are exempt).
    pub max_compression_ratio: u64,
    /// Zip: entries up to this size are not subject to the ratio cap (a
    /// mostly-blank `.dbf` legitimately compresses very well).
    pub ratio_free_bytes: u64,
    /// Zip: most entries an archive may list.
    pub max_zip_entries: usize,
    /// Repair invalid polygons (`ST_MakeValid`-like) instead of rejecting them.
    pub repair: bool,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            crs_override: None,
            layer_name: None,
            max_vertices_per_feature: 100_000,
            max_features: 2_000_000,
            max_uncompressed_bytes: 512 << 20,
            max_compression_ratio: 200,
            ratio_free_bytes: 1 << 20,
            max_zip_entries: 256,
            repair: true,
        }
    }
}

/// What one reader produces before validation.
#[derive(Debug)]
pub struct ReadOutcome {
    /// Features in source coordinates; `props` index into `fields`.
    pub dataset: RawDataset,
    /// Attribute names, in file order; `dataset.field_types` is parallel.
    pub fields: Vec<String>,
    /// The CRS the file itself declares, with where it was found.
    pub declared_crs: Option<(Crs, CrsSource)>,
    /// Layer (table / shapefile) name, when the format has one.
    pub layer_name: Option<String>,
    /// Character encoding used for attributes (Shapefile).
    pub encoding: Option<String>,
    /// Non-fatal remarks (other tables ignored, encoding fallback...).
    pub warnings: Vec<String>,
}

/// A validated upload: features in the source CRS (repaired where needed,
/// rejected ones removed), attribute names, and the report.
#[derive(Debug)]
pub struct Ingested {
    pub dataset: RawDataset,
    pub fields: Vec<String>,
    /// The CRS the coordinates are in (also in the report).
    pub crs: Crs,
    pub report: ValidationReport,
}

impl Ingested {
    /// Attribute schema as `(name, type)` pairs, for [`compare_schema`].
    pub fn schema(&self) -> Vec<(String, FieldType)> {
        self.report
            .schema
            .iter()
            .map(|f| (f.name.clone(), f.field_type))
            .collect()
    }
}

/// Why an upload was refused. Each variant maps to one HTTP status
/// ([`IngestError::http_status`]) and its message names the problem.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("unsupported format: {0}")]
    UnsupportedFormat(String),
    #[error("declared {declared} but the content is {actual}")]
    FormatMismatch {
        declared: &'static str,
        actual: &'static str,
    },
    #[error("corrupt or truncated {format}: {detail}")]
    Corrupt {
        format: &'static str,
        detail: String,
    },
    #[error("unsafe archive entry `{entry}`: {reason}")]
    UnsafeArchive { entry: String, reason: String },
    #[error("archive too large: {0}")]
    ArchiveTooLarge(String),
    #[error("the archive has no `{0}` file for the shapefile")]
    MissingPart(String),
    #[error("ambiguous archive: {0}")]
    AmbiguousArchive(String),
    #[error("unknown or unaccepted CRS: {0}")]
    UnknownCrs(String),
    #[error("feature {row} has {vertices} vertices, more than the limit of {limit}")]
    TooManyVertices {
        row: u64,
        vertices: usize,
        limit: usize,
    },
    #[error("more than {limit} features")]
    TooManyFeatures { limit: usize },
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// What [`UploadFormat::Ogr`] covers, for messages.
#[cfg(not(feature = "gdal"))]
const OGR_FORMATS: &str = "DXF, KML, GML, MapInfo, FileGDB and CSV uploads";

/// Refusal of [`UploadFormat::Ogr`] by a build without the `gdal` feature.
#[cfg(not(feature = "gdal"))]
pub(crate) fn no_gdal(what: &str) -> IngestError {
    IngestError::UnsupportedFormat(format!(
        "{what}: this server was built without GDAL support (cargo feature `gdal`); \
         upload GeoJSON, FlatGeobuf, GeoPackage or a zipped Shapefile"
    ))
}

impl IngestError {
    /// The HTTP status this error should be answered with.
    pub fn http_status(&self) -> u16 {
        match self {
            IngestError::UnsupportedFormat(_) => 415,
            IngestError::ArchiveTooLarge(_) => 413,
            IngestError::Io(_) => 500,
            IngestError::FormatMismatch { .. }
            | IngestError::Corrupt { .. }
            | IngestError::UnsafeArchive { .. }
            | IngestError::MissingPart(_)
            | IngestError::AmbiguousArchive(_)
            | IngestError::UnknownCrs(_)
            | IngestError::TooManyVertices { .. }
            | IngestError::TooManyFeatures { .. } => 422,
        }
    }

    pub(crate) fn corrupt(format: UploadFormat, detail: impl ToString) -> IngestError {
        IngestError::Corrupt {
            format: format.name(),
            detail: detail.to_string(),
        }
    }
}

/// Reads `path` as `format` without validating: the raw features plus what
/// the file says about itself.
pub fn read_upload(
    path: &Path,
    format: UploadFormat,
    opts: &IngestOptions,
) -> Result<ReadOutcome, IngestError> {
    match format {
        UploadFormat::GeoJson | UploadFormat::FlatGeobuf => jsonfgb::read(path, format, opts),
        UploadFormat::GeoPackage => gpkg::read(path, opts),
        UploadFormat::ShapefileZip => shp::read_zip(path, opts),
        #[cfg(feature = "gdal")]
        UploadFormat::Ogr => ogr::read(path, opts),
        #[cfg(not(feature = "gdal"))]
        UploadFormat::Ogr => Err(no_gdal(OGR_FORMATS)),
    }
}

/// Reads and validates one upload. The file's format is re-checked against
/// its content (so a caller may pass the declared format straight through).
pub fn ingest(
    path: &Path,
    format: UploadFormat,
    opts: &IngestOptions,
) -> Result<Ingested, IngestError> {
    #[cfg(not(feature = "gdal"))]
    if format == UploadFormat::Ogr {
        return Err(no_gdal(OGR_FORMATS));
    }
    let mut prefix = [0u8; 64];
    let n = read_prefix(path, &mut prefix)?;
    let actual = sniff(&prefix[..n], None, None)?;
    // A zip may hold a multi-file OGR dataset (FileGDB folder, MapInfo TAB, KMZ).
    let ogr_zip = format == UploadFormat::Ogr && actual == UploadFormat::ShapefileZip;
    if actual != format && !ogr_zip {
        return Err(IngestError::FormatMismatch {
            declared: format.name(),
            actual: sniff::content_name(actual),
        });
    }
    let outcome = read_upload(path, format, opts)?;
    report::validate(outcome, format, opts)
}

fn read_prefix(path: &Path, buf: &mut [u8]) -> Result<usize, IngestError> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut n = 0;
    while n < buf.len() {
        let k = f.read(&mut buf[n..])?;
        if k == 0 {
            break;
        }
        n += k;
    }
    Ok(n)
}
