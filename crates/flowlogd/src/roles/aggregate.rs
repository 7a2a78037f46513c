//! The aggregate role: consumes `flowlogd.partials` in the `<group>.aggregate` consumer
//! group. Each assigned partition has its own window state (an [`Aggregator`]) checkpointed
//! to `<state_dir>/aggregate/<topic>/p<N>`. Every engine tick it emits due windows and waits
//! until every output is acknowledged; then, and every `checkpoint_interval`, it checkpoints
//! the partition and only then commits its offset.
//!
//! Handover: a process that is given a partition restores that partition's last checkpoint,
//! which records the input offset its state ends at, and consumes from there (the group's
//! committed offset is never ahead of it, as commit follows save; records in between are
//! replayed and dropped by chunk id).
//! A process stops saving a partition the moment it is revoked (the rebalance callback and
//! the save share a lock), and an owner token in the state directory ([`Fence`]) fences
//! off a process that still acts as owner after another took the partition (a zombie, or a
//! broker that assigned it twice). The state directory must therefore be shared by the
//! processes that run this role (one host, or a shared filesystem). Records are applied in
//! offset order without gaps ([`Gaps`]): a record the broker skipped is read again.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use flowlogd_bus::kafka::{
    self, decode_partial, object_hint, BatchProducer, KafkaConfig, Producer,
};
use flowlogd_bus::{Emission, LedgerEntry, PartialMessage};
use flowlogd_engine::{prepare_all, Aggregator, Checkpointer, Clock, Mode, Summaries};
use flowlogd_formats::DeadLetter;
use flowlogd_sinks::kafka::KafkaSummarySink;
use flowlogd_sinks::{JsonlSink, ParquetSink, SummarySink};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::{ClientContext, Message, Offset, TopicPartitionList};
use tokio::sync::watch;

use crate::config::Config;
use crate::roles::fence::Fence;
use crate::roles::gaps::{self, Gaps, Verdict};
use crate::roles::send_dead_letters;

/// Partitions this process owns, as the group protocol says, each with the assignment
/// generation that gave it: state from an earlier assignment of the same partition is
/// stale (another process may have advanced it meanwhile) and is restored afresh.
#[derive(Clone, Default)]
struct Owned(Arc<Mutex<Assignment>>);

#[derive(Default)]
struct Assignment {
    generation: u64,
    partitions: HashMap<i32, u64>,
}

impl Owned {
    fn lock(&self) -> std::sync::MutexGuard<'_, Assignment> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn generation_of(&self, p: i32) -> Option<u64> {
        self.lock().partitions.get(&p).copied()
    }
}

struct Ctx {
    owned: Owned,
}

impl ClientContext for Ctx {}

impl ConsumerContext for Ctx {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            // Waits for a save in progress; no save of these partitions after this.
            let mut owned = self.owned.lock();
            for e in tpl.elements() {
                owned.partitions.remove(&e.partition());
            }
            tracing::info!(partitions = ?tpl.elements().iter().map(|e| e.partition()).collect::<Vec<_>>(), "partitions revoked");
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            let mut owned = self.owned.lock();
            owned.generation += 1;
            let g = owned.generation;
            for e in tpl.elements() {
                owned.partitions.insert(e.partition(), g);
            }
            tracing::info!(partitions = ?tpl.elements().iter().map(|e| e.partition()).collect::<Vec<_>>(), "partitions assigned");
        }
    }
}

/// How long a member may hold no partition before it rejoins the group (twice the
/// session timeout: a dead member is expired by then).
const REJOIN_AFTER: std::time::Duration = std::time::Duration::from_secs(15);

struct Partition {
    agg: Aggregator,
    ckpt: Checkpointer,
    fence: Fence,
    generation: u64,
    /// End of the partition when it was restored: nothing is emitted before the replay
    /// reaches it, so a new owner never publishes a revision built from part of the state.
    catch_up_to: Option<i64>,
    /// Offset after the last record applied (what to commit), if any since the restore.
    next_offset: Option<i64>,
}

pub async fn run(
    cfg: Config,
    kcfg: KafkaConfig,
    producer: Producer,
    clock: Clock,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let summaries = prepare_all(&cfg.all_summaries()).await?;
    let owned = Owned::default();
    let group = format!("{}.aggregate", kcfg.group);
    let consumer: StreamConsumer<Ctx> = kafka::consumer_config(&kcfg, &group)?
        .set("enable.auto.commit", "false")
        .create_with_context(Ctx {
            owned: owned.clone(),
        })
        .context("creating the aggregate consumer")?;
    let topic = kcfg.topics.partials.clone();
    consumer
        .subscribe(&[&topic])
        .context("subscribing to the partials topic")?;
    tracing::info!(topic = %topic, group = %group, "aggregate role consuming");
    let state_root = cfg.state_dir().join("aggregate").join(&topic);
    let mut sinks: Vec<Box<dyn SummarySink>> = Vec::new();
    if let Some(p) = &cfg.sinks.parquet {
        sinks.push(Box::new(ParquetSink::new(p)));
    }
    let summaries_producer =
        BatchProducer::new(&kcfg).context("creating the summaries producer")?;
    let mut kafka_sink = KafkaSummarySink::new(summaries_producer, kcfg.outputs());
    if let Some(j) = &cfg.sinks.jsonl {
        kafka_sink = kafka_sink.with_jsonl(JsonlSink::open(j)?);
    }
    let mut parts: BTreeMap<i32, Partition> = BTreeMap::new();
    // Windows are emitted on the engine's tick, like the embedded pipeline; state is saved
    // and offsets committed more often (checkpoint_interval) so a handover replays little.
    let mut emit_tick =
        tokio::time::interval(clock.real_duration(cfg.engine.tick.as_millis() as i64));
    let mut save_tick = tokio::time::interval(cfg.engine.checkpoint_interval);
    for t in [&mut emit_tick, &mut save_tick] {
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    }
    let mut out = Out {
        sinks: &mut sinks,
        kafka_sink: &mut kafka_sink,
        producer: &producer,
        kcfg: &kcfg,
        consumer: &consumer,
        topic: &topic,
        owned: &owned,
    };
    // Partitions this process was fenced off from, by the assignment generation it held
    // them in, and since when: their records are skipped until the group assigns anew.
    let mut fenced: HashMap<i32, (u64, std::time::Instant)> = HashMap::new();
    let taker = Taker {
        cfg: &cfg,
        summaries: &summaries,
        state_root: &state_root,
        topic: &topic,
        consumer: &consumer,
    };
    let mut gaps = Gaps::default();
    let mut idle_since = std::time::Instant::now();
    loop {
        tokio::select! {
            m = consumer.recv() => {
                let m = match m {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::warn!(error = %e, "consuming the partials topic; retrying");
                        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                        continue;
                    }
                };
                let p = m.partition();
                let Some(generation) = owned.generation_of(p) else { continue };
                if fenced.get(&p).is_some_and(|(g, _)| *g == generation) {
                    continue;
                }
                if parts.get(&p).is_none_or(|part| part.generation != generation) {
                    parts.insert(p, taker.take(p, generation, &mut gaps).await?);
                }
                let Some(part) = parts.get_mut(&p) else { continue };
                // The checkpoint's own offset, not the group's, says where its state ends;
                // after that, every offset in turn (see `gaps`).
                match gaps.check(&topic, p, m.offset()) {
                    Verdict::Take => {}
                    Verdict::Skip => continue,
                    Verdict::SeekTo(o) => {
                        gaps::seek_back(&consumer, &topic, p, o).await?;
                        continue;
                    }
                }
                match decode_partial(&m) {
                    Ok(cp) => {
                        tracing::debug!(partition = p, offset = m.offset(), chunk = %cp.chunk_id, "applying partials");
                        part.agg.apply(PartialMessage::Chunk(Box::new(cp)), clock.now_ms(), Mode::Continuous).await?
                    }
                    Err(e) => {
                        let object = object_hint(&m).unwrap_or_else(|| format!("kafka://{}/{}/{}", m.topic(), p, m.offset()));
                        let dl = DeadLetter::new(&object, "malformed_message", format!("partials record at {}/{}@{} does not decode: {e}", m.topic(), p, m.offset())).at_offset(m.offset().max(0) as u64);
                        send_dead_letters(&producer, &kcfg, &[dl]).await?;
                    }
                }
                part.next_offset = Some(m.offset() + 1);
            }
            emit = next_tick(&mut emit_tick, &mut save_tick) => {
                // Taken on assignment, not on the first record: a partition whose last owner
                // saved windows it had not yet emitted may receive no record again.
                let assigned = owned.lock().partitions.clone();
                for (p, generation) in assigned {
                    let current = parts.get(&p).is_some_and(|part| part.generation == generation);
                    if !current && fenced.get(&p).is_none_or(|(g, _)| *g != generation) {
                        parts.insert(p, taker.take(p, generation, &mut gaps).await?);
                    }
                }
                for p in out.tick_all(&mut parts, clock.now_ms(), emit).await? {
                    if let Some(part) = parts.remove(&p) {
                        fenced.insert(p, (part.generation, std::time::Instant::now()));
                    }
                }
                // A partition another process took while the group still gives it to us (a
                // coordinator that assigned it twice) would stay unprocessed if that process
                // died: join again so the group hands it out anew.
                fenced.retain(|p, (g, _)| owned.generation_of(*p) == Some(*g));
                if fenced.values().any(|(_, since)| since.elapsed() > REJOIN_AFTER) {
                    tracing::warn!(topic = %topic, partitions = ?fenced.keys().collect::<Vec<_>>(), "still assigned partitions another process owns; rejoining the group");
                    consumer.unsubscribe();
                    consumer.subscribe(&[&topic]).context("subscribing to the partials topic")?;
                    fenced.clear();
                }
                // A group coordinator that keeps a dead member's partitions (tansu 0.6.0
                // did after a kill -9) leaves a live member with nothing: join again.
                if owned.lock().partitions.is_empty() {
                    if idle_since.elapsed() > REJOIN_AFTER {
                        tracing::warn!(topic = %topic, "no partitions assigned for a while; rejoining the group");
                        consumer.unsubscribe();
                        consumer.subscribe(&[&topic]).context("subscribing to the partials topic")?;
                        idle_since = std::time::Instant::now();
                    }
                } else {
                    idle_since = std::time::Instant::now();
                }
            }
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    break;
                }
            }
        }
    }
    out.tick_all(&mut parts, clock.now_ms(), true).await?;
    Ok(())
}

/// Waits for the next emission or checkpoint tick; `true` for an emission.
async fn next_tick(emit: &mut tokio::time::Interval, save: &mut tokio::time::Interval) -> bool {
    tokio::select! {
        biased;
        _ = emit.tick() => true,
        _ = save.tick() => false,
    }
}

/// Takes partitions this process was assigned: fences off the previous owner and restores
/// its last checkpoint.
struct Taker<'a> {
    cfg: &'a Config,
    summaries: &'a Summaries,
    state_root: &'a std::path::Path,
    topic: &'a str,
    consumer: &'a StreamConsumer<Ctx>,
}

impl Taker<'_> {
    async fn take(&self, p: i32, generation: u64, gaps: &mut Gaps) -> anyhow::Result<Partition> {
        let root = self.state_root;
        let (fence, restored) = Fence::take(root.join(format!("p{p}.owner")), || {
            restore(
                self.cfg,
                self.summaries,
                root.join(format!("p{p}")),
                &offset_key(self.topic, p),
            )
        })
        .await
        .with_context(|| format!("taking ownership of partition {p} in {}", root.display()))?;
        let (agg, ckpt, restored_offset) = restored?;
        let watermarks = self
            .consumer
            .fetch_watermarks(self.topic, p, std::time::Duration::from_secs(5))
            .ok();
        let catch_up_to = watermarks.map(|(_, high)| high);
        tracing::info!(partition = p, checkpoint_offset = ?restored_offset, ?catch_up_to, "took partition");
        // Without a checkpoint the state starts at the partition's first record.
        match restored_offset.or(watermarks.map(|(low, _)| low)) {
            Some(o) => gaps.expect(p, o),
            None => gaps.forget(p),
        }
        Ok(Partition {
            agg,
            ckpt,
            fence,
            generation,
            catch_up_to,
            next_offset: restored_offset,
        })
    }
}

/// A partition's last checkpoint: window state, and the input offset that state ends at.
fn restore(
    cfg: &Config,
    summaries: &Summaries,
    dir: PathBuf,
    offset_key: &str,
) -> anyhow::Result<(Aggregator, Checkpointer, Option<i64>)> {
    let mut agg = Aggregator::new(cfg.engine.clone(), summaries.clone());
    let mut ckpt = Checkpointer::new(&dir);
    if ckpt
        .restore(&mut agg)
        .with_context(|| format!("restoring {}", dir.display()))?
    {
        tracing::info!(state = %dir.display(), windows = agg.open_windows(), "restored partition state");
    }
    let restored_offset = agg.ledger().get(offset_key).map(|e| e.consumed as i64);
    Ok((agg, ckpt, restored_offset))
}

/// Ledger key under which a partition's checkpoint records its input offset.
fn offset_key(topic: &str, partition: i32) -> String {
    format!("kafka-offset|{topic}/{partition}")
}

struct Out<'a> {
    sinks: &'a mut Vec<Box<dyn SummarySink>>,
    kafka_sink: &'a mut KafkaSummarySink,
    producer: &'a Producer,
    kcfg: &'a KafkaConfig,
    consumer: &'a StreamConsumer<Ctx>,
    topic: &'a str,
    owned: &'a Owned,
}

impl Out<'_> {
    /// Emits due windows (if `emit`), checkpoints and commits every partition; forgets
    /// revoked ones. Returns the partitions another process has taken (fenced off: nothing
    /// was emitted or saved for them).
    async fn tick_all(
        &mut self,
        parts: &mut BTreeMap<i32, Partition>,
        now_ms: i64,
        emit: bool,
    ) -> anyhow::Result<Vec<i32>> {
        let owned = self.owned.lock().partitions.clone();
        parts.retain(|p, part| owned.get(p) == Some(&part.generation));
        let mut fenced = Vec::new();
        for (&p, part) in parts.iter_mut() {
            if let Some(high) = part.catch_up_to {
                if part.next_offset.unwrap_or(0) < high {
                    continue;
                }
                part.catch_up_to = None;
            }
            // Held from before the emission until after the save: a process taking the
            // partition restores this save, never state older than what was emitted.
            let Some(_held) = part
                .fence
                .hold()
                .await
                .with_context(|| format!("checking the owner of partition {p}"))?
            else {
                tracing::warn!(
                    partition = p,
                    "another process took this partition; dropping its state here"
                );
                fenced.push(p);
                continue;
            };
            if emit {
                let emissions = part
                    .agg
                    .tick(now_ms, Mode::Continuous, false, usize::MAX)
                    .await?;
                for e in &emissions {
                    tracing::debug!(partition = p, summary = %e.summary, window = e.window_start_ms, revision = e.revision, rows = e.num_rows(), "emitting");
                }
                self.write(&emissions).await?;
            }
            let dead = part.agg.take_dead_letters();
            send_dead_letters(self.producer, self.kcfg, &dead).await?;
            // The offset travels inside the checkpoint (as a ledger entry), so state and
            // position are saved atomically even if two processes briefly both own the
            // partition and their commits cross.
            if let Some(next) = part.next_offset {
                let (source, object) = offset_key(self.topic, p)
                    .split_once('|')
                    .map(|(a, b)| (a.to_owned(), b.to_owned()))
                    .unwrap_or_default();
                let entry = LedgerEntry {
                    source,
                    object,
                    size: 0,
                    version: String::new(),
                    consumed: next.max(0) as u64,
                    stats: Default::default(),
                };
                part.agg
                    .apply(PartialMessage::Ledger(entry), now_ms, Mode::Continuous)
                    .await?;
            }
            // Outputs are acknowledged: save, then commit — under the lock the rebalance
            // callback takes, so a revoked partition is never saved again.
            {
                let owned = self.owned.lock();
                if owned.partitions.get(&p) != Some(&part.generation) {
                    continue;
                }
                part.ckpt.save(&part.agg)?;
                tracing::debug!(partition = p, next_offset = ?part.next_offset, "saved partition");
            }
            if let Some(next) = part.next_offset {
                let mut tpl = TopicPartitionList::new();
                tpl.add_partition_offset(self.topic, p, Offset::Offset(next))?;
                if let Err(e) = self
                    .consumer
                    .commit(&tpl, rdkafka::consumer::CommitMode::Sync)
                {
                    // The checkpoint holds the state; a later commit or a replay catches up.
                    tracing::warn!(partition = p, error = %e, "offset commit failed");
                }
            }
        }
        Ok(fenced)
    }

    async fn write(&mut self, emissions: &[Emission]) -> anyhow::Result<()> {
        if emissions.is_empty() {
            return Ok(());
        }
        for s in self.sinks.iter_mut() {
            s.write(emissions)
                .with_context(|| format!("writing summaries to the {} sink", s.name()))?;
        }
        let rows = self.kafka_sink.write(emissions).await?;
        tracing::debug!(emissions = emissions.len(), rows, "emitted windows");
        Ok(())
    }
}
