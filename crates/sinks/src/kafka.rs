//! Kafka summary outputs: one record per summary row, key `summary|window_start|group key`
//! (so every revision of a row lands in the same partition, in order, and a compacted
//! topic keeps the latest), value the JSON row of the `jsonl` sink or an OCSF event.
//! `write` returns once every record is acknowledged (`acks=all`), so the caller may then
//! checkpoint and commit its input.

use flowlogd_bus::kafka::{BatchProducer, KafkaBusError, OutputConfig, OutputFormat, Record};
use flowlogd_bus::Emission;
use rdkafka::message::{Header, OwnedHeaders};
use serde_json::Value;
use thiserror::Error;

use crate::jsonl::{emission_rows, fmt_ts, JsonlSink, SLICE_ROWS};
use crate::SinkError;

#[derive(Debug, Error)]
pub enum KafkaSinkError {
    #[error(transparent)]
    Row(#[from] SinkError),
    #[error(transparent)]
    Kafka(#[from] KafkaBusError),
}

pub struct KafkaSummarySink {
    producer: BatchProducer,
    outputs: Vec<OutputConfig>,
    /// The output topics, for errors.
    topics: String,
    /// A JSON-lines sink fed from the same converted rows (each row is encoded once).
    jsonl: Option<JsonlSink>,
}

/// The record key of a summary row is `summary|window_start|{group keys as JSON}`: this
/// prefix, the same for every row of an emission, then [`crate::jsonl::JsonRow::keys`].
pub(crate) fn key_prefix(e: &Emission) -> String {
    format!("{}|{}|", e.summary, fmt_ts(e.window_start_ms))
}

impl KafkaSummarySink {
    pub fn new(producer: BatchProducer, outputs: Vec<OutputConfig>) -> Self {
        Self {
            topics: outputs
                .iter()
                .map(|o| o.topic.as_str())
                .collect::<Vec<_>>()
                .join(","),
            producer,
            outputs,
            jsonl: None,
        }
    }

    /// Also writes every row to `jsonl`, converting it to JSON once for both.
    pub fn with_jsonl(mut self, jsonl: JsonlSink) -> Self {
        self.jsonl = Some(jsonl);
        self
    }

    /// Produces every row of `emissions` to every output that takes its summary (and to the
    /// JSON-lines file, if any) and waits for all acknowledgements.
    pub async fn write(&mut self, emissions: &[Emission]) -> Result<u64, KafkaSinkError> {
        let mut n = 0;
        let mut key = String::new();
        for e in emissions {
            let prefix = key_prefix(e);
            let revision = e.revision.to_string();
            // Copied per record: cheaper than building (and C-string converting) each one.
            let headers = OwnedHeaders::new().insert(Header {
                key: "revision",
                value: Some(revision.as_bytes()),
            });
            let outputs: Vec<&OutputConfig> = self
                .outputs
                .iter()
                .filter(|o| o.summaries.is_empty() || o.summaries.contains(&e.summary))
                .collect();
            if outputs.is_empty() && self.jsonl.is_none() {
                continue;
            }
            for slice in e.slices(SLICE_ROWS) {
                let rows = emission_rows(&slice)?;
                if let Some(j) = self.jsonl.as_mut() {
                    j.append_rows(&rows)?;
                }
                for o in &outputs {
                    for row in &rows {
                        key.clear();
                        key.push_str(&prefix);
                        key.push_str(row.keys());
                        let ocsf;
                        let value = match o.format {
                            OutputFormat::Json => row.line.as_str(),
                            OutputFormat::Ocsf => {
                                let v: Value =
                                    serde_json::from_str(&row.line).map_err(SinkError::from)?;
                                ocsf = crate::ocsf::network_activity(&v, &key).to_string();
                                ocsf.as_str()
                            }
                        };
                        let rec = Record {
                            topic: &o.topic,
                            key: key.as_bytes(),
                            value: value.as_bytes(),
                            headers: Some(headers.clone()),
                        };
                        self.producer.send(rec).await?;
                        n += 1;
                    }
                }
            }
        }
        if let Some(j) = self.jsonl.as_mut() {
            j.sync()?;
        }
        self.producer.wait(&self.topics).await?;
        Ok(n)
    }
}
