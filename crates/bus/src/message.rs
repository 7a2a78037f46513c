//! Message types of the three streams.

use std::collections::BTreeMap;

use arrow::record_batch::RecordBatch;
use flowlogd_formats::{Chunk, DeadLetter, ObjectStats};
use serde::{Deserialize, Serialize};

/// What a source knows about an object it has read up to some position. Kept in the
/// checkpointed ledger; a source restarts from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub source: String,
    pub object: String,
    /// Object size when read (bytes on storage).
    pub size: u64,
    /// Modification time (ns since the epoch) or a version/ETag hash when read.
    pub version: String,
    /// Raw byte offset up to which the object is consumed (its size for immutable objects;
    /// the end of the last complete record for a growing `PT1H.json`).
    pub consumed: u64,
    /// Accounting for everything read from the object so far.
    #[serde(default)]
    pub stats: ObjectStats,
}

/// The raw stream (`flowlogd.raw`).
#[derive(Debug, Clone)]
pub enum RawMessage {
    Chunk(Chunk),
    /// An object that could not be read at all (corrupt gzip, bomb guard, ...).
    ObjectFailed(DeadLetter),
    /// All chunks of an object up to `consumed` were sent before this message.
    Ledger(LedgerEntry),
}

/// Partial aggregate of one summary for one window, from one chunk.
#[derive(Debug, Clone)]
pub struct SummaryPartial {
    pub summary: String,
    pub window_start_ms: i64,
    pub batch: RecordBatch,
    /// When the parse stage split the rows by the hash part of their group keys: the part
    /// all of them belong to (a chunk then has one partial per non-empty part), so that a
    /// split window state takes them as they are instead of hashing them on the
    /// aggregator's one task. `None`: rows of any part (from Kafka).
    pub part: Option<u16>,
}

/// Everything the parse stage derived from one chunk.
#[derive(Debug, Clone)]
pub struct ChunkPartials {
    /// Identity used for deduplication (see [`Chunk::id`]).
    pub chunk_id: String,
    pub object: String,
    pub stats: ObjectStats,
    pub dead_letters: Vec<DeadLetter>,
    /// Parsed records per window (window start, ms) before any summary filter.
    pub window_records: BTreeMap<i64, u64>,
    /// Records without a usable `start` (cannot be windowed).
    pub unwindowed: u64,
    pub partials: Vec<SummaryPartial>,
}

/// The partials stream (`flowlogd.partials`).
#[derive(Debug, Clone)]
pub enum PartialMessage {
    Chunk(Box<ChunkPartials>),
    ObjectFailed(DeadLetter),
    Ledger(LedgerEntry),
}

/// One emission of a (summary, window): every row of that revision. A revision replaces
/// all earlier rows of the same (summary, window).
#[derive(Debug, Clone)]
pub struct Emission {
    pub summary: String,
    pub window_start_ms: i64,
    pub window_end_ms: i64,
    pub revision: u32,
    /// Emitted before the window closed (only with `emit_open_windows`).
    pub provisional: bool,
    /// Group keys and metrics, one row per group (no window/revision columns), in batches
    /// of one schema: one per part of a split window state, so that a window's rows are
    /// never copied into one batch (that copy was the peak of a backfill's memory).
    pub batches: Vec<RecordBatch>,
    /// Names of the group-key columns in the batches (the rest are metrics).
    pub keys: Vec<String>,
}

impl Emission {
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }

    /// The emission in pieces of at most `rows` rows, each of one batch (zero-copy slices),
    /// for sinks that expand every row into a much larger encoding.
    pub fn slices(&self, rows: usize) -> impl Iterator<Item = Emission> + '_ {
        let step = rows.max(1);
        self.batches.iter().flat_map(move |b| {
            let n = b.num_rows();
            (0..n).step_by(step).map(move |at| Emission {
                summary: self.summary.clone(),
                window_start_ms: self.window_start_ms,
                window_end_ms: self.window_end_ms,
                revision: self.revision,
                provisional: self.provisional,
                batches: vec![b.slice(at, step.min(n - at))],
                keys: self.keys.clone(),
            })
        })
    }
}
