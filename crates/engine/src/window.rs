//! Per-window state: compacted partials per summary (split into hash parts once large),
//! emitted revision, and the ids of the chunks already applied (what makes replays
//! harmless).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::record_batch::RecordBatch;

/// Identity of a part's in-memory partials: a new value, never used before in this
/// process, whenever they change. Checkpoints re-use the file of a part whose version
/// did not change since the last save instead of writing it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version(u64);

impl Version {
    fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Self(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

impl Default for Version {
    fn default() -> Self {
        Self::next()
    }
}

/// Partials of one hash part of a summary state (or of the whole state while unsplit).
#[derive(Debug, Clone, Default)]
pub struct Part {
    /// Partial aggregates not yet merged; the first is the compacted base. Private, so
    /// that every change goes through a method that renews `version`.
    partials: Vec<RecordBatch>,
    version: Version,
    /// Compacted partials a backfill spilled to disk to bound memory; merged at emission.
    pub spilled: Vec<PathBuf>,
}

impl Part {
    pub fn new(partials: Vec<RecordBatch>, spilled: Vec<PathBuf>) -> Self {
        Self {
            partials,
            version: Version::next(),
            spilled,
        }
    }

    pub fn partials(&self) -> &[RecordBatch] {
        &self.partials
    }

    pub fn version(&self) -> Version {
        self.version
    }

    pub fn push(&mut self, batch: RecordBatch) {
        self.partials.push(batch);
        self.version = Version::next();
    }

    pub fn set_partials(&mut self, partials: Vec<RecordBatch>) {
        self.partials = partials;
        self.version = Version::next();
    }

    pub fn take_partials(&mut self) -> Vec<RecordBatch> {
        self.version = Version::next();
        std::mem::take(&mut self.partials)
    }

    /// The partials and spill files, consuming the part.
    pub fn into_inner(self) -> (Vec<RecordBatch>, Vec<PathBuf>) {
        (self.partials, self.spilled)
    }

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

    pub fn is_empty(&self) -> bool {
        self.partials.is_empty() && self.spilled.is_empty()
    }
}

/// State of one summary within one window: one part, or [`crate::partition::PARTS`] parts
/// split by the hash of the group keys (every group in exactly one of them).
#[derive(Debug, Clone)]
pub struct SummaryState {
    pub parts: Vec<Part>,
    /// Last emitted revision (0: never emitted).
    pub revision: u32,
    /// Changed since the last emission.
    pub dirty: bool,
}

impl Default for SummaryState {
    fn default() -> Self {
        Self {
            parts: vec![Part::default()],
            revision: 0,
            dirty: false,
        }
    }
}

impl SummaryState {
    pub fn is_split(&self) -> bool {
        self.parts.len() > 1
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
