//! JSON-lines summaries: one row per line,
//! `{"summary","window_start","window_end","revision","provisional","keys":{…},"metrics":{…}}`.

use std::path::PathBuf;

use arrow::json::LineDelimitedWriter;
use flowlogd_bus::Emission;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::SinkError;
use crate::lines::JsonLines;
use crate::SummarySink;

/// `[sinks.jsonl]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonlSinkConfig {
    /// File the lines are appended to.
    pub path: PathBuf,
}

pub struct JsonlSink {
    out: JsonLines,
}

impl JsonlSink {
    pub fn open(cfg: &JsonlSinkConfig) -> Result<Self, SinkError> {
        Ok(Self {
            out: JsonLines::open(&cfg.path)?,
        })
    }
}

/// Rows converted to JSON at a time.
const SLICE_ROWS: usize = 8192;

/// The JSON objects of an emission's rows.
pub fn emission_rows(e: &Emission) -> Result<Vec<Value>, SinkError> {
    let mut buf = Vec::new();
    {
        let mut w = LineDelimitedWriter::new(&mut buf);
        w.write(&e.batch)?;
        w.finish()?;
    }
    let start = fmt_ts(e.window_start_ms);
    let end = fmt_ts(e.window_end_ms);
    let mut rows = Vec::with_capacity(e.batch.num_rows());
    for line in buf.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let mut obj: Map<String, Value> = serde_json::from_slice(line)?;
        let mut keys = Map::new();
        for k in &e.keys {
            keys.insert(k.clone(), obj.remove(k).unwrap_or(Value::Null));
        }
        let mut row = Map::new();
        row.insert("summary".into(), Value::from(e.summary.as_str()));
        row.insert("window_start".into(), Value::from(start.as_str()));
        row.insert("window_end".into(), Value::from(end.as_str()));
        row.insert("revision".into(), Value::from(e.revision));
        row.insert("provisional".into(), Value::from(e.provisional));
        row.insert("keys".into(), Value::Object(keys));
        row.insert("metrics".into(), Value::Object(obj));
        rows.push(Value::Object(row));
    }
    Ok(rows)
}

fn fmt_ts(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

impl SummarySink for JsonlSink {
    fn name(&self) -> &str {
        "jsonl"
    }

    /// Converts a slice of rows at a time: a window can hold millions of rows, and their
    /// JSON objects take many times the memory of the Arrow batch.
    fn write(&mut self, emissions: &[Emission]) -> Result<(), SinkError> {
        for e in emissions {
            let n = e.batch.num_rows();
            for at in (0..n).step_by(SLICE_ROWS) {
                let slice = Emission {
                    batch: e.batch.slice(at, SLICE_ROWS.min(n - at)),
                    ..e.clone()
                };
                self.out.append(&emission_rows(&slice)?)?;
            }
        }
        self.out.sync()
    }
}
