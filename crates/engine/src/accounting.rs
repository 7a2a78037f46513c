//! Record accounting: every record read is either summarized, filtered, unwindowed,
//! rejected or too late — never silently gone.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accounting {
    /// Objects fully read.
    pub objects: u64,
    /// Objects that could not be read at all (one dead-letter record each).
    pub objects_failed: u64,
    pub chunks: u64,
    /// Chunks seen again after a restart or re-delivery and dropped.
    pub chunks_duplicate: u64,
    pub lines_read: u64,
    /// Records parsed (NODATA/SKIPDATA included).
    pub records_in: u64,
    pub nodata: u64,
    pub skipdata: u64,
    /// Lines or tuples rejected by the parser (dead-letter output).
    pub rejected: u64,
    /// Records applied to a window.
    pub records_windowed: u64,
    /// Records without a usable start time.
    pub unwindowed: u64,
    /// Records whose window's state had already been dropped (dead-letter output).
    pub too_late: u64,
    /// Summary rows emitted (all revisions).
    pub summary_rows: u64,
    /// Summary rows of the latest revision of each emitted window.
    pub emissions: u64,
    /// Window states a backfill spilled to disk to stay within its memory budget.
    #[serde(default)]
    pub spilled_states: u64,
    /// Window states split into hash parts (see `engine.state_split_rows`).
    #[serde(default)]
    pub split_states: u64,
}

impl Accounting {
    /// One human line, as printed at the end of `run --once`.
    pub fn line(&self) -> String {
        let ratio = if self.summary_rows > 0 {
            self.records_in as f64 / self.summary_rows as f64
        } else {
            0.0
        };
        format!(
            "objects={} failed_objects={} records_in={} records_summarized={} nodata={} skipdata={} rejected={} unwindowed={} too_late={} duplicate_chunks={} spilled_states={} split_states={} summary_rows={} reduction={:.1}x",
            self.objects,
            self.objects_failed,
            self.records_in,
            self.records_windowed,
            self.nodata,
            self.skipdata,
            self.rejected,
            self.unwindowed,
            self.too_late,
            self.chunks_duplicate,
            self.spilled_states,
            self.split_states,
            self.summary_rows,
            ratio
        )
    }
}
