//! Row-at-a-time builder of normalized flow batches.
//!
//! Columns are plain `Vec`s (values, string offsets) plus a list of null runs, turned into
//! Arrow arrays only at [`FlowBatchBuilder::finish`]: a `set_*` call is one length check and
//! one push, with no per-value validity bookkeeping (rows are valid unless a null run says
//! otherwise). Columns a format never sets cost nothing: a column is padded with a null run
//! only when a value arrives for a later row, and a column that is entirely null (or entirely
//! its per-object default such as provider or object key) becomes a shared, cached array.

use std::sync::Arc;

use arrow::array::{
    new_null_array, ArrayRef, PrimitiveArray, StringArray, TimestampMillisecondArray,
};
use arrow::buffer::{Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{ArrowPrimitiveType, UInt16Type, UInt64Type, UInt8Type};
use arrow::record_batch::RecordBatch;

use crate::schema::{flow_schema, Col, Kind, COLUMNS};

/// Values of one column (nulls hold a zero value / an empty string).
enum Vals {
    /// Arrow `Utf8` layout: `offsets` has one more entry than values.
    Str {
        offsets: Vec<i32>,
        bytes: Vec<u8>,
    },
    U8(Vec<u8>),
    U16(Vec<u16>),
    U64(Vec<u64>),
    Ts(Vec<i64>),
}

impl Vals {
    fn new(kind: Kind, cap: usize) -> Vals {
        match kind {
            Kind::Str => {
                let mut offsets = Vec::with_capacity(cap + 1);
                offsets.push(0);
                Vals::Str {
                    offsets,
                    bytes: Vec::with_capacity(cap * 16),
                }
            }
            Kind::U8 => Vals::U8(Vec::with_capacity(cap)),
            Kind::U16 => Vals::U16(Vec::with_capacity(cap)),
            Kind::U64 => Vals::U64(Vec::with_capacity(cap)),
            Kind::Ts => Vals::Ts(Vec::with_capacity(cap)),
        }
    }
}

/// One column of the batch in progress.
pub(crate) struct Column {
    kind: Kind,
    vals: Vals,
    /// Values pushed (valid or null) in this batch.
    len: usize,
    /// Null runs `(first row, count)`, ascending; everything else is valid.
    nulls: Vec<(usize, usize)>,
    /// `(rows, array)` of the last all-default / all-null array handed out, reused while the
    /// default and the batch size stay the same (object key, provider, ... per batch).
    cached: Option<(usize, ArrayRef)>,
}

impl Column {
    fn new(kind: Kind) -> Column {
        Column {
            kind,
            vals: Vals::new(kind, 0),
            len: 0,
            nulls: Vec::new(),
            cached: None,
        }
    }

    fn null_count(&self) -> usize {
        self.nulls.iter().map(|&(_, n)| n).sum()
    }

    /// Appends `n` nulls.
    fn push_nulls(&mut self, n: usize) {
        match &mut self.vals {
            Vals::Str { offsets, .. } => {
                let last = offsets.last().copied().unwrap_or(0);
                offsets.resize(offsets.len() + n, last);
            }
            Vals::U8(v) => v.resize(v.len() + n, 0),
            Vals::U16(v) => v.resize(v.len() + n, 0),
            Vals::U64(v) => v.resize(v.len() + n, 0),
            Vals::Ts(v) => v.resize(v.len() + n, 0),
        }
        match self.nulls.last_mut() {
            Some((start, count)) if *start + *count == self.len => *count += n,
            _ => self.nulls.push((self.len, n)),
        }
        self.len += n;
    }

    #[inline]
    fn pad_to(&mut self, rows: usize) {
        if self.len < rows {
            self.push_nulls(rows - self.len);
        }
    }

    /// Keeps the first `rows` values.
    fn truncate(&mut self, rows: usize) {
        if self.len <= rows {
            return;
        }
        match &mut self.vals {
            Vals::Str { offsets, bytes } => {
                offsets.truncate(rows + 1);
                bytes.truncate(offsets.last().copied().unwrap_or(0) as usize);
            }
            Vals::U8(v) => v.truncate(rows),
            Vals::U16(v) => v.truncate(rows),
            Vals::U64(v) => v.truncate(rows),
            Vals::Ts(v) => v.truncate(rows),
        }
        self.nulls.retain(|&(s, _)| s < rows);
        if let Some((s, n)) = self.nulls.last_mut() {
            *n = (*n).min(rows - *s);
        }
        self.len = rows;
    }

    /// Appends a string value; bytes must be UTF-8 (checked again when the array is built).
    #[inline]
    pub(crate) fn push_str(&mut self, v: &[u8]) {
        if let Vals::Str { offsets, bytes } = &mut self.vals {
            match i32::try_from(bytes.len() + v.len()) {
                Ok(end) => {
                    bytes.extend_from_slice(v);
                    offsets.push(end);
                    self.len += 1;
                }
                // More than 2 GiB of text in one batch: Utf8 offsets cannot say it.
                Err(_) => self.push_nulls(1),
            }
        }
    }

    /// Appends `data[s..e]` as a string. Short values are copied as one fixed-size 32-byte
    /// block (then cut back), which compiles to two vector moves instead of a `memcpy` call.
    #[inline(always)]
    pub(crate) fn push_str_at(&mut self, data: &[u8], s: usize, e: usize) {
        const W: usize = 32;
        let n = e - s;
        match (&mut self.vals, data.get(s..s + W)) {
            (Vals::Str { offsets, bytes }, Some(block)) if n <= W => {
                let start = bytes.len();
                match i32::try_from(start + n) {
                    Ok(end) => {
                        bytes.extend_from_slice(block);
                        bytes.truncate(start + n);
                        offsets.push(end);
                        self.len += 1;
                    }
                    Err(_) => self.push_nulls(1),
                }
            }
            _ => self.push_str(&data[s..e]),
        }
    }

    #[inline]
    pub(crate) fn push_u8(&mut self, x: u8) {
        if let Vals::U8(v) = &mut self.vals {
            v.push(x);
            self.len += 1;
        }
    }

    #[inline]
    pub(crate) fn push_u16(&mut self, x: u16) {
        if let Vals::U16(v) = &mut self.vals {
            v.push(x);
            self.len += 1;
        }
    }

    #[inline]
    pub(crate) fn push_u64(&mut self, x: u64) {
        if let Vals::U64(v) = &mut self.vals {
            v.push(x);
            self.len += 1;
        }
    }

    #[inline]
    pub(crate) fn push_ts(&mut self, x: i64) {
        if let Vals::Ts(v) = &mut self.vals {
            v.push(x);
            self.len += 1;
        }
    }

    fn null_buffer(&self) -> Option<NullBuffer> {
        if self.nulls.is_empty() {
            return None;
        }
        let mut b = arrow::array::BooleanBufferBuilder::new(self.len);
        let mut at = 0;
        for &(s, n) in &self.nulls {
            b.append_n(s - at, true);
            b.append_n(n, false);
            at = s + n;
        }
        b.append_n(self.len - at, true);
        Some(NullBuffer::new(b.finish()))
    }

    /// Builds the array of the `len` values and starts the next batch empty.
    fn finish(&mut self, default: Option<&str>, null_cache: &mut NullCache) -> ArrayRef {
        let rows = self.len;
        let nulls = self.null_count();
        if nulls == rows && rows > 0 {
            self.reset(0);
            return self.all_null(rows, default, null_cache);
        }
        let validity = self.null_buffer();
        let vals = std::mem::replace(&mut self.vals, Vals::new(self.kind, 0));
        let arr: ArrayRef = match vals {
            Vals::Str { offsets, bytes } => match default {
                Some(d) if nulls > 0 => fill_default(&offsets, &bytes, validity.as_ref(), d),
                _ => string_array(offsets, bytes, validity),
            },
            Vals::U8(v) => prim::<UInt8Type>(v, validity),
            Vals::U16(v) => prim::<UInt16Type>(v, validity),
            Vals::U64(v) => prim::<UInt64Type>(v, validity),
            Vals::Ts(v) => Arc::new(
                TimestampMillisecondArray::new(ScalarBuffer::from(v), validity)
                    .with_timezone("UTC"),
            ),
        };
        self.reset(rows);
        arr
    }

    /// A cached all-null or all-default array of `rows` rows.
    fn all_null(
        &mut self,
        rows: usize,
        default: Option<&str>,
        null_cache: &mut NullCache,
    ) -> ArrayRef {
        match (self.kind, default) {
            (Kind::Str, Some(d)) => match &self.cached {
                Some((n, a)) if *n == rows => a.clone(),
                _ => {
                    let a = repeated(d, rows);
                    self.cached = Some((rows, a.clone()));
                    a
                }
            },
            (kind, _) => null_cache.get(kind, rows),
        }
    }

    /// Empties the column, reserving `cap` rows so the next batch does not regrow.
    fn reset(&mut self, cap: usize) {
        self.vals = Vals::new(self.kind, cap);
        self.len = 0;
        self.nulls.clear();
    }
}

fn prim<T: ArrowPrimitiveType>(v: Vec<T::Native>, nulls: Option<NullBuffer>) -> ArrayRef {
    Arc::new(PrimitiveArray::<T>::new(ScalarBuffer::from(v), nulls))
}

/// Offsets are non-decreasing from 0 by construction. Pure-ASCII bytes (the norm for flow
/// logs, and cheap to check) skip Arrow's UTF-8 and char-boundary validation; anything else
/// is validated. The fallback is never expected: it keeps a broken invariant from becoming a
/// panic.
fn string_array(offsets: Vec<i32>, bytes: Vec<u8>, nulls: Option<NullBuffer>) -> ArrayRef {
    let n = offsets.len().saturating_sub(1);
    let in_bounds = offsets.last().is_some_and(|&e| e as usize == bytes.len());
    let ascii = bytes.is_ascii() && nulls.as_ref().is_none_or(|nb| nb.len() == n);
    let offs = OffsetBuffer::new(ScalarBuffer::from(offsets));
    if ascii && in_bounds {
        // SAFETY: every byte is ASCII, so the buffer is valid UTF-8 and every offset is a
        // char boundary; the offsets are monotonic from 0 (`OffsetBuffer::new` checked) and
        // end at the buffer's length and `nulls` has one bit per value (both checked above).
        return Arc::new(unsafe {
            StringArray::new_unchecked(offs, Buffer::from_vec(bytes), nulls)
        });
    }
    match StringArray::try_new(offs, Buffer::from_vec(bytes), nulls) {
        Ok(a) => Arc::new(a),
        Err(_) => new_null_array(&Kind::Str.data_type(), n),
    }
}

/// `rows` copies of `d`, built with exact sizes (`str::repeat` copies by doubling).
fn repeated(d: &str, rows: usize) -> ArrayRef {
    let len = d.len();
    match rows.checked_mul(len).map(i32::try_from) {
        Some(Ok(_)) => {
            let offsets: Vec<i32> = (0..=rows).map(|i| (i * len) as i32).collect();
            string_array(offsets, d.repeat(rows).into_bytes(), None)
        }
        // Over 2 GiB: not representable as Utf8.
        _ => new_null_array(&Kind::Str.data_type(), rows),
    }
}

/// A string column with some nulls where the per-object default applies.
fn fill_default(
    offsets: &[i32],
    bytes: &[u8],
    nulls: Option<&NullBuffer>,
    default: &str,
) -> ArrayRef {
    let n = offsets.len().saturating_sub(1);
    let valid = |i: usize| nulls.is_none_or(|nb| nb.is_valid(i));
    let values = (0..n).map(|i| {
        if valid(i) {
            let (s, e) = (offsets[i] as usize, offsets[i + 1] as usize);
            bytes
                .get(s..e)
                .and_then(|b| std::str::from_utf8(b).ok())
                .unwrap_or(default)
        } else {
            default
        }
    });
    Arc::new(StringArray::from_iter_values(values))
}

/// All-null arrays per kind for the last batch size, shared by every unset column.
#[derive(Default)]
struct NullCache([Option<(usize, ArrayRef)>; 5]);

impl NullCache {
    fn get(&mut self, kind: Kind, rows: usize) -> ArrayRef {
        let slot = &mut self.0[kind as usize];
        match slot {
            Some((n, a)) if *n == rows => a.clone(),
            _ => {
                let a = new_null_array(&kind.data_type(), rows);
                *slot = Some((rows, a.clone()));
                a
            }
        }
    }
}

/// Builds [`RecordBatch`]es of the normalized schema ([`crate::flow_schema`]).
///
/// Call the `set_*` methods for the current row, then [`FlowBatchBuilder::end_row`]. A value
/// set twice in one row keeps the first; `set_*` for a column of another type is ignored (the
/// parsers only call matching types).
pub struct FlowBatchBuilder {
    cols: Vec<Column>,
    rows: usize,
    /// Per-column value used where a row left the column null (filled at `finish`).
    defaults: Vec<Option<String>>,
    /// Columns whose default is never filled in (see [`Self::without_defaults_for`]).
    no_default: Vec<bool>,
    null_cache: NullCache,
}

impl Default for FlowBatchBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl FlowBatchBuilder {
    pub fn new() -> Self {
        Self {
            cols: COLUMNS.iter().map(|c| Column::new(c.kind)).collect(),
            rows: 0,
            defaults: vec![None; COLUMNS.len()],
            no_default: vec![false; COLUMNS.len()],
            null_cache: NullCache::default(),
        }
    }

    /// Leaves `cols` null where a row has no value instead of filling in their per-object
    /// default ([`crate::ParseOptions::skip_columns`]).
    pub fn without_defaults_for(mut self, cols: &[Col]) -> Self {
        for c in cols {
            if let Some(flag) = self.no_default.get_mut(*c as usize) {
                *flag = true;
            }
        }
        self
    }

    /// Rows ended so far in the current batch.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// A string every row gets where it has none (e.g. provider, object key, account from the
    /// S3 key). Kept across batches until changed.
    pub fn set_default(&mut self, col: Col, value: Option<&str>) {
        if self.no_default.get(col as usize) == Some(&true) {
            return;
        }
        self.defaults[col as usize] = value.map(str::to_owned);
        self.cols[col as usize].cached = None;
    }

    /// The column to write the current row's value of `col` into, padded to this row;
    /// `None` when the row already has a value there (the first one is kept).
    #[inline]
    pub(crate) fn free_col(&mut self, col: Col) -> Option<&mut Column> {
        let rows = self.rows;
        let c = self.cols.get_mut(col as usize)?;
        if c.len > rows {
            return None;
        }
        c.pad_to(rows);
        Some(c)
    }

    #[inline]
    pub fn set_str(&mut self, col: Col, v: &str) {
        if let Some(c) = self.free_col(col) {
            c.push_str(v.as_bytes());
        }
    }

    #[inline]
    pub fn set_u8(&mut self, col: Col, v: u8) {
        if let Some(c) = self.free_col(col) {
            c.push_u8(v);
        }
    }

    #[inline]
    pub fn set_u16(&mut self, col: Col, v: u16) {
        if let Some(c) = self.free_col(col) {
            c.push_u16(v);
        }
    }

    #[inline]
    pub fn set_u64(&mut self, col: Col, v: u64) {
        if let Some(c) = self.free_col(col) {
            c.push_u64(v);
        }
    }

    /// Milliseconds since the Unix epoch, UTC.
    #[inline]
    pub fn set_ts_ms(&mut self, col: Col, v: i64) {
        if let Some(c) = self.free_col(col) {
            c.push_ts(v);
        }
    }

    /// Drops whatever the current row set so far (used when a line turns out to be bad
    /// half-way through).
    pub fn discard_row(&mut self) {
        let rows = self.rows;
        for c in &mut self.cols {
            c.truncate(rows);
        }
    }

    #[inline]
    pub fn end_row(&mut self) {
        self.rows += 1;
    }

    /// Finishes the batch (all ended rows) and starts an empty one; defaults are kept.
    pub fn finish(&mut self) -> RecordBatch {
        self.discard_row();
        let rows = self.rows;
        let mut arrays = Vec::with_capacity(self.cols.len());
        for (c, d) in self.cols.iter_mut().zip(&self.defaults) {
            if c.len == 0 && rows > 0 {
                // Never set in this batch: no need to materialize the nulls.
                arrays.push(c.all_null(rows, d.as_deref(), &mut self.null_cache));
                continue;
            }
            c.pad_to(rows);
            arrays.push(c.finish(d.as_deref(), &mut self.null_cache));
        }
        self.rows = 0;
        // Every column has `rows` values of its declared type: construction cannot fail.
        RecordBatch::try_new(flow_schema(), arrays)
            .unwrap_or_else(|_| RecordBatch::new_empty(flow_schema()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::UInt16Type;

    #[test]
    fn unset_columns_are_null_and_defaults_fill() {
        let mut b = FlowBatchBuilder::new();
        b.set_default(Col::Provider, Some("aws"));
        b.set_str(Col::SrcAddr, "10.0.0.1");
        b.end_row();
        b.set_u16(Col::DstPort, 443);
        b.end_row();
        let batch = b.finish();
        assert_eq!(batch.num_rows(), 2);
        let src = batch.column(Col::SrcAddr as usize).as_string::<i32>();
        assert_eq!(src.value(0), "10.0.0.1");
        assert!(src.is_null(1));
        let port = batch
            .column(Col::DstPort as usize)
            .as_primitive::<UInt16Type>();
        assert!(port.is_null(0));
        assert_eq!(port.value(1), 443);
        let prov = batch.column(Col::Provider as usize).as_string::<i32>();
        assert_eq!(prov.value(1), "aws");
    }

    #[test]
    fn skipped_columns_get_no_default_but_keep_set_values() {
        let mut b = FlowBatchBuilder::new().without_defaults_for(&[Col::ObjectKey, Col::Region]);
        b.set_default(Col::ObjectKey, Some("AWSLogs/1/x.log.gz"));
        b.set_default(Col::Region, Some("eu-west-1"));
        b.set_default(Col::Provider, Some("aws"));
        b.set_str(Col::Region, "us-east-1");
        b.end_row();
        b.end_row();
        let batch = b.finish();
        assert_eq!(batch.column(Col::ObjectKey as usize).null_count(), 2);
        let region = batch.column(Col::Region as usize).as_string::<i32>();
        assert_eq!(region.value(0), "us-east-1");
        assert!(region.is_null(1));
        let prov = batch.column(Col::Provider as usize).as_string::<i32>();
        assert_eq!((prov.value(0), prov.value(1)), ("aws", "aws"));
    }

    #[test]
    fn discarded_row_leaves_no_trace() {
        let mut b = FlowBatchBuilder::new();
        b.set_str(Col::SrcAddr, "a");
        b.end_row();
        b.set_str(Col::SrcAddr, "bad");
        b.set_u16(Col::DstPort, 1);
        b.discard_row();
        b.set_str(Col::SrcAddr, "c");
        b.end_row();
        let batch = b.finish();
        let src = batch.column(Col::SrcAddr as usize).as_string::<i32>();
        assert_eq!((src.value(0), src.value(1)), ("a", "c"));
        assert_eq!(batch.column(Col::DstPort as usize).null_count(), 2);
    }

    #[test]
    fn partial_defaults_first_value_wins_and_batches_restart() {
        let mut b = FlowBatchBuilder::new();
        b.set_default(Col::Region, Some("eu-west-1"));
        for i in 0..5u16 {
            if i % 2 == 0 {
                b.set_str(Col::Region, "us-east-1");
            }
            b.set_u16(Col::SrcPort, i);
            b.set_u16(Col::SrcPort, 99); // ignored: first value wins
            b.set_u64(Col::SrcPort, 7); // ignored: wrong type
            b.end_row();
        }
        let batch = b.finish();
        let r = batch.column(Col::Region as usize).as_string::<i32>();
        let got: Vec<_> = r.iter().map(|v| v.unwrap_or("?")).collect();
        assert_eq!(
            got,
            [
                "us-east-1",
                "eu-west-1",
                "us-east-1",
                "eu-west-1",
                "us-east-1"
            ]
        );
        let p = batch
            .column(Col::SrcPort as usize)
            .as_primitive::<UInt16Type>();
        assert_eq!(p.values().to_vec(), vec![0, 1, 2, 3, 4]);
        assert_eq!(p.null_count(), 0);
        // The next batch starts empty; all-default columns come from the cache.
        for _ in 0..2 {
            b.end_row();
            let batch = b.finish();
            assert_eq!(batch.num_rows(), 1);
            let r = batch.column(Col::Region as usize).as_string::<i32>();
            assert_eq!(r.value(0), "eu-west-1");
            assert_eq!(batch.column(Col::SrcPort as usize).null_count(), 1);
        }
        assert_eq!(b.finish().num_rows(), 0);
    }
}
