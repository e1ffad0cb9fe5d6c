//! Attribute rows on their way from the reader to a layer's attribute
//! store, packed in batches.
//!
//! While a source is read, the reader writes each feature's allow-listed
//! values into a [`RowBatch`]: one slot per field (absent: `None`), strings
//! copied into the batch's one text buffer. Full batches go over a channel
//! to the thread that interns them into the layer's
//! [`Attrs`](super::attrs::Attrs) ([`AttrsBuilder::push_batch`]), so the
//! store is built while the file is still being read, and no feature holds
//! a `Vec<(u16, Value)>` or an `Arc<str>` per unique string in between.
//!
//! Interned batches go back to their reader for reuse ([`RowSource::recycle`]):
//! a million rows are ~250 batches of ~1 MB, and a fresh batch each time
//! cost the load ~0.2 s of the kernel zeroing new pages.
//!
//! [`AttrsBuilder::push_batch`]: super::attrs::AttrsBuilder::push_batch

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use super::attrs::ValueRef;

/// Rows per batch (8 fields: ~0.8 MB of slots).
const BATCH_ROWS: usize = 4096;
/// A batch is sent early once its text reaches this many bytes, so its
/// `u32` offsets never overflow (a single value over 4 GiB, which no
/// reader here can hold anyway, is stored as absent).
const TEXT_FLUSH: usize = 1 << 30;
/// Batches the reader may be ahead of the interning thread.
const IN_FLIGHT: usize = 32;

/// One packed value: a string is a range of the batch's text (16 B a
/// slot; a batch is flushed before its text passes `u32::MAX` bytes).
#[derive(Debug, Clone, Copy)]
enum Packed {
    Str { start: u32, len: u32 },
    Int(i64),
    Float(f64),
    Bool(bool),
}

/// Consecutive attribute rows: `fields` slots per row, row-major.
#[derive(Debug, Default)]
pub struct RowBatch {
    fields: usize,
    slots: Vec<Option<Packed>>,
    rows: usize,
    text: String,
    /// Rows the whole source is expected to hold (a capacity hint, set on
    /// the first batch when the format says; 0: unknown).
    pub expect_rows: usize,
}

impl RowBatch {
    fn new(fields: usize) -> RowBatch {
        RowBatch {
            fields,
            slots: Vec::with_capacity(BATCH_ROWS * fields),
            ..RowBatch::default()
        }
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Fields per row.
    pub fn fields(&self) -> usize {
        self.fields
    }

    /// The value of `field` in `row` (`None`: absent).
    pub fn get(&self, row: usize, field: usize) -> Option<ValueRef<'_>> {
        if field >= self.fields || row >= self.rows {
            return None;
        }
        Some(match (*self.slots.get(row * self.fields + field)?)? {
            Packed::Str { start, len } => {
                let start = start as usize;
                ValueRef::String(self.text.get(start..start + len as usize)?)
            }
            Packed::Int(i) => ValueRef::Int(i),
            Packed::Float(f) => ValueRef::Float(f),
            Packed::Bool(b) => ValueRef::Bool(b),
        })
    }

    /// Empties the batch for reuse (its buffers kept).
    fn clear(&mut self) {
        self.slots.clear();
        self.rows = 0;
        self.text.clear();
        self.expect_rows = 0;
    }

    /// Starts a row with every field absent.
    fn begin_row(&mut self) {
        self.slots.resize(self.slots.len() + self.fields, None);
        self.rows += 1;
    }

    /// Sets `field` of the last row unless it is set already (of repeated
    /// fields the first value is kept, as [`AttrsBuilder::push_row`] does).
    ///
    /// [`AttrsBuilder::push_row`]: super::attrs::AttrsBuilder::push_row
    fn set(&mut self, field: usize, v: ValueRef<'_>) {
        if field >= self.fields || self.rows == 0 {
            return;
        }
        let at = self.slots.len() - self.fields + field;
        if self.slots[at].is_some() {
            return;
        }
        self.slots[at] = Some(match v {
            ValueRef::String(s) => {
                let (Ok(start), Ok(len)) = (u32::try_from(self.text.len()), u32::try_from(s.len()))
                else {
                    return;
                };
                if start.checked_add(len).is_none() {
                    return;
                }
                self.text.push_str(s);
                Packed::Str { start, len }
            }
            ValueRef::Int(i) => Packed::Int(i),
            ValueRef::Float(f) => Packed::Float(f),
            ValueRef::Bool(b) => Packed::Bool(b),
        });
    }
}

/// The reader's end: fills batches and sends the full ones.
#[derive(Debug)]
pub struct RowSink {
    fields: usize,
    batch: RowBatch,
    expect_rows: usize,
    tx: SyncSender<RowBatch>,
    /// Interned batches coming back for reuse.
    spare: Receiver<RowBatch>,
}

/// The interning end: the batches of one sink, in order, and the way back
/// for the ones interned.
#[derive(Debug)]
pub struct RowSource {
    rx: Receiver<RowBatch>,
    back: SyncSender<RowBatch>,
}

impl RowSource {
    /// The next batch; `None` once the sink is dropped and all are read.
    pub fn recv(&self) -> Option<RowBatch> {
        self.rx.recv().ok()
    }

    /// Hands an interned batch back to its reader (dropped if the reader
    /// has enough spares or is gone).
    pub fn recycle(&self, batch: RowBatch) {
        let _ = self.back.try_send(batch);
    }
}

/// A sink for rows of `fields` fields and the receiver of its batches
/// (the reader waits when it is `IN_FLIGHT` batches ahead).
pub fn channel(fields: usize) -> (RowSink, RowSource) {
    bounded(fields, IN_FLIGHT)
}

/// A sink whose reader never waits for `rows` rows: for a run of rows
/// that is interned only after the runs before it.
pub fn channel_for(fields: usize, rows: usize) -> (RowSink, RowSource) {
    bounded(fields, rows / BATCH_ROWS + 2)
}

fn bounded(fields: usize, batches: usize) -> (RowSink, RowSource) {
    let (tx, rx) = sync_channel(batches);
    let (back, spare) = sync_channel(SPARES);
    let sink = RowSink {
        fields,
        batch: RowBatch::new(fields),
        expect_rows: 0,
        tx,
        spare,
    };
    (sink, RowSource { rx, back })
}

/// Interned batches a reader keeps for reuse.
const SPARES: usize = 4;

impl RowSink {
    /// Passes on the number of rows the source announces.
    pub fn expect(&mut self, rows: usize) {
        self.expect_rows = rows;
    }

    /// Starts the next row (every field absent).
    pub fn begin_row(&mut self) {
        self.batch.begin_row();
    }

    /// Sets a field of the current row (the first value of a field is kept).
    pub fn set(&mut self, field: u16, v: ValueRef<'_>) {
        self.batch.set(usize::from(field), v);
    }

    /// Ends the current row, sending the batch when it is full.
    pub fn end_row(&mut self) {
        if self.batch.rows() >= BATCH_ROWS || self.batch.text.len() >= TEXT_FLUSH {
            self.flush();
        }
    }

    /// Sends the rows so far (if any). A closed receiver (its thread
    /// panicked; the load reports that) drops them.
    pub fn flush(&mut self) {
        if self.batch.rows == 0 && self.expect_rows == 0 {
            return;
        }
        let next = match self.spare.try_recv() {
            Ok(mut b) if b.fields == self.fields => {
                b.clear();
                b
            }
            _ => RowBatch::new(self.fields),
        };
        let mut full = std::mem::replace(&mut self.batch, next);
        full.expect_rows = std::mem::take(&mut self.expect_rows);
        let _ = self.tx.send(full);
    }
}

impl Drop for RowSink {
    fn drop(&mut self) {
        self.flush();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::layer::attrs::{Attrs, AttrsBuilder};

    /// Rows sent through the channel make the store the reader's sorted
    /// `props` made through `push_row`:
    /// same ids, first of repeated fields kept, absent fields null, rows
    /// without fields counted.
    #[test]
    fn batches_build_the_store_rows_build() {
        let rows: Vec<Vec<(u16, ValueRef<'static>)>> = (0..10_000)
            .map(|i| {
                let mut r = vec![(1, ValueRef::Int(i % 7)), (0, ValueRef::String("a"))];
                if i % 3 == 0 {
                    r.push((2, ValueRef::Float(0.5)));
                    r.push((1, ValueRef::Bool(true)));
                }
                if i % 5 == 0 {
                    r.push((0, ValueRef::String(if i % 2 == 0 { "b" } else { "" })));
                    r.push((9, ValueRef::Int(1)));
                }
                r
            })
            .collect();
        // The reader's `props`: sorted by field (stable), as the store
        // got them, so the values are interned in the same order.
        let sorted: Vec<Vec<(u16, ValueRef<'static>)>> = rows
            .iter()
            .map(|r| {
                let mut r = r.clone();
                r.sort_by_key(|(k, _)| *k);
                r
            })
            .collect();
        let want = Attrs::from_rows(3, sorted.iter().map(|r| r.iter().copied())).unwrap();
        let (mut sink, rx) = channel(3);
        let t = std::thread::spawn(move || {
            let mut b = AttrsBuilder::new(3);
            while let Some(batch) = rx.recv() {
                b.push_batch(&batch).unwrap();
                rx.recycle(batch);
            }
            b.finish()
        });
        sink.expect(rows.len());
        for r in &rows {
            sink.begin_row();
            for (k, v) in r {
                sink.set(*k, *v);
            }
            sink.end_row();
        }
        drop(sink);
        let got = t.join().unwrap();
        assert_eq!(got.rows(), want.rows());
        assert_eq!(got.values().len(), want.values().len());
        for r in 0..rows.len() as u32 {
            let a: Vec<_> = got.row_ids(r).collect();
            let b: Vec<_> = want.row_ids(r).collect();
            assert_eq!(a, b, "row {r}");
        }
    }
}
