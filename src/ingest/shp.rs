//! Zipped Shapefile uploads: exactly one `.shp` with its `.shx` and `.dbf`
//! (required), `.prj` (the CRS, via [`parse_prj_wkt`]) and `.cpg` (the
//! attribute encoding), all sharing one base name.
//!
//! Geometry comes from the `shapefile` crate (polygons come back as
//! MultiPolygon). The `.dbf` is decoded here (dBASE III: C, N, F, L, D, I,
//! O, B fields) so that text is decoded with encoding_rs from the raw bytes:
//!
//! * `.cpg` present: its label (`UTF-8`, `GBK`, `GB2312`, `GB18030`, `936`,
//!   `ANSI 936`, `CP936`, `54936`, `65001`, `950`, `1252`...) decides;
//! * no `.cpg`, `.dbf` language driver 0x4D (CP936): GBK;
//! * otherwise each value is tried as UTF-8 and, if that fails, decoded as
//!   GB18030 (a superset of GBK/GB2312: the usual encoding of Chinese
//!   shapefiles without `.cpg`); the report says when that happened.
//!
//! Records flagged deleted in the `.dbf` are skipped, like GDAL does.

use std::io::Cursor;
use std::path::Path;
use std::sync::Arc;

use encoding_rs::{Encoding, GB18030, GBK, UTF_8};

use crate::crs::parse_prj_wkt;
use crate::layer::read::{RawDataset, RawFeature};
use crate::layer::{FieldType, Value};

use super::archive::{Entry, SafeZip};
use super::{CrsSource, IngestError, IngestOptions, ReadOutcome, UploadFormat};

fn corrupt(e: impl ToString) -> IngestError {
    IngestError::corrupt(UploadFormat::ShapefileZip, e)
}

/// Reads the shapefile inside the zip at `path`.
pub fn read_zip(path: &Path, opts: &IngestOptions) -> Result<ReadOutcome, IngestError> {
    let mut zip = SafeZip::open(path, opts)?;
    let entries: Vec<Entry> = zip
        .entries
        .iter()
        .filter(|e| !e.name.starts_with("__MACOSX/") && !e.file_name().starts_with("._"))
        .cloned()
        .collect();
    let mut shps: Vec<&Entry> = entries.iter().filter(|e| e.ext() == "shp").collect();
    if let Some(want) = &opts.layer_name {
        shps.retain(|e| e.file_name().rsplit_once('.').map(|(s, _)| s) == Some(want.as_str()));
    }
    let shp = match shps.as_slice() {
        [] => return Err(IngestError::MissingPart(".shp".into())),
        [one] => *one,
        many => {
            let names: Vec<&str> = many.iter().map(|e| e.name.as_str()).collect();
            return Err(IngestError::AmbiguousArchive(format!(
                "{} shapefiles ({}); upload one per archive",
                many.len(),
                names.join(", ")
            )));
        }
    };
    let stem = shp.stem().to_ascii_lowercase();
    let part = |ext: &str| {
        entries
            .iter()
            .find(|e| e.ext() == ext && e.stem().to_ascii_lowercase() == stem)
            .cloned()
    };
    let shx = part("shx").ok_or_else(|| IngestError::MissingPart(".shx".into()))?;
    let dbf = part("dbf").ok_or_else(|| IngestError::MissingPart(".dbf".into()))?;
    let (prj, cpg) = (part("prj"), part("cpg"));

    let mut warnings = Vec::new();
    let declared_crs = match prj {
        Some(e) => {
            let wkt = zip.read(&e)?;
            let crs = parse_prj_wkt(&String::from_utf8_lossy(&wkt))
                .map_err(|err| IngestError::UnknownCrs(format!(".prj: {err}")))?;
            Some((crs, CrsSource::Prj))
        }
        None => None,
    };
    let cpg_label = match cpg {
        Some(e) => Some(String::from_utf8_lossy(&zip.read(&e)?).trim().to_string()),
        None => None,
    };
    let shp_bytes = zip.read(shp)?;
    let shx_bytes = zip.read(&shx)?;
    let dbf_bytes = zip.read(&dbf)?;

    let mut text = TextDecoder::choose(cpg_label.as_deref(), &dbf_bytes, &mut warnings);
    let table = Dbf::parse(&dbf_bytes, &mut text)?;
    if text.fell_back {
        warnings.push("attribute text is not UTF-8 and has no .cpg: decoded as GB18030".into());
    }

    let mut reader =
        shapefile::ShapeReader::with_shx(Cursor::new(shp_bytes), Cursor::new(shx_bytes))
            .map_err(|e| corrupt(format!(".shp/.shx: {e}")))?;
    let mut features = Vec::new();
    for (row, shape) in reader.iter_shapes().enumerate() {
        let shape = shape.map_err(|e| corrupt(format!(".shp record {row}: {e}")))?;
        let Some(rec) = table.records.get(row) else {
            return Err(corrupt(format!(
                ".dbf has {} records, the .shp more",
                table.records.len()
            )));
        };
        let Some(props) = rec else { continue };
        if features.len() >= opts.max_features {
            return Err(IngestError::TooManyFeatures {
                limit: opts.max_features,
            });
        }
        let geometry = geo::Geometry::try_from(shape).ok();
        features.push(RawFeature {
            row: row as u64,
            id: None,
            geometry,
            props: props.clone(),
        });
    }
    let layer_name = shp.file_name().rsplit_once('.').map(|(s, _)| s.to_string());
    Ok(ReadOutcome {
        dataset: RawDataset {
            features,
            field_types: table.types.iter().copied().map(Some).collect(),
            seen_fields: table.names.clone(),
            declared_epsg: declared_crs.map(|(c, _)| c.epsg() as i32),
        },
        fields: table.names,
        declared_crs,
        layer_name,
        encoding: Some(text.label()),
        warnings,
    })
}

/// Decodes `.dbf` text.
struct TextDecoder {
    /// `None`: UTF-8, falling back to GB18030 per value.
    enc: Option<&'static Encoding>,
    fell_back: bool,
}

impl TextDecoder {
    fn choose(cpg: Option<&str>, dbf: &[u8], warnings: &mut Vec<String>) -> TextDecoder {
        let enc = match cpg {
            Some(label) => {
                let e = encoding_for_cpg(label);
                if e.is_none() {
                    warnings.push(format!("unknown .cpg encoding `{label}`: guessed"));
                }
                e
            }
            // dBASE language driver id 0x4D: Chinese GBK (CP936).
            None if dbf.get(29) == Some(&0x4D) => Some(GBK),
            None => None,
        };
        TextDecoder {
            enc,
            fell_back: false,
        }
    }

    fn label(&self) -> String {
        match self.enc {
            Some(e) => e.name().to_string(),
            None if self.fell_back => "GB18030 (guessed)".into(),
            None => "UTF-8 (guessed)".into(),
        }
    }

    fn decode(&mut self, bytes: &[u8]) -> String {
        match self.enc {
            Some(e) => e.decode_without_bom_handling(bytes).0.into_owned(),
            None => match std::str::from_utf8(bytes) {
                Ok(s) => s.to_string(),
                Err(_) => {
                    self.fell_back = true;
                    GB18030.decode_without_bom_handling(bytes).0.into_owned()
                }
            },
        }
    }
}

/// Maps a `.cpg` label to an encoding (`None`: unknown).
pub fn encoding_for_cpg(label: &str) -> Option<&'static Encoding> {
    let l = label
        .trim()
        .trim_start_matches('\u{feff}')
        .to_ascii_uppercase();
    let code = l
        .strip_prefix("ANSI ")
        .or_else(|| l.strip_prefix("CP"))
        .or_else(|| l.strip_prefix("WINDOWS-"))
        .unwrap_or(&l)
        .trim();
    if let Ok(n) = code.parse::<u32>() {
        return match n {
            936 => Some(GBK),
            54936 => Some(GB18030),
            65001 => Some(UTF_8),
            950 => Some(encoding_rs::BIG5),
            _ => Encoding::for_label(format!("windows-{n}").as_bytes()),
        };
    }
    Encoding::for_label(l.as_bytes())
}

/// A decoded `.dbf`: field names and types, and per record the values
/// (`None` for a deleted record).
struct Dbf {
    names: Vec<String>,
    types: Vec<FieldType>,
    records: Vec<Option<Vec<(u16, Value)>>>,
}

struct DbfField {
    kind: u8,
    offset: usize,
    len: usize,
}

impl Dbf {
    fn parse(b: &[u8], text: &mut TextDecoder) -> Result<Dbf, IngestError> {
        let bad = |what: &str| corrupt(format!(".dbf: {what}"));
        if b.len() < 32 {
            return Err(bad("shorter than its header"));
        }
        let n_rec = u32::from_le_bytes([b[4], b[5], b[6], b[7]]) as usize;
        let header_len = u16::from_le_bytes([b[8], b[9]]) as usize;
        let rec_len = u16::from_le_bytes([b[10], b[11]]) as usize;
        if header_len < 33 || header_len > b.len() || rec_len == 0 {
            return Err(bad("invalid header"));
        }
        let (mut names, mut types, mut fields) = (Vec::new(), Vec::new(), Vec::new());
        let mut offset = 1; // the deletion flag
        let mut pos = 32;
        while pos + 32 <= header_len && b[pos] != 0x0D {
            let d = &b[pos..pos + 32];
            let raw_name = d[..11].split(|c| *c == 0).next().unwrap_or(&[]);
            let len = d[16] as usize;
            let kind = d[11].to_ascii_uppercase();
            let t = match kind {
                b'C' | b'D' => Some(FieldType::String),
                b'N' | b'F' | b'I' | b'O' | b'B' => Some(FieldType::Number),
                b'L' => Some(FieldType::Boolean),
                _ => None, // memo, binary, ...: skipped
            };
            if let Some(t) = t {
                names.push(text.decode(raw_name).trim().to_string());
                types.push(t);
                fields.push(DbfField { kind, offset, len });
            }
            offset += len;
            pos += 32;
        }
        if offset > rec_len {
            return Err(bad("fields wider than the record"));
        }
        let mut records = Vec::with_capacity(n_rec.min(b.len() / rec_len));
        for i in 0..n_rec {
            let start = header_len + i * rec_len;
            let Some(rec) = b.get(start..start + rec_len) else {
                return Err(bad(&format!("truncated at record {i} of {n_rec}")));
            };
            if rec[0] == b'*' {
                records.push(None);
                continue;
            }
            let mut props = Vec::new();
            for (k, f) in fields.iter().enumerate() {
                let raw = &rec[f.offset..f.offset + f.len];
                if let Some(v) = field_value(f.kind, raw, text) {
                    props.push((k as u16, v));
                }
            }
            records.push(Some(props));
        }
        Ok(Dbf {
            names,
            types,
            records,
        })
    }
}

fn field_value(kind: u8, raw: &[u8], text: &mut TextDecoder) -> Option<Value> {
    let ascii = || std::str::from_utf8(raw).ok().map(str::trim);
    match kind {
        b'C' => {
            let s = text.decode(raw);
            let s = s.trim_matches(|c: char| c == ' ' || c == '\0');
            (!s.is_empty()).then(|| Value::String(Arc::from(s)))
        }
        b'D' => ascii()
            .filter(|s| s.len() == 8 && s.bytes().all(|c| c.is_ascii_digit()))
            .map(|s| {
                Value::String(Arc::from(
                    format!("{}-{}-{}", &s[..4], &s[4..6], &s[6..]).as_str(),
                ))
            }),
        b'N' | b'F' => {
            let s = ascii()?;
            if let Ok(i) = s.parse::<i64>() {
                Some(Value::Int(i))
            } else {
                s.parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite())
                    .map(Value::Float)
            }
        }
        b'I' => <[u8; 4]>::try_from(raw)
            .ok()
            .map(|a| Value::Int(i64::from(i32::from_le_bytes(a)))),
        b'O' | b'B' if raw.len() == 8 => <[u8; 8]>::try_from(raw)
            .ok()
            .map(|a| Value::Float(f64::from_le_bytes(a))),
        b'L' => match raw.first()? {
            b'T' | b't' | b'Y' | b'y' => Some(Value::Bool(true)),
            b'F' | b'f' | b'N' | b'n' => Some(Value::Bool(false)),
            _ => None,
        },
        _ => None,
    }
}
