//! The distinct attribute values of one layer ([`ValueTable`]), each stored
//! as the bytes a vector tile carries it in.
//!
//! A value is kept as a framed MVT `Value`, exactly as it appears in a tile
//! layer's values (field 4): strings as `string_value`, non-negative
//! integers as `int_value`, negative ones as `sint_value` (zigzag), floats
//! as `double_value`, booleans as `bool_value`. The tile encoder copies a
//! value with one `memcpy` and no type dispatch, and a value costs a 4-byte
//! offset plus its encoding (an 8-character string 12 bytes, a float 15)
//! instead of a 16-byte slot plus its text. Readers decode on demand
//! ([`ValueTable::get`]).
//!
//! Two values are the same value exactly when their encodings are equal:
//! strings by content, integers by value, floats by their bits (`-0.0` and
//! `0.0` differ, a NaN equals itself), an integer never equals a float. The
//! interning in `super::attrs` compares and hashes encodings.

use super::attrs::{AttrError, ValueRef};

/// Layer field 4 (`values`), length-delimited.
const LAYER_VALUE_KEY: u8 = (4 << 3) | 2;
/// `Value` fields written: string (1, length-delimited), double (3,
/// fixed64), int (4, varint), sint (6, varint), bool (7, varint).
const STRING_KEY: u8 = (1 << 3) | 2;
const DOUBLE_KEY: u8 = (3 << 3) | 1;
const INT_KEY: u8 = 4 << 3;
const SINT_KEY: u8 = 6 << 3;
const BOOL_KEY: u8 = 7 << 3;

fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// Reads a varint at the start of `b`: the value and the rest.
fn get_varint(b: &[u8]) -> Option<(u64, &[u8])> {
    let mut v = 0u64;
    for (i, &byte) in b.iter().enumerate().take(10) {
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            return Some((v, b.get(i + 1..)?));
        }
    }
    None
}

/// Appends `v` as a framed MVT `Value` (layer field 4: key, length, message).
pub fn put_mvt_value(buf: &mut Vec<u8>, v: ValueRef<'_>) {
    buf.push(LAYER_VALUE_KEY);
    match v {
        ValueRef::String(s) => {
            let inner = 1 + varint_len(s.len() as u64) + s.len();
            put_varint(buf, inner as u64);
            buf.push(STRING_KEY);
            put_varint(buf, s.len() as u64);
            buf.extend_from_slice(s.as_bytes());
        }
        ValueRef::Int(i) => {
            let (key, raw) = if i >= 0 {
                (INT_KEY, i as u64)
            } else {
                (SINT_KEY, ((i << 1) ^ (i >> 63)) as u64)
            };
            put_varint(buf, 1 + varint_len(raw) as u64);
            buf.push(key);
            put_varint(buf, raw);
        }
        ValueRef::Float(x) => {
            put_varint(buf, 9);
            buf.push(DOUBLE_KEY);
            buf.extend_from_slice(&x.to_le_bytes());
        }
        ValueRef::Bool(b) => {
            put_varint(buf, 2);
            buf.push(BOOL_KEY);
            buf.push(u8::from(b));
        }
    }
}

/// The value of an encoding written by [`put_mvt_value`] (`None` for any
/// other bytes).
fn decode(framed: &[u8]) -> Option<ValueRef<'_>> {
    let (&key, rest) = framed.split_first()?;
    if key != LAYER_VALUE_KEY {
        return None;
    }
    let (len, rest) = get_varint(rest)?;
    let msg = rest.get(..usize::try_from(len).ok()?)?;
    let (&field, body) = msg.split_first()?;
    Some(match field {
        STRING_KEY => {
            let (n, s) = get_varint(body)?;
            ValueRef::String(std::str::from_utf8(s.get(..usize::try_from(n).ok()?)?).ok()?)
        }
        DOUBLE_KEY => ValueRef::Float(f64::from_le_bytes(body.get(..8)?.try_into().ok()?)),
        INT_KEY => ValueRef::Int(get_varint(body)?.0 as i64),
        SINT_KEY => {
            let z = get_varint(body)?.0;
            ValueRef::Int(((z >> 1) as i64) ^ -((z & 1) as i64))
        }
        BOOL_KEY => ValueRef::Bool(*body.first()? != 0),
        _ => return None,
    })
}

/// The distinct values of one layer, indexed by value id.
///
/// Once built (`AttrsBuilder::finish`) the ids are grouped: values used
/// more than once first (a village code, a status, an owner name or an
/// area that recurs), then the values used once, in row order. A tile reads
/// the shared values at random, and grouped they are a compact block that
/// stays in cache; the values used once it reads in row order, which is
/// the file's (spatial) order. Interned as they first occurred, the two
/// kinds were interleaved through the whole table and every shared value
/// was a cache miss: half of the encoder's time on a cold parcel tile
/// (BENCHMARKS.md, "Cold tiles: session 8").
#[derive(Debug, Default)]
pub struct ValueTable {
    /// Value id -> start of its encoding in `bytes`; one entry more, the
    /// end of the last.
    offsets: Vec<u32>,
    bytes: Vec<u8>,
    /// Ids from here on are each used once in the layer, by one field of
    /// one row (`None`, the default: none known to be).
    first_single: Option<u32>,
}

impl ValueTable {
    /// The framed MVT encoding of value `id` (see [`put_mvt_value`]).
    #[inline]
    pub fn encoded(&self, id: u32) -> Option<&[u8]> {
        let i = id as usize;
        let start = *self.offsets.get(i)? as usize;
        let end = *self.offsets.get(i + 1)? as usize;
        self.bytes.get(start..end)
    }

    /// The value with id `id` (`None` for an unknown id).
    pub fn get(&self, id: u32) -> Option<ValueRef<'_>> {
        decode(self.encoded(id)?)
    }

    pub fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether value `id` is used once in the layer (one field of one
    /// row): a tile meets it at most once per time it adds that feature,
    /// so the encoder need not look for it among the values it wrote.
    #[inline]
    pub fn is_single(&self, id: u32) -> bool {
        self.first_single.is_some_and(|first| id >= first)
    }

    /// Appends a value given as its encoding; returns its id.
    pub(super) fn push_encoded(&mut self, encoded: &[u8]) -> Result<u32, AttrError> {
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        let id = u32::try_from(self.len())
            .ok()
            .filter(|id| *id < u32::MAX)
            .ok_or(AttrError::TooManyValues)?;
        let end =
            u32::try_from(self.bytes.len() + encoded.len()).map_err(|_| AttrError::TextTooLarge)?;
        self.bytes.extend_from_slice(encoded);
        self.offsets.push(end);
        Ok(id)
    }

    /// The same values renumbered: new id `n` is old id `order[n]`, and
    /// ids from `first_single` on are used once.
    pub(super) fn reordered(&self, order: &[u32], first_single: u32) -> ValueTable {
        if order.is_empty() {
            return ValueTable::default();
        }
        let mut t = ValueTable {
            offsets: Vec::with_capacity(order.len() + 1),
            bytes: Vec::with_capacity(self.bytes.len()),
            first_single: Some(first_single),
        };
        t.offsets.push(0);
        for &old in order {
            t.bytes
                .extend_from_slice(self.encoded(old).unwrap_or_default());
            // No longer than before: the same encodings in another order.
            t.offsets.push(t.bytes.len() as u32);
        }
        t
    }

    /// Trims the buffers to their contents.
    pub(super) fn shrink_to_fit(&mut self) {
        self.offsets.shrink_to_fit();
        self.bytes.shrink_to_fit();
    }

    /// Resident bytes (offsets and encodings).
    pub fn memory_bytes(&self) -> usize {
        self.offsets.capacity() * std::mem::size_of::<u32>() + self.bytes.capacity()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_value_decodes_to_itself() {
        let long = "长".repeat(100);
        let values = [
            ValueRef::String(""),
            ValueRef::String("张三"),
            ValueRef::String(&long),
            ValueRef::Int(0),
            ValueRef::Int(127),
            ValueRef::Int(128),
            ValueRef::Int(i64::MAX),
            ValueRef::Int(-1),
            ValueRef::Int(i64::MIN),
            ValueRef::Float(-0.0),
            ValueRef::Float(123.45),
            ValueRef::Float(f64::INFINITY),
            ValueRef::Bool(true),
            ValueRef::Bool(false),
        ];
        let mut t = ValueTable::default();
        for v in values {
            let mut buf = Vec::new();
            put_mvt_value(&mut buf, v);
            let id = t.push_encoded(&buf).unwrap();
            assert_eq!(t.encoded(id).unwrap(), &buf[..]);
        }
        assert_eq!(t.len(), values.len());
        for (id, v) in values.iter().enumerate() {
            let got = t.get(id as u32).unwrap();
            match (got, v) {
                (ValueRef::Float(a), ValueRef::Float(b)) => assert_eq!(a.to_bits(), b.to_bits()),
                _ => assert_eq!(&got, v),
            }
        }
        assert!(t.get(values.len() as u32).is_none());
        let mut nan = Vec::new();
        put_mvt_value(&mut nan, ValueRef::Float(f64::NAN));
        assert!(matches!(decode(&nan), Some(ValueRef::Float(x)) if x.is_nan()));
    }

    #[test]
    fn foreign_or_cut_bytes_are_no_value() {
        let mut buf = Vec::new();
        put_mvt_value(&mut buf, ValueRef::String("abc"));
        for n in 0..buf.len() {
            assert_eq!(decode(&buf[..n]), None, "cut at {n}");
        }
        assert_eq!(decode(&[0x0a, 0x01, 0x00]), None, "not a layer value field");
        assert_eq!(
            decode(&[0x22, 0x02, 0x15, 0x00]),
            None,
            "a float32: never written"
        );
        assert_eq!(decode(&[0x22, 0x03, 0x0a, 0x01, 0xff]), None, "not UTF-8");
    }
}
