//! JSON-lines summaries: one row per line,
//! `{"summary","window_start","window_end","revision","provisional","keys":{…},"metrics":{…}}`.

use std::path::PathBuf;

use arrow::json::writer::{LineDelimited, WriterBuilder};
use flowlogd_bus::Emission;
use serde::{Deserialize, Serialize};

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
pub(crate) const SLICE_ROWS: usize = 8192;

/// One summary row as a JSON object:
/// `{"keys":{…},"metrics":{…},"provisional","revision","summary","window_end","window_start"}`
/// (members sorted by name, as are the keys and metrics inside), plus where its `keys`
/// object sits in the line, for the Kafka record key.
pub struct JsonRow {
    pub line: String,
    keys: std::ops::Range<usize>,
}

impl JsonRow {
    /// The `keys` object, e.g. `{"dst_addr":"10.0.0.2","src_addr":"10.0.0.1"}`.
    pub fn keys(&self) -> &str {
        &self.line[self.keys.clone()]
    }
}

/// The JSON rows of an emission. Built from Arrow's JSON encoder line by line, without a
/// `serde_json::Value` per row: at the production tick an aggregate process converts
/// millions of rows per window.
/// Group keys are always present (`null` when missing); null metrics are left out.
pub fn emission_rows(e: &Emission) -> Result<Vec<JsonRow>, SinkError> {
    let Some(first) = e.batches.first() else {
        return Ok(Vec::new());
    };
    let schema = first.schema();
    let (mut keys, mut metrics): (Vec<usize>, Vec<usize>) =
        (0..schema.fields().len()).partition(|&i| e.keys.contains(schema.field(i).name()));
    keys.sort_by_key(|&i| schema.field(i).name());
    metrics.sort_by_key(|&i| schema.field(i).name());
    let tail = format!(
        r#","provisional":{},"revision":{},"summary":{},"window_end":"{}","window_start":"{}"}}"#,
        e.provisional,
        e.revision,
        serde_json::to_string(&e.summary)?,
        fmt_ts(e.window_end_ms),
        fmt_ts(e.window_start_ms),
    );
    let mut rows = Vec::with_capacity(e.num_rows());
    for batch in &e.batches {
        let n = batch.num_rows();
        let (key_text, metric_text) = (
            object_lines(batch, &keys, true)?,
            object_lines(batch, &metrics, false)?,
        );
        assemble_rows(
            &mut rows,
            &split_lines(&key_text, n)?,
            &split_lines(&metric_text, n)?,
            &tail,
        );
    }
    Ok(rows)
}

/// Assembles the rows of one batch from its key and metric objects.
fn assemble_rows(rows: &mut Vec<JsonRow>, key_lines: &[&str], metric_lines: &[&str], tail: &str) {
    for (k, m) in key_lines.iter().zip(metric_lines) {
        let mut line = String::with_capacity(k.len() + m.len() + tail.len() + 24);
        line.push_str(r#"{"keys":"#);
        let at = line.len();
        line.push_str(k);
        let keys = at..line.len();
        line.push_str(r#","metrics":"#);
        line.push_str(m);
        line.push_str(tail);
        rows.push(JsonRow { line, keys });
    }
}

/// One JSON object per row of `batch`, of the columns `cols` in that order, as
/// newline-separated text.
fn object_lines(
    batch: &arrow::record_batch::RecordBatch,
    cols: &[usize],
    explicit_nulls: bool,
) -> Result<String, SinkError> {
    if cols.is_empty() {
        return Ok("{}\n".repeat(batch.num_rows()));
    }
    let part = batch.project(cols)?;
    let mut buf = Vec::new();
    let mut w = WriterBuilder::new()
        .with_explicit_nulls(explicit_nulls)
        .build::<_, LineDelimited>(&mut buf);
    w.write(&part)?;
    w.finish()?;
    String::from_utf8(buf).map_err(|e| SinkError::Internal(e.to_string()))
}

fn split_lines(text: &str, rows: usize) -> Result<Vec<&str>, SinkError> {
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() != rows {
        return Err(SinkError::Internal(format!(
            "JSON encoder wrote {} lines for {rows} rows",
            lines.len()
        )));
    }
    Ok(lines)
}

/// An RFC 3339 UTC timestamp to the second, as window bounds are written.
pub(crate) fn fmt_ts(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

impl JsonlSink {
    /// Appends rows already converted (buffered until [`Self::sync`]).
    pub(crate) fn append_rows(&mut self, rows: &[JsonRow]) -> Result<(), SinkError> {
        self.out.append_lines(rows.iter().map(|r| r.line.as_str()))
    }

    pub(crate) fn sync(&mut self) -> Result<(), SinkError> {
        self.out.sync()
    }
}

impl SummarySink for JsonlSink {
    fn name(&self) -> &str {
        "jsonl"
    }

    /// Converts a slice of rows at a time: a window can hold millions of rows, and their
    /// JSON objects take many times the memory of the Arrow batch.
    fn write(&mut self, emissions: &[Emission]) -> Result<(), SinkError> {
        for e in emissions {
            self.append_emission(e)?;
        }
        self.out.sync()
    }

    /// Lines of a piece are appended at once and synced with the last piece.
    fn write_piece(&mut self, piece: &Emission, last: bool) -> Result<(), SinkError> {
        self.append_emission(piece)?;
        if last {
            self.out.sync()?;
        }
        Ok(())
    }
}

impl JsonlSink {
    fn append_emission(&mut self, e: &Emission) -> Result<(), SinkError> {
        for slice in e.slices(SLICE_ROWS) {
            self.append_rows(&emission_rows(&slice)?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, StringArray, UInt64Array};
    use arrow::record_batch::RecordBatch;
    use serde_json::{json, Value};

    use super::*;

    #[test]
    fn rows_have_sorted_members_null_keys_and_no_null_metrics() {
        let batch = RecordBatch::try_from_iter(vec![
            (
                "src_addr",
                Arc::new(StringArray::from(vec![Some("10.0.0.1"), None])) as ArrayRef,
            ),
            (
                "bytes",
                Arc::new(UInt64Array::from(vec![Some(7), None])) as ArrayRef,
            ),
            (
                "action",
                Arc::new(StringArray::from(vec!["ACCEPT", "REJECT \"x\""])) as ArrayRef,
            ),
        ])
        .unwrap();
        let e = Emission {
            summary: "traffic".into(),
            window_start_ms: 1_714_521_600_000,
            window_end_ms: 1_714_525_200_000,
            revision: 2,
            provisional: false,
            batches: vec![batch],
            keys: vec!["src_addr".into(), "action".into()],
        };
        let rows = emission_rows(&e).unwrap();
        assert_eq!(rows.len(), 2);
        let parsed: Vec<Value> = rows
            .iter()
            .map(|r| serde_json::from_str(&r.line).unwrap())
            .collect();
        assert_eq!(
            parsed[0],
            json!({"summary": "traffic", "window_start": "2024-05-01T00:00:00Z",
                   "window_end": "2024-05-01T01:00:00Z", "revision": 2, "provisional": false,
                   "keys": {"action": "ACCEPT", "src_addr": "10.0.0.1"},
                   "metrics": {"bytes": 7}})
        );
        assert_eq!(
            parsed[1]["keys"],
            json!({"action": "REJECT \"x\"", "src_addr": null})
        );
        assert_eq!(parsed[1]["metrics"], json!({}));
        // Members in name order: the same bytes a sorted `serde_json` map would give.
        assert_eq!(rows[0].line, parsed[0].to_string());
        assert_eq!(rows[1].keys(), parsed[1]["keys"].to_string());
        assert_eq!(
            crate::kafka::key_prefix(&e) + rows[0].keys(),
            r#"traffic|2024-05-01T00:00:00Z|{"action":"ACCEPT","src_addr":"10.0.0.1"}"#
        );
    }
}
