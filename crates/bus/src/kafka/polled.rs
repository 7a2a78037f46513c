//! Producers whose delivery reports are served by a thread of their own that blocks up to a
//! second per poll.
//!
//! rdkafka's `ThreadedProducer` (and the `FutureProducer` built on it) polls with a 100 ms
//! deadline whose remainder it rounds down to whole milliseconds, so every round ends in a
//! busy loop of up to a millisecond: about 1 % of a core per producer, idle or not. A
//! Kafka-mode process holds four producers; over a one-million-record run that was a tenth
//! of its CPU time. Blocking a second per poll leaves a tenth of that.

use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, FromClientConfigAndContext};
use rdkafka::producer::{BaseProducer, DeliveryResult, ProducerContext};
use tokio::sync::oneshot;

use super::error::{kafka, KafkaBusError};

/// How long one poll of the delivery-report queue blocks.
const POLL_WAIT: Duration = Duration::from_secs(1);

/// A [`BaseProducer`] with a polling thread; clones share the producer and the thread,
/// which stops within [`POLL_WAIT`] after the last clone is dropped.
pub struct Polled<C: ProducerContext + 'static> {
    inner: Arc<BaseProducer<C>>,
    _stop: Arc<StopOnDrop>,
}

struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

impl<C: ProducerContext + 'static> Clone for Polled<C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            _stop: self._stop.clone(),
        }
    }
}

impl<C: ProducerContext + 'static> Deref for Polled<C> {
    type Target = BaseProducer<C>;
    fn deref(&self) -> &BaseProducer<C> {
        &self.inner
    }
}

impl<C: ProducerContext + 'static> Polled<C> {
    pub fn new(config: &ClientConfig, context: C, what: &str) -> Result<Self, KafkaBusError> {
        let inner = Arc::new(
            BaseProducer::from_config_and_context(config, context)
                .map_err(kafka(&format!("creating the {what}")))?,
        );
        let stop = Arc::new(AtomicBool::new(false));
        let (producer, stopped) = (inner.clone(), stop.clone());
        std::thread::Builder::new()
            .name("kafka-reports".into())
            .spawn(move || {
                while !stopped.load(Ordering::Relaxed) {
                    producer.poll(POLL_WAIT);
                }
            })
            .map_err(|source| KafkaBusError::Thread {
                what: what.to_owned(),
                source,
            })?;
        Ok(Self {
            inner,
            _stop: Arc::new(StopOnDrop(stop)),
        })
    }
}

/// What a delivery report tells its waiter: acknowledged, or why not.
pub type Report = Result<(), String>;

/// Hands each record's delivery report to the [`oneshot`] it was sent with.
#[derive(Default)]
pub struct ReportContext;

impl ClientContext for ReportContext {}

impl ProducerContext for ReportContext {
    type DeliveryOpaque = Box<oneshot::Sender<Report>>;

    fn delivery(&self, result: &DeliveryResult<'_>, tx: Self::DeliveryOpaque) {
        // The waiter may be gone (its role stopped); the report then has no reader.
        let _ = tx.send(result.as_ref().map(|_| ()).map_err(|(e, _)| e.to_string()));
    }
}

/// The producer of raw chunks, partials and dead letters: every record has a report.
pub type Producer = Polled<ReportContext>;
