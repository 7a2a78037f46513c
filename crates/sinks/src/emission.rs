//! The output rows of an emission: window bounds, revision and provisional flag in front of
//! the summary's keys and metrics.

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, TimestampMillisecondArray, UInt32Array};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use flowlogd_bus::Emission;

/// Columns added in front of every summary row.
pub const HEADER_COLUMNS: [&str; 5] = [
    "summary",
    "window_start",
    "window_end",
    "revision",
    "provisional",
];

/// The output rows of `batch`, one of the emission's batches.
pub fn to_output_batch(e: &Emission, batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    let n = batch.num_rows();
    let ts = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
    let mut fields = vec![
        Field::new("summary", DataType::Utf8, false),
        Field::new("window_start", ts.clone(), false),
        Field::new("window_end", ts, false),
        Field::new("revision", DataType::UInt32, false),
        Field::new("provisional", DataType::Boolean, false),
    ];
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(arrow::array::StringArray::from_iter_values(
            std::iter::repeat_n(e.summary.as_str(), n),
        )),
        Arc::new(TimestampMillisecondArray::from(vec![e.window_start_ms; n]).with_timezone("UTC")),
        Arc::new(TimestampMillisecondArray::from(vec![e.window_end_ms; n]).with_timezone("UTC")),
        Arc::new(UInt32Array::from(vec![e.revision; n])),
        Arc::new(BooleanArray::from(vec![e.provisional; n])),
    ];
    for (f, c) in batch.schema().fields().iter().zip(batch.columns()) {
        fields.push(Field::new(f.name(), f.data_type().clone(), true));
        cols.push(c.clone());
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)
}
