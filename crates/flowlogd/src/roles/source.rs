//! The source role: runs the configured sources and produces their chunks to
//! `flowlogd.raw`, keyed by object, so an object's chunks and its ledger entry stay in one
//! partition in order.
//!
//! The ledger (how far each object is read) lives in `<state_dir>/source-ledger.json` and
//! advances only once every record of the object before its ledger entry is acknowledged
//! by the broker; a restart resumes from it and re-sends at most the objects whose
//! acknowledgements it had not recorded (their chunks are dropped downstream by chunk id).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use flowlogd_bus::kafka::{self, encode_raw, KafkaConfig, Producer, Record};
use flowlogd_bus::{channel, LedgerEntry, RawMessage};
use flowlogd_engine::Mode;
use futures::stream::FuturesOrdered;
use futures::StreamExt;
use tokio::sync::watch;

use super::chunk_size::ChunkSizes;
use super::write_atomically;
use crate::config::Config;
use crate::pipeline::{build_sources, spawn_sources};

pub async fn run(
    mut cfg: Config,
    kcfg: KafkaConfig,
    producer: Producer,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let path = cfg.state_dir().join("source-ledger.json");
    let mut ledger = load_ledger(&path)?;
    tracing::info!(objects = ledger.len(), path = %path.display(), "source ledger");
    let mut sizes = ChunkSizes::settle(&mut cfg)?;
    let durable = flowlogd_bus::Durable::default();
    let sources = build_sources(&cfg, &cfg.parse.options(), &ledger, &durable)?;
    let (tx, mut rx) = channel::<RawMessage>(cfg.engine.parallelism.max(1) * 4);
    let stop = Arc::new(AtomicBool::new(false));
    let task = spawn_sources(sources, tx, Mode::Continuous, false, stop.clone());

    let topic = kcfg.topics.raw.clone();
    let mut pending = FuturesOrdered::new();
    let mut dirty = false;
    let mut last_save = Instant::now();
    let mut open = true;
    loop {
        tokio::select! {
            msg = rx.recv(), if open && pending.len() < kcfg.max_in_flight => match msg {
                Some(m) => {
                    let entry = match &m { RawMessage::Ledger(e) => Some(e.clone()), _ => None };
                    if let RawMessage::Chunk(c) = &m {
                        sizes.chunk_sent(&c.source, &c.object);
                    }
                    let e = encode_raw(&m).map_err(|e| anyhow::anyhow!("encoding a raw record: {e}"))?;
                    let f = kafka::enqueue(&producer, Record { topic: &topic, key: &e.key, value: &e.value, headers: Some(e.headers) }).await?;
                    let topic = topic.clone();
                    pending.push_back(async move { kafka::delivered(&topic, f).await.map(|_| entry) });
                }
                None => open = false,
            },
            Some(done) = pending.next(), if !pending.is_empty() => {
                // In order: a ledger entry's acknowledgement comes after those of every
                // chunk of its object.
                if let Some(e) = done? {
                    let key = format!("{}|{}", e.source, e.object);
                    sizes.object_done(&key);
                    ledger.insert(key, e);
                    dirty = true;
                }
                if dirty && (pending.is_empty() || last_save.elapsed() > Duration::from_secs(1)) {
                    save_ledger(&path, &ledger)?;
                    durable.checkpointed(&ledger);
                    dirty = false;
                    last_save = Instant::now();
                }
            }
            changed = shutdown.changed(), if open => {
                if changed.is_err() || *shutdown.borrow() {
                    stop.store(true, Ordering::SeqCst);
                }
            }
            else => break,
        }
        if !open && pending.is_empty() {
            break;
        }
    }
    if dirty {
        save_ledger(&path, &ledger)?;
    }
    task.await.context("source task")??;
    sizes.finish()?;
    Ok(())
}

fn load_ledger(path: &Path) -> anyhow::Result<BTreeMap<String, LedgerEntry>> {
    match std::fs::read(path) {
        Ok(b) => {
            let entries: Vec<LedgerEntry> = serde_json::from_slice(&b)
                .with_context(|| format!("{}: not a source ledger", path.display()))?;
            Ok(entries
                .into_iter()
                .map(|e| (format!("{}|{}", e.source, e.object), e))
                .collect())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Written to a temporary file, synced and renamed: a crash leaves the old or the new one.
fn save_ledger(path: &Path, ledger: &BTreeMap<String, LedgerEntry>) -> anyhow::Result<()> {
    let entries: Vec<&LedgerEntry> = ledger.values().collect();
    write_atomically(path, &serde_json::to_vec(&entries)?)
}
