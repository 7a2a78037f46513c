//! Backfill progress: a bar with objects and bytes done, rate and ETA when stderr is a
//! terminal; a plain log line every few seconds otherwise.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

pub struct Progress {
    bar: Option<ProgressBar>,
    objects_total: u64,
    objects_done: u64,
    bytes_done: u64,
    started: Instant,
    last_log: Instant,
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
            bar
        });
        Self {
            bar,
            objects_total,
            objects_done: 0,
            bytes_done: 0,
            started: Instant::now(),
            last_log: Instant::now(),
        }
    }

    pub fn object_done(&mut self, bytes: u64) {
        self.objects_done += 1;
        self.bytes_done += bytes;
        match &self.bar {
            Some(bar) => {
                bar.set_position(self.bytes_done);
                bar.set_message(format!(
                    "{}/{} objects",
                    self.objects_done, self.objects_total
                ));
            }
            None if self.last_log.elapsed() >= Duration::from_secs(5) => {
                self.last_log = Instant::now();
                let secs = self.started.elapsed().as_secs_f64().max(1e-3);
                tracing::info!(
                    objects_done = self.objects_done,
                    objects_total = self.objects_total,
                    mb_done = self.bytes_done / 1_000_000,
                    mb_per_s = format!("{:.1}", self.bytes_done as f64 / 1e6 / secs),
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
