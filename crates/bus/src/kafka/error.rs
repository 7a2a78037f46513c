//! Kafka errors of the bus.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum KafkaBusError {
    #[error("kafka: {context}: {source}")]
    Kafka {
        context: String,
        #[source]
        source: rdkafka::error::KafkaError,
    },
    #[error("kafka config: {key}: {problem} (fix: {fix})")]
    Config {
        key: String,
        problem: String,
        fix: String,
    },
    #[error("topic {topic}: {problem}")]
    Topic { topic: String, problem: String },
    #[error("producing to {topic}: {reason}")]
    Produce { topic: String, reason: String },
    #[error("starting the delivery-report thread of the {what}: {source}")]
    Thread {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

pub(crate) fn kafka(
    context: impl Into<String>,
) -> impl FnOnce(rdkafka::error::KafkaError) -> KafkaBusError {
    let context = context.into();
    move |source| KafkaBusError::Kafka { context, source }
}

/// Why a Kafka record could not be decoded into a message.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("{0}")]
pub struct CodecError(pub String);
