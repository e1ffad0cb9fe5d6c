//! Uploads in any other OGR vector format (cargo feature `gdal`): DXF, KML,
//! GML, MapInfo TAB/MIF, FileGDB, CSV with a WKT (or X/Y) column, read
//! through the system GDAL with the `gdal` crate.
//!
//! The file is distrusted, like every upload:
//!
//! * it is opened read-only, vector only, and only by the drivers in
//!   [`DRIVERS`] (no VRT, which can point at any file on the server; no
//!   network drivers). KML is read by LIBKML (GDAL's own KML driver ignores
//!   `ExtendedData`), whose presentation columns (`tessellate`,
//!   `visibility`...) are left out of the schema. A path GDAL would read as
//!   a virtual file system or a connection string (`/vsicurl/...`,
//!   `PG:...`) is refused;
//! * GDAL never goes looking for other files or the network:
//!   `GDAL_DISABLE_READDIR_ON_OPEN=EMPTY_DIR` while a single file is read,
//!   `/vsicurl/` limited to a file extension no URL has, no WFS schema
//!   download and no xlink resolution for GML, and the GML driver never
//!   writes a `.gfs` next to the upload (`WRITE_GFS=NO`). XML is parsed by
//!   expat, which does not resolve external entities;
//! * a zip (FileGDB folder, MapInfo TAB with its `.dat`/`.map`/`.id`, KMZ)
//!   is inflated with [`super::archive::SafeZip`] (the same caps as
//!   Shapefile archives) into a private folder next to the upload, removed
//!   when the read ends; MapInfo seamless tables and views (which name other
//!   tables by path) are refused;
//! * GDAL errors go to `tracing` (never to stderr) and a failure while
//!   features are read is an error, not a silently shorter layer;
//! * the feature cap and the vertex cap of [`IngestOptions`] are enforced
//!   while reading, before a geometry is converted.
//!
//! Content no accepted driver recognises is [`IngestError::UnsupportedFormat`]
//! (`415`); a file a driver recognises but cannot read is
//! [`IngestError::Corrupt`] (`422`).
//!
//! The layer read is `opts.layer_name`, else the first one with features
//! (the others are named in a warning). Its spatial reference becomes an
//! allow-listed [`Crs`] by its EPSG code (GDAL's `AutoIdentifyEPSG` when the
//! file gives none); none at all leaves the CRS to the uploader's override
//! (else `422`), and one that is not on the allow-list is a `422` naming it
//! unless an override is given. The report gives it as
//! [`CrsSource::Prj`]: the CRS the file itself declares.
//!
//! Geometry: 3D and measures are dropped, linear geometry goes through the
//! crate's `to_geo`, and curves (CircularString, CompoundCurve,
//! CurvePolygon, MultiCurve, MultiSurface) are linearised here at GDAL's
//! default step of 4° per segment (`gdal` 0.18 has no safe
//! `getLinearGeometry`). Attributes: integers, reals and strings as such;
//! dates and date-times as ISO 8601 strings (`2021-06-30`,
//! `2021-06-30T08:00:00+08`); lists as JSON arrays in a string; binary
//! fields are left out. Booleans arrive as integers `0`/`1`: the safe
//! `gdal` 0.18 API does not expose OGR field subtypes. An empty value is
//! no value (many OGR formats cannot tell them apart).

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Once};

use gdal::errors::CplErrType;
use gdal::spatial_ref::{AxisMappingStrategy, SpatialRef};
use gdal::vector::{
    Feature, FieldValue, Geometry as OgrGeometry, GeometryRef, LayerAccess, OGRFieldType,
    OGRwkbGeometryType,
};
use gdal::{Dataset, DatasetOptions, GdalOpenFlags};
use geo::{
    Coord, Geometry, GeometryCollection, LineString, MultiLineString, MultiPolygon, Polygon,
};

use crate::crs::Crs;
use crate::layer::read::{RawDataset, RawFeature};
use crate::layer::{FieldType, Value};

use super::archive::{Entry, SafeZip};
use super::{CrsSource, IngestError, IngestOptions, ReadOutcome, UploadFormat};

const FMT: UploadFormat = UploadFormat::Ogr;

/// The GDAL drivers an upload may be opened with. Each reads only the file
/// (or the folder) it is given; add one only after checking that it cannot
/// be made to read other files or the network.
pub const DRIVERS: &[&str] = &[
    "DXF",
    "LIBKML",
    "KML",
    "GML",
    "MapInfo File",
    "OpenFileGDB",
    "CSV",
];

/// LIBKML's columns for KML presentation, not data.
const LIBKML_PRESENTATION: [&str; 6] = [
    "altitudeMode",
    "tessellate",
    "extrude",
    "visibility",
    "drawOrder",
    "icon",
];

/// Open options: never write a `.gfs` next to a GML upload.
const OPEN_OPTIONS: &[&str] = &["WRITE_GFS=NO"];

/// Open options of the CSV retry of a file without an extension.
const CSV_OPTIONS: &[&str] = &[
    "GEOM_POSSIBLE_NAMES=WKT,geom,geometry,the_geom,wkt_geom,shape",
    "X_POSSIBLE_NAMES=x,lon,lng,long,longitude,经度",
    "Y_POSSIBLE_NAMES=y,lat,latitude,纬度",
    "KEEP_GEOM_COLUMNS=NO",
    "AUTODETECT_TYPE=YES",
];

/// Process-wide GDAL configuration, set once before the first open.
const CONFIG: &[(&str, &str)] = &[
    // `/vsicurl/` only for URLs ending like this: none.
    ("CPL_VSIL_CURL_ALLOWED_EXTENSIONS", ".tudi-no-network"),
    ("GDAL_HTTP_MAX_RETRY", "0"),
    ("GML_DOWNLOAD_WFS_SCHEMA", "NO"),
    ("GML_SKIP_RESOLVE_ELEMS", "ALL"),
    ("PROJ_NETWORK", "OFF"),
];

/// GDAL's default arc stroking step (`OGR_ARC_STEPSIZE`), degrees.
const ARC_STEP_DEG: f64 = 4.0;

/// File extensions of datasets looked for inside a zip.
const ZIP_DATASETS: [&str; 7] = ["tab", "mif", "kml", "gml", "dxf", "csv", "gdbtable"];

/// Most GDAL error messages kept per read (the first explains the rest).
const MAX_ERRORS: usize = 8;

thread_local! {
    /// GDAL failures raised on this thread since the last [`take_errors`].
    static ERRORS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

fn corrupt(e: impl ToString) -> IngestError {
    IngestError::corrupt(FMT, e)
}

/// Sets the configuration and routes GDAL's messages to `tracing`.
fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        for (k, v) in CONFIG {
            if let Err(e) = gdal::config::set_config_option(k, v) {
                tracing::warn!(option = k, error = %e, "cannot set a GDAL option");
            }
        }
        gdal::config::set_error_handler(|class, code, msg| match class {
            CplErrType::Failure | CplErrType::Fatal => {
                tracing::debug!(code, "GDAL error: {msg}");
                // `try_with`: never panic in a callback from C, even at thread exit.
                let _ = ERRORS.try_with(|e| {
                    if let Ok(mut e) = e.try_borrow_mut()
                        && e.len() < MAX_ERRORS
                    {
                        e.push(msg.to_string());
                    }
                });
            }
            CplErrType::Warning => tracing::debug!(code, "GDAL warning: {msg}"),
            _ => tracing::trace!(code, "GDAL: {msg}"),
        });
    });
}

/// The GDAL failures raised on this thread since the last call.
fn take_errors() -> Vec<String> {
    ERRORS.with(|e| std::mem::take(&mut *e.borrow_mut()))
}

/// Sets a GDAL option for this thread until dropped.
struct ThreadOption(&'static str);

impl ThreadOption {
    fn set(key: &'static str, value: &str) -> ThreadOption {
        if let Err(e) = gdal::config::set_thread_local_config_option(key, value) {
            tracing::warn!(option = key, error = %e, "cannot set a GDAL option");
        }
        ThreadOption(key)
    }
}

impl Drop for ThreadOption {
    fn drop(&mut self) {
        let _ = gdal::config::clear_thread_local_config_option(self.0);
    }
}

/// A private folder the zip was inflated into, removed when dropped.
struct Extracted(PathBuf);

impl Drop for Extracted {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            tracing::warn!(dir = %self.0.display(), error = %e, "cannot remove an inflated upload");
        }
    }
}

/// Reads the upload at `path` (a file, or a zip holding a multi-file
/// dataset) with GDAL; see the module docs.
pub fn read(path: &Path, opts: &IngestOptions) -> Result<ReadOutcome, IngestError> {
    init();
    refuse_virtual(path)?;
    take_errors();
    let mut warnings = Vec::new();
    let is_zip = {
        let mut magic = [0u8; 4];
        let n = super::read_prefix(path, &mut magic)?;
        magic[..n].starts_with(b"PK")
    };
    // Declared before the dataset so that it is removed after it is closed.
    let mut _inflated = None;
    let (target, _readdir) = if is_zip {
        let (dir, target) = unzip(path, opts)?;
        _inflated = Some(dir);
        (target, None)
    } else {
        let guard = ThreadOption::set("GDAL_DISABLE_READDIR_ON_OPEN", "EMPTY_DIR");
        (path.to_path_buf(), Some(guard))
    };
    let ds = open(&target, !is_zip, path)?;
    let driver = ds.driver();
    warnings.push(format!(
        "read with GDAL {} ({} driver)",
        gdal::version_info("RELEASE_NAME"),
        driver.short_name()
    ));
    read_dataset(&ds, opts, warnings, path)
}

/// Refuses paths GDAL would not read as a plain local file: virtual file
/// systems (`/vsizip/`, `/vsicurl/`...) and connection strings (`PG:`,
/// `WFS:`, `CSV:`...).
fn refuse_virtual(path: &Path) -> Result<(), IngestError> {
    let s = path.to_string_lossy();
    let first = s.split('/').find(|c| !c.is_empty()).unwrap_or_default();
    if s.starts_with("/vsi") || first.contains(':') {
        return Err(IngestError::UnsupportedFormat(format!(
            "`{s}` is not a local file path"
        )));
    }
    Ok(())
}

/// Opens `target` with the accepted drivers. A single file GDAL does not
/// recognise is tried once more as CSV (the upload has no `.csv`
/// extension for the CSV driver to go by) when it looks like delimited text.
fn open(target: &Path, single_file: bool, upload: &Path) -> Result<Dataset, IngestError> {
    // Read-only, vector drivers only, and say why an open failed.
    let flags = || {
        GdalOpenFlags::GDAL_OF_VECTOR
            | GdalOpenFlags::GDAL_OF_READONLY
            | GdalOpenFlags::GDAL_OF_VERBOSE_ERROR
    };
    let first = Dataset::open_ex(
        target,
        DatasetOptions {
            open_flags: flags(),
            allowed_drivers: Some(DRIVERS),
            open_options: Some(OPEN_OPTIONS),
            sibling_files: None,
        },
    );
    // Errors of a successful open (a GML scan that hit broken XML) stay
    // recorded: the read fails on them once the features are read.
    let err = match first {
        Ok(ds) => return Ok(ds),
        Err(e) => e,
    };
    let errors = take_errors();
    let unrecognised = errors.is_empty()
        || errors
            .iter()
            .all(|m| m.contains("not recognized as") || m.contains("No such file"));
    if !unrecognised {
        return Err(corrupt(clean(&errors.join("; "), upload)));
    }
    if single_file && looks_delimited(target)? {
        let csv = PathBuf::from(format!("CSV:{}", target.display()));
        let ds = Dataset::open_ex(
            &csv,
            DatasetOptions {
                open_flags: flags(),
                allowed_drivers: Some(&["CSV"]),
                open_options: Some(CSV_OPTIONS),
                sibling_files: None,
            },
        );
        let errors = take_errors();
        match ds {
            Ok(ds) => {
                let has_geometry = ds
                    .layer(0)
                    .map(|l| l.defn().geom_fields().count() > 0)
                    .unwrap_or(false);
                if has_geometry {
                    return Ok(ds);
                }
                return Err(IngestError::UnsupportedFormat(
                    "delimited text without a geometry column (WKT, or X and Y / lon and lat)"
                        .into(),
                ));
            }
            Err(e) => {
                tracing::debug!(error = %e, ?errors, "not readable as CSV either");
            }
        }
    }
    tracing::debug!(error = %err, ?errors, "GDAL does not recognise the upload");
    Err(IngestError::UnsupportedFormat(format!(
        "not a vector format this server reads (GDAL drivers: {})",
        DRIVERS.join(", ")
    )))
}

/// Whether the file starts with a line of delimited text.
fn looks_delimited(path: &Path) -> Result<bool, IngestError> {
    let mut head = [0u8; 4096];
    let n = super::read_prefix(path, &mut head)?;
    let head = &head[..n];
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let text = match std::str::from_utf8(line) {
        Ok(t) => t,
        // A multi-byte character cut at the end of the buffer.
        Err(e) if e.error_len().is_none() => std::str::from_utf8(&line[..e.valid_up_to()])
            .map_err(|e| corrupt(format!("not text: {e}")))?,
        Err(_) => return Ok(false),
    };
    Ok(!text.contains('\0') && text.contains([',', ';', '\t', '|']))
}

/// Removes the server's temporary path from a GDAL message.
fn clean(msg: &str, upload: &Path) -> String {
    let mut out = msg.to_string();
    if let Some(dir) = upload.parent().map(|d| d.to_string_lossy().into_owned())
        && !dir.is_empty()
    {
        out = out.replace(&format!("{dir}/"), "");
    }
    out
}

/// Inflates the zip at `path` into a private folder next to it and finds
/// the one dataset inside: a FileGDB (the folder holding
/// `a00000001.gdbtable`) or a `.tab`/`.mif`/`.kml`/`.gml`/`.dxf`/`.csv`.
fn unzip(path: &Path, opts: &IngestOptions) -> Result<(Extracted, PathBuf), IngestError> {
    let mut zip = SafeZip::open(path, opts)?;
    let entries: Vec<Entry> = zip
        .entries
        .iter()
        .filter(|e| !e.name.starts_with("__MACOSX/") && !e.file_name().starts_with("._"))
        .cloned()
        .collect();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "upload".into());
    let dir = path.with_file_name(format!("{name}.ogr"));
    std::fs::create_dir(&dir)?;
    let extracted = Extracted(dir.clone());
    for e in &entries {
        let rel = relative(&e.name)?;
        let dest = dir.join(&rel);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let bytes = zip.read(e)?;
        std::fs::write(&dest, bytes)?;
    }

    let mut candidates: BTreeSet<PathBuf> = BTreeSet::new();
    for e in &entries {
        let rel = relative(&e.name)?;
        let ext = e.ext();
        if !ZIP_DATASETS.contains(&ext.as_str()) {
            continue;
        }
        if ext == "gdbtable" {
            if e.file_name().eq_ignore_ascii_case("a00000001.gdbtable") {
                // The folder when it is named `*.gdb`, else the catalog table.
                let folder = rel.parent().filter(|p| {
                    p.extension()
                        .is_some_and(|x| x.to_string_lossy().eq_ignore_ascii_case("gdb"))
                });
                candidates.insert(match folder {
                    Some(f) => dir.join(f),
                    None => dir.join(&rel),
                });
            }
            continue;
        }
        let in_gdb = rel.ancestors().skip(1).any(|a| {
            a.extension()
                .is_some_and(|x| x.to_string_lossy().eq_ignore_ascii_case("gdb"))
        });
        if !in_gdb {
            candidates.insert(dir.join(&rel));
        }
    }
    let mut candidates: Vec<PathBuf> = candidates.into_iter().collect();
    if candidates.len() > 1
        && let Some(want) = &opts.layer_name
    {
        candidates.retain(|c| c.file_stem().is_some_and(|s| s.to_string_lossy() == *want));
    }
    let target = match candidates.as_slice() {
        [] if entries.iter().any(|e| e.ext() == "shp") => {
            return Err(IngestError::FormatMismatch {
                declared: FMT.name(),
                actual: "a zipped Shapefile (upload it as `zip`)",
            });
        }
        [] => {
            return Err(IngestError::UnsupportedFormat(
                "a zip archive with no dataset GDAL reads (a FileGDB folder or a \
                 .tab, .mif, .kml, .gml, .dxf or .csv file)"
                    .into(),
            ));
        }
        [one] => one.clone(),
        many => {
            let names: Vec<String> = many
                .iter()
                .map(|p| {
                    p.strip_prefix(&dir)
                        .unwrap_or(p)
                        .to_string_lossy()
                        .into_owned()
                })
                .collect();
            return Err(IngestError::AmbiguousArchive(format!(
                "{} datasets ({}); upload one per archive or name one as the layer",
                many.len(),
                names.join(", ")
            )));
        }
    };
    if target
        .extension()
        .is_some_and(|x| x.to_string_lossy().eq_ignore_ascii_case("tab"))
    {
        refuse_mapinfo_links(&target)?;
    }
    Ok((extracted, target))
}

/// An archive entry name as a relative path of plain components (the
/// archive reader has already refused `..`, absolute paths and links).
fn relative(name: &str) -> Result<PathBuf, IngestError> {
    let p = Path::new(name);
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(s) => out.push(s),
            Component::CurDir => {}
            _ => {
                return Err(IngestError::UnsafeArchive {
                    entry: name.to_string(),
                    reason: "not a plain relative path".into(),
                });
            }
        }
    }
    if out.as_os_str().is_empty() {
        return Err(IngestError::UnsafeArchive {
            entry: name.to_string(),
            reason: "empty name".into(),
        });
    }
    Ok(out)
}

/// MapInfo seamless tables and views name other tables by path: refused.
fn refuse_mapinfo_links(tab: &Path) -> Result<(), IngestError> {
    let text = String::from_utf8_lossy(&std::fs::read(tab)?).to_ascii_lowercase();
    if text.contains("isseamless") || text.contains("create view") {
        return Err(IngestError::UnsafeArchive {
            entry: tab
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            reason: "a MapInfo seamless table or view refers to other files".into(),
        });
    }
    Ok(())
}

/// One attribute column.
struct Column {
    /// Index in the OGR feature.
    ogr: usize,
    name: String,
    kind: OGRFieldType::Type,
}

fn read_dataset(
    ds: &Dataset,
    opts: &IngestOptions,
    mut warnings: Vec<String>,
    upload: &Path,
) -> Result<ReadOutcome, IngestError> {
    let mut layers = Vec::new();
    for (i, l) in ds.layers().enumerate() {
        layers.push((i, l.name(), l.feature_count()));
    }
    let names = || {
        layers
            .iter()
            .map(|(_, n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let chosen = match &opts.layer_name {
        Some(want) => layers
            .iter()
            .find(|(_, n, _)| n == want)
            .map(|(i, _, _)| *i)
            .ok_or_else(|| {
                IngestError::AmbiguousArchive(format!(
                    "no layer `{want}` in the file (layers: {})",
                    names()
                ))
            })?,
        _ => layers
            .iter()
            .find(|(_, _, n)| *n > 0)
            .or(layers.first())
            .map(|(i, _, _)| *i)
            .ok_or_else(|| corrupt("the file has no layer"))?,
    };
    if layers.len() > 1 {
        warnings.push(format!(
            "the file has {} layers ({}); read `{}`",
            layers.len(),
            names(),
            layers[chosen].1
        ));
    }
    let mut layer = ds.layer(chosen).map_err(corrupt)?;
    let declared_crs = layer_crs(layer.spatial_ref(), opts, &mut warnings)?;

    let libkml = ds.driver().short_name() == "LIBKML";
    let mut columns = Vec::new();
    for (ogr, f) in layer.defn().fields().enumerate() {
        if libkml && LIBKML_PRESENTATION.contains(&f.name().as_str()) {
            continue;
        }
        let kind = f.field_type();
        if kind == OGRFieldType::OFTBinary {
            warnings.push(format!("binary attribute `{}` left out", f.name()));
            continue;
        }
        columns.push(Column {
            ogr,
            name: f.name(),
            kind,
        });
    }

    let mut features = Vec::new();
    let mut field_types: Vec<Option<FieldType>> = vec![None; columns.len()];
    let mut unsupported = 0usize;
    for (row, feature) in layer.features().enumerate() {
        let row = row as u64;
        if features.len() >= opts.max_features {
            return Err(IngestError::TooManyFeatures {
                limit: opts.max_features,
            });
        }
        let geometry = match feature.geometry() {
            Some(g) => match to_geo(g, row, opts.max_vertices_per_feature)? {
                Ok(g) => g,
                Err(why) => {
                    unsupported += 1;
                    if unsupported <= 5 {
                        warnings.push(format!("feature {row}: {why}; read without geometry"));
                    }
                    None
                }
            },
            None => None,
        };
        let mut props = Vec::new();
        for (i, c) in columns.iter().enumerate() {
            let Some(v) = value(&feature, c) else {
                continue;
            };
            let t = v.field_type();
            match field_types[i] {
                None => field_types[i] = Some(t),
                Some(s) if s != t => field_types[i] = Some(FieldType::String),
                _ => {}
            }
            props.push((i as u16, v));
        }
        features.push(RawFeature {
            row,
            id: feature.fid(),
            geometry,
            props,
        });
    }
    if unsupported > 5 {
        warnings.push(format!(
            "{unsupported} features in all had a geometry that could not be read"
        ));
    }
    let errors = take_errors();
    if !errors.is_empty() {
        return Err(corrupt(clean(&errors.join("; "), upload)));
    }
    let fields: Vec<String> = columns.into_iter().map(|c| c.name).collect();
    Ok(ReadOutcome {
        dataset: RawDataset {
            features,
            field_types,
            seen_fields: fields.clone(),
            declared_epsg: None,
        },
        fields,
        declared_crs,
        layer_name: Some(layer.name()),
        encoding: None,
        warnings,
    })
}

/// The layer's spatial reference as an allow-listed CRS (see module docs).
fn layer_crs(
    srs: Option<SpatialRef>,
    opts: &IngestOptions,
    warnings: &mut Vec<String>,
) -> Result<Option<(Crs, CrsSource)>, IngestError> {
    let Some(mut srs) = srs else {
        return Ok(None);
    };
    srs.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
    let epsg = |s: &SpatialRef| {
        s.auth_name()
            .filter(|a| a.eq_ignore_ascii_case("EPSG"))
            .and_then(|_| s.auth_code().ok())
            .and_then(|c| u32::try_from(c).ok())
    };
    let mut code = epsg(&srs);
    if code.is_none() && srs.auto_identify_epsg().is_ok() {
        code = epsg(&srs);
    }
    if let Some(crs) = code.and_then(Crs::from_epsg) {
        return Ok(Some((crs, CrsSource::Prj)));
    }
    let what = match (code, srs.name()) {
        (Some(c), Some(n)) => format!("EPSG:{c} ({n})"),
        (Some(c), None) => format!("EPSG:{c}"),
        (None, Some(n)) => format!("`{n}` (no EPSG code)"),
        (None, None) => "a CRS without name or EPSG code".into(),
    };
    if opts.crs_override.is_some() {
        warnings.push(format!(
            "the file declares {what}, replaced by the CRS override"
        ));
        return Ok(None);
    }
    Err(IngestError::UnknownCrs(format!(
        "the file declares {what}: accepted are EPSG:4326, EPSG:4490 and EPSG:4513-4554; \
         send a CRS override (e.g. EPSG:4547) if the coordinates are in one of them"
    )))
}

/// One attribute value; `None` for null, unset or empty.
fn value(f: &Feature, c: &Column) -> Option<Value> {
    // OGR tells null from unset only by the text form: an unset (or null)
    // number reads as "" there but as 0 in the typed getters.
    let text = f.field_as_string(c.ogr).ok().flatten()?;
    if text.is_empty() {
        return None;
    }
    let v = match c.kind {
        OGRFieldType::OFTInteger | OGRFieldType::OFTInteger64 => {
            Value::Int(f.field_as_integer64(c.ogr).ok().flatten()?)
        }
        OGRFieldType::OFTReal => Value::Float(f.field_as_double(c.ogr).ok().flatten()?),
        OGRFieldType::OFTDate | OGRFieldType::OFTDateTime => Value::String(Arc::from(iso(&text))),
        OGRFieldType::OFTStringList
        | OGRFieldType::OFTIntegerList
        | OGRFieldType::OFTInteger64List
        | OGRFieldType::OFTRealList => {
            let json = match f.field(c.ogr).ok().flatten()? {
                FieldValue::StringListValue(v) => serde_json::to_string(&v),
                FieldValue::IntegerListValue(v) => serde_json::to_string(&v),
                FieldValue::Integer64ListValue(v) => serde_json::to_string(&v),
                FieldValue::RealListValue(v) => serde_json::to_string(&v),
                _ => return None,
            };
            Value::String(Arc::from(json.ok()?))
        }
        _ => Value::String(Arc::from(text)),
    };
    Some(v)
}

/// OGR's `2021/06/30 08:00:00+08` as ISO 8601 `2021-06-30T08:00:00+08`.
fn iso(ogr: &str) -> String {
    let (date, rest) = match ogr.split_once(' ') {
        Some((d, r)) => (d, Some(r)),
        None => (ogr, None),
    };
    let date = date.replace('/', "-");
    match rest {
        Some(time) => format!("{date}T{time}"),
        None => date,
    }
}

/// The geometry in geo types, 2D and linear. The outer error stops the read
/// (vertex cap); the inner one is a geometry tudi cannot use (the feature is
/// kept without geometry and reported by validation).
fn to_geo(
    g: &OgrGeometry,
    row: u64,
    max_vertices: usize,
) -> Result<Result<Option<Geometry>, String>, IngestError> {
    if g.is_empty() {
        return Ok(Ok(None));
    }
    let over = |vertices| IngestError::TooManyVertices {
        row,
        vertices,
        limit: max_vertices,
    };
    let stored = count_vertices(g);
    if stored > max_vertices {
        return Err(over(stored));
    }
    let mut flat = g.clone();
    flat.flatten_to_2d();
    let converted = catch_unwind(AssertUnwindSafe(|| convert(&flat)))
        .unwrap_or_else(|_| Err("geometry conversion failed".into()));
    let geom = match converted {
        Ok(geom) => geom,
        Err(why) => return Ok(Err(why)),
    };
    // Linearised curves have more vertices than were stored.
    let n = geo::CoordsIter::coords_count(&geom);
    if n > max_vertices {
        return Err(over(n));
    }
    Ok(Ok(Some(geom)))
}

/// Vertices as stored (curve control points), without converting.
fn count_vertices(g: &OgrGeometry) -> usize {
    let parts = g.geometry_count();
    if parts == 0 {
        return g.point_count();
    }
    (0..parts)
        .map(|i| count_vertices(&g.get_geometry(i)))
        .fold(0usize, usize::saturating_add)
}

/// The parts of a collection, a polygon's rings or a compound curve's curves.
fn parts(g: &OgrGeometry) -> impl Iterator<Item = GeometryRef<'_>> + '_ {
    (0..g.geometry_count()).map(move |i| g.get_geometry(i))
}

fn flat_type(g: &OgrGeometry) -> OGRwkbGeometryType::Type {
    gdal::vector::geometry_type_flatten(g.geometry_type())
}

/// A 2D OGR geometry in geo types; curves linearised.
fn convert(g: &OgrGeometry) -> Result<Geometry, String> {
    use OGRwkbGeometryType as T;
    Ok(match flat_type(g) {
        T::wkbPoint
        | T::wkbLineString
        | T::wkbPolygon
        | T::wkbMultiPoint
        | T::wkbMultiLineString
        | T::wkbMultiPolygon => g.to_geo().map_err(|e| e.to_string())?,
        T::wkbCircularString | T::wkbCompoundCurve => Geometry::LineString(curve(g)?),
        T::wkbCurvePolygon | T::wkbTriangle => Geometry::Polygon(surface(g)?),
        T::wkbMultiCurve => Geometry::MultiLineString(MultiLineString(
            parts(g).map(|c| curve(&c)).collect::<Result<_, _>>()?,
        )),
        T::wkbMultiSurface | T::wkbPolyhedralSurface | T::wkbTIN => Geometry::MultiPolygon(
            MultiPolygon(parts(g).map(|s| surface(&s)).collect::<Result<_, _>>()?),
        ),
        T::wkbGeometryCollection => Geometry::GeometryCollection(GeometryCollection(
            parts(g)
                .filter(|p| !p.is_empty())
                .map(|p| convert(&p))
                .collect::<Result<_, _>>()?,
        )),
        _ => return Err(format!("unsupported geometry type {}", g.geometry_name())),
    })
}

/// A polygon-like surface (Polygon, CurvePolygon, Triangle) as a polygon.
fn surface(g: &OgrGeometry) -> Result<Polygon, String> {
    use OGRwkbGeometryType as T;
    match flat_type(g) {
        T::wkbPolygon | T::wkbCurvePolygon | T::wkbTriangle => {}
        _ => return Err(format!("{} in a surface", g.geometry_name())),
    }
    let mut rings = Vec::with_capacity(g.geometry_count());
    for i in 0..g.geometry_count() {
        let mut ring = curve(&g.get_geometry(i))?;
        ring.close();
        rings.push(ring);
    }
    let mut rings = rings.into_iter();
    let exterior = rings.next().unwrap_or_else(|| LineString(Vec::new()));
    Ok(Polygon::new(exterior, rings.collect()))
}

/// A curve (LineString, CircularString, CompoundCurve) as a line string.
fn curve(g: &OgrGeometry) -> Result<LineString, String> {
    let mut out = Vec::new();
    append_curve(g, &mut out)?;
    Ok(LineString(out))
}

fn append_curve(g: &OgrGeometry, out: &mut Vec<Coord>) -> Result<(), String> {
    use OGRwkbGeometryType as T;
    let mut points = Vec::new();
    match flat_type(g) {
        T::wkbLineString | T::wkbLinearRing => {
            g.get_points(&mut points);
            for (x, y, _) in points {
                push(out, Coord { x, y });
            }
        }
        T::wkbCircularString => {
            g.get_points(&mut points);
            let pts: Vec<Coord> = points.into_iter().map(|(x, y, _)| Coord { x, y }).collect();
            let Some(first) = pts.first() else {
                return Ok(());
            };
            push(out, *first);
            let mut i = 0;
            while i + 2 < pts.len() {
                stroke_arc(pts[i], pts[i + 1], pts[i + 2], out);
                i += 2;
            }
            // A malformed tail (an even point count): straight segments.
            for p in &pts[i + 1..] {
                push(out, *p);
            }
        }
        T::wkbCompoundCurve => {
            for i in 0..g.geometry_count() {
                append_curve(&g.get_geometry(i), out)?;
            }
        }
        _ => return Err(format!("{} in a curve", g.geometry_name())),
    }
    Ok(())
}

/// Appends `c` unless it repeats the last point (joints of compound curves).
fn push(out: &mut Vec<Coord>, c: Coord) {
    if out.last() != Some(&c) {
        out.push(c);
    }
}

/// Appends the arc through `p0`, `p1`, `p2` (without `p0`, which `out`
/// already ends with) as segments of at most [`ARC_STEP_DEG`].
fn stroke_arc(p0: Coord, p1: Coord, p2: Coord, out: &mut Vec<Coord>) {
    use std::f64::consts::TAU;
    // Work relative to p0: projected coordinates are large.
    let (bx, by) = (p1.x - p0.x, p1.y - p0.y);
    let (cx, cy) = (p2.x - p0.x, p2.y - p0.y);
    let (center, sweep_sign, full) = if p0 == p2 {
        // A full circle: p1 is diametrically opposite p0.
        (
            Coord {
                x: bx / 2.0,
                y: by / 2.0,
            },
            1.0,
            true,
        )
    } else {
        let d = 2.0 * (bx * cy - by * cx);
        let scale = (bx * bx + by * by).max(cx * cx + cy * cy);
        if d.abs() <= 1e-12 * scale || !d.is_finite() {
            // Collinear: a straight line through the three points.
            push(out, p1);
            push(out, p2);
            return;
        }
        let (b2, c2) = (bx * bx + by * by, cx * cx + cy * cy);
        let ux = (cy * b2 - by * c2) / d;
        let uy = (bx * c2 - cx * b2) / d;
        // Counter-clockwise when p0 -> p1 -> p2 turns left.
        let sign = if d > 0.0 { 1.0 } else { -1.0 };
        (Coord { x: ux, y: uy }, sign, false)
    };
    let r = (center.x * center.x + center.y * center.y).sqrt();
    let a0 = (-center.y).atan2(-center.x);
    let sweep = if full {
        TAU
    } else {
        let a2 = (cy - center.y).atan2(cx - center.x);
        let mut s = (a2 - a0) * sweep_sign;
        while s <= 0.0 {
            s += TAU;
        }
        while s > TAU {
            s -= TAU;
        }
        s * sweep_sign
    };
    let steps = (sweep.abs() / ARC_STEP_DEG.to_radians()).ceil().max(2.0) as usize;
    for k in 1..steps {
        let a = a0 + sweep * k as f64 / steps as f64;
        push(
            out,
            Coord {
                x: p0.x + center.x + r * a.cos(),
                y: p0.y + center.y + r * a.sin(),
            },
        );
    }
    push(out, p2);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::path::{Path, PathBuf};

    use geo::{Area, CoordsIter};

    use super::*;
    use crate::ingest::{Ingested, ingest, sniff};

    const DOC_NO: &str = "南府复〔2021〕101号";

    /// Copies a fixture to a file without an extension, as uploads are.
    fn upload(name: &str) -> (tempfile::TempDir, PathBuf) {
        let src = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/uploads")
            .join(name);
        upload_bytes(&std::fs::read(src).unwrap())
    }

    fn upload_bytes(bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("upload-0123456789abcdef");
        std::fs::write(&path, bytes).unwrap();
        (dir, path)
    }

    fn with_crs(epsg: &str) -> IngestOptions {
        IngestOptions {
            crs_override: Some(Crs::parse(epsg).unwrap()),
            ..IngestOptions::default()
        }
    }

    fn values<'a>(ing: &'a Ingested, field: &str) -> Vec<&'a Value> {
        let k = ing.fields.iter().position(|f| f == field).unwrap() as u16;
        ing.dataset
            .features
            .iter()
            .filter_map(|f| f.props.iter().find(|(i, _)| *i == k).map(|(_, v)| v))
            .collect()
    }

    fn strings(ing: &Ingested, field: &str) -> Vec<String> {
        values(ing, field)
            .into_iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    }

    /// The fixture's villages lie in Nanhai, Foshan.
    fn assert_nanhai(ing: &Ingested) {
        let b = ing.report.bounds_lonlat.unwrap();
        assert!(b.min_x > 112.9 && b.max_x < 113.0, "{b:?}");
        assert!(b.min_y > 22.8 && b.max_y < 23.0, "{b:?}");
        assert_eq!(ing.report.feature_count, 15, "{:?}", ing.report);
        assert_eq!(ing.report.rejected, 0, "{:?}", ing.report.problems);
    }

    /// Nothing but the upload (and no inflated folder) is left next to it.
    fn assert_alone(dir: &tempfile::TempDir) {
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "GDAL left files behind: {names:?}");
    }

    #[test]
    fn kml() {
        let (dir, path) = upload("village.kml");
        let ing = ingest(&path, UploadFormat::Ogr, &IngestOptions::default()).unwrap();
        assert_nanhai(&ing);
        assert_eq!(ing.report.crs, "EPSG:4326");
        assert_eq!(ing.report.crs_source, CrsSource::Prj);
        assert_eq!(ing.report.format, UploadFormat::Ogr);
        assert_eq!(ing.report.layer_name.as_deref(), Some("village_boundary"));
        assert!(
            ing.report.warnings[0].contains("KML driver"),
            "{:?}",
            ing.report.warnings
        );
        assert_eq!(strings(&ing, "doc_no")[0], DOC_NO);
        assert_eq!(strings(&ing, "id")[0], "CB4406051222011");
        assert!(
            values(&ing, "version")
                .iter()
                .all(|v| **v == Value::Int(2021))
        );
        // KML has no date type: ogr2ogr wrote the date as OGR's text.
        assert_eq!(strings(&ing, "approved")[0], "2021/06/30");
        assert_alone(&dir);
    }

    #[test]
    fn gml_in_gauss_kruger() {
        let (dir, path) = upload("village_4547.gml");
        let ing = ingest(&path, UploadFormat::Ogr, &IngestOptions::default()).unwrap();
        assert_nanhai(&ing);
        assert_eq!(ing.report.crs, "EPSG:4547");
        // Easting (about 390 km) first, whatever the EPSG axis order.
        let b = ing.report.bounds.unwrap();
        assert!(b.min_x > 380_000.0 && b.max_x < 400_000.0, "{b:?}");
        assert!(strings(&ing, "doc_no").contains(&DOC_NO.to_string()));
        assert!(
            values(&ing, "version")
                .iter()
                .all(|v| **v == Value::Int(2021))
        );
        assert!(values(&ing, "current").iter().all(|v| **v == Value::Int(1)));
        assert_eq!(strings(&ing, "approved")[0], "2021-06-30");
        // No `.gfs` written next to the upload.
        assert_alone(&dir);
    }

    #[test]
    fn dxf_gbk_needs_a_crs() {
        let (_dir, path) = upload("village_gbk.dxf");
        let e = ingest(&path, UploadFormat::Ogr, &IngestOptions::default()).unwrap_err();
        assert!(matches!(e, IngestError::UnknownCrs(_)), "{e}");
        assert_eq!(e.http_status(), 422);
        let ing = ingest(&path, UploadFormat::Ogr, &with_crs("EPSG:4326")).unwrap();
        assert_nanhai(&ing);
        assert_eq!(ing.report.crs_source, CrsSource::Override);
        // $DWGCODEPAGE ANSI_936: GBK text decoded to UTF-8.
        assert_eq!(strings(&ing, "Layer")[0], DOC_NO);
        assert_eq!(ing.report.layer_name.as_deref(), Some("entities"));
    }

    #[test]
    fn zipped_mapinfo_and_filegdb() {
        let (dir, path) = upload("village_4547_tab.zip");
        assert_eq!(
            sniff(b"PK\x03\x04", None, Some("tab")).unwrap(),
            UploadFormat::Ogr
        );
        // MapInfo keeps the projection but not the EPSG code (no CGCS2000 datum).
        let e = ingest(&path, UploadFormat::Ogr, &IngestOptions::default()).unwrap_err();
        assert!(matches!(e, IngestError::UnknownCrs(_)), "{e}");
        let ing = ingest(&path, UploadFormat::Ogr, &with_crs("EPSG:4547")).unwrap();
        assert_nanhai(&ing);
        assert_eq!(strings(&ing, "doc_no")[0], DOC_NO);
        assert_alone(&dir);

        let (dir, path) = upload("village_4547_gdb.zip");
        let ing = ingest(&path, UploadFormat::Ogr, &IngestOptions::default()).unwrap();
        assert_nanhai(&ing);
        assert_eq!(ing.report.crs, "EPSG:4547");
        assert_eq!(ing.report.layer_name.as_deref(), Some("village_boundary"));
        assert!(strings(&ing, "doc_no").contains(&DOC_NO.to_string()));
        assert_alone(&dir);
    }

    #[test]
    fn kmz_and_ambiguous_zips() {
        let kml = std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/uploads/village.kml"),
        )
        .unwrap();
        let zip = |entries: &[(&str, &[u8])]| {
            let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
            for (name, data) in entries {
                w.start_file(*name, zip::write::SimpleFileOptions::default())
                    .unwrap();
                std::io::Write::write_all(&mut w, data).unwrap();
            }
            w.finish().unwrap().into_inner()
        };
        // A KMZ: doc.kml and an icon.
        let (dir, path) = upload_bytes(&zip(&[("doc.kml", &kml), ("files/icon.png", b"png")]));
        let ing = ingest(&path, UploadFormat::Ogr, &IngestOptions::default()).unwrap();
        assert_nanhai(&ing);
        assert_alone(&dir);
        // Two datasets: name one.
        let (_dir, path) = upload_bytes(&zip(&[("a.kml", &kml), ("b.kml", &kml)]));
        let e = ingest(&path, UploadFormat::Ogr, &IngestOptions::default()).unwrap_err();
        assert!(matches!(e, IngestError::AmbiguousArchive(_)), "{e}");
        // Zip-slip is refused before anything is written.
        let (dir, path) = upload_bytes(&zip(&[("../evil.kml", &kml)]));
        let e = ingest(&path, UploadFormat::Ogr, &IngestOptions::default()).unwrap_err();
        assert!(matches!(e, IngestError::UnsafeArchive { .. }), "{e}");
        assert_alone(&dir);
    }

    #[test]
    fn csv_with_wkt_and_types() {
        let csv = "WKT,name,floors,area,approved,checked\n\
                   \"POINT (113.0 23.0)\",南海,3,120.5,2021-06-30,2021-06-30T08:00:00+08\n\
                   \"POINT Z (113.1 23.1 7)\",桂城,,80.25,,\n";
        let (_dir, path) = upload_bytes(csv.as_bytes());
        assert_eq!(
            sniff(csv.as_bytes(), None, None).unwrap(),
            UploadFormat::Ogr
        );
        let ing = ingest(&path, UploadFormat::Ogr, &with_crs("EPSG:4490")).unwrap();
        assert_eq!(ing.report.feature_count, 2);
        assert!(ing.report.warnings[0].contains("CSV driver"));
        assert_eq!(strings(&ing, "name"), ["南海", "桂城"]);
        assert_eq!(values(&ing, "floors"), [&Value::Int(3)]);
        assert_eq!(
            values(&ing, "area"),
            [&Value::Float(120.5), &Value::Float(80.25)]
        );
        assert_eq!(strings(&ing, "approved"), ["2021-06-30"]);
        assert_eq!(strings(&ing, "checked"), ["2021-06-30T08:00:00+08"]);
        let g = ing.dataset.features[1].geometry.as_ref().unwrap();
        assert_eq!(g, &Geometry::Point(geo::Point::new(113.1, 23.1)));
    }

    #[test]
    fn curves_are_linearised() {
        // A circle of radius 100 m (Gauss-Krüger metres), a compound curve
        // and a curve polygon with a straight side (read without validation:
        // a line among polygons would be rejected there).
        let csv = "WKT,kind\n\
             \"CURVEPOLYGON (CIRCULARSTRING (388700 2538500,388900 2538500,388700 2538500))\",circle\n\
             \"COMPOUNDCURVE ((388600 2538400,388700 2538400),CIRCULARSTRING (388700 2538400,388750 2538450,388800 2538400))\",line\n\
             \"MULTISURFACE (CURVEPOLYGON (COMPOUNDCURVE (CIRCULARSTRING (388600 2538600,388650 2538650,388700 2538600),(388700 2538600,388600 2538600))))\",half\n";
        let (_dir, path) = upload_bytes(csv.as_bytes());
        let out = read(&path, &with_crs("EPSG:4547")).unwrap();
        assert_eq!(out.dataset.features.len(), 3, "{:?}", out.warnings);
        let g: Vec<&Geometry> = out
            .dataset
            .features
            .iter()
            .map(|f| f.geometry.as_ref().unwrap())
            .collect();
        let circle = std::f64::consts::PI * 100.0 * 100.0;
        let a = g[0].unsigned_area();
        assert!((a - circle).abs() / circle < 0.005, "{a} vs {circle}");
        assert!(g[0].coords_count() >= 90, "{}", g[0].coords_count());
        let Geometry::LineString(l) = g[1] else {
            panic!("{:?}", g[1]);
        };
        // Straight part, then a half circle of radius 50 through (388750, 2538450).
        assert_eq!(
            l.0[0],
            Coord {
                x: 388600.0,
                y: 2538400.0
            }
        );
        assert_eq!(
            *l.0.last().unwrap(),
            Coord {
                x: 388800.0,
                y: 2538400.0
            }
        );
        for c in &l.0[1..] {
            let r = ((c.x - 388750.0).powi(2) + (c.y - 2538400.0).powi(2)).sqrt();
            assert!((r - 50.0).abs() < 1e-6, "{c:?} off the arc");
            assert!(c.y >= 2538400.0 - 1e-9, "{c:?} on the wrong side");
        }
        let half = std::f64::consts::PI * 50.0 * 50.0 / 2.0;
        let a = g[2].unsigned_area();
        assert!((a - half).abs() / half < 0.005, "{a} vs {half}");
        assert!(matches!(g[2], Geometry::MultiPolygon(_)));
    }

    #[test]
    fn caps() {
        let (_dir, path) = upload("village.kml");
        let opts = IngestOptions {
            max_features: 5,
            ..IngestOptions::default()
        };
        let e = ingest(&path, UploadFormat::Ogr, &opts).unwrap_err();
        assert!(
            matches!(e, IngestError::TooManyFeatures { limit: 5 }),
            "{e}"
        );
        let opts = IngestOptions {
            max_vertices_per_feature: 8,
            ..IngestOptions::default()
        };
        let e = ingest(&path, UploadFormat::Ogr, &opts).unwrap_err();
        assert!(
            matches!(
                e,
                IngestError::TooManyVertices {
                    row: 0,
                    vertices: 9,
                    limit: 8
                }
            ),
            "{e}"
        );
        // A curve within the cap as stored but over it once linearised.
        let csv = "WKT,n\n\"CIRCULARSTRING (0 0,1 1,2 0)\",1\n";
        let (_dir, path) = upload_bytes(csv.as_bytes());
        let opts = IngestOptions {
            max_vertices_per_feature: 10,
            crs_override: Some(Crs::Wgs84),
            ..IngestOptions::default()
        };
        let e = ingest(&path, UploadFormat::Ogr, &opts).unwrap_err();
        assert!(matches!(e, IngestError::TooManyVertices { .. }), "{e}");
    }

    #[test]
    fn corrupt_files_are_422() {
        for name in ["village.kml", "village_4547.gml", "village_gbk.dxf"] {
            let bytes = std::fs::read(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("fixtures/uploads")
                    .join(name),
            )
            .unwrap();
            let (dir, path) = upload_bytes(&bytes[..bytes.len() / 2]);
            let e = ingest(&path, UploadFormat::Ogr, &IngestOptions::default()).unwrap_err();
            assert!(matches!(e, IngestError::Corrupt { .. }), "{name}: {e}");
            assert_eq!(e.http_status(), 422);
            // The message does not give away the server's folders.
            let dir = dir.path().to_string_lossy().into_owned();
            assert!(!e.to_string().contains(&dir), "{name}: {e}");
        }
    }

    #[test]
    fn unknown_content_is_415() {
        for bytes in [
            &b"\x00\x01\x02 not geodata at all"[..],
            b"hello world\n",
            b"a,b\n1,2\n",
        ] {
            let (_dir, path) = upload_bytes(bytes);
            assert_eq!(sniff(bytes, None, None).unwrap(), UploadFormat::Ogr);
            let e = ingest(&path, UploadFormat::Ogr, &IngestOptions::default()).unwrap_err();
            assert!(matches!(e, IngestError::UnsupportedFormat(_)), "{e}");
            assert_eq!(e.http_status(), 415);
        }
        // A zip with nothing GDAL reads, and a zipped shapefile declared as OGR.
        let zip = |name: &str| {
            let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
            w.start_file(name, zip::write::SimpleFileOptions::default())
                .unwrap();
            std::io::Write::write_all(&mut w, b"data").unwrap();
            w.finish().unwrap().into_inner()
        };
        let (dir, path) = upload_bytes(&zip("readme.txt"));
        let e = ingest(&path, UploadFormat::Ogr, &IngestOptions::default()).unwrap_err();
        assert_eq!(e.http_status(), 415, "{e}");
        assert_alone(&dir);
        let (_dir, path) = upload_bytes(&zip("a.shp"));
        let e = ingest(&path, UploadFormat::Ogr, &IngestOptions::default()).unwrap_err();
        assert!(matches!(e, IngestError::FormatMismatch { .. }), "{e}");
        // GeoJSON declared as an OGR format is a mismatch, not a GDAL read.
        let (_dir, path) = upload("village.geojson");
        let e = ingest(&path, UploadFormat::Ogr, &IngestOptions::default()).unwrap_err();
        assert!(matches!(e, IngestError::FormatMismatch { .. }), "{e}");
    }

    #[test]
    fn xxe_does_not_leak_files() {
        let kml = r#"<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE kml [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>
<kml xmlns="http://www.opengis.net/kml/2.2"><Document><Folder><name>plots</name>
<Placemark><name>&xxe;</name><description>a &xxe; b</description>
<ExtendedData><Data name="leak"><value>&xxe;</value></Data></ExtendedData>
<Point><coordinates>113.0,23.0</coordinates></Point></Placemark>
</Folder></Document></kml>
"#;
        let (_dir, path) = upload_bytes(kml.as_bytes());
        let leaked = |s: &str| s.contains("root:") || s.contains("/bin/");
        // LIBKML stops at the entity declaration: a 422 that quotes nothing.
        let e = ingest(&path, UploadFormat::Ogr, &IngestOptions::default()).unwrap_err();
        assert!(matches!(e, IngestError::Corrupt { .. }), "{e}");
        assert!(!leaked(&e.to_string()), "{e}");
        // GDAL's own KML driver (the fallback) parses it with expat, which
        // leaves the external entity unresolved.
        init();
        let ds = Dataset::open_ex(
            &path,
            DatasetOptions {
                open_flags: GdalOpenFlags::GDAL_OF_VECTOR,
                allowed_drivers: Some(&["KML"]),
                ..DatasetOptions::default()
            },
        );
        take_errors();
        let ds = ds.unwrap();
        let mut read = 0;
        for mut layer in ds.layers() {
            for f in layer.features() {
                read += 1;
                for (name, v) in f.fields() {
                    let s = format!("{v:?}");
                    assert!(!leaked(&s), "{name} leaked: {s}");
                }
            }
        }
        assert_eq!(read, 1);
    }

    #[test]
    fn virtual_paths_are_refused() {
        for p in [
            "/vsicurl/http://example.com/a.kml",
            "PG:dbname=x",
            "CSV:/tmp/x",
        ] {
            let e = read(Path::new(p), &IngestOptions::default()).unwrap_err();
            assert_eq!(e.http_status(), 415, "{p}: {e}");
        }
    }

    #[test]
    fn named_layer() {
        let (_dir, path) = upload("village.kml");
        let opts = IngestOptions {
            layer_name: Some("nope".into()),
            ..IngestOptions::default()
        };
        let e = ingest(&path, UploadFormat::Ogr, &opts).unwrap_err();
        assert!(e.to_string().contains("village_boundary"), "{e}");
    }

    #[test]
    fn iso_dates() {
        assert_eq!(iso("2021/06/30"), "2021-06-30");
        assert_eq!(iso("2021/06/30 08:00:00"), "2021-06-30T08:00:00");
        assert_eq!(
            iso("2021/06/30 08:00:00.250+0530"),
            "2021-06-30T08:00:00.250+0530"
        );
    }
}
