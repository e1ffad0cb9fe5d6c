//! MVT 2.1 encoding: geometry commands and de-duplicated, typed attributes.
//!
//! The command stream is written here rather than with geozero's `ToMvt`:
//! our coordinates are already integral tile coordinates with the winding
//! fixed, and geozero would flip y, not fix winding, and go through f64 and a
//! `GeozeroGeometry` per feature. Writing `MoveTo`/`LineTo`/`ClosePath` with
//! zigzag deltas directly from the integer buffers avoids all of that.
//! The prost message types (`geozero::mvt::tile`) are reused.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use foldhash::fast::RandomState;

use geozero::mvt::{Message, tile};
use i_overlay::i_float::int::point::IntPoint;

use crate::layer::{Attrs, FieldType, ValueRef};

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
    /// Layer value id (see `layer::Attrs`: one id per distinct value, the
    /// identity this table de-duplicates by) -> index in `values`. Integer
    /// keys: no string is hashed per tile. foldhash, not the default
    /// SipHash, which was 15% of a cold z14 tile's time (perf, BENCHMARKS.md).
    value_index: HashMap<u32, u32, RandomState>,
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
        let mut tags = Vec::with_capacity(2 * fields.len());
        for (field, value) in props {
            let f = usize::from(field);
            let Some((name, _)) = fields.get(f) else {
                continue;
            };
            let val = match self.value_index.entry(value) {
                Entry::Occupied(e) => *e.get(),
                Entry::Vacant(e) => {
                    let Some(v) = attrs.values().get(value) else {
                        continue;
                    };
                    let v = tile_value(v);
                    let next = self.values.len() as u32;
                    self.bytes += field_len(v.encoded_len());
                    self.values.push(v);
                    *e.insert(next)
                }
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
fn tile_value(v: ValueRef<'_>) -> tile::Value {
    let mut t = tile::Value::default();
    match v {
        ValueRef::String(s) => t.string_value = Some(s.to_string()),
        ValueRef::Int(i) if i >= 0 => t.int_value = Some(i),
        ValueRef::Int(i) => t.sint_value = Some(i),
        ValueRef::Float(x) => t.double_value = Some(x),
        ValueRef::Bool(b) => t.bool_value = Some(b),
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
        let names: Vec<String> = (0..17).map(|i| format!("v{i}")).collect();
        let attrs = Attrs::from_rows(
            2,
            (0..300u64).map(|i| {
                [
                    (0, ValueRef::String(&names[i as usize % 17])),
                    (1, ValueRef::Int(i as i64 * 1000)),
                ]
            }),
        )
        .unwrap();
        let mut b = LayerBuilder::new("plots", 4096, 2);
        for i in 0..300u64 {
            let g: Vec<u32> = (0..(i as u32 % 50)).map(|k| k * 1_000).collect();
            let props = attrs.row_ids(i as u32);
            b.add(
                i * 7919,
                tile::GeomType::Polygon,
                &g,
                props,
                &attrs,
                &fields,
            );
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
