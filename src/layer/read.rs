//! Reading source files (GeoJSON, FlatGeobuf) through geozero into raw
//! features: geometry in the source CRS plus the allow-listed attributes.
//!
//! A single [`Collector`] implements geozero's `FeatureProcessor` for every
//! format, so all formats share one path: attributes outside the allow-list
//! are never stored, repeated strings are interned, and a feature without a
//! geometry is reported by its row number instead of aborting the file.

use std::collections::HashMap;
use std::io::{BufReader, Read, Seek};
use std::path::Path;
use std::sync::Arc;

use geo::Geometry;
use geozero::error::Result;
use geozero::geo_types::GeoWriter;
use geozero::{
    ColumnValue, CoordDimensions, FeatureProcessor, GeomProcessor, GeozeroDatasource,
    PropertyProcessor,
};

use super::attrs::ValueRef;
use super::config::SourceFormat;
use super::model::{FieldType, Value};
use super::rows::RowSink;

/// Distinct values per field above which strings stop being interned (ids
/// and codes are unique; interning them would only cost memory).
const INTERN_LIMIT: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot open: {0}")]
    Io(#[from] std::io::Error),
    #[error("not a readable {format}: {message}")]
    Format {
        format: &'static str,
        message: String,
    },
}

/// One feature as read: row index, id (from `id_field` when given), geometry
/// in source coordinates, allow-listed attributes.
#[derive(Debug, Clone)]
pub struct RawFeature {
    pub row: u64,
    pub id: Option<u64>,
    pub geometry: Option<Geometry>,
    pub props: Vec<(u16, Value)>,
}

/// Everything read from one source.
#[derive(Debug, Default, Clone)]
pub struct RawDataset {
    pub features: Vec<RawFeature>,
    /// Type of each allow-listed field as seen in the data (`None`: never seen).
    pub field_types: Vec<Option<FieldType>>,
    /// Attributes found in the data, allow-listed or not (for reports).
    pub seen_fields: Vec<String>,
    /// EPSG code declared in the file's own metadata (FlatGeobuf header).
    pub declared_epsg: Option<i32>,
}

/// Reads a whole source file.
pub fn read_file(
    path: &Path,
    format: SourceFormat,
    allow: &[String],
    id_field: Option<&str>,
) -> std::result::Result<RawDataset, ReadError> {
    let file = std::fs::File::open(path)?;
    read(BufReader::new(file), format, allow, id_field)
}

/// Reads a whole source file, writing the allow-listed attributes into
/// `rows` (row `i`: feature `i`) instead of the features' `props`, which
/// stay empty. The sink is flushed and dropped when the read ends.
pub fn read_file_rows(
    path: &Path,
    format: SourceFormat,
    allow: &[String],
    id_field: Option<&str>,
    rows: RowSink,
) -> std::result::Result<RawDataset, ReadError> {
    let file = std::fs::File::open(path)?;
    read_with(
        BufReader::new(file),
        format,
        Collector::with_rows(allow, id_field, rows),
    )
}

/// Reads a source from any seekable reader.
pub fn read<R: Read + Seek>(
    reader: R,
    format: SourceFormat,
    allow: &[String],
    id_field: Option<&str>,
) -> std::result::Result<RawDataset, ReadError> {
    read_with(reader, format, Collector::new(allow, id_field))
}

/// Reads a source keeping every attribute, in first-seen order: one pass
/// for formats without a schema (GeoJSON). Returns the dataset and the
/// attribute names its `props` index into.
pub fn read_all_fields<R: Read + Seek>(
    reader: R,
    format: SourceFormat,
) -> std::result::Result<(RawDataset, Vec<String>), ReadError> {
    let mut c = Collector::new(&[], None);
    c.open = Some(Vec::new());
    let mut names = Vec::new();
    let ds = read_with(reader, format, c).map(|(ds, open)| {
        names = open;
        ds
    });
    ds.map(|ds| (ds, names))
}

fn read_with<R: Read + Seek, T: FromCollector>(
    reader: R,
    format: SourceFormat,
    mut c: Collector,
) -> std::result::Result<T, ReadError> {
    match format {
        SourceFormat::GeoJson => {
            let mut ds = geozero::geojson::GeoJsonReader(reader);
            ds.process(&mut c).map_err(|e| ReadError::Format {
                format: "GeoJSON file",
                message: e.to_string(),
            })?;
        }
        SourceFormat::FlatGeobuf => {
            let mut reader = reader;
            let layout = check_fgb_layout(&mut reader, None)?;
            if let (Some(rows), Some(l)) = (c.rows.as_mut(), layout) {
                rows.expect(l.features());
            }
            read_fgb(reader, &mut c, 0, &mut |_| true)?;
        }
    }
    Ok(T::from_collector(c))
}

/// Reads FlatGeobuf features into `c`, numbering them from `first`: the
/// whole file after [`check_fgb_layout`], or (`layer::load_fgb`) the file's
/// header and index followed by one run of its features. `each` is called
/// after each feature (it may take it from the collector); reading stops
/// early when it returns `false`.
pub(super) fn read_fgb<R: Read>(
    reader: R,
    c: &mut Collector,
    first: u64,
    each: &mut dyn FnMut(&mut Collector) -> bool,
) -> std::result::Result<(), ReadError> {
    let fmt_err = |e: flatgeobuf::Error| ReadError::Format {
        format: "FlatGeobuf file",
        message: e.to_string(),
    };
    let fgb = flatgeobuf::FgbReader::open(reader).map_err(fmt_err)?;
    c.out.declared_epsg = fgb.header().crs().map(|crs| crs.code()).filter(|c| *c != 0);
    let header_type = fgb.header().geometry_type();
    let columns: Vec<flatgeobuf::ColumnType> = fgb
        .header()
        .columns()
        .map(|cs| cs.iter().map(|c| c.type_()).collect())
        .unwrap_or_default();
    let mut iter = fgb.select_all_seq().map_err(fmt_err)?;
    // `FeatureIter::process_features`, with each feature's property
    // bytes checked first (see `check_fgb_properties`).
    use flatgeobuf::FallibleStreamingIterator;
    use geozero::FeatureAccess;
    let geo_err = |e: geozero::error::GeozeroError| ReadError::Format {
        format: "FlatGeobuf file",
        message: e.to_string(),
    };
    c.dataset_begin(None).map_err(geo_err)?;
    let mut n = first;
    while let Some(feature) = iter.next().map_err(fmt_err)? {
        check_fgb_properties(feature, &columns, n)?;
        if let Some(g) = feature.geometry()
            && !fgb_geometry_ok(&g, header_type, 0)
        {
            return Err(ReadError::Format {
                format: "FlatGeobuf file",
                message: format!(
                    "feature {n}: inconsistent geometry arrays (odd or short \
                     coordinates, ring ends past the coordinates)"
                ),
            });
        }
        feature.process(c, n).map_err(geo_err)?;
        n += 1;
        if !each(c) {
            return Ok(());
        }
    }
    c.dataset_end().map_err(geo_err)?;
    Ok(())
}

/// What [`check_fgb_layout`] found.
#[derive(Debug, Clone, Copy)]
pub(super) struct FgbLayout {
    /// The header's feature count (0: not given).
    pub count: u64,
    /// Where the first feature's size prefix is.
    pub features_start: u64,
    /// Size-prefixed features found in the file.
    pub walked: u64,
}

impl FgbLayout {
    /// How many features the reader will read (at most the header's count).
    pub fn features(&self) -> usize {
        let n = if self.count > 0 {
            self.count.min(self.walked)
        } else {
            self.walked
        };
        usize::try_from(n).unwrap_or(usize::MAX)
    }
}

/// Checks a FlatGeobuf file's declared sizes against its length before the
/// `flatgeobuf` crate reads it, and rewinds. That crate allocates each
/// feature's buffer from its 4-byte size prefix before reading it (a 2 KB
/// file declaring a 3.5 GB feature made the server allocate 3.5 GB: found
/// by the `flatgeobuf` fuzz target) and asserts on an index node size of 1.
/// Refuses: an index node size of 1, an index or a feature that would end
/// past the end of the file. With `offsets`, records where each feature
/// starts (its size prefix) and where the last ends. `None`: the header
/// does not parse (the real read reports it).
pub(super) fn check_fgb_layout<R: Read + Seek>(
    reader: &mut R,
    mut offsets: Option<&mut Vec<u64>>,
) -> std::result::Result<Option<FgbLayout>, ReadError> {
    use std::io::SeekFrom;
    let bad = |message: String| ReadError::Format {
        format: "FlatGeobuf file",
        message,
    };
    let len = reader.seek(SeekFrom::End(0))?;
    reader.seek(SeekFrom::Start(0))?;
    let (count, node_size) = {
        let fgb = match flatgeobuf::FgbReader::open(&mut *reader) {
            Ok(f) => f,
            // Let the real read report it.
            Err(_) => {
                reader.seek(SeekFrom::Start(0))?;
                return Ok(None);
            }
        };
        let h = fgb.header();
        (h.features_count(), h.index_node_size())
    };
    let mut pos = reader.stream_position()?;
    if node_size == 1 {
        return Err(bad("index node size 1 (must be 0 or at least 2)".into()));
    }
    if node_size >= 2 && count > 0 {
        // PackedRTree::index_size, in checked u128 arithmetic: it always
        // adds at least one level (a one-feature index has a root node too).
        let (mut n, mut nodes) = (u128::from(count), u128::from(count));
        loop {
            n = n.div_ceil(u128::from(node_size));
            nodes += n;
            if n <= 1 {
                break;
            }
        }
        let index = nodes * 40;
        if u128::from(pos) + index > u128::from(len) {
            return Err(bad(format!(
                "the index of {count} features needs {index} bytes, the file has {} after the header",
                len - pos
            )));
        }
        pos += index as u64;
    }
    let features_start = pos;
    let mut r = BufReader::with_capacity(64 << 10, &mut *reader);
    r.seek(SeekFrom::Start(pos))?;
    let mut feature = 0u64;
    while len - pos >= 4 {
        if let Some(o) = offsets.as_mut() {
            o.push(pos);
        }
        let mut size = [0u8; 4];
        r.read_exact(&mut size)?;
        let size = u64::from(u32::from_le_bytes(size));
        pos += 4;
        if size > len - pos {
            return Err(bad(format!(
                "feature {feature} declares {size} bytes, the file has {} left",
                len - pos
            )));
        }
        r.seek_relative(size as i64)?;
        pos += size;
        feature += 1;
    }
    drop(r);
    if let Some(o) = offsets {
        o.push(pos);
    }
    reader.seek(SeekFrom::Start(0))?;
    Ok(Some(FgbLayout {
        count,
        features_start,
        walked: feature,
    }))
}

/// Checks that a FlatGeobuf feature's property bytes hold whole values for
/// the header's column types. The `flatgeobuf` crate slices them unchecked
/// and panics on a truncated value (found by the `flatgeobuf` fuzz target);
/// this walks them the same way and refuses the file instead.
fn check_fgb_properties(
    feature: &flatgeobuf::FgbFeature,
    columns: &[flatgeobuf::ColumnType],
    n: u64,
) -> std::result::Result<(), ReadError> {
    use flatgeobuf::ColumnType as T;
    let Some(props) = feature.fbs_feature().properties() else {
        return Ok(());
    };
    let b = props.bytes();
    let truncated = || ReadError::Format {
        format: "FlatGeobuf file",
        message: format!("feature {n}: truncated attribute values"),
    };
    let mut at = 0usize;
    // The crate's loop condition (it tolerates one trailing byte).
    while at + 1 < b.len() {
        let col = usize::from(u16::from_le_bytes([b[at], b[at + 1]]));
        at += 2;
        let Some(t) = columns.get(col) else {
            return Ok(()); // the crate reports an unknown column itself
        };
        let size = match *t {
            T::Byte | T::UByte | T::Bool => 1,
            T::Short | T::UShort => 2,
            T::Int | T::UInt | T::Float => 4,
            T::Long | T::ULong | T::Double => 8,
            _ => {
                let len = b.get(at..at + 4).ok_or_else(truncated)?;
                at += 4;
                u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize
            }
        };
        at = at
            .checked_add(size)
            .filter(|end| *end <= b.len())
            .ok_or_else(truncated)?;
    }
    Ok(())
}

/// Whether a FlatGeobuf geometry's arrays are consistent: `xy` of even
/// length (non-empty for a point), `z`/`m`/`t`/`tm` at least one value per
/// coordinate, `ends` non-decreasing within the coordinates, the same for
/// every part. The `flatgeobuf` crate indexes them with asserting `get`s.
fn fgb_geometry_ok(
    g: &flatgeobuf::Geometry<'_>,
    kind: flatgeobuf::GeometryType,
    depth: u32,
) -> bool {
    use flatgeobuf::GeometryType as G;
    if depth > 16 {
        return false;
    }
    let kind = if kind == G::Unknown { g.type_() } else { kind };
    let xy = g.xy().map_or(0, |v| v.len());
    let n = xy / 2;
    if !xy.is_multiple_of(2) || (kind == G::Point && xy == 0 && g.parts().is_none()) {
        return false;
    }
    let dims = [
        g.z().map(|v| v.len()),
        g.m().map(|v| v.len()),
        g.t().map(|v| v.len()),
    ];
    if dims.iter().flatten().any(|len| *len < n) || g.tm().is_some_and(|v| v.len() < n) {
        return false;
    }
    if let Some(ends) = g.ends() {
        let mut prev = 0usize;
        for e in ends.iter() {
            let e = e as usize;
            if e < prev || e > n {
                return false;
            }
            prev = e;
        }
    }
    g.parts().is_none_or(|parts| {
        parts
            .iter()
            .all(|p| fgb_geometry_ok(&p, p.type_(), depth + 1))
    })
}

/// What [`read_with`] returns: the dataset, or it with the open field list.
trait FromCollector {
    fn from_collector(c: Collector) -> Self;
}

impl FromCollector for RawDataset {
    fn from_collector(c: Collector) -> Self {
        c.finish()
    }
}

impl FromCollector for (RawDataset, Vec<String>) {
    fn from_collector(mut c: Collector) -> Self {
        let names = c.open.take().unwrap_or_default();
        (c.finish(), names)
    }
}

/// geozero processor that builds [`RawFeature`]s.
pub struct Collector {
    geo: GeoWriter,
    allow: HashMap<String, u16>,
    id_field: Option<String>,
    interner: Vec<HashMap<Box<str>, Arc<str>>>,
    cur: Option<RawFeature>,
    seen: HashMap<String, ()>,
    out: RawDataset,
    /// Open mode: every attribute is kept; names in index order.
    open: Option<Vec<String>>,
    /// Where the attributes go when they are not kept in `props`.
    rows: Option<RowSink>,
    /// Per property position: the name last seen there and its field, so
    /// the usual case (every feature has the same columns in the same
    /// order) skips the two name lookups.
    columns: Vec<Option<(Box<str>, Option<u16>)>>,
}

impl Collector {
    pub fn new(allow: &[String], id_field: Option<&str>) -> Collector {
        Collector {
            geo: GeoWriter::new(),
            allow: allow
                .iter()
                .enumerate()
                .map(|(i, a)| (a.clone(), i as u16))
                .collect(),
            id_field: id_field.map(str::to_string),
            interner: vec![HashMap::new(); allow.len()],
            cur: None,
            seen: HashMap::new(),
            open: None,
            rows: None,
            columns: Vec::new(),
            out: RawDataset {
                field_types: vec![None; allow.len()],
                ..RawDataset::default()
            },
        }
    }

    /// A collector that writes the allow-listed attributes into `rows`
    /// (row `i`: feature `i`) instead of the features' `props`.
    pub fn with_rows(allow: &[String], id_field: Option<&str>, rows: RowSink) -> Collector {
        let mut c = Collector::new(allow, id_field);
        c.rows = Some(rows);
        c
    }

    /// Takes the last feature read.
    pub fn pop_feature(&mut self) -> Option<RawFeature> {
        self.out.features.pop()
    }

    pub fn finish(mut self) -> RawDataset {
        if let Some(mut rows) = self.rows.take() {
            rows.flush();
        }
        let mut seen: Vec<String> = self.seen.into_keys().collect();
        seen.sort();
        self.out.seen_fields = seen;
        self.out
    }

    /// Records a property name as seen and finds its field (in open mode,
    /// adding one for a new name).
    fn resolve(&mut self, name: &str) -> Option<u16> {
        if !self.seen.contains_key(name) {
            self.seen.insert(name.to_string(), ());
        }
        let mut field = self.allow.get(name).copied();
        if field.is_none()
            && let Some(names) = self.open.as_mut()
            && names.len() < u16::MAX as usize
        {
            let i = names.len() as u16;
            names.push(name.to_string());
            self.allow.insert(name.to_string(), i);
            self.interner.push(HashMap::new());
            self.out.field_types.push(None);
            field = Some(i);
        }
        field
    }

    fn intern(&mut self, field: u16, s: &str) -> Arc<str> {
        let map = &mut self.interner[field as usize];
        if let Some(a) = map.get(s) {
            return a.clone();
        }
        let a: Arc<str> = Arc::from(s);
        if map.len() < INTERN_LIMIT {
            map.insert(Box::from(s), a.clone());
        }
        a
    }
}

/// A geozero column value as a tudi value, borrowed (`None` for binary data).
fn column_ref<'a>(v: &ColumnValue<'a>) -> Option<ValueRef<'a>> {
    Some(match *v {
        ColumnValue::Byte(i) => ValueRef::Int(i as i64),
        ColumnValue::UByte(i) => ValueRef::Int(i as i64),
        ColumnValue::Short(i) => ValueRef::Int(i as i64),
        ColumnValue::UShort(i) => ValueRef::Int(i as i64),
        ColumnValue::Int(i) => ValueRef::Int(i as i64),
        ColumnValue::UInt(i) => ValueRef::Int(i as i64),
        ColumnValue::Long(i) => ValueRef::Int(i),
        ColumnValue::ULong(i) => match i64::try_from(i) {
            Ok(i) => ValueRef::Int(i),
            Err(_) => ValueRef::Float(i as f64),
        },
        ColumnValue::Float(f) => ValueRef::Float(f as f64),
        ColumnValue::Double(f) => ValueRef::Float(f),
        ColumnValue::Bool(b) => ValueRef::Bool(b),
        ColumnValue::String(s) | ColumnValue::Json(s) | ColumnValue::DateTime(s) => {
            ValueRef::String(s)
        }
        ColumnValue::Binary(_) => return None,
    })
}

impl PropertyProcessor for Collector {
    fn property(&mut self, idx: usize, name: &str, value: &ColumnValue) -> Result<bool> {
        let cached = match self.columns.get(idx) {
            Some(Some((n, f))) if **n == *name => Some(*f),
            _ => None,
        };
        let field = match cached {
            Some(f) => f,
            None => {
                let f = self.resolve(name);
                if idx < 1024 {
                    if self.columns.len() <= idx {
                        self.columns.resize(idx + 1, None);
                    }
                    self.columns[idx] = Some((Box::from(name), f));
                }
                f
            }
        };
        let is_id = self.id_field.as_deref() == Some(name);
        if !is_id && field.is_none() {
            return Ok(false);
        }
        let Some(v) = column_ref(value) else {
            return Ok(false);
        };
        if is_id && let Some(cur) = self.cur.as_mut() {
            cur.id = match v {
                ValueRef::Int(i) if i >= 0 => Some(i as u64),
                ValueRef::Float(f) if f >= 0.0 && f.fract() == 0.0 && f < 9.0e15 => Some(f as u64),
                _ => None,
            };
        }
        if let Some(field) = field {
            let t = v.field_type();
            let slot = &mut self.out.field_types[field as usize];
            *slot = match *slot {
                None => Some(t),
                Some(old) if old == t => Some(old),
                // Mixed types in one column: serve it as strings.
                Some(_) => Some(FieldType::String),
            };
            if let Some(rows) = self.rows.as_mut() {
                // Straight into the batch for the layer's store.
                rows.set(field, v);
            } else if self.cur.is_some() {
                // Strings go to the interner (one allocation for a new
                // value, none for a repeated one).
                let v = match v {
                    ValueRef::String(s) => Value::String(self.intern(field, s)),
                    other => other.to_value(),
                };
                if let Some(cur) = self.cur.as_mut() {
                    cur.props.push((field, v));
                }
            }
        }
        Ok(false)
    }
}

impl FeatureProcessor for Collector {
    fn feature_begin(&mut self, idx: u64) -> Result<()> {
        if let Some(rows) = self.rows.as_mut() {
            rows.begin_row();
        }
        self.cur = Some(RawFeature {
            row: idx,
            id: None,
            geometry: None,
            props: Vec::new(),
        });
        Ok(())
    }

    fn feature_end(&mut self, _idx: u64) -> Result<()> {
        if let Some(mut f) = self.cur.take() {
            f.geometry = self.geo.take_geometry().map(trim_geometry);
            f.props.sort_by_key(|(k, _)| *k);
            f.props.dedup_by_key(|(k, _)| *k);
            self.out.features.push(f);
        }
        if let Some(rows) = self.rows.as_mut() {
            rows.end_row();
        }
        Ok(())
    }
}

/// Frees the empty interior ring lists geozero's `GeoWriter` leaves with
/// a capacity (one allocation per polygon held for nothing: ~32 bytes of a
/// 5-vertex parcel's ~110).
fn trim_geometry(g: Geometry) -> Geometry {
    fn trim(p: geo::Polygon) -> geo::Polygon {
        if p.interiors().is_empty() {
            let (exterior, _) = p.into_inner();
            geo::Polygon::new(exterior, Vec::new())
        } else {
            p
        }
    }
    match g {
        Geometry::Polygon(p) => Geometry::Polygon(trim(p)),
        Geometry::MultiPolygon(mp) => {
            Geometry::MultiPolygon(geo::MultiPolygon::new(mp.0.into_iter().map(trim).collect()))
        }
        other => other,
    }
}

impl GeomProcessor for Collector {
    fn dimensions(&self) -> CoordDimensions {
        self.geo.dimensions()
    }
    fn multi_dim(&self) -> bool {
        self.geo.multi_dim()
    }
    fn srid(&mut self, srid: Option<i32>) -> Result<()> {
        self.geo.srid(srid)
    }
    fn xy(&mut self, x: f64, y: f64, idx: usize) -> Result<()> {
        self.geo.xy(x, y, idx)
    }
    fn coordinate(
        &mut self,
        x: f64,
        y: f64,
        z: Option<f64>,
        m: Option<f64>,
        t: Option<f64>,
        tm: Option<u64>,
        idx: usize,
    ) -> Result<()> {
        self.geo.coordinate(x, y, z, m, t, tm, idx)
    }
    fn empty_point(&mut self, idx: usize) -> Result<()> {
        self.geo.empty_point(idx)
    }
    fn point_begin(&mut self, idx: usize) -> Result<()> {
        self.geo.point_begin(idx)
    }
    fn point_end(&mut self, idx: usize) -> Result<()> {
        self.geo.point_end(idx)
    }
    fn multipoint_begin(&mut self, size: usize, idx: usize) -> Result<()> {
        self.geo.multipoint_begin(size, idx)
    }
    fn multipoint_end(&mut self, idx: usize) -> Result<()> {
        self.geo.multipoint_end(idx)
    }
    fn linestring_begin(&mut self, tagged: bool, size: usize, idx: usize) -> Result<()> {
        self.geo.linestring_begin(tagged, size, idx)
    }
    fn linestring_end(&mut self, tagged: bool, idx: usize) -> Result<()> {
        self.geo.linestring_end(tagged, idx)
    }
    fn multilinestring_begin(&mut self, size: usize, idx: usize) -> Result<()> {
        self.geo.multilinestring_begin(size, idx)
    }
    fn multilinestring_end(&mut self, idx: usize) -> Result<()> {
        self.geo.multilinestring_end(idx)
    }
    fn polygon_begin(&mut self, tagged: bool, size: usize, idx: usize) -> Result<()> {
        self.geo.polygon_begin(tagged, size, idx)
    }
    fn polygon_end(&mut self, tagged: bool, idx: usize) -> Result<()> {
        self.geo.polygon_end(tagged, idx)
    }
    fn multipolygon_begin(&mut self, size: usize, idx: usize) -> Result<()> {
        self.geo.multipolygon_begin(size, idx)
    }
    fn multipolygon_end(&mut self, idx: usize) -> Result<()> {
        self.geo.multipolygon_end(idx)
    }
    fn geometrycollection_begin(&mut self, size: usize, idx: usize) -> Result<()> {
        self.geo.geometrycollection_begin(size, idx)
    }
    fn geometrycollection_end(&mut self, idx: usize) -> Result<()> {
        self.geo.geometrycollection_end(idx)
    }
    fn circularstring_begin(&mut self, size: usize, idx: usize) -> Result<()> {
        self.geo.circularstring_begin(size, idx)
    }
    fn circularstring_end(&mut self, idx: usize) -> Result<()> {
        self.geo.circularstring_end(idx)
    }
    fn compoundcurve_begin(&mut self, size: usize, idx: usize) -> Result<()> {
        self.geo.compoundcurve_begin(size, idx)
    }
    fn compoundcurve_end(&mut self, idx: usize) -> Result<()> {
        self.geo.compoundcurve_end(idx)
    }
    fn curvepolygon_begin(&mut self, size: usize, idx: usize) -> Result<()> {
        self.geo.curvepolygon_begin(size, idx)
    }
    fn curvepolygon_end(&mut self, idx: usize) -> Result<()> {
        self.geo.curvepolygon_end(idx)
    }
    fn multicurve_begin(&mut self, size: usize, idx: usize) -> Result<()> {
        self.geo.multicurve_begin(size, idx)
    }
    fn multicurve_end(&mut self, idx: usize) -> Result<()> {
        self.geo.multicurve_end(idx)
    }
    fn multisurface_begin(&mut self, size: usize, idx: usize) -> Result<()> {
        self.geo.multisurface_begin(size, idx)
    }
    fn multisurface_end(&mut self, idx: usize) -> Result<()> {
        self.geo.multisurface_end(idx)
    }
    fn triangle_begin(&mut self, tagged: bool, size: usize, idx: usize) -> Result<()> {
        self.geo.triangle_begin(tagged, size, idx)
    }
    fn triangle_end(&mut self, tagged: bool, idx: usize) -> Result<()> {
        self.geo.triangle_end(tagged, idx)
    }
    fn polyhedralsurface_begin(&mut self, size: usize, idx: usize) -> Result<()> {
        self.geo.polyhedralsurface_begin(size, idx)
    }
    fn polyhedralsurface_end(&mut self, idx: usize) -> Result<()> {
        self.geo.polyhedralsurface_end(idx)
    }
    fn tin_begin(&mut self, size: usize, idx: usize) -> Result<()> {
        self.geo.tin_begin(size, idx)
    }
    fn tin_end(&mut self, idx: usize) -> Result<()> {
        self.geo.tin_end(idx)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A FlatGeobuf of `n` points with a spatial index, as the flatgeobuf
    /// crate (and GDAL) write it.
    fn fgb_points(n: usize) -> Vec<u8> {
        let mut w = flatgeobuf::FgbWriter::create("pts", flatgeobuf::GeometryType::Point).unwrap();
        for i in 0..n {
            let p = geo::Geometry::Point(geo::Point::new(113.0 + i as f64 * 0.01, 23.0));
            w.add_feature_geom(p, |_| {}).unwrap();
        }
        let mut out = Vec::new();
        w.write(&mut out).unwrap();
        out
    }

    #[test]
    fn indexed_flatgeobuf_of_any_size_reads() {
        // One feature: the index still has a root above the leaf (80 bytes).
        for n in [1, 2, 16, 17, 300] {
            let ds = read(
                std::io::Cursor::new(fgb_points(n)),
                SourceFormat::FlatGeobuf,
                &[],
                None,
            )
            .unwrap_or_else(|e| panic!("{n} features: {e}"));
            assert_eq!(ds.features.len(), n);
        }
    }
}
