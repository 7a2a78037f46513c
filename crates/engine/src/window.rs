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
    /// Bytes of `partials`, kept up to date by every change: the backfill budget check
    /// reads it for every part every few chunks, and walking the arrays each time cost more
    /// than the check saves.
    bytes: usize,
    /// Compacted partials a backfill spilled to disk to bound memory; merged at emission.
    pub spilled: Vec<PathBuf>,
}

impl Part {
    pub fn new(partials: Vec<RecordBatch>, spilled: Vec<PathBuf>) -> Self {
        Self {
            bytes: bytes_of(&partials),
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
        self.bytes += batch.get_array_memory_size();
        self.partials.push(batch);
        self.version = Version::next();
    }

    pub fn set_partials(&mut self, partials: Vec<RecordBatch>) {
        self.bytes = bytes_of(&partials);
        self.partials = partials;
        self.version = Version::next();
    }

    pub fn take_partials(&mut self) -> Vec<RecordBatch> {
        self.version = Version::next();
        self.bytes = 0;
        std::mem::take(&mut self.partials)
    }

    /// The partials and spill files, consuming the part.
    pub fn into_inner(self) -> (Vec<RecordBatch>, Vec<PathBuf>) {
        (self.partials, self.spilled)
    }

    /// Bytes of the partials held in memory.
    pub fn memory_bytes(&self) -> usize {
        self.bytes
    }

    /// What the part needs after a push. The first batch is the compacted base, the rest
    /// are pending partials: they are merged into the base once they have more rows than
    /// it (at least `min_rows`), so every row is aggregated again only a few times, as in
    /// an LSM tree; many small pending batches are only concatenated meanwhile, which
    /// costs a copy instead of a hash aggregation of the whole base.
    pub fn upkeep(&self, min_rows: usize, max_batches: usize) -> Upkeep {
        let Some((base, pending)) = self.partials.split_first() else {
            return Upkeep::None;
        };
        let pending_rows: usize = pending.iter().map(|b| b.num_rows()).sum();
        if pending_rows > min_rows.max(base.num_rows()) {
            Upkeep::Compact
        } else if pending.len() >= max_batches {
            Upkeep::Coalesce
        } else {
            Upkeep::None
        }
    }

    /// Concatenates the pending partials into one batch (the base stays as it is). A first
    /// pending batch with more rows than the rest is left alone and only the rest is
    /// concatenated, so that no row is copied more than a few times before compaction.
    pub fn coalesce_pending(&mut self) -> Result<(), arrow::error::ArrowError> {
        let rows = |b: &[RecordBatch]| b.iter().map(|b| b.num_rows()).sum::<usize>();
        let from = match self.partials.get(1..) {
            Some([first, rest @ ..]) if first.num_rows() >= rows(rest) => 2,
            _ => 1,
        };
        if self.partials.len() < from + 2 {
            return Ok(());
        }
        let pending = &self.partials[from..];
        let merged = arrow::compute::concat_batches(&pending[0].schema(), pending)?;
        let mut partials = std::mem::take(&mut self.partials);
        partials.truncate(from);
        partials.push(merged);
        self.set_partials(partials);
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.partials.is_empty() && self.spilled.is_empty()
    }
}

/// See [`Part::upkeep`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upkeep {
    None,
    Coalesce,
    Compact,
}

fn bytes_of(partials: &[RecordBatch]) -> usize {
    partials.iter().map(|b| b.get_array_memory_size()).sum()
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
