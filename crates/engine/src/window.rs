//! Per-window state: compacted partials per summary, emitted revision, and the ids of the
//! chunks already applied (what makes replays harmless).

use std::collections::{BTreeMap, BTreeSet};

use arrow::record_batch::RecordBatch;

/// State of one summary within one window.
#[derive(Debug, Clone, Default)]
pub struct SummaryState {
    /// Partial aggregates not yet merged; compacted to one batch from time to time.
    pub partials: Vec<RecordBatch>,
    /// Last emitted revision (0: never emitted).
    pub revision: u32,
    /// Changed since the last emission.
    pub dirty: bool,
    /// Compacted partials a backfill spilled to disk to bound memory; merged at emission.
    pub spilled: Vec<std::path::PathBuf>,
}

impl SummaryState {
    /// Bytes of the partials held in memory.
    pub fn memory_bytes(&self) -> usize {
        self.partials
            .iter()
            .map(|b| b.get_array_memory_size())
            .sum()
    }

    /// The first batch is the compacted base; the rest are pending partials.
    pub fn needs_compaction(&self, min_rows: usize, max_batches: usize) -> bool {
        let Some((base, pending)) = self.partials.split_first() else {
            return false;
        };
        let pending_rows: usize = pending.iter().map(|b| b.num_rows()).sum();
        pending.len() >= max_batches || pending_rows > min_rows.max(base.num_rows())
    }
}

/// One event-time window `[start_ms, start_ms + size)`.
#[derive(Debug, Clone, Default)]
pub struct Window {
    pub start_ms: i64,
    /// Records applied to this window (before summary filters).
    pub records: u64,
    /// Chunk ids already applied to this window.
    pub applied: BTreeSet<String>,
    pub summaries: BTreeMap<String, SummaryState>,
}

impl Window {
    pub fn new(start_ms: i64) -> Self {
        Self {
            start_ms,
            ..Self::default()
        }
    }
}
