//! Reading a large FlatGeobuf file on several threads.
//!
//! A FlatGeobuf file is a header, an optional index, then size-prefixed
//! features. [`check_fgb_layout`] already walks the size prefixes; from
//! the offsets it records, the features are cut into one run per thread.
//! Each thread reads the header and index followed by its run (two file
//! handles chained, so the `flatgeobuf` crate sees an ordinary file that
//! ends after the run) into its own [`Collector`], numbering features from
//! the run's first. The partial datasets are then joined in order.
//!
//! The result is the sequential read's: the same features with the same row
//! numbers, the same field types (a column is a string column as soon as
//! any run saw mixed types), the same error (the first run's first).
//! Written here because the crate has no way to start reading at a
//! feature offset.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use super::model::FieldType;
use super::read::{Collector, RawDataset, ReadError, check_fgb_layout, read_fgb};

/// Files with fewer features than this are read on one thread.
pub(super) const PARALLEL_MIN: usize = 20_000;

/// Reads `path` on `threads` threads, or `None` when the file is small or
/// its header does not parse (the caller reads it sequentially, which
/// reports the error).
pub(super) fn read(
    path: &Path,
    allow: &[String],
    id_field: Option<&str>,
    threads: usize,
) -> Result<Option<RawDataset>, ReadError> {
    let mut file = BufReader::new(File::open(path)?);
    let mut offsets = Vec::new();
    let Some(features_start) = check_fgb_layout(&mut file, Some(&mut offsets))? else {
        return Ok(None);
    };
    drop(file);
    let features = offsets.len().saturating_sub(1);
    if threads <= 1 || features < PARALLEL_MIN {
        return Ok(None);
    }
    let per = features.div_ceil(threads);
    let runs: Vec<(usize, usize)> = (0..features)
        .step_by(per)
        .map(|a| (a, (a + per).min(features)))
        .collect();
    let parts: Vec<Result<RawDataset, ReadError>> = std::thread::scope(|s| {
        let handles: Vec<_> = runs
            .iter()
            .map(|&(a, b)| {
                let (from, to) = (offsets[a], offsets[b]);
                s.spawn(move || read_run(path, features_start, from, to, a as u64, allow, id_field))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    let mut out = RawDataset {
        features: Vec::with_capacity(features),
        field_types: vec![None; allow.len()],
        ..RawDataset::default()
    };
    for part in parts {
        join(&mut out, part?);
    }
    out.seen_fields.sort();
    out.seen_fields.dedup();
    Ok(Some(out))
}

/// Reads the features in bytes `from..to` of the file (the first of them
/// numbered `first`), after the file's header and index.
fn read_run(
    path: &Path,
    features_start: u64,
    from: u64,
    to: u64,
    first: u64,
    allow: &[String],
    id_field: Option<&str>,
) -> Result<RawDataset, ReadError> {
    let head = File::open(path)?.take(features_start);
    let mut body = File::open(path)?;
    body.seek(SeekFrom::Start(from))?;
    let reader = BufReader::with_capacity(64 << 10, head.chain(body.take(to - from)));
    let mut c = Collector::new(allow, id_field);
    read_fgb(reader, &mut c, first)?;
    Ok(c.finish())
}

/// Appends a later run's dataset to `out`.
fn join(out: &mut RawDataset, mut part: RawDataset) {
    out.features.append(&mut part.features);
    for (t, p) in out.field_types.iter_mut().zip(part.field_types) {
        *t = merge_type(*t, p);
    }
    out.seen_fields.append(&mut part.seen_fields);
    if out.declared_epsg.is_none() {
        out.declared_epsg = part.declared_epsg;
    }
}

/// The type of a column from two runs' views, as one pass would have seen
/// it: a column seen with two types is a string column.
fn merge_type(a: Option<FieldType>, b: Option<FieldType>) -> Option<FieldType> {
    match (a, b) {
        (None, t) | (t, None) => t,
        (Some(a), Some(b)) if a == b => Some(a),
        _ => Some(FieldType::String),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::layer::config::SourceFormat;
    use flatgeobuf::{ColumnType, FgbWriter, FgbWriterOptions, GeometryType};
    use geozero::{ColumnValue, PropertyProcessor};

    /// `n` points with a string, an integer and a float column (the float
    /// absent from every third feature), with or without an index.
    fn fgb(n: usize, index: bool) -> Vec<u8> {
        let opts = FgbWriterOptions {
            write_index: index,
            ..FgbWriterOptions::default()
        };
        let mut w = FgbWriter::create_with_options("pts", GeometryType::Point, opts).unwrap();
        w.add_column("name", ColumnType::String, |_, _| {});
        w.add_column("n", ColumnType::Int, |_, _| {});
        w.add_column("area", ColumnType::Double, |_, _| {});
        for i in 0..n {
            let p = geo::Geometry::Point(geo::Point::new(113.0 + i as f64 * 1e-4, 23.0));
            w.add_feature_geom(p, |f| {
                let name = format!("v{}", i % 13);
                f.property(0, "name", &ColumnValue::String(&name)).unwrap();
                f.property(1, "n", &ColumnValue::Int(i as i32)).unwrap();
                if i % 3 != 0 {
                    f.property(2, "area", &ColumnValue::Double(i as f64 * 0.5))
                        .unwrap();
                }
            })
            .unwrap();
        }
        let mut out = Vec::new();
        w.write(&mut out).unwrap();
        out
    }

    fn same(a: &RawDataset, b: &RawDataset) {
        assert_eq!(a.features.len(), b.features.len());
        for (x, y) in a.features.iter().zip(&b.features) {
            assert_eq!(x.row, y.row);
            assert_eq!(x.id, y.id);
            assert_eq!(x.geometry, y.geometry);
            assert_eq!(x.props, y.props);
        }
        assert_eq!(a.field_types, b.field_types);
        assert_eq!(a.seen_fields, b.seen_fields);
        assert_eq!(a.declared_epsg, b.declared_epsg);
    }

    #[test]
    fn runs_read_what_one_pass_reads() {
        let allow: Vec<String> = ["area", "name", "n"].map(String::from).into();
        for index in [true, false] {
            let dir = std::env::temp_dir()
                .join(format!("tudi-fgb-parallel-{}-{index}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join("pts.fgb");
            std::fs::write(&path, fgb(PARALLEL_MIN + 7, index)).unwrap();
            let one = super::super::read::read(
                BufReader::new(File::open(&path).unwrap()),
                SourceFormat::FlatGeobuf,
                &allow,
                Some("n"),
            )
            .unwrap();
            assert_eq!(one.features.len(), PARALLEL_MIN + 7);
            // (An indexed file holds its features in spatial order.)
            let without_area = one.features.iter().filter(|f| f.props.len() == 2);
            assert_eq!(without_area.count(), (PARALLEL_MIN + 7).div_ceil(3));
            for threads in [2, 3, 8] {
                let many = read(&path, &allow, Some("n"), threads).unwrap().unwrap();
                same(&one, &many);
            }
            assert!(read(&path, &allow, None, 1).unwrap().is_none());
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }

    #[test]
    fn small_files_are_left_to_one_pass() {
        let dir = std::env::temp_dir().join(format!("tudi-fgb-small-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("pts.fgb");
        std::fs::write(&path, fgb(10, true)).unwrap();
        assert!(read(&path, &[], None, 4).unwrap().is_none());
        std::fs::write(&path, b"not a flatgeobuf").unwrap();
        assert!(read(&path, &[], None, 4).unwrap().is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn column_types_merge_like_one_pass() {
        use FieldType::*;
        assert_eq!(merge_type(None, Some(Number)), Some(Number));
        assert_eq!(merge_type(Some(Boolean), None), Some(Boolean));
        assert_eq!(merge_type(Some(Number), Some(Number)), Some(Number));
        assert_eq!(merge_type(Some(Number), Some(Boolean)), Some(String));
        assert_eq!(merge_type(None, None), None);
    }
}
