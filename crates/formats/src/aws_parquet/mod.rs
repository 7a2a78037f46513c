//! AWS VPC flow logs, Parquet delivery. Columns are resolved by name (`_` spelling) and cast
//! from whatever the writer used (int32/int64, strings holding numbers or `'None'`), then run
//! through the same per-field conversions as the text parser. Read one row group / batch at a
//! time; a truncated or invalid file is a [`FormatError::Parquet`].

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type};
use parquet::arrow::arrow_reader::{
    ArrowReaderOptions, ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder,
};
use parquet::file::reader::ChunkReader;

pub mod chunker;

pub use chunker::ParquetChunker;

use crate::aws_text::field::{set_int, set_raw, Slot, Status};
use crate::keyinfo;
use crate::schema::{aws_field, Col};
use crate::{DeadLetter, FlowBatchBuilder, FormatError, ObjectStats, ParseOptions, Parsed};

/// Value of the `format` column.
pub const FORMAT_NAME: &str = "aws-vpc-parquet";

fn panicked(object: &str) -> FormatError {
    FormatError::Parquet {
        object: object.to_owned(),
        reason: "the Parquet decoder failed on corrupt data".into(),
    }
}

/// Parses a whole Parquet object held in memory.
pub fn parse_bytes(
    object: &str,
    data: &[u8],
    opts: &ParseOptions,
) -> Result<Vec<Parsed>, FormatError> {
    parse_bytes_from(object, data, 1, opts)
}

/// Parses a Parquet chunk cut out of a larger object by [`ParquetChunker`], whose first row
/// is row `first_row` (1-based) of the object, so that dead letters name object rows.
pub fn parse_bytes_from(
    object: &str,
    data: &[u8],
    first_row: u64,
    opts: &ParseOptions,
) -> Result<Vec<Parsed>, FormatError> {
    let mut rows = ParquetRows::new(object, bytes::Bytes::copy_from_slice(data), opts)?;
    rows.next_row = first_row.max(1);
    rows.collect()
}

/// Streams normalized batches out of a Parquet object, one reader batch at a time.
pub struct ParquetRows {
    object: String,
    reader: ParquetRecordBatchReader,
    next_row: u64,
    failed: bool,
    unknown_reported: bool,
    skip_columns: Vec<Col>,
}

impl ParquetRows {
    pub fn new<R: ChunkReader + 'static>(
        object: &str,
        input: R,
        opts: &ParseOptions,
    ) -> Result<Self, FormatError> {
        let perr = |e: parquet::errors::ParquetError| FormatError::Parquet {
            object: object.to_owned(),
            reason: e.to_string(),
        };
        // The embedded Arrow schema is only a type hint, and arrow-ipc panics on a corrupt
        // one: skip it (columns are cast by name anyway). Other decoder panics on corrupt
        // bytes are turned into errors, since input must never crash the daemon.
        let opened = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            ParquetRecordBatchReaderBuilder::try_new_with_options(
                input,
                ArrowReaderOptions::new().with_skip_arrow_metadata(true),
            )
        }));
        let builder = match opened {
            Ok(r) => r.map_err(perr)?,
            Err(_) => return Err(panicked(object)),
        };
        // A Parquet file whose columns are mostly not AWS flow-log fields (e.g. OCSF from
        // Security Lake) is another format: refuse it rather than emit near-empty rows.
        let names: Vec<&str> = builder
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        let known = names.iter().filter(|n| aws_field(n).is_some()).count();
        if known == 0 || known * 2 < names.len() {
            return Err(FormatError::Parquet {
                object: object.to_owned(),
                reason: format!(
                    "not an AWS VPC flow-log Parquet: {known} of {} columns are flow-log fields",
                    names.len()
                ),
            });
        }
        let reader = builder
            .with_batch_size(opts.batch_rows.max(1))
            .build()
            .map_err(perr)?;
        Ok(Self {
            skip_columns: opts.skip_columns.clone(),
            object: object.to_owned(),
            reader,
            next_row: 1,
            failed: false,
            unknown_reported: false,
        })
    }

    fn convert(&mut self, batch: &RecordBatch) -> Parsed {
        let mut b = FlowBatchBuilder::new().without_defaults_for(&self.skip_columns);
        b.set_default(Col::Provider, Some("aws"));
        b.set_default(Col::Format, Some(FORMAT_NAME));
        b.set_default(Col::ObjectKey, Some(&self.object));
        let k = keyinfo::from_key(&self.object);
        b.set_default(Col::AccountId, k.account_id.as_deref());
        b.set_default(Col::Region, k.region.as_deref());
        let mut stats = ObjectStats::default();
        let mut dead = Vec::new();

        let mut cols: Vec<(Slot, Column)> = Vec::new();
        let mut unknown = 0;
        for (field, arr) in batch.schema().fields().iter().zip(batch.columns()) {
            match (aws_field(field.name()), Column::new(arr)) {
                (Some(col), Some(c)) => cols.push((Slot::for_col(col), c)),
                _ => unknown += 1,
            }
        }
        if !self.unknown_reported {
            stats.unknown_fields += unknown;
            self.unknown_reported = true;
        }
        for row in 0..batch.num_rows() {
            let line = self.next_row;
            self.next_row += 1;
            stats.lines_read += 1;
            let mut status = Status::Other;
            let mut err = None;
            for (slot, c) in &cols {
                let r = match c {
                    Column::Str(a) => {
                        if a.is_null(row) {
                            continue;
                        }
                        let v = a.value(row);
                        if is_null_text(v) {
                            continue;
                        }
                        set_raw(&mut b, *slot, v.as_bytes(), &mut status)
                    }
                    Column::Int(a) => {
                        if a.is_null(row) {
                            continue;
                        }
                        set_int(&mut b, *slot, a.value(row), &mut status)
                    }
                };
                if let Err(e) = r {
                    err = Some(e);
                    break;
                }
            }
            match err {
                None => {
                    b.end_row();
                    stats.records += 1;
                    match status {
                        Status::NoData => stats.nodata += 1,
                        Status::SkipData => stats.skipdata += 1,
                        Status::Other => {}
                    }
                }
                Some(e) => {
                    b.discard_row();
                    stats.rejected += 1;
                    dead.push(DeadLetter::new(&self.object, "bad_value", e.reason).at_line(line));
                }
            }
        }
        Parsed {
            batch: b.finish(),
            dead_letters: dead,
            stats,
        }
    }
}

/// Writers that go through pandas store missing values as the text `None` (or `nan`).
fn is_null_text(v: &str) -> bool {
    matches!(v, "" | "-" | "None" | "none" | "null" | "nan" | "NaN")
}

enum Column {
    Str(arrow::array::StringArray),
    Int(arrow::array::PrimitiveArray<Int64Type>),
}

impl Column {
    fn new(arr: &ArrayRef) -> Option<Column> {
        let dt = arr.data_type();
        if dt.is_integer()
            || matches!(
                dt,
                DataType::Float32 | DataType::Float64 | DataType::Boolean
            )
        {
            let a = cast(arr, &DataType::Int64).ok()?;
            return Some(Column::Int(a.as_primitive::<Int64Type>().clone()));
        }
        let a = cast(arr, &DataType::Utf8).ok()?;
        Some(Column::Str(a.as_string::<i32>().clone()))
    }
}

impl Iterator for ParquetRows {
    type Item = Result<Parsed, FormatError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        match next_batch(&mut self.reader, &self.object)? {
            Ok(batch) => Some(Ok(self.convert(&batch))),
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// The reader's next batch; decoder errors and panics on corrupt bytes become
/// [`FormatError::Parquet`], since input must never crash the daemon.
fn next_batch(
    reader: &mut ParquetRecordBatchReader,
    object: &str,
) -> Option<Result<RecordBatch, FormatError>> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| reader.next())) {
        Err(_) => Some(Err(panicked(object))),
        Ok(None) => None,
        Ok(Some(Ok(batch))) => Some(Ok(batch)),
        Ok(Some(Err(e))) => Some(Err(FormatError::Parquet {
            object: object.to_owned(),
            reason: e.to_string(),
        })),
    }
}
