//! Loading a large FlatGeobuf layer on every core.
//!
//! A FlatGeobuf file is a header, an optional index, then size-prefixed
//! features. [`check_fgb_layout`] walks the size prefixes; from the offsets
//! it records, the features are cut into one run per core. Each run's
//! thread reads the header and index followed by its run (two file handles
//! chained: the `flatgeobuf` crate has no way to start at a feature) and
//! checks and reprojects each feature as soon as it is read, while its
//! attribute rows go to the one thread that builds the layer's store, run
//! after run. The runs' results are joined in order.
//!
//! The result is the one-pass load's: the same features, rows, field types
//! (a column is a string column as soon as any run saw mixed types),
//! problems and geometry family. Only files whose header names one
//! geometry type take this path (every feature then has that type's family,
//! which the one-pass load would find in its first good feature); anything
//! unusual (a header that does not parse, no feature count, a declared CRS
//! that disagrees, a read error in any run) falls back to the one-pass load,
//! which reports it as before.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};

use flatgeobuf::GeometryType;
use geo::CoordsIter;

use super::config::{InvalidPolicy, LayerDef, SourceFormat};
use super::load::{AttrsThread, PARALLEL_MIN, Validated, crs_agrees, intern_thread, process, row};
use super::model::{FieldType, GeomKind};
use super::read::{Collector, FgbLayout, check_fgb_layout, read_fgb};
use super::rows;
use crate::crs::{AxisOrder, Transformer, detect_axis_order};

/// A layer's features read, checked and reprojected on every core.
pub(super) struct Loaded {
    pub axis: AxisOrder,
    pub validated: Validated,
    pub field_types: Vec<Option<FieldType>>,
    pub attrs: AttrsThread,
}

/// Loads `def` on every core, or `None` when the file does not qualify or
/// anything goes wrong (the caller then loads it in one pass).
pub(super) fn load(def: &LayerDef) -> Option<Loaded> {
    if def.format != SourceFormat::FlatGeobuf {
        return None;
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads < 2 {
        return None;
    }
    let mut file = BufReader::new(File::open(&def.source).ok()?);
    let mut offsets = Vec::new();
    let layout = check_fgb_layout(&mut file, Some(&mut offsets)).ok()??;
    let n = layout.features();
    if layout.count == 0 || layout.walked < layout.count || n < PARALLEL_MIN {
        return None;
    }
    let (kind, declared) = {
        let fgb = flatgeobuf::FgbReader::open(&mut file).ok()?;
        let h = fgb.header();
        (
            family(h.geometry_type())?,
            h.crs().map(|c| c.code()).filter(|c| *c != 0),
        )
    };
    drop(file);
    if !crs_agrees(declared, def) {
        return None;
    }
    let axis = match def.axis_order {
        AxisOrder::Auto => detect_axis_order(def.crs, first_coords(def, &layout, &offsets)?),
        fixed => fixed,
    };
    let tf = Transformer::new(def.crs, axis).ok()?;
    let repair = def.invalid == InvalidPolicy::Repair;

    let per = n.div_ceil(threads);
    let runs: Vec<(usize, usize)> = (0..n).step_by(per).map(|a| (a, (a + per).min(n))).collect();
    let fields = def.attributes.len();
    let (mut sinks, mut receivers) = (Vec::new(), Vec::new());
    for (i, &(a, b)) in runs.iter().enumerate() {
        let (mut sink, rx) = if i == 0 {
            rows::channel(fields)
        } else {
            rows::channel_for(fields, b - a)
        };
        if i == 0 {
            sink.expect(n);
        }
        sinks.push(sink);
        receivers.push(rx);
    }
    let attrs = intern_thread(fields, receivers);
    let parts: Vec<Option<(Validated, Vec<Option<FieldType>>)>> = std::thread::scope(|s| {
        let handles: Vec<_> = runs
            .iter()
            .zip(sinks)
            .map(|(&(a, b), sink)| {
                let (tf, offsets) = (&tf, &offsets);
                s.spawn(move || {
                    let mut reader = run_reader(def, &layout, offsets[a], offsets[b]).ok()?;
                    let mut c =
                        Collector::with_rows(&def.attributes, def.id_field.as_deref(), sink);
                    // The first run's vectors take the others' features after.
                    let target = if a == 0 { n } else { b - a };
                    let mut v = Validated::with_capacity(target);
                    read_fgb(&mut reader, &mut c, a as u64, &mut |c| {
                        while let Some(rf) = c.pop_feature() {
                            let r = row(usize::try_from(rf.row).unwrap_or(usize::MAX));
                            v.merge(process(r, rf, Some(kind), repair, tf));
                            if v.features.len() == SAMPLE_FEATURES {
                                v.reserve_like_sample(target);
                            }
                        }
                        true
                    })
                    .ok()?;
                    Some((v, c.finish().field_types))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    if parts.iter().any(Option::is_none) {
        // The store thread ends with its senders; its result is not needed.
        let _ = attrs.join();
        return None;
    }
    let mut validated = Validated::with_capacity(0);
    let mut field_types = vec![None; fields];
    for (v, types) in parts.into_iter().flatten() {
        validated.append(v);
        for (t, p) in field_types.iter_mut().zip(types) {
            *t = merge_type(*t, p);
        }
    }
    Some(Loaded {
        axis,
        validated,
        field_types,
        attrs,
    })
}

/// After this many features a run sizes its coordinate arena for all of
/// its features (or the layer's, for the first run) at the same mean: the
/// arena of a million parcels would otherwise double its way to 64 MB,
/// copying and faulting in twice that.
const SAMPLE_FEATURES: usize = 2048;

/// The geometry family of every feature of a file whose header names
/// `t` (`None`: mixed or a type this path leaves to the one-pass load).
fn family(t: GeometryType) -> Option<GeomKind> {
    match t {
        GeometryType::Point | GeometryType::MultiPoint => Some(GeomKind::Point),
        GeometryType::LineString | GeometryType::MultiLineString => Some(GeomKind::Line),
        GeometryType::Polygon | GeometryType::MultiPolygon => Some(GeomKind::Polygon),
        _ => None,
    }
}

/// The header and index followed by the features in bytes `from..to`.
fn run_reader(
    def: &LayerDef,
    layout: &FgbLayout,
    from: u64,
    to: u64,
) -> std::io::Result<impl Read + use<>> {
    let head = File::open(&def.source)?.take(layout.features_start);
    let mut body = File::open(&def.source)?;
    body.seek(SeekFrom::Start(from))?;
    let run = body.take(to.saturating_sub(from));
    Ok(BufReader::with_capacity(64 << 10, head.chain(run)))
}

/// The coordinates the one-pass load samples for the axis order: up to 8
/// of each of the first features, 4096 in all.
fn first_coords(def: &LayerDef, layout: &FgbLayout, offsets: &[u64]) -> Option<Vec<(f64, f64)>> {
    const SAMPLE: usize = 4096;
    let end = *offsets.get(layout.features())?;
    let mut reader = run_reader(def, layout, *offsets.first()?, end).ok()?;
    let mut c = Collector::new(&[], None);
    let mut sample = Vec::with_capacity(SAMPLE);
    read_fgb(&mut reader, &mut c, 0, &mut |c| {
        if let Some(g) = c.pop_feature().and_then(|f| f.geometry) {
            sample.extend(g.coords_iter().take(8).map(|c| (c.x, c.y)));
        }
        sample.len() < SAMPLE
    })
    .ok()?;
    sample.truncate(SAMPLE);
    Some(sample)
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
    use crate::layer::load::{build_layer, load_layer};
    use crate::layer::read::read_file;
    use flatgeobuf::{ColumnType, FgbWriter};
    use geozero::{ColumnValue, PropertyProcessor};
    use std::path::Path;

    /// `n` small polygons (a bow tie every 1000th: repaired; a zero-area
    /// ring every 1777th: dropped) with string, unique string, integer,
    /// sometimes absent float and boolean columns.
    fn write_fgb(path: &Path, n: usize) {
        let mut w = FgbWriter::create("parcels", GeometryType::Polygon).unwrap();
        w.add_column("name", ColumnType::String, |_, _| {});
        w.add_column("code", ColumnType::String, |_, _| {});
        w.add_column("n", ColumnType::Int, |_, _| {});
        w.add_column("area", ColumnType::Double, |_, _| {});
        w.add_column("ok", ColumnType::Bool, |_, _| {});
        for i in 0..n {
            let (x, y) = (
                113.0 + (i % 300) as f64 * 1e-3,
                23.0 + (i / 300) as f64 * 1e-3,
            );
            let d = 5e-4;
            let ring = if i % 1000 == 7 {
                vec![(x, y), (x + d, y + d), (x + d, y), (x, y + d), (x, y)]
            } else if i % 1777 == 3 {
                vec![(x, y), (x + d, y), (x + 2.0 * d, y), (x, y)]
            } else {
                vec![(x, y), (x + d, y), (x + d, y + d), (x, y + d), (x, y)]
            };
            let p = geo::Geometry::Polygon(geo::Polygon::new(ring.into(), vec![]));
            w.add_feature_geom(p, |f| {
                let name = format!("v{}", i % 13);
                let code = format!("c{i}");
                f.property(0, "name", &ColumnValue::String(&name)).unwrap();
                f.property(1, "code", &ColumnValue::String(&code)).unwrap();
                f.property(2, "n", &ColumnValue::Int(i as i32)).unwrap();
                if i % 3 != 0 {
                    f.property(3, "area", &ColumnValue::Double(i as f64 * 0.5))
                        .unwrap();
                }
                f.property(4, "ok", &ColumnValue::Bool(i % 2 == 0)).unwrap();
            })
            .unwrap();
        }
        let mut out = std::io::BufWriter::new(File::create(path).unwrap());
        w.write(&mut out).unwrap();
    }

    #[test]
    fn every_core_loads_what_one_pass_loads() {
        if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("parcels.fgb");
        write_fgb(&path, PARALLEL_MIN + 1234);
        let text = format!(
            "id = \"p\"\ntitle = \"P\"\ncategory = \"test\"\nsource = \"{}\"\n\
             crs = \"EPSG:4326\"\nid_field = \"n\"\n\
             attributes = [\"ok\", \"code\", \"area\", \"name\", \"n\"]\n",
            path.display()
        );
        let def = LayerDef::from_str(&dir.path().join("p.toml"), &text).unwrap();
        assert!(load(&def).is_some(), "the file takes the parallel path");
        let (par, par_report) = load_layer(&def, 1).unwrap();
        let raw = read_file(&path, def.format, &def.attributes, def.id_field.as_deref()).unwrap();
        let (one, one_report) = build_layer(
            &def,
            1,
            par.content_hash.clone(),
            raw,
            std::time::Instant::now(),
        )
        .unwrap();
        assert!(
            par_report.repaired > 0 && par_report.dropped > 0,
            "{} {}",
            par_report.repaired,
            par_report.dropped
        );
        assert_eq!(par_report.problems, one_report.problems);
        assert_eq!(par_report.axis_order, one_report.axis_order);
        assert_eq!(par.kind, one.kind);
        assert_eq!(par.fields, one.fields);
        assert_eq!(par.bounds, one.bounds);
        assert_eq!(par.features.len(), one.features.len());
        assert_eq!(par.attrs.values().len(), one.attrs.values().len());
        for (a, b) in par.features.iter().zip(&one.features) {
            assert_eq!(
                (a.id, a.row, par.geometry(a)),
                (b.id, b.row, one.geometry(b))
            );
            let pa: Vec<_> = par.attrs.row_ids(a.row).collect();
            let pb: Vec<_> = one.attrs.row_ids(b.row).collect();
            assert_eq!(pa, pb, "feature {}", a.id);
        }
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
