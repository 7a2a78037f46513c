//! What the pipeline tells the outside world: metrics, the `/status` board, sd_notify and
//! progress. Kept out of `pipeline.rs` so the data path stays readable: the pipeline calls
//! one function per event.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, TimeUnit, TimestampMillisecondType};
use flowlogd_bus::{Emission, LedgerEntry, PartialMessage};
use flowlogd_engine::{Aggregator, Checkpointer};
use flowlogd_formats::Parsed;
use flowlogd_ops::admin::StatusBoard;
use flowlogd_ops::{metrics, notify};

/// Newest event time per object still being read (chunks are parsed in parallel; the
/// object's ledger entry, in order after its chunks, settles it for its source).
fn newest_by_object() -> &'static Mutex<HashMap<String, i64>> {
    static M: OnceLock<Mutex<HashMap<String, i64>>> = OnceLock::new();
    M.get_or_init(Default::default)
}

/// One open `object` span per object being read: its chunks' spans are its children, and
/// it ends (and is exported) when the object's ledger entry or failure arrives.
fn object_spans() -> &'static Mutex<HashMap<String, tracing::Span>> {
    static M: OnceLock<Mutex<HashMap<String, tracing::Span>>> = OnceLock::new();
    M.get_or_init(Default::default)
}

/// The span of one chunk, a child of its object's span (trace: object → chunks).
pub fn chunk_span(source: &str, object: &str, chunk: &str) -> tracing::Span {
    let Ok(mut spans) = object_spans().lock() else {
        return tracing::info_span!("chunk", object, chunk);
    };
    let parent = spans
        .entry(object.to_owned())
        .or_insert_with(|| tracing::info_span!(parent: None, "object", source, object));
    tracing::info_span!(parent: &*parent, "chunk", chunk)
}

fn end_object_span(object: &str) {
    if let Ok(mut spans) = object_spans().lock() {
        spans.remove(object);
    }
}

/// From the parse stage: the newest `end` (or `start`) of a parsed chunk.
pub fn parsed_chunk(object: &str, parsed: &[Parsed]) {
    let newest = parsed.iter().filter_map(newest_event_ms).max();
    if let Some(ms) = newest {
        metrics::get().event_time(ms);
        if let Ok(mut m) = newest_by_object().lock() {
            let e = m.entry(object.to_owned()).or_insert(ms);
            *e = (*e).max(ms);
        }
    }
}

fn newest_event_ms(p: &Parsed) -> Option<i64> {
    let schema = p.batch.schema();
    let col = ["end", "start"]
        .iter()
        .find_map(|n| schema.index_of(n).ok())?;
    let arr = p.batch.column(col);
    let ms = match arr.data_type() {
        DataType::Timestamp(TimeUnit::Millisecond, _) => arr.clone(),
        DataType::Timestamp(_, tz) => {
            arrow::compute::cast(arr, &DataType::Timestamp(TimeUnit::Millisecond, tz.clone()))
                .ok()?
        }
        _ => return None,
    };
    let ms = ms.as_primitive_opt::<TimestampMillisecondType>()?;
    if ms.null_count() == ms.len() {
        return None;
    }
    arrow::compute::max(ms)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Per-run observer held by the pipeline's main loop.
pub struct Observer {
    board: StatusBoard,
    too_late_seen: u64,
    /// Records of the chunks of objects not yet settled by their ledger entry (which names
    /// the source; chunk partials name only the object).
    records_by_object: HashMap<String, u64>,
}

impl Observer {
    pub fn new(board: StatusBoard, sources: &[String], agg: &Aggregator) -> Self {
        for s in sources {
            board.source_configured(s);
        }
        board.windows_open(agg.open_windows());
        board.set_accounting(serde_json::to_value(agg.accounting()).unwrap_or_default());
        Self {
            board,
            too_late_seen: agg.accounting().too_late,
            records_by_object: HashMap::new(),
        }
    }

    /// Config valid, state restored, sinks open, stages started.
    pub fn ready(&self) {
        tracing::info!("pipeline running");
        self.board.set_ready(true, "running");
        self.board.heartbeat();
        notify::ready(&self.board.status_line());
    }

    /// A message from the parse stage, before the aggregator applies it.
    pub fn message(&mut self, msg: &PartialMessage, agg: &Aggregator) {
        let m = metrics::get();
        match msg {
            PartialMessage::Chunk(cp) => {
                for d in &cp.dead_letters {
                    m.rejected(&d.kind, 1);
                }
                m.window_records(&cp.window_records);
                flowlogd_ops::progress::add_records(cp.stats.records);
                *self.records_by_object.entry(cp.object.clone()).or_default() += cp.stats.records;
            }
            PartialMessage::ObjectFailed(dl) => {
                m.rejected(&dl.kind, 1);
                self.records_by_object.remove(&dl.object);
                end_object_span(&dl.object);
                if let Ok(mut map) = newest_by_object().lock() {
                    map.remove(&dl.object);
                }
            }
            PartialMessage::Ledger(e) => self.ledger(e, agg),
        }
    }

    fn ledger(&mut self, e: &LedgerEntry, agg: &Aggregator) {
        let before = agg.ledger().get(&format!("{}|{}", e.source, e.object));
        let bytes = match before {
            Some(b) => e.consumed.saturating_sub(b.consumed),
            None => e.consumed,
        };
        let records = self.records_by_object.remove(&e.object).unwrap_or(0);
        end_object_span(&e.object);
        metrics::get().object_read(&e.source, before.is_none(), bytes, records);
        let newest = newest_by_object()
            .lock()
            .ok()
            .and_then(|mut m| m.remove(&e.object));
        let lag = newest.map(|ms| Duration::from_millis(now_ms().saturating_sub(ms).max(0) as u64));
        self.board
            .object_read(&e.source, &e.object, before.is_none(), lag);
    }

    /// After the aggregator applied a message.
    pub fn applied(&mut self, agg: &Aggregator) {
        let late = agg.accounting().too_late;
        metrics::get().too_late(late.saturating_sub(self.too_late_seen));
        self.too_late_seen = late;
    }

    /// The main loop's heartbeat: watchdog ping, status line, gauges.
    pub fn heartbeat(&self, agg: &Aggregator) {
        let open = agg.open_windows();
        metrics::get().windows_open(open);
        self.board.windows_open(open);
        self.board
            .set_accounting(serde_json::to_value(agg.accounting()).unwrap_or_default());
        self.board.heartbeat();
        notify::watchdog(&self.board.status_line());
    }
}

/// Emissions written to every sink.
pub fn emitted(board: &StatusBoard, emissions: &[Emission]) {
    for e in emissions {
        emitted_rows(board, e, e.num_rows() as u64);
    }
}

/// An emission of `rows` rows (given in pieces, `e` is one of them).
pub fn emitted_rows(board: &StatusBoard, e: &Emission, rows: u64) {
    metrics::get().revision_emitted(&e.summary, rows);
    board.emitted(
        &e.summary,
        metrics::rfc3339(e.window_start_ms),
        e.revision,
        rows,
        e.provisional,
    );
}

/// Writes a checkpoint, timed.
/// Saves a checkpoint, then tells the sources waiting on it which ledger entries it holds.
pub fn checkpoint(
    ckpt: &mut Checkpointer,
    agg: &Aggregator,
    durable: &flowlogd_bus::Durable,
) -> anyhow::Result<()> {
    let _span = tracing::info_span!("checkpoint").entered();
    let t = Instant::now();
    ckpt.save(agg)?;
    metrics::get().checkpoint_written(t.elapsed());
    durable.checkpointed(agg.ledger());
    Ok(())
}
