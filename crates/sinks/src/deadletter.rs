//! Dead-letter output: one JSON line per rejected line, object or too-late batch of
//! records, with object, line/offset, kind and reason.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use flowlogd_formats::DeadLetter;
use serde::{Deserialize, Serialize};

use crate::error::{io, SinkError};

/// `[sinks.dead_letter]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadLetterSinkConfig {
    pub path: PathBuf,
}

pub struct DeadLetterSink {
    path: PathBuf,
    out: BufWriter<File>,
    written: u64,
}

impl DeadLetterSink {
    pub fn open(cfg: &DeadLetterSinkConfig) -> Result<Self, SinkError> {
        if let Some(dir) = cfg.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(io(dir))?;
        }
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&cfg.path)
            .map_err(io(&cfg.path))?;
        Ok(Self {
            path: cfg.path.clone(),
            out: BufWriter::new(f),
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
        for r in records {
            serde_json::to_writer(&mut self.out, r)?;
            self.out.write_all(b"\n").map_err(io(&self.path))?;
        }
        self.written += records.len() as u64;
        self.out.flush().map_err(io(&self.path))?;
        self.out.get_ref().sync_data().map_err(io(&self.path))
    }
}
