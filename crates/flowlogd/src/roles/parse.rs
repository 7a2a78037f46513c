//! The parse role: consumes `flowlogd.raw` in the `<group>.parse` consumer group, parses
//! and pre-aggregates each chunk (the embedded pipeline's parse stage), and produces one
//! record per (chunk, summary, window) to `flowlogd.partials`. Records that do not decode
//! and parser rejects go to `flowlogd.deadletter`. A raw record's offset is stored for
//! commit only after everything it produced is acknowledged, in order.

use std::sync::{Arc, Mutex};

use anyhow::Context;
use flowlogd_bus::kafka::{
    self, decode_raw, encode_partials, object_hint, KafkaConfig, Producer, Record,
};
use flowlogd_bus::{PartialMessage, RawMessage};
use flowlogd_engine::{prepare_all, Enricher, Partializer};
use flowlogd_formats::{DeadLetter, ParseOptions};
use futures::stream::FuturesOrdered;
use futures::StreamExt;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::OwnedMessage;
use rdkafka::Message;
use tokio::sync::watch;

use crate::config::Config;
use crate::pipeline::process;
use crate::roles::gaps::{self, Gaps, Verdict};
use crate::roles::send_dead_letters;

/// Logs the partitions the group gives and takes (the parse role keeps no state of them).
/// Logs rebalances and forgets the positions of partitions that change hands (a partition
/// assigned again starts at its committed offset).
struct LogRebalance {
    gaps: Arc<Mutex<Gaps>>,
}

impl rdkafka::ClientContext for LogRebalance {}

impl rdkafka::consumer::ConsumerContext for LogRebalance {
    fn post_rebalance(
        &self,
        _: &rdkafka::consumer::BaseConsumer<Self>,
        rebalance: &rdkafka::consumer::Rebalance<'_>,
    ) {
        let parts = |t: &rdkafka::TopicPartitionList| {
            t.elements()
                .iter()
                .map(|e| e.partition())
                .collect::<Vec<_>>()
        };
        if let rdkafka::consumer::Rebalance::Assign(t) | rdkafka::consumer::Rebalance::Revoke(t) =
            rebalance
        {
            let mut gaps = self.gaps.lock().unwrap_or_else(|p| p.into_inner());
            for e in t.elements() {
                gaps.forget(e.partition());
            }
        }
        match rebalance {
            rdkafka::consumer::Rebalance::Assign(t) => {
                tracing::info!(partitions = ?parts(t), "parse: partitions assigned")
            }
            rdkafka::consumer::Rebalance::Revoke(t) => {
                tracing::info!(partitions = ?parts(t), "parse: partitions revoked")
            }
            rdkafka::consumer::Rebalance::Error(e) => {
                tracing::warn!(error = %e, "parse: rebalance error")
            }
        }
    }
}

struct Ctx {
    kcfg: KafkaConfig,
    producer: Producer,
    partializer: Partializer,
    opts: ParseOptions,
    summaries: Vec<String>,
}

pub async fn run(
    cfg: Config,
    kcfg: KafkaConfig,
    producer: Producer,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let all = cfg.all_summaries();
    let summaries = prepare_all(&all).await?;
    let enricher =
        Arc::new(Enricher::load(&cfg.engine.enrichment).context("loading the enrichment tables")?);
    let partializer = Partializer::new(summaries, &cfg.engine)
        .with_enricher(enricher)
        .without_part_split();
    let mut opts = cfg.parse.options();
    opts.skip_columns = partializer.unread_columns();
    let ctx = Arc::new(Ctx {
        summaries: all.iter().map(|s| s.name.clone()).collect(),
        partializer,
        opts,
        kcfg: kcfg.clone(),
        producer,
    });
    let group = format!("{}.parse", kcfg.group);
    let gaps = Arc::new(Mutex::new(Gaps::default()));
    let consumer: StreamConsumer<LogRebalance> = kafka::consumer_config(&kcfg, &group)?
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "1000")
        .create_with_context(LogRebalance { gaps: gaps.clone() })
        .context("creating the parse consumer")?;
    consumer
        .subscribe(&[&kcfg.topics.raw])
        .context("subscribing to the raw topic")?;
    tracing::info!(topic = %kcfg.topics.raw, group = %group, "parse role consuming");
    let max = cfg.engine.parallelism.max(1) * 4;
    let mut pending = FuturesOrdered::new();
    let mut stopping = false;
    loop {
        tokio::select! {
            m = consumer.recv(), if !stopping && pending.len() < max => {
                let m = match m {
                    Ok(m) => m.detach(),
                    Err(e) => {
                        tracing::warn!(error = %e, "consuming the raw topic; retrying");
                        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                        continue;
                    }
                };
                let (topic, partition, offset) = (m.topic().to_owned(), m.partition(), m.offset());
                let verdict = {
                    let mut g = gaps.lock().unwrap_or_else(|p| p.into_inner());
                    // The first record of an assignment must be the committed one.
                    if !g.knows(partition) {
                        if let Some(start) = start_offset(&consumer, &topic, partition) {
                            g.expect(partition, start);
                        }
                    }
                    g.check(&topic, partition, offset)
                };
                match verdict {
                    Verdict::Take => {}
                    Verdict::Skip => continue,
                    Verdict::SeekTo(o) => {
                        gaps::seek_back(&consumer, &topic, partition, o).await?;
                        continue;
                    }
                }
                let ctx = ctx.clone();
                let task = tokio::spawn(async move { handle(&ctx, m).await });
                pending.push_back(async move { (topic, partition, offset, task.await) });
            }
            Some((topic, partition, offset, r)) = pending.next(), if !pending.is_empty() => {
                r.context("parse task panicked")??;
                // Fails harmlessly for a partition handed to another process meanwhile:
                // it will re-read the record, and its chunk id makes that a no-op.
                if let Err(e) = consumer.store_offset(&topic, partition, offset) {
                    tracing::debug!(error = %e, partition, offset, "offset not stored");
                }
            }
            changed = shutdown.changed(), if !stopping => {
                if changed.is_err() || *shutdown.borrow() {
                    stopping = true;
                }
            }
        }
        if stopping && pending.is_empty() {
            break;
        }
    }
    if let Err(e) = consumer.commit_consumer_state(CommitMode::Sync) {
        tracing::debug!(error = %e, "final commit of the parse role");
    }
    Ok(())
}

/// One raw record → partials and dead letters, produced and acknowledged.
/// Where the group resumes `partition`: its committed offset, or the first one it has.
fn start_offset<C: Consumer<X>, X: rdkafka::consumer::ConsumerContext>(
    consumer: &C,
    topic: &str,
    partition: i32,
) -> Option<i64> {
    let timeout = std::time::Duration::from_secs(5);
    let mut tpl = rdkafka::TopicPartitionList::new();
    tpl.add_partition(topic, partition);
    let committed = consumer.committed_offsets(tpl, timeout).ok()?;
    match committed.find_partition(topic, partition)?.offset() {
        rdkafka::Offset::Offset(o) => Some(o),
        _ => consumer
            .fetch_watermarks(topic, partition, timeout)
            .ok()
            .map(|(low, _)| low),
    }
}

async fn handle(ctx: &Ctx, m: OwnedMessage) -> anyhow::Result<()> {
    let msg = match decode_raw(&m) {
        Ok(msg) => msg,
        Err(e) => {
            let object = object_hint(&m).unwrap_or_else(|| {
                format!("kafka://{}/{}/{}", m.topic(), m.partition(), m.offset())
            });
            let mut dl = DeadLetter::new(
                &object,
                "malformed_message",
                format!(
                    "record at {}/{}@{} does not decode: {e}",
                    m.topic(),
                    m.partition(),
                    m.offset()
                ),
            )
            .at_offset(m.offset().max(0) as u64);
            if let Some(p) = m.payload() {
                dl = dl.with_raw(p, 256);
            }
            tracing::warn!(object = %dl.object, reason = %dl.reason, "malformed raw record");
            return send_dead_letters(&ctx.producer, &ctx.kcfg, &[dl]).await;
        }
    };
    if matches!(msg, RawMessage::Ledger(_)) {
        return Ok(());
    }
    match process(msg, &ctx.partializer, ctx.opts.clone()).await {
        PartialMessage::Chunk(cp) => {
            send_dead_letters(&ctx.producer, &ctx.kcfg, &cp.dead_letters).await?;
            let records = encode_partials(&cp, &ctx.summaries)
                .map_err(|e| anyhow::anyhow!("encoding partials of {}: {e}", cp.object))?;
            let topic = &ctx.kcfg.topics.partials;
            let mut pending = Vec::with_capacity(records.len());
            for r in &records {
                pending.push(
                    kafka::enqueue(
                        &ctx.producer,
                        Record {
                            topic,
                            key: &r.key,
                            value: &r.value,
                            headers: Some(r.headers.clone()),
                        },
                    )
                    .await?,
                );
            }
            for f in pending {
                kafka::delivered(topic, f).await?;
            }
            Ok(())
        }
        PartialMessage::ObjectFailed(dl) => {
            send_dead_letters(&ctx.producer, &ctx.kcfg, &[dl]).await
        }
        PartialMessage::Ledger(_) => Ok(()),
    }
}
