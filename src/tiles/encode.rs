//! MVT 2.1 encoding: geometry commands and de-duplicated, typed attributes.
//!
//! The command stream is written here rather than with geozero's `ToMvt`:
//! our coordinates are already integral tile coordinates with the winding
//! fixed, and geozero would flip y, not fix winding, and go through f64 and a
//! `GeozeroGeometry` per feature. Writing `MoveTo`/`LineTo`/`ClosePath` with
//! zigzag deltas directly from the integer buffers avoids all of that.
//! The prost message types (`geozero::mvt::tile`) are reused.

use std::collections::HashMap;
use std::sync::Arc;

use foldhash::fast::RandomState;

use geozero::mvt::{Message, tile};
use i_overlay::i_float::int::point::IntPoint;

use crate::layer::{FieldType, Value};

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

/// Hashable identity of an attribute value (floats by their bits).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum ValueKey {
    Str(Arc<str>),
    Int(i64),
    Float(u64),
    Bool(bool),
}

/// Builds one `tile::Layer`: features plus de-duplicated keys and values.
#[derive(Debug)]
pub(super) struct LayerBuilder {
    name: String,
    extent: u32,
    features: Vec<tile::Feature>,
    keys: Vec<String>,
    /// Field index -> key index, assigned on first use.
    key_of_field: Vec<Option<u32>>,
    values: Vec<tile::Value>,
    /// Value -> index in `values`. foldhash (randomly seeded per map, so
    /// published values cannot be chosen to collide), not the default
    /// SipHash, which was 15% of a cold z14 tile's time (perf, BENCHMARKS.md).
    value_index: HashMap<ValueKey, u32, RandomState>,
    /// Encoded size of the layer so far (features, keys, values), bytes.
    bytes: usize,
}

/// Bytes of a length-delimited field with a one-byte tag.
pub(super) fn field_len(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

impl LayerBuilder {
    pub fn new(name: &str, extent: u32, field_count: usize) -> LayerBuilder {
        LayerBuilder {
            name: name.to_string(),
            extent,
            features: Vec::new(),
            keys: Vec::new(),
            key_of_field: vec![None; field_count],
            values: Vec::new(),
            value_index: HashMap::with_capacity_and_hasher(256, RandomState::default()),
            bytes: field_len(name.len()) + 3 + varint_len(u64::from(extent)),
        }
    }

    /// Encoded size of the layer message so far, bytes (exact up to its own
    /// length prefix in the tile).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn len(&self) -> usize {
        self.features.len()
    }

    /// Adds a feature. `props` index into `fields`; unknown indices are ignored.
    pub fn add(
        &mut self,
        id: u64,
        kind: tile::GeomType,
        geometry: &[u32],
        props: &[(u16, Value)],
        fields: &[(String, FieldType)],
    ) {
        let mut tags = Vec::with_capacity(props.len() * 2);
        for (field, value) in props {
            let f = usize::from(*field);
            let Some((name, _)) = fields.get(f) else {
                continue;
            };
            let key = match self.key_of_field.get(f).copied().flatten() {
                Some(k) => k,
                None => {
                    let k = self.keys.len() as u32;
                    self.bytes += field_len(name.len());
                    self.keys.push(name.clone());
                    if let Some(slot) = self.key_of_field.get_mut(f) {
                        *slot = Some(k);
                    }
                    k
                }
            };
            let vkey = match value {
                Value::String(s) => ValueKey::Str(s.clone()),
                Value::Int(i) => ValueKey::Int(*i),
                Value::Float(x) => ValueKey::Float(x.to_bits()),
                Value::Bool(b) => ValueKey::Bool(*b),
            };
            let next = self.values.len() as u32;
            let val = *self.value_index.entry(vkey).or_insert_with(|| {
                let v = tile_value(value);
                self.bytes += field_len(v.encoded_len());
                self.values.push(v);
                next
            });
            tags.push(key);
            tags.push(val);
        }
        let feature = tile::Feature {
            id: Some(id),
            tags,
            r#type: Some(kind as i32),
            geometry: geometry.to_vec(),
        };
        self.bytes += field_len(feature.encoded_len());
        self.features.push(feature);
    }

    pub fn finish(self) -> tile::Layer {
        tile::Layer {
            version: 2,
            name: self.name,
            features: self.features,
            keys: self.keys,
            values: self.values,
            extent: Some(self.extent),
        }
    }
}

/// Strings as `string_value`, non-negative integers as `int_value` (a plain
/// varint), negative ones as `sint_value` (zigzag: 1-2 bytes instead of 10),
/// floats as `double_value`, booleans as `bool_value`.
fn tile_value(v: &Value) -> tile::Value {
    let mut t = tile::Value::default();
    match v {
        Value::String(s) => t.string_value = Some(s.to_string()),
        Value::Int(i) if *i >= 0 => t.int_value = Some(*i),
        Value::Int(i) => t.sint_value = Some(*i),
        Value::Float(x) => t.double_value = Some(*x),
        Value::Bool(b) => t.bool_value = Some(*b),
    }
    t
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn zigzag_matches_spec() {
        assert_eq!(zigzag(0), 0);
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
        assert_eq!(zigzag(-2), 3);
        assert_eq!(zigzag(2), 4);
    }

    #[test]
    fn byte_count_is_exact() {
        let fields = vec![
            ("name".to_string(), FieldType::String),
            ("n".to_string(), FieldType::Number),
        ];
        let mut b = LayerBuilder::new("plots", 4096, 2);
        for i in 0..300u64 {
            let props = vec![
                (0, Value::String(format!("v{}", i % 17).into())),
                (1, Value::Int(i as i64 * 1000)),
            ];
            let g: Vec<u32> = (0..(i as u32 % 50)).map(|k| k * 1_000).collect();
            b.add(i * 7919, tile::GeomType::Polygon, &g, &props, &fields);
        }
        let want = b.bytes();
        let layer = b.finish();
        assert_eq!(layer.encoded_len(), want);
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
