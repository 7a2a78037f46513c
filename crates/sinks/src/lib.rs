//! # flowlogd-sinks
//!
//! Where summaries and rejects go. Every sink is idempotent for a given
//! (summary, window, revision), because after a crash the engine may emit the same revision
//! again:
//!
//! - [`parquet`]: one file per (summary, window) in a Hive layout, replaced atomically by
//!   rename, so a SQL reader of the directory sees exactly the latest revision of every
//!   window and never a partial file.
//! - [`jsonl`]: one summary row per line with its revision; consumers upsert on
//!   (summary, window_start, keys) and keep the highest revision.
//! - [`deadletter`]: rejected lines, objects and too-late records as JSON lines.
//! - [`kafka`]: summary rows to Kafka topics as JSON or [`ocsf`] Network Activity events,
//!   keyed by (summary, window, group key).
//! - [`firstseen`]: first-seen pair alerts as JSON lines (at-least-once).

pub mod deadletter;
pub mod emission;
pub mod error;
pub mod firstseen;
pub mod jsonl;
pub mod kafka;
pub mod lines;
pub mod ocsf;
pub mod parquet;

pub use deadletter::{DeadLetterSink, DeadLetterSinkConfig};
pub use error::SinkError;
pub use firstseen::{FirstSeenSink, FirstSeenSinkConfig};
pub use jsonl::{JsonlSink, JsonlSinkConfig};
pub use parquet::{ParquetSink, ParquetSinkConfig};

use flowlogd_bus::Emission;

/// A summary output.
pub trait SummarySink: Send {
    fn name(&self) -> &str;
    /// Writes emissions durably before returning (the engine checkpoints after this).
    fn write(&mut self, emissions: &[Emission]) -> Result<(), SinkError>;

    /// Writes one piece of an emission given in pieces (a backfill's flush gives a window a
    /// hash part at a time), `last` marking its final piece, after which the emission is
    /// durable. Pieces of one emission come in a row, each with at least one batch. By
    /// default every piece is written as an emission of its own: right for sinks whose
    /// consumers take rows one by one; sinks that write one unit per emission override it.
    fn write_piece(&mut self, piece: &Emission, last: bool) -> Result<(), SinkError> {
        let _ = last;
        self.write(std::slice::from_ref(piece))
    }
}
