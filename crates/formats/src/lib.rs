//! # flowlogd-formats
//!
//! The bottom layer of flowlogd: turns the bytes of any flow-log object into Arrow
//! [`RecordBatch`]es of one normalized schema ([`flow_schema`]), with no I/O of its own
//! (callers hand in readers or byte slices), in the spirit of a sans-io codec.
//!
//! ```text
//!  object bytes ──► detect ──► aws_text | aws_parquet | azure ──► FlowBatchBuilder ──► RecordBatch
//!                                     │                                  (normalized schema)
//!                                     └──► DeadLetter (object, line/offset, reason, raw)
//! ```
//!
//! Two entry points:
//! - [`chunk`]: what the pipeline uses. A source cuts an object into bounded [`Chunk`]s
//!   (line-aligned text with the active AWS header, a Parquet object, appended Azure JSON
//!   bytes); [`parse_chunk`] parses one alone.
//! - [`reader`]: streams a whole object (`flowlogd parse`), decompressing incrementally.
//!
//! Memory is bounded by the batch size: no parser holds a whole decompressed object.

pub mod aws_parquet;
pub mod aws_text;
pub mod azure;
pub mod builder;
pub mod chunk;
pub mod deadletter;
pub mod detect;
pub mod error;
pub mod keyinfo;
pub mod reader;
pub mod sample;
pub mod schema;
pub mod stats;

pub use arrow::record_batch::RecordBatch;
pub use builder::FlowBatchBuilder;
pub use chunk::{parse_chunk, Chunk, ChunkFormat};
pub use deadletter::DeadLetter;
pub use detect::FormatHint;
pub use error::FormatError;
pub use schema::{aws_field, flow_schema, Col, ColumnDef, Kind, COLUMNS};
pub use stats::ObjectStats;

/// Options shared by all parsers.
#[derive(Debug, Clone)]
pub struct ParseOptions {
    /// Rows per output batch.
    pub batch_rows: usize,
    /// Field list for AWS text objects without a header line (default: the v2 format).
    pub aws_default_fields: Vec<String>,
    /// An object whose decompressed size exceeds this many bytes is rejected whole
    /// (decompression-bomb guard).
    pub max_decompressed_bytes: u64,
    /// Raw input kept in a dead-letter record is cut to this many bytes.
    pub max_raw_bytes: usize,
    /// Columns the consumer never reads: their per-object values (object key, account,
    /// region, ...) are left null instead of being copied into every row, which for a long
    /// object key costs as much as parsing a field.
    pub skip_columns: Vec<Col>,
}

/// The 14 fields of the AWS default (version 2) format, in order.
pub const AWS_V2_FIELDS: &[&str] = &[
    "version",
    "account-id",
    "interface-id",
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "action",
    "log-status",
];

impl Default for ParseOptions {
    fn default() -> Self {
        Self {
            batch_rows: 32 * 1024,
            aws_default_fields: AWS_V2_FIELDS.iter().map(|s| s.to_string()).collect(),
            max_decompressed_bytes: 8 << 30,
            max_raw_bytes: 1024,
            skip_columns: Vec::new(),
        }
    }
}

/// One parsed batch with what was rejected on the way and the counts behind it.
#[derive(Debug)]
pub struct Parsed {
    pub batch: RecordBatch,
    pub dead_letters: Vec<DeadLetter>,
    pub stats: ObjectStats,
}
