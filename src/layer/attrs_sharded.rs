//! Building a layer's attribute store on several threads.
//!
//! Interning is one hash-table lookup per value, mostly a cache miss for
//! the unique ones (codes, areas): on one thread it was the critical path of
//! loading the largest layers. Here every value belongs to one shard, picked
//! from its hash ([`shard_of`]); each thread reads all rows but interns only
//! its shard's values into a table of its own, and the shards' tables are
//! then laid end to end, each shard's ids shifted by the values before it.
//! A value is in exactly one shard, so it is still stored once: the result
//! differs from [`AttrsBuilder`]'s only in the numbering of the values.

use foldhash::fast::RandomState;

use super::attrs::{AttrError, Attrs, AttrsBuilder, NULL, Slot, ValueRef};
use super::model::Value;

/// A row's pairs as the builder takes them.
fn pairs(r: &[(u16, Value)]) -> impl Iterator<Item = (u16, ValueRef<'_>)> {
    r.iter().map(|(k, v)| (*k, ValueRef::from(v)))
}

/// Fewer rows than this are interned on one thread.
pub(super) const SHARD_MIN_ROWS: usize = 20_000;

/// The store of `rows` (row `i` from `rows[i]`), interned on `shards`
/// threads (one for a small layer).
pub fn build(fields: usize, rows: &[Vec<(u16, Value)>], shards: usize) -> Result<Attrs, AttrError> {
    if shards <= 1 || fields == 0 || rows.len() < SHARD_MIN_ROWS {
        let mut b = AttrsBuilder::new(fields);
        b.reserve_rows(rows.len());
        for r in rows {
            b.push_row(pairs(r))?;
        }
        return Ok(b.finish());
    }
    let hasher = RandomState::default();
    let parts: Vec<Result<Attrs, AttrError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..shards)
            .map(|k| {
                let hasher = hasher.clone();
                s.spawn(move || {
                    let mut b = AttrsBuilder::with_hasher(fields, hasher);
                    b.reserve_rows(rows.len() / shards + 1);
                    for r in rows {
                        b.push_row_of(pairs(r), Some((k, shards)))?;
                    }
                    Ok(b.finish())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    let mut parts = parts.into_iter();
    let mut out = match parts.next() {
        Some(first) => first?,
        None => return Ok(Attrs::default()),
    };
    for part in parts {
        append(&mut out, part?)?;
    }
    out.ids.shrink_to_fit();
    out.values.slots.shrink_to_fit();
    out.values.text.shrink_to_fit();
    Ok(out)
}

/// Lays `part`'s values after `out`'s and moves its ids (shifted) into the
/// slots `out` left empty. Both hold the same rows.
fn append(out: &mut Attrs, part: Attrs) -> Result<(), AttrError> {
    let shift = u32::try_from(out.values.slots.len()).map_err(|_| AttrError::TooManyValues)?;
    let total = out.values.slots.len() + part.values.slots.len();
    if total >= NULL as usize {
        return Err(AttrError::TooManyValues);
    }
    let text_shift = u32::try_from(out.values.text.len()).map_err(|_| AttrError::TextTooLarge)?;
    if out.values.text.len() + part.values.text.len() > u32::MAX as usize {
        return Err(AttrError::TextTooLarge);
    }
    out.values.slots.reserve_exact(part.values.slots.len());
    out.values
        .slots
        .extend(part.values.slots.iter().map(|s| match *s {
            Slot::Str { start, len } => Slot::Str {
                start: start + text_shift,
                len,
            },
            other => other,
        }));
    out.values.text.push_str(&part.values.text);
    for (o, p) in out.ids.iter_mut().zip(&part.ids) {
        if *p != NULL {
            *o = p + shift;
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Rows with repeated and unique strings, a string equal across two
    /// fields, numbers of both kinds, absent fields and a repeated field.
    fn rows(n: usize) -> Vec<Vec<(u16, Value)>> {
        (0..n)
            .map(|i| {
                let mut r = vec![
                    (0u16, Value::String(format!("code-{i}").into())),
                    (1, Value::String(format!("v{}", i % 17).into())),
                    (2, Value::Int((i % 5) as i64)),
                    (3, Value::Float((i % 7) as f64)),
                ];
                if i % 3 == 0 {
                    r.push((4, Value::String(format!("v{}", i % 11).into())));
                }
                if i % 10 == 0 {
                    r.push((1, Value::Bool(true)));
                }
                if i % 4 == 0 {
                    r.remove(2);
                }
                r
            })
            .collect()
    }

    fn owned(a: &Attrs, row: usize) -> Vec<(u16, Value)> {
        a.row(row as u32).map(|(k, v)| (k, v.to_value())).collect()
    }

    #[test]
    fn shards_store_what_one_thread_stores() {
        let rows = rows(SHARD_MIN_ROWS + 101);
        let one = build(5, &rows, 1).unwrap();
        for shards in [2, 3, 8] {
            let many = build(5, &rows, shards).unwrap();
            assert_eq!(many.rows(), one.rows());
            assert_eq!(many.values().len(), one.values().len(), "{shards} shards");
            assert_eq!(many.values.text.len(), one.values.text.len());
            for r in 0..rows.len() {
                assert_eq!(owned(&many, r), owned(&one, r), "row {r}");
            }
            // Still one id per value: the same value has the same id in
            // every row and field.
            let mut ids: std::collections::HashMap<String, u32> = Default::default();
            for r in 0..rows.len() {
                for (f, id) in many.row_ids(r as u32) {
                    let v = format!("{:?}", many.get(r as u32, f).unwrap().to_value());
                    assert_eq!(*ids.entry(v).or_insert(id), id);
                }
            }
        }
    }

    #[test]
    fn the_first_of_a_repeated_field_wins_in_every_shard() {
        let mut rows = rows(SHARD_MIN_ROWS);
        rows[0] = vec![
            (1, Value::String("first".into())),
            (1, Value::String("second".into())),
            (1, Value::Int(3)),
        ];
        for shards in [1, 2, 4] {
            let a = build(5, &rows, shards).unwrap();
            assert_eq!(owned(&a, 0), vec![(1, Value::String("first".into()))]);
        }
    }
}
