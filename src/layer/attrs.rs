//! The attributes of one loaded layer, dictionary-encoded.
//!
//! Every distinct value of the layer is stored once in a [`ValueTable`]
//! (as its MVT encoding, see `super::values`) and named by a `u32` value
//! id. Each feature owns one row of `fields` value ids (row-major,
//! [`NULL`] for an absent attribute), so a parcel with 8 attributes costs
//! 32 bytes plus its share of the distinct values, instead of 8 `(u16, Value)`
//! pairs and an `Arc<str>` per unique string.
//!
//! Values are distinct by their MVT identity (strings by content, integers,
//! floats by their bits, booleans), which is equality of their encodings:
//! interning hashes and compares those bytes. The tile encoder maps value
//! ids to tile indexes with an integer-keyed map, without hashing any string.

use std::collections::HashMap;
use std::collections::hash_map::Entry as MapEntry;
use std::hash::BuildHasher;

use foldhash::fast::RandomState;
use hashbrown::HashTable;

use super::model::{FieldType, Value};
use super::rows::RowBatch;
pub use super::values::ValueTable;
use super::values::put_mvt_value;

/// The value id of an absent attribute in a row.
const NULL: u32 = u32::MAX;

#[derive(Debug, thiserror::Error)]
pub enum AttrError {
    #[error("more than {} distinct attribute values in one layer", NULL - 1)]
    TooManyValues,
    #[error("more than 4 GiB of distinct attribute values in one layer")]
    TextTooLarge,
    #[error("more than {} features in one layer", u32::MAX)]
    TooManyRows,
}

/// A borrowed attribute value: what the layer hands out for a feature.
/// Variants mirror [`Value`]; floats compare as `f64` (`NaN != NaN`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueRef<'a> {
    String(&'a str),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl<'a> ValueRef<'a> {
    pub fn field_type(self) -> FieldType {
        match self {
            ValueRef::String(_) => FieldType::String,
            ValueRef::Int(_) | ValueRef::Float(_) => FieldType::Number,
            ValueRef::Bool(_) => FieldType::Boolean,
        }
    }

    pub fn as_f64(self) -> Option<f64> {
        match self {
            ValueRef::Int(i) => Some(i as f64),
            ValueRef::Float(f) => Some(f),
            _ => None,
        }
    }

    pub fn as_str(self) -> Option<&'a str> {
        match self {
            ValueRef::String(s) => Some(s),
            _ => None,
        }
    }

    /// An owned copy.
    pub fn to_value(self) -> Value {
        match self {
            ValueRef::String(s) => Value::String(s.into()),
            ValueRef::Int(i) => Value::Int(i),
            ValueRef::Float(f) => Value::Float(f),
            ValueRef::Bool(b) => Value::Bool(b),
        }
    }
}

impl<'a> From<&'a Value> for ValueRef<'a> {
    fn from(v: &'a Value) -> ValueRef<'a> {
        match v {
            Value::String(s) => ValueRef::String(s),
            Value::Int(i) => ValueRef::Int(*i),
            Value::Float(f) => ValueRef::Float(*f),
            Value::Bool(b) => ValueRef::Bool(*b),
        }
    }
}

/// The attributes of a layer's features: one row of value ids per feature.
#[derive(Debug, Default)]
pub struct Attrs {
    fields: usize,
    /// Row-major: row `r` is `ids[r * fields..(r + 1) * fields]`.
    ids: Vec<u32>,
    rows: usize,
    values: ValueTable,
}

impl Attrs {
    /// Builds a store from rows of `(field, value)` pairs (see
    /// [`AttrsBuilder::push_row`]); row `i` is the `i`-th of `rows`.
    pub fn from_rows<'a, R, I>(fields: usize, rows: R) -> Result<Attrs, AttrError>
    where
        R: IntoIterator<Item = I>,
        I: IntoIterator<Item = (u16, ValueRef<'a>)>,
    {
        let mut b = AttrsBuilder::new(fields);
        for row in rows {
            b.push_row(row)?;
        }
        Ok(b.finish())
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The distinct values.
    pub fn values(&self) -> &ValueTable {
        &self.values
    }

    fn row_slice(&self, row: u32) -> &[u32] {
        let start = row as usize * self.fields;
        self.ids.get(start..start + self.fields).unwrap_or(&[])
    }

    /// The value of `field` in `row` (`None`: absent, or no such row or field).
    pub fn get(&self, row: u32, field: u16) -> Option<ValueRef<'_>> {
        let id = *self.row_slice(row).get(usize::from(field))?;
        self.values.get(id)
    }

    /// The `(field, value id)` pairs of `row` in field order, absent ones
    /// skipped (what the tile encoder consumes).
    pub fn row_ids(&self, row: u32) -> impl Iterator<Item = (u16, u32)> + '_ {
        self.row_slice(row)
            .iter()
            .enumerate()
            .filter(|(_, id)| **id != NULL)
            .map(|(f, id)| (f as u16, *id))
    }

    /// The `(field, value)` pairs of `row` in field order, absent ones skipped.
    pub fn row(&self, row: u32) -> impl Iterator<Item = (u16, ValueRef<'_>)> + '_ {
        self.row_ids(row)
            .filter_map(|(f, id)| self.values.get(id).map(|v| (f, v)))
    }

    /// Resident bytes of the store (rows and values).
    pub fn memory_bytes(&self) -> usize {
        self.ids.capacity() * std::mem::size_of::<u32>() + self.values.memory_bytes()
    }
}

/// An interning table entry: a value id and its hash. Keeping the hash
/// lets the table grow and skip mismatches without reading the value
/// (a cache miss into the value's encoding; growing the table was
/// a third of the interning time when it re-read them).
#[derive(Debug, Clone, Copy)]
struct Entry {
    id: u32,
    hash: u32,
}

impl Entry {
    /// The table's 64-bit hash: the 32 bits twice, so that both the bucket
    /// (low bits) and the control byte (top 7 bits) vary.
    fn wide(hash: u32) -> u64 {
        (u64::from(hash) << 32) | u64::from(hash)
    }
}

/// Builds an [`Attrs`] row by row, interning each value.
#[derive(Debug)]
pub struct AttrsBuilder {
    attrs: Attrs,
    /// Value ids, hashed by value: finds the id of a value seen before.
    /// A `HashTable` of ids (rather than a `HashMap<Value, u32>`) looks
    /// strings up in the arena itself, so no string is held twice while
    /// loading. foldhash, randomly seeded: source values cannot be chosen
    /// to collide.
    index: HashTable<Entry>,
    hasher: RandomState,
    /// Ids of numbers and booleans, by kind (1 integer, 2 float, 3
    /// boolean) and bits: the key holds the value, so a repeated number
    /// costs one lookup and no read of the table. Through `index` it was
    /// two more cache misses (its offset, its bytes): 40% slower interning.
    scalars: HashMap<(u8, u64), u32, RandomState>,
    /// Scratch: the encoding of the value being interned.
    scratch: Vec<u8>,
}

impl AttrsBuilder {
    pub fn new(fields: usize) -> AttrsBuilder {
        AttrsBuilder {
            attrs: Attrs {
                fields,
                ..Attrs::default()
            },
            index: HashTable::new(),
            hasher: RandomState::default(),
            scalars: HashMap::default(),
            scratch: Vec::new(),
        }
    }

    /// Makes room for `rows` more rows (and as many distinct values).
    pub fn reserve_rows(&mut self, rows: usize) {
        self.attrs
            .ids
            .reserve_exact(rows.saturating_mul(self.attrs.fields));
        if self.attrs.fields > 0 {
            self.index.reserve(rows, |e| Entry::wide(e.hash));
        }
    }

    /// Appends a row and returns its number. Pairs whose field is not below
    /// `fields` are ignored; of repeated fields the first value is kept.
    pub fn push_row<'a>(
        &mut self,
        props: impl IntoIterator<Item = (u16, ValueRef<'a>)>,
    ) -> Result<u32, AttrError> {
        let row = u32::try_from(self.attrs.rows).map_err(|_| AttrError::TooManyRows)?;
        let n = self.attrs.fields;
        let start = self.attrs.ids.len();
        self.attrs.ids.resize(start + n, NULL);
        for (field, v) in props {
            let f = usize::from(field);
            if f >= n || self.attrs.ids[start + f] != NULL {
                continue;
            }
            let id = self.intern(v)?;
            self.attrs.ids[start + f] = id;
        }
        self.attrs.rows += 1;
        Ok(row)
    }

    /// Appends the rows of a batch from the reader (see [`super::rows`]),
    /// as [`AttrsBuilder::push_row`] would one by one.
    pub fn push_batch(&mut self, batch: &RowBatch) -> Result<(), AttrError> {
        if batch.expect_rows > self.attrs.rows {
            self.reserve_rows(batch.expect_rows - self.attrs.rows);
        }
        let fields = batch.fields().min(self.attrs.fields);
        for r in 0..batch.rows() {
            self.push_row((0..fields).filter_map(|f| batch.get(r, f).map(|v| (f as u16, v))))?;
        }
        Ok(())
    }

    fn intern(&mut self, v: ValueRef<'_>) -> Result<u32, AttrError> {
        let AttrsBuilder {
            attrs,
            index,
            hasher,
            scalars,
            scratch,
        } = self;
        let table = &mut attrs.values;
        scratch.clear();
        let scalar = match v {
            ValueRef::String(_) => None,
            ValueRef::Int(i) => Some((1, i as u64)),
            ValueRef::Float(f) => Some((2, f.to_bits())),
            ValueRef::Bool(b) => Some((3, u64::from(b))),
        };
        if let Some(key) = scalar {
            return match scalars.entry(key) {
                MapEntry::Occupied(e) => Ok(*e.get()),
                MapEntry::Vacant(e) => {
                    put_mvt_value(scratch, v);
                    Ok(*e.insert(table.push_encoded(scratch)?))
                }
            };
        }
        put_mvt_value(scratch, v);
        let h = hasher.hash_one(&scratch[..]);
        let hash = (h ^ (h >> 32)) as u32;
        let wide = Entry::wide(hash);
        let same = |e: &Entry| e.hash == hash && table.encoded(e.id) == Some(&scratch[..]);
        if let Some(e) = index.find(wide, same) {
            return Ok(e.id);
        }
        let id = table.push_encoded(scratch)?;
        index.insert_unique(wide, Entry { id, hash }, |e| Entry::wide(e.hash));
        Ok(id)
    }

    /// The finished store, its values grouped (see [`ValueTable`]) and its
    /// buffers trimmed to size.
    pub fn finish(self) -> Attrs {
        let AttrsBuilder {
            mut attrs,
            index,
            scalars,
            ..
        } = self;
        drop((index, scalars));
        attrs.group_values();
        attrs.ids.shrink_to_fit();
        attrs.values.shrink_to_fit();
        attrs
    }
}

impl Attrs {
    /// Renumbers the values: those used more than once first, then those
    /// used once (each group in the order of first use), the encodings
    /// rewritten in the new order; rows are rewritten to match.
    /// Every value keeps its content; only ids change.
    fn group_values(&mut self) {
        let n = self.values.len();
        // 0: unused, 1: one row, 2: more.
        let mut uses = vec![0u8; n];
        for &id in &self.ids {
            if let Some(u) = uses.get_mut(id as usize) {
                *u = (*u + 1).min(2);
            }
        }
        // New id -> old id.
        let order: Vec<u32> = (0..n as u32)
            .filter(|&i| uses[i as usize] != 1)
            .chain((0..n as u32).filter(|&i| uses[i as usize] == 1))
            .collect();
        let first_single = order
            .iter()
            .position(|&i| uses[i as usize] == 1)
            .unwrap_or(n);
        drop(uses);
        self.values = self.values.reordered(&order, first_single as u32);
        let mut remap = vec![0u32; n];
        for (new, &i) in order.iter().enumerate() {
            if let Some(r) = remap.get_mut(i as usize) {
                *r = new as u32;
            }
        }
        drop(order);
        for id in self.ids.iter_mut().filter(|id| **id != NULL) {
            *id = remap.get(*id as usize).copied().unwrap_or(NULL);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn s(v: &str) -> Value {
        Value::String(v.into())
    }

    fn store(rows: &[Vec<(u16, Value)>], fields: usize) -> Attrs {
        Attrs::from_rows(
            fields,
            rows.iter()
                .map(|r| r.iter().map(|(k, v)| (*k, ValueRef::from(v)))),
        )
        .unwrap()
    }

    #[test]
    fn every_value_type_round_trips() {
        let rows = vec![
            vec![
                (0, s("耕地")),
                (1, Value::Int(-3)),
                (2, Value::Float(0.25)),
                (3, Value::Bool(true)),
            ],
            vec![
                (0, s("")),
                (1, Value::Int(i64::MAX)),
                (2, Value::Float(f64::NEG_INFINITY)),
                (3, Value::Bool(false)),
            ],
            vec![(2, Value::Float(-0.0))],
        ];
        let a = store(&rows, 4);
        assert_eq!(a.rows(), 3);
        for (r, row) in rows.iter().enumerate() {
            let got: Vec<(u16, Value)> = a.row(r as u32).map(|(k, v)| (k, v.to_value())).collect();
            assert_eq!(&got, row);
            for (k, v) in row {
                assert_eq!(a.get(r as u32, *k), Some(ValueRef::from(v)));
            }
        }
        assert_eq!(a.get(2, 0), None);
        assert_eq!(a.get(3, 0), None, "no such row");
        assert_eq!(a.get(0, 4), None, "no such field");
        let neg_zero = a.get(2, 2).and_then(ValueRef::as_f64).unwrap();
        assert!(neg_zero == 0.0 && neg_zero.is_sign_negative());
        let nan = store(&[vec![(0, Value::Float(f64::NAN))]], 1);
        assert!(nan.get(0, 0).and_then(ValueRef::as_f64).unwrap().is_nan());
    }

    #[test]
    fn values_are_stored_once_by_mvt_identity() {
        let rows = vec![
            vec![(0, s("a")), (1, s("a")), (2, Value::Int(1))],
            vec![(0, s("a")), (1, s("b")), (2, Value::Float(1.0))],
            vec![(0, s("b")), (1, Value::Bool(true)), (2, Value::Int(1))],
            vec![(0, Value::Float(0.0)), (1, Value::Float(-0.0))],
            vec![(0, Value::Float(f64::NAN)), (1, Value::Float(f64::NAN))],
        ];
        let a = store(&rows, 3);
        // "a", "b", Int(1), Float(1.0), true, 0.0, -0.0, NaN.
        assert_eq!(a.values().len(), 8);
        let ids: Vec<Vec<u32>> = (0..5)
            .map(|r| a.row_ids(r).map(|(_, v)| v).collect())
            .collect();
        assert_eq!(ids[0][0], ids[0][1], "same string in two fields");
        assert_eq!(ids[0][2], ids[2][2], "Int(1) in two rows");
        assert_ne!(ids[0][2], ids[1][2], "Int(1) is not Float(1.0)");
        assert_ne!(ids[3][0], ids[3][1], "0.0 is not -0.0");
        assert_eq!(ids[4][0], ids[4][1], "a NaN is stored once");
    }

    #[test]
    fn values_used_once_come_last_in_row_order() {
        let rows = vec![
            vec![(0, s("r0")), (1, s("shared")), (2, Value::Int(7))],
            vec![(0, s("r1")), (1, s("shared")), (2, Value::Float(2.5))],
            vec![(0, s("twice")), (1, s("twice")), (2, Value::Int(7))],
            vec![(0, s("r3")), (2, Value::Bool(false))],
        ];
        let a = store(&rows, 3);
        let t = a.values();
        // Used more than once: "shared", Int(7), "twice" (two fields of one
        // row); once: "r0", "r1", 2.5, "r3", false, in row order.
        let shared: Vec<u32> = (0..t.len() as u32).filter(|&i| !t.is_single(i)).collect();
        assert_eq!(shared, vec![0, 1, 2]);
        let single: Vec<_> = (3..t.len() as u32).map(|i| t.get(i).unwrap()).collect();
        assert_eq!(
            single,
            vec![
                ValueRef::String("r0"),
                ValueRef::String("r1"),
                ValueRef::Float(2.5),
                ValueRef::String("r3"),
                ValueRef::Bool(false),
            ]
        );
        // Every row still reads its own values.
        for (r, want) in rows.iter().enumerate() {
            let got: Vec<_> = a.row(r as u32).map(|(f, v)| (f, v.to_value())).collect();
            assert_eq!(&got, want);
        }
    }

    #[test]
    fn unknown_fields_are_ignored_and_the_first_repeat_kept() {
        let a = store(
            &[vec![(1, Value::Int(1)), (7, s("x")), (1, Value::Int(2))]],
            2,
        );
        let got: Vec<(u16, Value)> = a.row(0).map(|(k, v)| (k, v.to_value())).collect();
        assert_eq!(got, vec![(1, Value::Int(1))]);
        assert_eq!(a.values().len(), 1);
    }

    #[test]
    fn a_layer_without_fields_has_empty_rows() {
        let a = store(&[vec![(0, s("x"))], vec![]], 0);
        assert_eq!(a.rows(), 2);
        assert_eq!(a.row(1).count(), 0);
        assert_eq!(a.memory_bytes(), 0);
    }

    #[test]
    fn many_distinct_strings_survive_table_growth() {
        let rows: Vec<Vec<(u16, Value)>> = (0..10_000)
            .map(|i| vec![(0, s(&format!("code-{i}"))), (1, s(&format!("v{}", i % 7)))])
            .collect();
        let a = store(&rows, 2);
        assert_eq!(a.values().len(), 10_007);
        for (r, row) in rows.iter().enumerate() {
            assert_eq!(
                a.get(r as u32, 0).and_then(ValueRef::as_str),
                row[0].1.as_str()
            );
            assert_eq!(
                a.get(r as u32, 1).and_then(ValueRef::as_str),
                row[1].1.as_str()
            );
        }
    }
}
