//! The interface every source implements, so the pipeline drives local directories, S3 and
//! Azure Blob the same way.

use std::time::{Duration, SystemTime};

use flowlogd_bus::{RawMessage, Sender};

use crate::error::SourceError;

/// What one scan did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ScanReport {
    pub objects: u64,
    pub bytes: u64,
    /// Objects seen but left for a later scan (still settling or growing).
    pub deferred: u64,
}

/// Progress totals of a backfill, for progress bars: objects and bytes not yet consumed.
#[derive(Debug, Default, Clone, Copy)]
pub struct Pending {
    pub objects: u64,
    pub bytes: u64,
}

/// A source of flow-log objects. A scan sends each new object's chunks to the raw stream,
/// then its [`flowlogd_bus::LedgerEntry`]; the pipeline calls `scan` on a blocking thread
/// (sources with async clients enter the runtime with `Handle::block_on`).
pub trait Source: Send {
    /// Stable name, used in chunk ids and the ledger.
    fn name(&self) -> &str;

    /// How often continuous mode calls [`Source::scan`].
    fn poll_interval(&self) -> Duration;

    /// What a backfill still has to read (for progress; may be an estimate).
    fn pending(&self) -> Result<Pending, SourceError>;

    /// One pass: sends what is new. `continuous` lets a source defer objects that are still
    /// being written; a backfill (`run --once`) reads everything there is.
    fn scan(
        &mut self,
        tx: &Sender<RawMessage>,
        now: SystemTime,
        continuous: bool,
        on_object: &mut dyn FnMut(&str, u64),
    ) -> Result<ScanReport, SourceError>;
}
