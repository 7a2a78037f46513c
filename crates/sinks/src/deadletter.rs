//! Dead-letter output: one JSON line per rejected line, object or too-late batch of
//! records, with object, line/offset, kind and reason.

use std::path::PathBuf;

use flowlogd_formats::DeadLetter;
use serde::{Deserialize, Serialize};

use crate::error::SinkError;
use crate::lines::JsonLines;

/// `[sinks.dead_letter]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadLetterSinkConfig {
    pub path: PathBuf,
}

pub struct DeadLetterSink {
    out: JsonLines,
    written: u64,
}

impl DeadLetterSink {
    pub fn open(cfg: &DeadLetterSinkConfig) -> Result<Self, SinkError> {
        Ok(Self {
            out: JsonLines::open(&cfg.path)?,
            written: 0,
        })
    }

    pub fn written(&self) -> u64 {
        self.written
    }

    pub fn write(&mut self, records: &[DeadLetter]) -> Result<(), SinkError> {
        if records.is_empty() {
            return Ok(());
        }
        self.out.write_all(records)?;
        self.written += records.len() as u64;
        Ok(())
    }
}
