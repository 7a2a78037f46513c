//! Columns derived from each record before partial aggregation, so summaries can group by
//! them: the event-time window, the client/server orientation and the enrichment columns
//! (labels, blocklists, cloud services, traffic class).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit, TimestampMillisecondType};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use flowlogd_formats::{flow_schema, Col};

use crate::enrich::{Tables, Used, ENRICH_COLUMNS};
use crate::orientation::{OrientedKind, Orienter, ORIENTED_COLUMNS};
use crate::summary::WINDOW_COL;

/// The schema summaries run over: the normalized flow schema plus derived columns.
pub fn derived_schema() -> SchemaRef {
    let base = flow_schema();
    let mut fields: Vec<Field> = base.fields().iter().map(|f| f.as_ref().clone()).collect();
    for (name, kind) in ORIENTED_COLUMNS {
        let dt = match kind {
            OrientedKind::Str => DataType::Utf8,
            OrientedKind::U16 => DataType::UInt16,
            OrientedKind::U64 => DataType::UInt64,
        };
        fields.push(Field::new(name, dt, true));
    }
    for name in ENRICH_COLUMNS {
        fields.push(Field::new(name, DataType::Utf8, true));
    }
    // The window column stays last: `count_windows` reads it by position.
    fields.push(Field::new(
        WINDOW_COL,
        DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
        true,
    ));
    Arc::new(Schema::new(fields))
}

/// Names of every column a summary may use.
pub fn column_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = flowlogd_formats::COLUMNS.iter().map(|c| c.name).collect();
    names.extend(ORIENTED_COLUMNS.iter().map(|(n, _)| *n));
    names.extend(ENRICH_COLUMNS);
    names.push(WINDOW_COL);
    names
}

/// Window start (ms) of an event time: windows are aligned to multiples of their size.
pub fn window_start(ts_ms: i64, window_ms: i64) -> i64 {
    ts_ms - ts_ms.rem_euclid(window_ms)
}

/// Adds the derived columns to a normalized batch.
pub fn derive(
    batch: &RecordBatch,
    window_ms: i64,
    orienter: Option<&Orienter>,
    enrich: Option<(&Tables, &Used)>,
) -> Result<RecordBatch, ArrowError> {
    let start = batch
        .column(Col::Start as usize)
        .as_primitive::<TimestampMillisecondType>();
    let windows: TimestampMillisecondArray = start
        .iter()
        .map(|t| t.map(|t| window_start(t, window_ms)))
        .collect::<TimestampMillisecondArray>()
        .with_timezone("UTC");
    let mut cols: Vec<ArrayRef> = batch.columns().to_vec();
    match orienter {
        Some(o) => cols.extend(o.columns(batch)?),
        // No summary reads them: typed all-null columns cost nothing.
        None => {
            let schema = derived_schema();
            let first = batch.num_columns();
            for f in &schema.fields()[first..first + ORIENTED_COLUMNS.len()] {
                cols.push(arrow::array::new_null_array(
                    f.data_type(),
                    batch.num_rows(),
                ));
            }
        }
    }
    match enrich {
        Some((tables, used)) => cols.extend(tables.columns(batch, used)),
        None => cols.extend(
            ENRICH_COLUMNS.map(|_| arrow::array::new_null_array(&DataType::Utf8, batch.num_rows())),
        ),
    }
    cols.push(Arc::new(windows));
    RecordBatch::try_new(derived_schema(), cols)
}

/// Records per window and records without a usable start, from a derived batch.
pub fn count_windows(derived: &RecordBatch, out: &mut std::collections::BTreeMap<i64, u64>) -> u64 {
    let w = derived
        .column(derived.num_columns() - 1)
        .as_primitive::<TimestampMillisecondType>();
    for v in w.iter().flatten() {
        *out.entry(v).or_default() += 1;
    }
    w.null_count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_align_to_size_including_negative_times() {
        assert_eq!(window_start(3_600_000 + 5, 3_600_000), 3_600_000);
        assert_eq!(window_start(3_599_999, 3_600_000), 0);
        assert_eq!(window_start(-1, 3_600_000), -3_600_000);
    }
}
