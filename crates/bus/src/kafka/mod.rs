//! The Kafka transport of the three streams: topic administration, the record codecs of
//! `flowlogd.raw`, `flowlogd.partials` and `flowlogd.deadletter`, and producer/consumer
//! construction. Delivery is at-least-once by design (idempotent producer, `acks=all`,
//! offsets stored only after outputs are acknowledged); the aggregator's chunk-id
//! deduplication makes the result exactly-once without Kafka transactions.

pub mod acks;
pub mod client;
pub mod codec;
pub mod config;
pub mod error;
pub mod polled;

pub use acks::BatchProducer;
pub use client::{
    consumer_config, delivered, enqueue, ensure_topics, flush, producer, Delivery, Record,
};
pub use codec::{
    decode_partial, decode_raw, encode_dead_letter, encode_partials, encode_raw, object_hint,
    Encoded,
};
pub use config::{KafkaConfig, KafkaConfigIssue, OutputConfig, OutputFormat, TopicsConfig};
pub use error::{CodecError, KafkaBusError};
pub use polled::Producer;
