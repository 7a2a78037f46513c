//! Kafka summary outputs: one record per summary row, key `summary|window_start|group key`
//! (so every revision of a row lands in the same partition, in order, and a compacted
//! topic keeps the latest), value the JSON row of the `jsonl` sink or an OCSF event.
//! `write` returns once every record is acknowledged (`acks=all`), so the caller may then
//! checkpoint and commit its input.

use flowlogd_bus::kafka::{delivered, enqueue, KafkaBusError, OutputConfig, OutputFormat, Record};
use flowlogd_bus::Emission;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::FutureProducer;
use serde_json::Value;
use thiserror::Error;

use crate::jsonl::emission_rows;
use crate::SinkError;

#[derive(Debug, Error)]
pub enum KafkaSinkError {
    #[error(transparent)]
    Row(#[from] SinkError),
    #[error(transparent)]
    Kafka(#[from] KafkaBusError),
}

pub struct KafkaSummarySink {
    producer: FutureProducer,
    outputs: Vec<OutputConfig>,
}

/// The record key of a summary row: `summary|window_start|{group keys as JSON}`.
pub fn row_key(row: &Value) -> String {
    let s = |k: &str| row.get(k).and_then(Value::as_str).unwrap_or_default();
    let keys = row.get("keys").map(Value::to_string).unwrap_or_default();
    format!("{}|{}|{}", s("summary"), s("window_start"), keys)
}

impl KafkaSummarySink {
    pub fn new(producer: FutureProducer, outputs: Vec<OutputConfig>) -> Self {
        Self { producer, outputs }
    }

    /// Produces every row of `emissions` to every output that takes its summary and waits
    /// for all acknowledgements.
    pub async fn write(&self, emissions: &[Emission]) -> Result<u64, KafkaSinkError> {
        let mut pending = Vec::new();
        let mut n = 0;
        for e in emissions {
            let rows = emission_rows(e)?;
            for o in &self.outputs {
                if !o.summaries.is_empty() && !o.summaries.contains(&e.summary) {
                    continue;
                }
                for row in &rows {
                    let key = row_key(row);
                    let value = match o.format {
                        OutputFormat::Json => row.to_string(),
                        OutputFormat::Ocsf => crate::ocsf::network_activity(row, &key).to_string(),
                    };
                    let revision = e.revision.to_string();
                    let headers = OwnedHeaders::new().insert(Header {
                        key: "revision",
                        value: Some(revision.as_bytes()),
                    });
                    let f = enqueue(
                        &self.producer,
                        Record {
                            topic: &o.topic,
                            key: key.as_bytes(),
                            value: value.as_bytes(),
                            headers: Some(headers),
                        },
                    )
                    .await?;
                    pending.push((o.topic.clone(), f));
                    n += 1;
                }
            }
        }
        for (topic, f) in pending {
            delivered(&topic, f).await?;
        }
        Ok(n)
    }
}
