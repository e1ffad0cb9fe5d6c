//! MVT 2.1 encoding: geometry commands and de-duplicated, typed attributes.
//!
//! The command stream is written here rather than with geozero's `ToMvt`:
//! our coordinates are already integral tile coordinates with the winding
//! fixed, and geozero would flip y, not fix winding, and go through f64 and a
//! `GeozeroGeometry` per feature. Writing `MoveTo`/`LineTo`/`ClosePath` with
//! zigzag deltas directly from the integer buffers avoids all of that.
//! The layer message is written as bytes too ([`LayerBuilder`]); of
//! geozero's prost types only `tile::GeomType` is used, and tests decode
//! the output with them.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use foldhash::fast::RandomState;

use geozero::mvt::tile;
use i_overlay::i_float::int::point::IntPoint;

use crate::layer::{Attrs, FieldType};

const MOVE_TO: u32 = 1;
const LINE_TO: u32 = 2;
const CLOSE_PATH: u32 = 7;

#[inline]
fn command(id: u32, count: usize) -> u32 {
    (id & 0x7) | ((count as u32) << 3)
}

#[inline]
fn zigzag(v: i32) -> u32 {
    ((v << 1) ^ (v >> 31)) as u32
}

/// Writes geometry commands for one feature, tracking the cursor.
#[derive(Debug, Default)]
pub(super) struct GeometryWriter {
    pub cmds: Vec<u32>,
    cursor: (i32, i32),
    pub vertices: usize,
}

impl GeometryWriter {
    pub fn reset(&mut self) {
        self.cmds.clear();
        self.cursor = (0, 0);
        self.vertices = 0;
    }

    #[inline]
    fn point(&mut self, p: IntPoint) {
        self.cmds.push(zigzag(p.x.wrapping_sub(self.cursor.0)));
        self.cmds.push(zigzag(p.y.wrapping_sub(self.cursor.1)));
        self.cursor = (p.x, p.y);
        self.vertices += 1;
    }

    /// One `MoveTo` with all points (a multi-point).
    pub fn points(&mut self, pts: &[IntPoint]) {
        if pts.is_empty() {
            return;
        }
        self.cmds.push(command(MOVE_TO, pts.len()));
        for &p in pts {
            self.point(p);
        }
    }

    /// A line string of at least 2 points without consecutive repeats.
    pub fn line(&mut self, pts: &[IntPoint]) {
        if pts.len() < 2 {
            return;
        }
        self.cmds.push(command(MOVE_TO, 1));
        self.point(pts[0]);
        self.cmds.push(command(LINE_TO, pts.len() - 1));
        for &p in &pts[1..] {
            self.point(p);
        }
    }

    /// An open ring (at least 3 points, already oriented).
    pub fn ring(&mut self, pts: &[IntPoint]) {
        if pts.len() < 3 {
            return;
        }
        self.line(pts);
        self.cmds.push(command(CLOSE_PATH, 1));
    }
}

/// Builds one MVT layer message, writing the protobuf bytes as features
/// arrive: features first (field 2), then keys (3) and values (4) at
/// [`LayerBuilder::finish`]. The output is byte for byte what prost would
/// encode from the same `tile::Layer` (fields in tag order; the
/// `byte_count_is_exact` test compares them), without prost's second pass
/// over the message to size every nested field, and without a heap
/// allocation per feature (tags and geometry) or per value: a cold z14
/// parcel tile spent ~25% of its time there (perf, BENCHMARKS.md).
#[derive(Debug)]
pub(super) struct LayerBuilder {
    name: String,
    extent: u32,
    features: usize,
    /// Encoded features, each framed as layer field 2.
    feats: Vec<u8>,
    /// Encoded keys, each framed as layer field 3.
    keys: Vec<u8>,
    key_count: u32,
    /// Field index -> key index, assigned on first use.
    key_of_field: Vec<Option<u32>>,
    /// Encoded values, each framed as layer field 4.
    values: Vec<u8>,
    value_count: u32,
    /// Layer value id (see `layer::Attrs`: one id per distinct value, the
    /// identity this table de-duplicates by) -> index in `values`. Integer
    /// keys: no string is hashed per tile. foldhash, not the default
    /// SipHash, which was 15% of a cold z14 tile's time (perf, BENCHMARKS.md).
    value_index: HashMap<u32, u32, RandomState>,
    /// Scratch: the tags of the feature being added.
    tags: Vec<u32>,
}

/// Bytes of a length-delimited field with a one-byte tag.
pub(super) fn field_len(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

#[inline]
fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// A protobuf field key: field number and wire type (0 varint, 1 fixed64,
/// 2 length-delimited). All fields written here have numbers under 16: one byte.
const fn key(field: u8, wire: u8) -> u8 {
    (field << 3) | wire
}

/// Appends a length-delimited field: key, length, bytes.
fn put_bytes(buf: &mut Vec<u8>, field: u8, bytes: &[u8]) {
    buf.push(key(field, 2));
    put_varint(buf, bytes.len() as u64);
    buf.extend_from_slice(bytes);
}

/// Bytes of packed varints.
fn packed_len(vs: &[u32]) -> usize {
    vs.iter().map(|&v| varint_len(u64::from(v))).sum()
}

/// Appends a packed repeated uint32 field (nothing when empty, as prost).
fn put_packed(buf: &mut Vec<u8>, field: u8, vs: &[u32], len: usize) {
    if vs.is_empty() {
        return;
    }
    buf.push(key(field, 2));
    put_varint(buf, len as u64);
    for &v in vs {
        put_varint(buf, u64::from(v));
    }
}

fn packed_field_len(len: usize, count: usize) -> usize {
    if count == 0 { 0 } else { field_len(len) }
}

/// Layer field numbers (MVT 2.1 `vector_tile.proto`).
const LAYER_NAME: u8 = 1;
const LAYER_FEATURE: u8 = 2;
const LAYER_KEY: u8 = 3;
// Field 4, the values, is written whole by `layer::values`.
const LAYER_EXTENT: u8 = 5;
const LAYER_VERSION: u8 = 15;
/// The tile's layers field.
const TILE_LAYER: u8 = 3;

impl LayerBuilder {
    pub fn new(name: &str, extent: u32, field_count: usize) -> LayerBuilder {
        LayerBuilder {
            name: name.to_string(),
            extent,
            features: 0,
            feats: Vec::new(),
            keys: Vec::new(),
            key_count: 0,
            key_of_field: vec![None; field_count],
            values: Vec::new(),
            value_count: 0,
            value_index: HashMap::with_capacity_and_hasher(256, RandomState::default()),
            tags: Vec::with_capacity(2 * field_count),
        }
    }

    /// Makes room for about `features` features of at most `cap` bytes in
    /// all: growing the value table and the feature buffer as a dense tile
    /// fills them was ~6% of a cold z14 tile (rehashing, copying).
    pub fn reserve(&mut self, features: usize, cap: Option<usize>) {
        /// Bytes of a small plot with a few attributes.
        const FEATURE_BYTES: usize = 48;
        let values = features.saturating_mul(self.key_of_field.len());
        self.value_index.reserve(values.min(1 << 16));
        let bytes = features.saturating_mul(FEATURE_BYTES);
        self.feats
            .reserve(bytes.min(cap.unwrap_or(usize::MAX)).min(1 << 22));
    }

    /// Encoded size of the layer message so far, bytes (exact up to its own
    /// length prefix in the tile).
    pub fn bytes(&self) -> usize {
        field_len(self.name.len())
            + self.feats.len()
            + self.keys.len()
            + self.values.len()
            + 1
            + varint_len(u64::from(self.extent))
            + 2
    }

    pub fn len(&self) -> usize {
        self.features
    }

    /// Bytes of the encoded features alone (no keys, values or header).
    pub fn feature_bytes(&self) -> usize {
        self.feats.len()
    }

    /// Adds a feature. `props` are `(field, value id)` pairs: fields index
    /// into `fields`, value ids into `attrs`; unknown ones are ignored.
    pub fn add(
        &mut self,
        id: u64,
        kind: tile::GeomType,
        geometry: &[u32],
        props: impl Iterator<Item = (u16, u32)>,
        attrs: &Attrs,
        fields: &[(String, FieldType)],
    ) {
        self.tags.clear();
        for (field, value) in props {
            let f = usize::from(field);
            let Some((name, _)) = fields.get(f) else {
                continue;
            };
            // A value of one row only cannot have been written yet (a
            // feature is added once): appended without the lookup, which
            // was most of the map's work on parcels (each has a unique code,
            // household and floor area).
            let table = attrs.values();
            let val = if table.is_single(value) {
                let Some(v) = table.encoded(value) else {
                    continue;
                };
                self.values.extend_from_slice(v);
                self.value_count += 1;
                self.value_count - 1
            } else {
                match self.value_index.entry(value) {
                    Entry::Occupied(e) => *e.get(),
                    Entry::Vacant(e) => {
                        let Some(v) = table.encoded(value) else {
                            continue;
                        };
                        // Stored as the tile carries it (`layer::values`).
                        self.values.extend_from_slice(v);
                        let next = self.value_count;
                        self.value_count += 1;
                        *e.insert(next)
                    }
                }
            };
            let key = match self.key_of_field.get(f).copied().flatten() {
                Some(k) => k,
                None => {
                    let k = self.key_count;
                    self.key_count += 1;
                    put_bytes(&mut self.keys, LAYER_KEY, name.as_bytes());
                    if let Some(slot) = self.key_of_field.get_mut(f) {
                        *slot = Some(k);
                    }
                    k
                }
            };
            self.tags.push(key);
            self.tags.push(val);
        }
        // Feature: id (1), tags (2, packed), type (3), geometry (4, packed).
        let tags_len = packed_len(&self.tags);
        let geom_len = packed_len(geometry);
        let kind = kind as i32 as u64;
        let len = 1
            + varint_len(id)
            + packed_field_len(tags_len, self.tags.len())
            + 1
            + varint_len(kind)
            + packed_field_len(geom_len, geometry.len());
        let buf = &mut self.feats;
        buf.reserve(field_len(len));
        buf.push(key(LAYER_FEATURE, 2));
        put_varint(buf, len as u64);
        buf.push(key(1, 0));
        put_varint(buf, id);
        put_packed(buf, 2, &self.tags, tags_len);
        buf.push(key(3, 0));
        put_varint(buf, kind);
        put_packed(buf, 4, geometry, geom_len);
        self.features += 1;
    }

    /// The encoded layer message (without its own key and length).
    pub fn finish(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.bytes());
        put_bytes(&mut out, LAYER_NAME, self.name.as_bytes());
        out.extend_from_slice(&self.feats);
        out.extend_from_slice(&self.keys);
        out.extend_from_slice(&self.values);
        out.push(key(LAYER_EXTENT, 0));
        put_varint(&mut out, u64::from(self.extent));
        out.push(key(LAYER_VERSION, 0));
        put_varint(&mut out, 2);
        out
    }
}

/// Appends an encoded layer message to a tile as its field 3.
pub(super) fn put_layer(tile: &mut Vec<u8>, layer: &[u8]) {
    put_bytes(tile, TILE_LAYER, layer);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::layer::ValueRef;

    #[test]
    fn zigzag_matches_spec() {
        assert_eq!(zigzag(0), 0);
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
        assert_eq!(zigzag(-2), 3);
        assert_eq!(zigzag(2), 4);
    }

    #[test]
    fn bytes_are_what_prost_encodes_and_the_count_is_exact() {
        use geozero::mvt::Message;
        let fields = vec![
            ("name".to_string(), FieldType::String),
            ("n".to_string(), FieldType::Number),
            ("x".to_string(), FieldType::Number),
            ("ok".to_string(), FieldType::Boolean),
        ];
        let names: Vec<String> = (0..17).map(|i| format!("名{i}")).collect();
        let attrs = Attrs::from_rows(
            4,
            (0..300u64).map(|i| {
                let mut row = vec![
                    (0, ValueRef::String(&names[i as usize % 17])),
                    (1, ValueRef::Int(i as i64 * 1000 - 150_000)),
                    (2, ValueRef::Float(i as f64 / 7.0)),
                ];
                if i % 3 == 0 {
                    row.push((3, ValueRef::Bool(i % 2 == 0)));
                }
                if i % 11 == 0 {
                    row.clear();
                }
                row
            }),
        )
        .unwrap();
        let mut b = LayerBuilder::new("plots", 4096, 4);
        for i in 0..300u64 {
            let g: Vec<u32> = (0..(i as u32 % 50)).map(|k| k * 1_000).collect();
            let props = attrs.row_ids(i as u32);
            b.add(
                i * 7919 + (i << 40),
                tile::GeomType::Polygon,
                &g,
                props,
                &attrs,
                &fields,
            );
        }
        let want = b.bytes();
        let bytes = b.finish();
        assert_eq!(bytes.len(), want);
        let decoded = tile::Layer::decode(&bytes[..]).unwrap();
        assert_eq!(decoded.features.len(), 300);
        assert_eq!(decoded.keys, vec!["name", "n", "x", "ok"]);
        assert!(decoded.values.iter().any(|v| v.sint_value.is_some()));
        assert!(decoded.values.iter().any(|v| v.bool_value.is_some()));
        assert_eq!(decoded.encode_to_vec(), bytes, "not prost's encoding");
        // Every value decodes to what the layer holds.
        for (i, f) in decoded.features.iter().enumerate() {
            for pair in f.tags.chunks(2) {
                let (k, v) = (pair[0] as usize, &decoded.values[pair[1] as usize]);
                let field = fields
                    .iter()
                    .position(|(n, _)| *n == decoded.keys[k])
                    .unwrap();
                let want = attrs.get(i as u32, field as u16).unwrap();
                let got = match want {
                    ValueRef::String(_) => ValueRef::String(v.string_value.as_deref().unwrap()),
                    ValueRef::Int(_) => ValueRef::Int(v.int_value.or(v.sint_value).unwrap()),
                    ValueRef::Float(_) => ValueRef::Float(v.double_value.unwrap()),
                    ValueRef::Bool(_) => ValueRef::Bool(v.bool_value.unwrap()),
                };
                assert_eq!(got, want, "feature {i}");
            }
        }
        // An empty layer too.
        let empty = LayerBuilder::new("e", 512, 0);
        let n = empty.bytes();
        let bytes = empty.finish();
        assert_eq!(bytes.len(), n);
        assert_eq!(
            tile::Layer::decode(&bytes[..]).unwrap().encode_to_vec(),
            bytes
        );
    }

    #[test]
    fn ring_commands_follow_the_spec_example() {
        // MVT spec 2.1, 4.3.5.1 example: POLYGON ((3 6, 8 12, 20 34, 3 6)).
        let mut w = GeometryWriter::default();
        w.ring(&[
            IntPoint::new(3, 6),
            IntPoint::new(8, 12),
            IntPoint::new(20, 34),
        ]);
        assert_eq!(w.cmds, vec![9, 6, 12, 18, 10, 12, 24, 44, 15]);
    }
}
