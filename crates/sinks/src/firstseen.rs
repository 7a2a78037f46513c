//! First-seen alerts: one JSON line per (src, dst, dst_port, protocol) pair seen for the
//! first time, with its window and first-seen time. Written before the checkpoint that
//! records the pair as known, so a crash between the two can repeat an alert
//! (at-least-once, like the other JSON outputs).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::SinkError;
use crate::lines::JsonLines;

/// `[sinks.first_seen]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FirstSeenSinkConfig {
    pub path: PathBuf,
}

pub struct FirstSeenSink {
    out: JsonLines,
}

impl FirstSeenSink {
    pub fn open(cfg: &FirstSeenSinkConfig) -> Result<Self, SinkError> {
        Ok(Self {
            out: JsonLines::open(&cfg.path)?,
        })
    }

    pub fn write<T: Serialize>(&mut self, alerts: &[T]) -> Result<(), SinkError> {
        if alerts.is_empty() {
            return Ok(());
        }
        self.out.write_all(alerts)
    }
}
