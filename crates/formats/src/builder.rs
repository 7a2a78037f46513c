//! Row-at-a-time builder of normalized flow batches.
//!
//! Columns a format never sets cost nothing: a column builder is padded with nulls only when a
//! value arrives for a later row, and at `finish`. Per-object values (provider, format, object
//! key, account and region taken from the key) are filled in at `finish` instead of per row.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayBuilder, ArrayRef, StringArray, StringBuilder, TimestampMillisecondBuilder, UInt16Builder,
    UInt64Builder, UInt8Builder,
};
use arrow::record_batch::RecordBatch;

use crate::schema::{flow_schema, Col, Kind, COLUMNS};

enum ColBuilder {
    Str(StringBuilder),
    U8(UInt8Builder),
    U16(UInt16Builder),
    U64(UInt64Builder),
    Ts(TimestampMillisecondBuilder),
}

impl ColBuilder {
    fn new(kind: Kind) -> Self {
        match kind {
            Kind::Str => ColBuilder::Str(StringBuilder::new()),
            Kind::U8 => ColBuilder::U8(UInt8Builder::new()),
            Kind::U16 => ColBuilder::U16(UInt16Builder::new()),
            Kind::U64 => ColBuilder::U64(UInt64Builder::new()),
            Kind::Ts => ColBuilder::Ts(TimestampMillisecondBuilder::new().with_timezone("UTC")),
        }
    }

    fn len(&self) -> usize {
        match self {
            ColBuilder::Str(b) => b.len(),
            ColBuilder::U8(b) => b.len(),
            ColBuilder::U16(b) => b.len(),
            ColBuilder::U64(b) => b.len(),
            ColBuilder::Ts(b) => b.len(),
        }
    }

    fn pad_to(&mut self, rows: usize) {
        let missing = rows.saturating_sub(self.len());
        if missing == 0 {
            return;
        }
        match self {
            ColBuilder::Str(b) => b.append_nulls(missing),
            ColBuilder::U8(b) => b.append_nulls(missing),
            ColBuilder::U16(b) => b.append_nulls(missing),
            ColBuilder::U64(b) => b.append_nulls(missing),
            ColBuilder::Ts(b) => b.append_nulls(missing),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            ColBuilder::Str(b) => Arc::new(b.finish()),
            ColBuilder::U8(b) => Arc::new(b.finish()),
            ColBuilder::U16(b) => Arc::new(b.finish()),
            ColBuilder::U64(b) => Arc::new(b.finish()),
            ColBuilder::Ts(b) => Arc::new(b.finish()),
        }
    }
}

/// Builds [`RecordBatch`]es of the normalized schema ([`crate::flow_schema`]).
///
/// Call the `set_*` methods for the current row, then [`FlowBatchBuilder::end_row`]. A value
/// set twice in one row keeps the first; `set_*` for a column of another type is ignored (the
/// parsers only call matching types).
pub struct FlowBatchBuilder {
    cols: Vec<ColBuilder>,
    rows: usize,
    /// Per-column value used where a row left the column null (filled at `finish`).
    defaults: Vec<Option<String>>,
}

impl Default for FlowBatchBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl FlowBatchBuilder {
    pub fn new() -> Self {
        Self {
            cols: COLUMNS.iter().map(|c| ColBuilder::new(c.kind)).collect(),
            rows: 0,
            defaults: vec![None; COLUMNS.len()],
        }
    }

    /// Rows ended so far in the current batch.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// A string every row gets where it has none (e.g. provider, object key, account from the
    /// S3 key). Kept across batches until changed.
    pub fn set_default(&mut self, col: Col, value: Option<&str>) {
        self.defaults[col as usize] = value.map(str::to_owned);
    }

    #[inline]
    fn slot(&mut self, col: Col) -> Option<&mut ColBuilder> {
        let rows = self.rows;
        let b = &mut self.cols[col as usize];
        if b.len() > rows {
            return None; // already set in this row
        }
        b.pad_to(rows);
        Some(b)
    }

    #[inline]
    pub fn set_str(&mut self, col: Col, v: &str) {
        if let Some(ColBuilder::Str(b)) = self.slot(col) {
            b.append_value(v);
        }
    }

    #[inline]
    pub fn set_u8(&mut self, col: Col, v: u8) {
        if let Some(ColBuilder::U8(b)) = self.slot(col) {
            b.append_value(v);
        }
    }

    #[inline]
    pub fn set_u16(&mut self, col: Col, v: u16) {
        if let Some(ColBuilder::U16(b)) = self.slot(col) {
            b.append_value(v);
        }
    }

    #[inline]
    pub fn set_u64(&mut self, col: Col, v: u64) {
        if let Some(ColBuilder::U64(b)) = self.slot(col) {
            b.append_value(v);
        }
    }

    /// Milliseconds since the Unix epoch, UTC.
    #[inline]
    pub fn set_ts_ms(&mut self, col: Col, v: i64) {
        if let Some(ColBuilder::Ts(b)) = self.slot(col) {
            b.append_value(v);
        }
    }

    /// Drops whatever the current row set so far (used when a line turns out to be bad
    /// half-way through).
    pub fn discard_row(&mut self) {
        let rows = self.rows;
        if self.cols.iter().all(|b| b.len() <= rows) {
            return;
        }
        // Rare path: rebuild the touched columns without their last value.
        for (i, b) in self.cols.iter_mut().enumerate() {
            if b.len() > rows {
                let arr = b.finish();
                let kept = arr.slice(0, rows);
                let mut nb = ColBuilder::new(COLUMNS[i].kind);
                append_array(&mut nb, kept.as_ref());
                *b = nb;
            }
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
        for (i, b) in self.cols.iter_mut().enumerate() {
            b.pad_to(rows);
            let arr = b.finish();
            let arr = match &self.defaults[i] {
                Some(d) if arr.null_count() > 0 => fill_str_nulls(&arr, d),
                _ => arr,
            };
            arrays.push(arr);
        }
        self.rows = 0;
        // Every column has `rows` values of its declared type: construction cannot fail.
        RecordBatch::try_new(flow_schema(), arrays)
            .unwrap_or_else(|_| RecordBatch::new_empty(flow_schema()))
    }
}

fn fill_str_nulls(arr: &ArrayRef, default: &str) -> ArrayRef {
    let Some(s) = arr.as_any().downcast_ref::<StringArray>() else {
        return arr.clone();
    };
    if s.null_count() == s.len() {
        return Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
            default,
            s.len(),
        )));
    }
    Arc::new(
        s.iter()
            .map(|v| Some(v.unwrap_or(default)))
            .collect::<StringArray>(),
    )
}

fn append_array(b: &mut ColBuilder, arr: &dyn Array) {
    use arrow::array::AsArray;
    use arrow::datatypes::{TimestampMillisecondType, UInt16Type, UInt64Type, UInt8Type};
    match b {
        ColBuilder::Str(nb) => arr.as_string::<i32>().iter().for_each(|v| nb.append_option(v)),
        ColBuilder::U8(nb) => arr
            .as_primitive::<UInt8Type>()
            .iter()
            .for_each(|v| nb.append_option(v)),
        ColBuilder::U16(nb) => arr
            .as_primitive::<UInt16Type>()
            .iter()
            .for_each(|v| nb.append_option(v)),
        ColBuilder::U64(nb) => arr
            .as_primitive::<UInt64Type>()
            .iter()
            .for_each(|v| nb.append_option(v)),
        ColBuilder::Ts(nb) => arr
            .as_primitive::<TimestampMillisecondType>()
            .iter()
            .for_each(|v| nb.append_option(v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::AsArray;
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
        let port = batch.column(Col::DstPort as usize).as_primitive::<UInt16Type>();
        assert!(port.is_null(0));
        assert_eq!(port.value(1), 443);
        let prov = batch.column(Col::Provider as usize).as_string::<i32>();
        assert_eq!(prov.value(1), "aws");
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
}
