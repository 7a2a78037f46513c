//! Client construction (producer, consumers, admin) from `[kafka]`, and a producer that
//! reports delivery, so callers commit input only after their output is acknowledged.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{BaseRecord, Producer as _};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::util::Timeout;
use tokio::sync::oneshot;

use super::config::KafkaConfig;
use super::error::{kafka, KafkaBusError};
use super::polled::{Producer, Report, ReportContext};

/// Largest record flowlogd produces (a raw chunk of `max_chunk_bytes` plus headers, or a
/// whole small Parquet object).
pub const MAX_MESSAGE_BYTES: usize = 16 << 20;

fn base(cfg: &KafkaConfig) -> Result<ClientConfig, KafkaBusError> {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &cfg.brokers);
    c.set("client.id", "flowlogd");
    let props = cfg.client_properties().map_err(|i| KafkaBusError::Config {
        key: i.key,
        problem: i.problem,
        fix: i.fix,
    })?;
    for (k, v) in props {
        c.set(k, v);
    }
    Ok(c)
}

/// An idempotent producer with `acks=all`: a retried send never duplicates or reorders
/// records within a partition, and a delivery report means the record is replicated.
pub fn producer(cfg: &KafkaConfig) -> Result<Producer, KafkaBusError> {
    Producer::new(&producer_config(cfg)?, ReportContext, "producer")
}

/// Settings of every producer: see [`producer`].
pub(crate) fn producer_config(cfg: &KafkaConfig) -> Result<ClientConfig, KafkaBusError> {
    let mut c = ClientConfig::new();
    c.set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "10")
        .set("message.max.bytes", MAX_MESSAGE_BYTES.to_string())
        // Bounded queue: a slow broker blocks producers instead of growing memory.
        .set("queue.buffering.max.kbytes", "65536")
        .set("queue.buffering.max.messages", "20000")
        // Retry for a long time: a broker restart must not lose records.
        .set("delivery.timeout.ms", "600000");
    let mut b = base(cfg)?;
    for (k, v) in c.config_map().iter() {
        if b.get(k).is_none() {
            b.set(k.to_string(), v.to_string());
        }
    }
    Ok(b)
}

/// Consumer settings shared by the roles: offsets are stored explicitly by the role once
/// its outputs are acknowledged, never automatically on receipt.
pub fn consumer_config(cfg: &KafkaConfig, group: &str) -> Result<ClientConfig, KafkaBusError> {
    let mut c = ClientConfig::new();
    c.set("group.id", group)
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "1000")
        .set("fetch.message.max.bytes", MAX_MESSAGE_BYTES.to_string())
        .set("queued.max.messages.kbytes", "65536")
        // Incremental rebalancing: a joining or leaving process moves only the partitions
        // that change hands (tansu 0.6.0 also left partitions of a killed member unassigned
        // under the eager protocol).
        .set("partition.assignment.strategy", "cooperative-sticky");
    let mut b = base(cfg)?;
    for (k, v) in c.config_map().iter() {
        if b.get(k).is_none() {
            b.set(k.to_string(), v.to_string());
        }
    }
    Ok(b)
}

/// A record to produce.
pub struct Record<'a> {
    pub topic: &'a str,
    pub key: &'a [u8],
    pub value: &'a [u8],
    pub headers: Option<OwnedHeaders>,
}

/// Enqueues a record, waiting while the producer queue is full (that wait is the
/// backpressure), and returns the future of its delivery report.
// rdkafka's send returns the record back in its (large) error, so it can be retried.
#[allow(clippy::result_large_err)]
pub async fn enqueue(producer: &Producer, rec: Record<'_>) -> Result<Delivery, KafkaBusError> {
    let (tx, rx) = oneshot::channel();
    let mut record = BaseRecord::with_opaque_to(rec.topic, Box::new(tx))
        .key(rec.key)
        .payload(rec.value);
    if let Some(h) = rec.headers {
        record = record.headers(h);
    }
    send_when_queued(record, rec.topic, |r| producer.send(r)).await?;
    Ok(Delivery(rx))
}

/// The pending delivery report of one record.
pub struct Delivery(oneshot::Receiver<Report>);

/// Calls `send` until the producer queue takes the record, sleeping while it is full (that
/// wait is the backpressure).
pub(crate) async fn send_when_queued<R, T>(
    mut record: R,
    topic: &str,
    mut send: impl FnMut(R) -> Result<T, (KafkaError, R)>,
) -> Result<T, KafkaBusError> {
    loop {
        match send(record) {
            Ok(t) => return Ok(t),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                record = r;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err((e, _)) => {
                return Err(KafkaBusError::Produce {
                    topic: topic.to_owned(),
                    reason: e.to_string(),
                })
            }
        }
    }
}

/// Waits for a delivery report.
pub async fn delivered(topic: &str, f: Delivery) -> Result<(), KafkaBusError> {
    match f.0.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(reason)) => Err(KafkaBusError::Produce {
            topic: topic.to_owned(),
            reason,
        }),
        Err(_) => Err(KafkaBusError::Produce {
            topic: topic.to_owned(),
            reason: "producer dropped before the delivery report".into(),
        }),
    }
}

/// Creates missing topics with the configured partitions and replication, and checks that
/// every topic exists. Retries with backoff while the cluster is unreachable, so a
/// process started before its broker waits instead of crash-looping.
pub async fn ensure_topics(cfg: &KafkaConfig) -> Result<(), KafkaBusError> {
    let admin: AdminClient<DefaultClientContext> = base(cfg)?
        .create()
        .map_err(kafka("creating the admin client"))?;
    let mut names = vec![
        cfg.topics.raw.clone(),
        cfg.topics.partials.clone(),
        cfg.topics.summaries.clone(),
        cfg.topics.deadletter.clone(),
    ];
    for o in cfg.outputs() {
        if !names.contains(&o.topic) {
            names.push(o.topic);
        }
    }
    let mut backoff = Duration::from_millis(500);
    loop {
        match try_ensure(&admin, cfg, &names).await {
            Ok(()) => return Ok(()),
            Err(e @ KafkaBusError::Topic { .. }) => return Err(e),
            Err(e) => {
                tracing::error!(brokers = %cfg.brokers, error = %e, retry_in = ?backoff, "Kafka is not reachable; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}

async fn try_ensure(
    admin: &AdminClient<DefaultClientContext>,
    cfg: &KafkaConfig,
    names: &[String],
) -> Result<(), KafkaBusError> {
    let existing = partitions_of(admin)?;
    let missing: Vec<&String> = names
        .iter()
        .filter(|n| !existing.iter().any(|(e, _)| e == *n))
        .collect();
    if !missing.is_empty() {
        if !cfg.topics.create {
            return Err(KafkaBusError::Topic {
                topic: missing[0].clone(),
                problem: "does not exist (kafka.topics.create = false)".into(),
            });
        }
        let max = MAX_MESSAGE_BYTES.to_string();
        let new: Vec<NewTopic> = missing
            .iter()
            .map(|n| {
                NewTopic::new(
                    n,
                    cfg.topics.partitions,
                    TopicReplication::Fixed(cfg.topics.replication),
                )
                .set("max.message.bytes", &max)
            })
            .collect();
        let results = admin
            .create_topics(
                new.iter(),
                &AdminOptions::new()
                    .operation_timeout(Some(Timeout::After(Duration::from_secs(10)))),
            )
            .await
            .map_err(kafka("creating topics"))?;
        for r in results {
            match r {
                Ok(t) => {
                    tracing::info!(topic = %t, partitions = cfg.topics.partitions, "created topic")
                }
                Err((t, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists)) => {
                    tracing::debug!(topic = %t, "topic created concurrently")
                }
                Err((t, code)) => {
                    return Err(KafkaBusError::Kafka {
                        context: format!("creating topic {t}"),
                        source: rdkafka::error::KafkaError::AdminOp(code),
                    })
                }
            }
        }
    }
    // Topic creation is asynchronous on some brokers: wait until metadata shows them all.
    for _ in 0..50 {
        let now = partitions_of(admin)?;
        if names
            .iter()
            .all(|n| now.iter().any(|(e, p)| e == n && *p > 0))
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(KafkaBusError::Topic {
        topic: names.join(","),
        problem: "not visible in the cluster metadata 10 s after creation".into(),
    })
}

fn partitions_of(
    admin: &AdminClient<DefaultClientContext>,
) -> Result<Vec<(String, usize)>, KafkaBusError> {
    let md = admin
        .inner()
        .fetch_metadata(None, Duration::from_secs(5))
        .map_err(kafka("reading cluster metadata"))?;
    Ok(md
        .topics()
        .iter()
        .filter(|t| t.error().is_none())
        .map(|t| (t.name().to_owned(), t.partitions().len()))
        .collect())
}

/// Waits until all records handed to the producer are delivered (bounded by `timeout`).
pub fn flush(producer: &Producer, timeout: Duration) -> Result<(), KafkaBusError> {
    producer
        .flush(timeout)
        .map_err(kafka("flushing the producer"))
}
