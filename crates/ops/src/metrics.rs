//! The instruments flowlogd reports (OpenTelemetry; exported over OTLP and on `/metrics`).
//!
//! One process-wide set: [`install`] it once the meter provider exists (see
//! `telemetry::init`); [`get`] hands it to any component. Before `install` (other
//! subcommands, unit tests) the instruments are no-ops. Names and meaning are listed in the
//! README ("Operating flowlogd").

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry::metrics::{
    Counter, Gauge, Histogram, Meter, ObservableGauge, ObservableUpDownCounter,
};
use opentelemetry::KeyValue;

/// Windows whose record counts are reported; older ones are dropped (bounded series).
const WINDOWS_REPORTED: usize = 48;

pub struct Metrics {
    records_read: Counter<u64>,
    objects_read: Counter<u64>,
    bytes_read: Counter<u64>,
    parse_rejects: Counter<u64>,
    records_too_late: Counter<u64>,
    revisions: Counter<u64>,
    summary_rows: Counter<u64>,
    checkpoint_duration: Histogram<f64>,
    reloads: Counter<u64>,
    kafka_consumer_lag: Gauge<i64>,
    kafka_producer_queue: Gauge<u64>,
    // Observed on collection; kept so their callbacks stay registered.
    _window_records: ObservableGauge<u64>,
    _window_lag: ObservableGauge<f64>,
    _windows_open: ObservableUpDownCounter<i64>,
    _rss: ObservableGauge<u64>,
}

/// State read by the observable instruments' callbacks.
struct Observed {
    /// Newest event time (ms since the epoch) of any record read; `i64::MIN` when none.
    newest_event_ms: AtomicI64,
    windows_open: AtomicI64,
    window_records: Mutex<BTreeMap<i64, u64>>,
}

static OBSERVED: Observed = Observed {
    newest_event_ms: AtomicI64::new(i64::MIN),
    windows_open: AtomicI64::new(0),
    window_records: Mutex::new(BTreeMap::new()),
};

static METRICS: OnceLock<Metrics> = OnceLock::new();

/// Creates the instruments on `meter`. Returns false when they already exist (a second
/// call, or [`get`] called before the meter provider was set up: then they stay no-ops).
pub fn install(meter: &Meter) -> bool {
    let mut fresh = false;
    METRICS.get_or_init(|| {
        fresh = true;
        Metrics::new(meter)
    });
    fresh
}

/// The process-wide instruments (no-ops until [`install`]).
pub fn get() -> &'static Metrics {
    METRICS.get_or_init(|| Metrics::new(&opentelemetry::global::meter("flowlogd")))
}

impl Metrics {
    fn new(m: &Meter) -> Self {
        Self {
            records_read: m
                .u64_counter("flowlogd.records.read")
                .with_description("Records parsed from flow-log objects, per source")
                .with_unit("{record}")
                .build(),
            objects_read: m
                .u64_counter("flowlogd.objects.read")
                .with_description("Objects read to their end (or to their current end for growing blobs), per source")
                .with_unit("{object}")
                .build(),
            bytes_read: m
                .u64_counter("flowlogd.read")
                .with_description("Bytes of flow-log objects consumed (as stored), per source")
                .with_unit("By")
                .build(),
            parse_rejects: m
                .u64_counter("flowlogd.parse.rejects")
                .with_description("Lines, tuples or whole objects sent to the dead-letter output, by reason")
                .with_unit("{record}")
                .build(),
            records_too_late: m
                .u64_counter("flowlogd.records.too_late")
                .with_description("Records whose window state had already been dropped (engine.retention)")
                .with_unit("{record}")
                .build(),
            revisions: m
                .u64_counter("flowlogd.revisions.emitted")
                .with_description("Window revisions written to the sinks, per summary")
                .with_unit("{revision}")
                .build(),
            summary_rows: m
                .u64_counter("flowlogd.summary.rows")
                .with_description("Summary rows written to the sinks, per summary")
                .with_unit("{row}")
                .build(),
            checkpoint_duration: m
                .f64_histogram("flowlogd.checkpoint.duration")
                .with_description("Time to write one checkpoint")
                .with_unit("s")
                .with_boundaries(vec![0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 60.0])
                .build(),
            reloads: m
                .u64_counter("flowlogd.config.reloads")
                .with_description("Configuration reloads (SIGHUP), by result (applied or rejected)")
                .with_unit("{reload}")
                .build(),
            kafka_consumer_lag: m
                .i64_gauge("flowlogd.kafka.consumer.lag")
                .with_description("Messages between the committed offset and the end of a Kafka partition")
                .with_unit("{message}")
                .build(),
            kafka_producer_queue: m
                .u64_gauge("flowlogd.kafka.producer.queue")
                .with_description("Messages waiting in the Kafka producer's queue")
                .with_unit("{message}")
                .build(),
            _window_records: m
                .u64_observable_gauge("flowlogd.window.records")
                .with_description("Records applied to each recent window (label window_start)")
                .with_unit("{record}")
                .with_callback(|o| {
                    if let Ok(w) = OBSERVED.window_records.lock() {
                        for (start, n) in w.iter() {
                            o.observe(*n, &[KeyValue::new("window_start", rfc3339(*start))]);
                        }
                    }
                })
                .build(),
            _window_lag: m
                .f64_observable_gauge("flowlogd.window.lag")
                .with_description("Wall clock minus the newest event time read (how far behind the data is)")
                .with_unit("s")
                .with_callback(|o| {
                    if let Some(lag) = event_lag() {
                        o.observe(lag.as_secs_f64(), &[]);
                    }
                })
                .build(),
            _windows_open: m
                .i64_observable_up_down_counter("flowlogd.windows.open")
                .with_description("Windows with state in memory (open, or closed and within retention)")
                .with_unit("{window}")
                .with_callback(|o| o.observe(OBSERVED.windows_open.load(Ordering::Relaxed), &[]))
                .build(),
            _rss: m
                .u64_observable_gauge("flowlogd.process.rss")
                .with_description("Resident set size of the flowlogd process")
                .with_unit("By")
                .with_callback(|o| {
                    if let Some(rss) = rss_bytes() {
                        o.observe(rss, &[]);
                    }
                })
                .build(),
        }
    }

    /// An object (or the new part of a growing one) read by `source`.
    pub fn object_read(&self, source: &str, new_object: bool, bytes: u64, records: u64) {
        let attrs = [KeyValue::new("source", source.to_owned())];
        if new_object {
            self.objects_read.add(1, &attrs);
        }
        self.bytes_read.add(bytes, &attrs);
        self.records_read.add(records, &attrs);
    }

    /// Dead-letter records of one kind (`field_count`, `corrupt_gzip`, ...).
    pub fn rejected(&self, reason: &str, n: u64) {
        if n > 0 {
            self.parse_rejects
                .add(n, &[KeyValue::new("reason", reason.to_owned())]);
        }
    }

    pub fn too_late(&self, n: u64) {
        if n > 0 {
            self.records_too_late.add(n, &[]);
        }
    }

    /// One (summary, window) revision written with `rows` rows.
    pub fn revision_emitted(&self, summary: &str, rows: u64) {
        let attrs = [KeyValue::new("summary", summary.to_owned())];
        self.revisions.add(1, &attrs);
        self.summary_rows.add(rows, &attrs);
    }

    pub fn checkpoint_written(&self, took: Duration) {
        self.checkpoint_duration.record(took.as_secs_f64(), &[]);
    }

    pub fn reload(&self, applied: bool) {
        let result = if applied { "applied" } else { "rejected" };
        self.reloads.add(1, &[KeyValue::new("result", result)]);
    }

    /// Records applied per window, from one chunk (window start in ms).
    pub fn window_records(&self, per_window: &BTreeMap<i64, u64>) {
        let Ok(mut w) = OBSERVED.window_records.lock() else {
            return;
        };
        for (start, n) in per_window {
            *w.entry(*start).or_default() += n;
        }
        while w.len() > WINDOWS_REPORTED {
            w.pop_first();
        }
    }

    /// The newest event time (ms since the epoch) seen in a chunk.
    pub fn event_time(&self, ms: i64) {
        OBSERVED.newest_event_ms.fetch_max(ms, Ordering::Relaxed);
    }

    pub fn windows_open(&self, n: usize) {
        OBSERVED
            .windows_open
            .store(n.try_into().unwrap_or(i64::MAX), Ordering::Relaxed);
    }

    /// For the Kafka consumer: lag of one partition.
    pub fn kafka_consumer_lag(&self, topic: &str, partition: i32, lag: i64) {
        self.kafka_consumer_lag.record(
            lag,
            &[
                KeyValue::new("topic", topic.to_owned()),
                KeyValue::new("partition", i64::from(partition)),
            ],
        );
    }

    /// For the Kafka producer: messages queued and not yet acknowledged.
    pub fn kafka_producer_queue(&self, queued: u64) {
        self.kafka_producer_queue.record(queued, &[]);
    }
}

/// Wall clock minus the newest event time read so far (None before any record).
pub fn event_lag() -> Option<Duration> {
    let newest = OBSERVED.newest_event_ms.load(Ordering::Relaxed);
    if newest == i64::MIN {
        return None;
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    Some(Duration::from_millis(
        now.saturating_sub(newest).max(0) as u64
    ))
}

/// VmRSS from `/proc/self/status` (Linux only; None elsewhere).
pub fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// `2024-05-01T00:00:00Z` for a window start in ms (UTC, second precision).
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| ms.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_window_starts() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_714_521_600_000), "2024-05-01T00:00:00Z");
        assert_eq!(
            rfc3339(1_709_164_800_000 + 3_723_000),
            "2024-02-29T01:02:03Z"
        );
    }

    #[test]
    fn rss_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(rss_bytes().unwrap() > 0);
        }
    }
}
