//! Backfill progress: a bar with objects and bytes done out of the total, records/s and
//! ETA when stderr is a terminal; a plain log line every few seconds otherwise.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// Records parsed so far in this process (fed by the pipeline, read for the rate).
static RECORDS: AtomicU64 = AtomicU64::new(0);

/// Adds records parsed (called as chunks come out of the parse stage).
pub fn add_records(n: u64) {
    RECORDS.fetch_add(n, Ordering::Relaxed);
}

/// Interval of the plain progress lines (`FLOWLOGD_PROGRESS_INTERVAL`, e.g. `500ms`;
/// default 5 s).
fn log_interval() -> Duration {
    std::env::var("FLOWLOGD_PROGRESS_INTERVAL")
        .ok()
        .and_then(|v| parse_millis(&v))
        .unwrap_or(Duration::from_secs(5))
}

fn parse_millis(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Some(ms) = v.strip_suffix("ms") {
        return ms.parse().ok().map(Duration::from_millis);
    }
    v.strip_suffix('s')
        .unwrap_or(v)
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

pub struct Progress {
    bar: Option<ProgressBar>,
    objects_total: u64,
    objects_done: u64,
    bytes_total: u64,
    bytes_done: u64,
    records_at_start: u64,
    started: Instant,
    last_log: Instant,
    interval: Duration,
}

impl Progress {
    pub fn new(objects_total: u64, bytes_total: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(bytes_total);
            let style = ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, ETA {eta}) {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Self {
            bar,
            objects_total,
            objects_done: 0,
            bytes_total,
            bytes_done: 0,
            records_at_start: RECORDS.load(Ordering::Relaxed),
            started: Instant::now(),
            last_log: Instant::now(),
            interval: log_interval(),
        }
    }

    fn records_per_sec(&self) -> f64 {
        let records = RECORDS
            .load(Ordering::Relaxed)
            .saturating_sub(self.records_at_start);
        records as f64 / self.started.elapsed().as_secs_f64().max(1e-3)
    }

    pub fn object_done(&mut self, bytes: u64) {
        self.objects_done += 1;
        self.bytes_done += bytes;
        match &self.bar {
            Some(bar) => {
                bar.set_position(self.bytes_done);
                bar.set_message(format!(
                    "{}/{} objects, {:.0} records/s",
                    self.objects_done,
                    self.objects_total,
                    self.records_per_sec()
                ));
            }
            None if self.last_log.elapsed() >= self.interval => {
                self.last_log = Instant::now();
                let secs = self.started.elapsed().as_secs_f64().max(1e-3);
                let rate = self.bytes_done as f64 / secs;
                let eta = (rate > 0.0)
                    .then(|| (self.bytes_total.saturating_sub(self.bytes_done)) as f64 / rate);
                tracing::info!(
                    objects_done = self.objects_done,
                    objects_total = self.objects_total,
                    mb_done = self.bytes_done / 1_000_000,
                    mb_total = self.bytes_total / 1_000_000,
                    mb_per_s = format!("{:.1}", rate / 1e6),
                    records_per_s = format!("{:.0}", self.records_per_sec()),
                    eta_s = eta.map(|e| format!("{e:.0}")).unwrap_or_default(),
                    "backfill progress"
                );
            }
            None => {}
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_parses() {
        assert_eq!(parse_millis("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_millis("2s"), Some(Duration::from_secs(2)));
        assert_eq!(parse_millis("1.5"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_millis("x"), None);
    }
}
