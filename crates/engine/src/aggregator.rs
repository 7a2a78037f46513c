//! Phase two: applies partials to window state (dropping chunks already applied), emits
//! closed windows on ticks with increasing revisions, and drops state past retention.

use std::collections::BTreeMap;

use arrow::record_batch::RecordBatch;
use flowlogd_bus::{ChunkPartials, Emission, LedgerEntry, PartialMessage};
use flowlogd_formats::DeadLetter;

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::accounting::Accounting;
use crate::checkpoint::{io_err, write_ipc};
use crate::config::EngineConfig;
use crate::error::EngineError;
use crate::firstseen::{FirstSeen, FirstSeenAlert, PAIRS_SUMMARY};
use crate::partition;
use crate::prepared::{BatchIter, PreparedQuery};
use crate::summary::{PreparedSummary, Summaries};
use crate::window::{Part, SummaryState, Upkeep, Window};

/// Rows per batch in a spill file.
const SPILL_SLICE_ROWS: usize = 65_536;

/// Pending partial rows that trigger a compaction at the least; above it, compaction waits
/// until pending rows exceed the compacted base, so its cost stays linear in the input
/// (as in an LSM tree) and state stays within about twice its compacted size.
const COMPACT_MIN_ROWS: usize = 32 * 1024;
/// Pending partial batches that are concatenated into one (without aggregating).
const COMPACT_MAX_BATCHES: usize = 64;

/// The stateful side of the engine. Everything in it is checkpointed together.
pub struct Aggregator {
    pub(crate) cfg: EngineConfig,
    pub(crate) summaries: Summaries,
    pub(crate) windows: BTreeMap<i64, Window>,
    /// Source ledger keyed by `source|object`.
    pub(crate) ledger: BTreeMap<String, LedgerEntry>,
    /// The chunk size each source cut its objects with (see [`Aggregator::chunk_bytes`]).
    pub(crate) chunk_bytes: BTreeMap<String, u64>,
    pub(crate) accounting: Accounting,
    dead_letters: Vec<DeadLetter>,
    /// Where a backfill spills window state beyond `backfill_state_bytes` (none: never).
    spill_dir: Option<PathBuf>,
    /// Unique per process, so spill files of a restarted run never overwrite those that a
    /// restored checkpoint still refers to.
    spill_run: u128,
    spill_seq: u64,
    chunks_since_budget_check: u32,
    upkeep: UpkeepPolicy,
    /// Known pairs of first-seen detection (when enabled); checkpointed.
    pub(crate) first_seen: Option<FirstSeen>,
    first_seen_alerts: Vec<FirstSeenAlert>,
}

/// When pending partials are compacted or concatenated (see [`Part::upkeep`]), and how often
/// that happened.
#[derive(Debug, Clone, Copy)]
struct UpkeepPolicy {
    min_rows: usize,
    max_batches: usize,
    compactions: u64,
    coalesces: u64,
}

impl Default for UpkeepPolicy {
    fn default() -> Self {
        Self {
            min_rows: COMPACT_MIN_ROWS,
            max_batches: COMPACT_MAX_BATCHES,
            compactions: 0,
            coalesces: 0,
        }
    }
}

/// Chunks applied between two checks of the backfill memory budget.
const BUDGET_CHECK_EVERY: u32 = 8;

/// Whether windows are closed by the clock or all at once at the end of a backfill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `run`: windows close at end + grace of wall clock; state past retention is dropped.
    Continuous,
    /// `run --once`: nothing is too late; every window is emitted at the end.
    Once,
}

impl Aggregator {
    pub fn new(cfg: EngineConfig, summaries: Summaries) -> Self {
        let first_seen = (cfg.detection.first_seen.enabled
            && summaries.iter().any(|s| s.name == PAIRS_SUMMARY))
        .then(|| FirstSeen::new(cfg.detection.first_seen.clone()));
        Self {
            first_seen,
            first_seen_alerts: Vec::new(),
            cfg,
            summaries,
            windows: BTreeMap::new(),
            ledger: BTreeMap::new(),
            chunk_bytes: BTreeMap::new(),
            accounting: Accounting::default(),
            dead_letters: Vec::new(),
            spill_dir: None,
            spill_run: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
            spill_seq: 0,
            chunks_since_budget_check: 0,
            upkeep: UpkeepPolicy::default(),
        }
    }

    /// Compacts and concatenates state at other thresholds than [`COMPACT_MIN_ROWS`] and
    /// [`COMPACT_MAX_BATCHES`], so that tests with a few thousand records exercise both.
    #[doc(hidden)]
    pub fn with_upkeep_thresholds(mut self, min_rows: usize, max_batches: usize) -> Self {
        self.upkeep.min_rows = min_rows;
        self.upkeep.max_batches = max_batches;
        self
    }

    /// (Compactions, concatenations) of pending partials while chunks were applied.
    pub fn upkeep_counts(&self) -> (u64, u64) {
        (self.upkeep.compactions, self.upkeep.coalesces)
    }

    /// Lets `run --once` spill window state to `dir` to stay within its memory budget.
    pub fn set_spill_dir(&mut self, dir: PathBuf) {
        self.spill_dir = Some(dir);
    }

    /// Spills the largest (window, summary) states, compacted, until the in-memory state is
    /// within `backfill_state_bytes`. Spilled state is merged back at emission; partials
    /// are associative, so the result is the same as without spilling.
    async fn enforce_budget(&mut self) -> Result<(), EngineError> {
        let Some(dir) = self.spill_dir.clone() else {
            return Ok(());
        };
        let budget = self.cfg.backfill_state_bytes as usize;
        let sizes = |windows: &BTreeMap<i64, Window>| -> Vec<(usize, i64, String, usize)> {
            windows
                .iter()
                .flat_map(|(start, w)| {
                    w.summaries.iter().flat_map(move |(name, st)| {
                        st.parts
                            .iter()
                            .enumerate()
                            .map(move |(i, part)| (part.memory_bytes(), *start, name.clone(), i))
                    })
                })
                .collect()
        };
        let mut all = sizes(&self.windows);
        let mut total: usize = all.iter().map(|x| x.0).sum();
        all.sort();
        let summaries = self.summaries.clone();
        let split_rows = self.cfg.state_split_rows;
        while total > budget {
            let Some((bytes, start, name, idx)) = all.pop() else {
                break;
            };
            let (Some(s), Some(st)) = (
                summaries.iter().find(|s| s.name == name),
                self.windows
                    .get_mut(&start)
                    .and_then(|w| w.summaries.get_mut(&name)),
            ) else {
                continue;
            };
            let Some(part) = st.parts.get_mut(idx) else {
                continue;
            };
            if part.partials().is_empty() {
                continue;
            }
            let compacted = compact(s, part.take_partials()).await?;
            // A spilled state is never split afterwards (its files are not read back until
            // emission), and emission merges an unsplit state in one hash table however
            // large it grows: so a state is split before its first spill, whatever its
            // size now (the budget may hit it while it is still small).
            let split_now = split_rows > 0
                && !s.keys.is_empty()
                && st.parts.len() == 1
                && st.parts[0].spilled.is_empty();
            let pieces = if split_now {
                st.parts = split_into_parts(&compacted, &s.keys)?;
                self.accounting.split_states += 1;
                st.parts
                    .iter_mut()
                    .enumerate()
                    .map(|(i, p)| (i, p.take_partials()))
                    .collect()
            } else {
                vec![(idx, compacted)]
            };
            for (i, batches) in pieces {
                if batches.is_empty() {
                    continue;
                }
                self.spill_seq += 1;
                let path = dir.join(format!(
                    "w{start}-{name}-p{i}-{}-{:06}.arrow",
                    self.spill_run, self.spill_seq
                ));
                write_spill(&dir, &path, &batches)?;
                st.parts[i].spilled.push(path);
                self.accounting.spilled_states += 1;
            }
            total = total.saturating_sub(bytes);
        }
        Ok(())
    }

    pub fn accounting(&self) -> &Accounting {
        &self.accounting
    }

    pub fn ledger(&self) -> &BTreeMap<String, LedgerEntry> {
        &self.ledger
    }

    pub fn open_windows(&self) -> usize {
        self.windows.len()
    }

    /// First-seen alerts raised since the last call (write them before checkpointing).
    pub fn take_first_seen_alerts(&mut self) -> Vec<FirstSeenAlert> {
        std::mem::take(&mut self.first_seen_alerts)
    }

    /// The first-seen store, when first-seen detection is on.
    pub fn first_seen(&self) -> Option<&FirstSeen> {
        self.first_seen.as_ref()
    }

    /// Dead-letter records gathered since the last call.
    pub fn take_dead_letters(&mut self) -> Vec<DeadLetter> {
        std::mem::take(&mut self.dead_letters)
    }

    fn window_end(&self, start_ms: i64) -> i64 {
        start_ms + self.cfg.window_ms()
    }

    pub async fn apply(
        &mut self,
        msg: PartialMessage,
        now_ms: i64,
        mode: Mode,
    ) -> Result<(), EngineError> {
        match msg {
            PartialMessage::Chunk(cp) => self.apply_chunk(*cp, now_ms, mode).await,
            PartialMessage::ObjectFailed(dl) => {
                self.accounting.objects_failed += 1;
                self.dead_letters.push(dl);
                Ok(())
            }
            PartialMessage::Ledger(entry) => {
                self.accounting.objects += 1;
                self.ledger
                    .insert(format!("{}|{}", entry.source, entry.object), entry);
                Ok(())
            }
        }
    }

    async fn apply_chunk(
        &mut self,
        cp: ChunkPartials,
        now_ms: i64,
        mode: Mode,
    ) -> Result<(), EngineError> {
        // A chunk is applied atomically, so having been applied to any window means all.
        let duplicate = cp.window_records.keys().any(|w| {
            self.windows
                .get(w)
                .is_some_and(|win| win.applied.contains(&cp.chunk_id))
        });
        if duplicate {
            self.accounting.chunks_duplicate += 1;
            return Ok(());
        }
        self.accounting.chunks += 1;
        self.accounting.lines_read += cp.stats.lines_read;
        self.accounting.records_in += cp.stats.records;
        self.accounting.nodata += cp.stats.nodata;
        self.accounting.skipdata += cp.stats.skipdata;
        self.accounting.rejected += cp.stats.rejected;
        self.accounting.unwindowed += cp.unwindowed;
        self.dead_letters.extend(cp.dead_letters);

        let retention_ms = self.cfg.retention.as_millis() as i64;
        let mut accepted = Vec::new();
        for (&w, &n) in &cp.window_records {
            let too_late = mode == Mode::Continuous
                && now_ms > self.window_end(w) + retention_ms
                && !self.windows.contains_key(&w);
            if too_late {
                self.accounting.too_late += n;
                self.dead_letters.push(DeadLetter::new(
                    &cp.object,
                    "too_late",
                    format!(
                        "{n} records of window {} arrived after its state was dropped (engine.retention = {})",
                        fmt_ms(w),
                        humantime_fmt(self.cfg.retention)
                    ),
                ));
                continue;
            }
            let win = self.windows.entry(w).or_insert_with(|| Window::new(w));
            win.applied.insert(cp.chunk_id.clone());
            win.records += n;
            self.accounting.records_windowed += n;
            accepted.push(w);
        }
        let mut partials = cp.partials.into_iter().peekable();
        while let Some(p) = partials.next() {
            // A chunk's partials of one (window, summary), one per hash part when split.
            let mut pieces = vec![(p.part, p.batch)];
            while let Some(next) = partials
                .next_if(|n| n.summary == p.summary && n.window_start_ms == p.window_start_ms)
            {
                pieces.push((next.part, next.batch));
            }
            if !accepted.contains(&p.window_start_ms) {
                continue;
            }
            let Some(win) = self.windows.get_mut(&p.window_start_ms) else {
                continue;
            };
            let Some(idx) = self.summaries.iter().position(|s| s.name == p.summary) else {
                continue;
            };
            let st = win.summaries.entry(p.summary.clone()).or_default();
            st.dirty = true;
            let split_rows = self.cfg.state_split_rows;
            if add_partial(
                &self.summaries,
                idx,
                st,
                pieces,
                split_rows,
                &mut self.upkeep,
            )
            .await?
            {
                self.accounting.split_states += 1;
            }
        }
        if mode == Mode::Once {
            self.chunks_since_budget_check += 1;
            if self.chunks_since_budget_check >= BUDGET_CHECK_EVERY {
                self.chunks_since_budget_check = 0;
                self.enforce_budget().await?;
            }
        }
        Ok(())
    }

    /// Emits what is due at `now_ms`: every closed window with changes (next revision) and,
    /// with `emit_open_windows`, open windows as provisional. `flush` treats every window as
    /// closed (end of `run --once`, or shutdown with flushing requested). Drops state past
    /// retention afterwards (continuous mode).
    ///
    /// At most `max_jobs` (window, summary) pairs are emitted per call, oldest window first,
    /// so a caller flushing a backfill can write and free one slice at a time instead of
    /// holding every window's rows at once. In `Once` mode emitted state is freed at once.
    ///
    /// Closed windows of the hidden first-seen summary are not returned: they feed the
    /// first-seen store, whose alerts [`Self::take_first_seen_alerts`] hands out.
    pub async fn tick(
        &mut self,
        now_ms: i64,
        mode: Mode,
        flush: bool,
        max_jobs: usize,
    ) -> Result<Vec<Emission>, EngineError> {
        loop {
            let (out, closed_jobs, jobs) = self.tick_once(now_ms, mode, flush, max_jobs).await?;
            // A slice of only hidden emissions must not read as "nothing left": go on
            // while every job closed a window (so the next call makes progress).
            if !out.is_empty() || jobs == 0 || closed_jobs < jobs {
                return Ok(out);
            }
        }
    }

    async fn tick_once(
        &mut self,
        now_ms: i64,
        mode: Mode,
        flush: bool,
        max_jobs: usize,
    ) -> Result<(Vec<Emission>, usize, usize), EngineError> {
        let grace_ms = self.cfg.grace.as_millis() as i64;
        let window_ms = self.cfg.window_ms();
        // Compact and merge every due (window, summary) on its own task: they are
        // independent, and a backfill's final flush would otherwise use one core.
        let mut jobs = Vec::new();
        'windows: for (start, win) in self.windows.iter_mut() {
            let closed = flush || mode == Mode::Once || now_ms >= start + window_ms + grace_ms;
            if !closed && !self.cfg.emit_open_windows {
                continue;
            }
            for (idx, s) in self.summaries.iter().enumerate() {
                let Some(st) = win.summaries.get_mut(&s.name) else {
                    continue;
                };
                if !st.dirty {
                    continue;
                }
                if jobs.len() >= max_jobs.max(1) {
                    break 'windows;
                }
                let summaries = self.summaries.clone();
                let parts: Vec<Part> = st.parts.iter_mut().map(std::mem::take).collect();
                // A backfill never revisits an emitted window: keep no state for it.
                let keep = !(mode == Mode::Once && closed);
                let job = tokio::spawn(emit_parts(summaries, idx, parts, keep));
                jobs.push((*start, idx, closed, job));
            }
        }
        let n_jobs = jobs.len();
        let closed_jobs = jobs.iter().filter(|j| j.2).count();
        let mut out = Vec::with_capacity(jobs.len());
        for (start, idx, closed, job) in jobs {
            let (compacted, batches) =
                job.await.map_err(|e| EngineError::Task(e.to_string()))??;
            let s = &self.summaries[idx];
            let Some(st) = self
                .windows
                .get_mut(&start)
                .and_then(|w| w.summaries.get_mut(&s.name))
            else {
                continue;
            };
            for (part, partials) in st.parts.iter_mut().zip(compacted) {
                part.set_partials(partials);
            }
            let revision = if closed { st.revision + 1 } else { st.revision };
            if closed {
                st.revision = revision;
                st.dirty = false;
            }
            if s.name == PAIRS_SUMMARY {
                if let (true, Some(fs)) = (closed, self.first_seen.as_mut()) {
                    for batch in &batches {
                        let alerts = fs.observe_batch(start, start + window_ms, batch);
                        self.first_seen_alerts.extend(alerts);
                    }
                }
                continue;
            }
            let e = Emission {
                summary: s.name.clone(),
                window_start_ms: start,
                window_end_ms: start + window_ms,
                revision,
                provisional: !closed,
                batches,
                keys: s.keys.clone(),
            };
            if closed {
                self.accounting.summary_rows += e.num_rows() as u64;
            }
            out.push(e);
        }
        if mode == Mode::Continuous {
            let retention_ms = self.cfg.retention.as_millis() as i64;
            self.windows
                .retain(|start, _| now_ms <= start + window_ms + retention_ms);
        }
        Ok((out, closed_jobs, n_jobs))
    }
}

/// Adds a chunk's partial to a summary state: into its hash parts when split, compacting
/// the parts that grew; splits the state once its compacted base is large (returns whether
/// it did).
async fn add_partial(
    summaries: &Summaries,
    idx: usize,
    st: &mut SummaryState,
    mut pieces: Vec<(Option<u16>, RecordBatch)>,
    split_rows: usize,
    policy: &mut UpkeepPolicy,
) -> Result<bool, EngineError> {
    let s = &summaries[idx];
    if st.is_split() {
        for (part, batch) in pieces {
            match part.and_then(|i| st.parts.get_mut(usize::from(i))) {
                Some(p) => p.push(batch),
                None => scatter(&mut st.parts, &batch, &s.keys)?,
            }
        }
    } else if let Some(part) = st.parts.first_mut() {
        // One batch per chunk, so that a chunk split by part does not multiply the pending
        // batches of a state that is not.
        let batch = match pieces.len() {
            1 => pieces.pop().map(|(_, b)| b),
            _ => match pieces.first() {
                Some((_, first)) => Some(arrow::compute::concat_batches(
                    &first.schema(),
                    pieces.iter().map(|(_, b)| b),
                )?),
                None => None,
            },
        };
        if let Some(batch) = batch {
            part.push(batch);
        }
    }
    // Parts fill at about the same rate, so several tend to be due together: compacting
    // them on their own tasks keeps the aggregator from working through them on one core.
    let mut due = Vec::new();
    for (i, part) in st.parts.iter_mut().enumerate() {
        match part.upkeep(policy.min_rows, policy.max_batches) {
            Upkeep::Compact => due.push(i),
            Upkeep::Coalesce => {
                part.coalesce_pending()?;
                policy.coalesces += 1;
            }
            Upkeep::None => {}
        }
    }
    policy.compactions += due.len() as u64;
    let jobs: Vec<_> = due
        .iter()
        .map(|&i| {
            let summaries = summaries.clone();
            let partials = st.parts[i].take_partials();
            tokio::spawn(async move { compact(&summaries[idx], partials).await })
        })
        .collect();
    for (i, job) in due.into_iter().zip(jobs) {
        let compacted = job.await.map_err(|e| EngineError::Task(e.to_string()))??;
        st.parts[i].set_partials(compacted);
    }
    // Split only what is all in memory: spilled files are not re-read to split them.
    let splittable = match st.parts.as_slice() {
        [one] => {
            split_rows > 0
                && one.spilled.is_empty()
                && one.partials().first().map_or(0, |b| b.num_rows()) > split_rows
        }
        _ => false,
    };
    if splittable && !s.keys.is_empty() {
        let whole = st.parts[0].take_partials();
        st.parts = split_into_parts(&whole, &s.keys)?;
        return Ok(true);
    }
    Ok(false)
}

/// Writes compacted partials to a spill file, in slices, so that the flush reads it back a
/// slice at a time.
fn write_spill(dir: &Path, path: &Path, batches: &[RecordBatch]) -> Result<(), EngineError> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let slices: Vec<RecordBatch> = batches
        .iter()
        .flat_map(|b| {
            (0..b.num_rows())
                .step_by(SPILL_SLICE_ROWS)
                .map(|at| b.slice(at, SPILL_SLICE_ROWS.min(b.num_rows() - at)))
        })
        .collect();
    write_ipc(path, &slices)
}

/// The [`partition::PARTS`] hash parts holding the rows of `batches`.
fn split_into_parts(batches: &[RecordBatch], keys: &[String]) -> Result<Vec<Part>, EngineError> {
    let mut parts = vec![Part::default(); partition::PARTS];
    for b in batches {
        scatter(&mut parts, b, keys)?;
    }
    Ok(parts)
}

/// Adds each row of `batch` to the partials of its hash part.
fn scatter(parts: &mut [Part], batch: &RecordBatch, keys: &[String]) -> Result<(), EngineError> {
    for (part, piece) in parts.iter_mut().zip(partition::split(batch, keys)?) {
        if piece.num_rows() > 0 {
            part.push(piece);
        }
    }
    Ok(())
}

/// Parts of one (window, summary) compacted and merged at once: more than one, so that a
/// core finishing a small window's parts picks up another window's instead of idling,
/// and few, so that only a few parts' hash tables exist at a time.
pub(crate) const PARTS_AT_ONCE: usize = 2;

/// Compacts and merges a (window, summary)'s parts, [`PARTS_AT_ONCE`] at a time; returns
/// each part's compacted partials (empty unless `keep`) and the emission rows, one batch
/// per non-empty part (at least one batch).
async fn emit_parts(
    summaries: Summaries,
    idx: usize,
    parts: Vec<Part>,
    keep: bool,
) -> Result<(Vec<Vec<RecordBatch>>, Vec<RecordBatch>), EngineError> {
    use futures::StreamExt;
    let results: Vec<_> = futures::stream::iter(parts)
        .map(|part| tokio::spawn(emit_part(summaries.clone(), idx, part, keep)))
        .buffered(PARTS_AT_ONCE)
        .collect()
        .await;
    let mut kept = Vec::with_capacity(results.len());
    let mut rows = Vec::with_capacity(results.len());
    for r in results {
        let (compacted, merged) = r.map_err(|e| EngineError::Task(e.to_string()))??;
        kept.push(compacted);
        rows.extend(merged);
    }
    if rows.is_empty() {
        rows.push(RecordBatch::new_empty(summaries[idx].merge.schema()));
    }
    Ok((kept, rows))
}

/// One part of [`emit_parts`]: its compacted partials (empty unless `keep`) and merged rows
/// (none for an empty part).
pub(crate) async fn emit_part(
    summaries: Summaries,
    idx: usize,
    part: Part,
    keep: bool,
) -> Result<(Vec<RecordBatch>, Option<RecordBatch>), EngineError> {
    let s = &summaries[idx];
    if part.is_empty() {
        return Ok((Vec::new(), None));
    }
    let (partials, spilled) = part.into_inner();
    let compacted = if spilled.is_empty() {
        compact(s, partials).await?
    } else {
        let input = partials.into_iter().map(Ok).chain(spilled_batches(spilled));
        vec![run_iter(s, &s.compact, Box::new(input)).await?]
    };
    // A compacted partial has one row per group already; without hidden distinct columns
    // or a `having` filter it has exactly the merge's columns, so merging it again would
    // only copy it.
    let merged = match compacted.as_slice() {
        [one] if !s.needs_merge => one.clone(),
        _ => merge(s, compacted.clone()).await?,
    };
    Ok((if keep { compacted } else { Vec::new() }, Some(merged)))
}

/// Batches of spill files, read one at a time while they are aggregated.
fn spilled_batches(
    paths: Vec<PathBuf>,
) -> impl Iterator<Item = datafusion::error::Result<RecordBatch>> + Send {
    paths.into_iter().flat_map(|path| {
        let reader = File::open(&path)
            .map_err(datafusion::error::DataFusionError::IoError)
            .and_then(|f| Ok(arrow::ipc::reader::FileReader::try_new(f, None)?));
        let batches: Box<dyn Iterator<Item = _> + Send> = match reader {
            Ok(r) => Box::new(r.map(|b| Ok(b?))),
            Err(e) => Box::new(std::iter::once(Err(e))),
        };
        batches
    })
}

async fn compact(
    s: &PreparedSummary,
    partials: Vec<RecordBatch>,
) -> Result<Vec<RecordBatch>, EngineError> {
    if partials.len() <= 1 {
        return Ok(partials);
    }
    Ok(vec![run_one(s, &s.compact, partials).await?])
}

async fn merge(
    s: &PreparedSummary,
    partials: Vec<RecordBatch>,
) -> Result<RecordBatch, EngineError> {
    run_one(s, &s.merge, partials).await
}

/// Runs one of a summary's prepared queries and returns its result as one batch.
async fn run_one(
    s: &PreparedSummary,
    query: &PreparedQuery,
    partials: Vec<RecordBatch>,
) -> Result<RecordBatch, EngineError> {
    run_iter(s, query, Box::new(partials.into_iter().map(Ok))).await
}

async fn run_iter(
    s: &PreparedSummary,
    query: &PreparedQuery,
    input: BatchIter,
) -> Result<RecordBatch, EngineError> {
    let out = query
        .run_iter(input)
        .await
        .map_err(|source| EngineError::Query {
            summary: s.name.clone(),
            source,
        })?;
    Ok(arrow::compute::concat_batches(&query.schema(), &out)?)
}

pub(crate) fn fmt_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| ms.to_string())
}

fn humantime_fmt(d: std::time::Duration) -> String {
    format!("{}s", d.as_secs())
}
