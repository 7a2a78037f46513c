//! The producer of summary rows: many small records whose caller only needs to know that
//! all of them are acknowledged. Delivery reports are requested for failures only
//! (`delivery.report.only.error`) and the caller waits until the producer has nothing
//! outstanding; `FutureProducer`'s channel, wake-up and report per record were a large part
//! of Kafka mode's CPU time at hundreds of thousands of rows per emission. The producer
//! must have one user at a time (the aggregate role's emission), since waiting covers
//! every record it holds.

use std::sync::Mutex;
use std::time::Duration;

use rdkafka::client::ClientContext;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext};

use super::client::{producer_config, send_when_queued, Record};
use super::config::KafkaConfig;
use super::error::KafkaBusError;
use super::polled::Polled;

/// Keeps the first failed delivery until the waiter takes it.
#[derive(Default)]
pub struct AckContext {
    failed: Mutex<Option<String>>,
}

impl ClientContext for AckContext {}

impl ProducerContext for AckContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            if let Ok(mut f) = self.failed.lock() {
                f.get_or_insert_with(|| e.to_string());
            }
        }
    }
}

/// Same settings as [`super::producer`] (idempotent, `acks=all`, bounded queue).
pub struct BatchProducer {
    inner: Polled<AckContext>,
}

/// How often [`BatchProducer::wait`] looks at the outstanding count.
const WAIT_STEP: Duration = Duration::from_millis(2);

impl BatchProducer {
    pub fn new(cfg: &KafkaConfig) -> Result<Self, KafkaBusError> {
        let mut c = producer_config(cfg)?;
        c.set("delivery.report.only.error", "true");
        let inner = Polled::new(&c, AckContext::default(), "summaries producer")?;
        Ok(Self { inner })
    }

    /// Enqueues a record, waiting while the producer queue is full (that wait is the
    /// backpressure).
    // rdkafka's send returns the record back in its (large) error, so it can be retried.
    #[allow(clippy::result_large_err)]
    pub async fn send(&self, rec: Record<'_>) -> Result<(), KafkaBusError> {
        let mut record = BaseRecord::to(rec.topic).key(rec.key).payload(rec.value);
        if let Some(h) = rec.headers {
            record = record.headers(h);
        }
        send_when_queued(record, rec.topic, |r| self.inner.send(r)).await
    }

    /// Waits until every record sent is acknowledged or failed (failure reports are
    /// counted until served); the first failure is the error, reported for `topics`.
    pub async fn wait(&self, topics: &str) -> Result<(), KafkaBusError> {
        while self.inner.in_flight_count() > 0 {
            tokio::time::sleep(WAIT_STEP).await;
        }
        let failed = self
            .inner
            .context()
            .failed
            .lock()
            .ok()
            .and_then(|mut f| f.take());
        match failed {
            None => Ok(()),
            Some(reason) => Err(KafkaBusError::Produce {
                topic: topics.to_owned(),
                reason,
            }),
        }
    }
}
