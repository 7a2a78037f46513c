//! Kafka mode: the stages of the pipeline as roles that talk through Kafka topics.
//!
//! ```text
//!  source ──► flowlogd.raw ──► parse (group <g>.parse) ──► flowlogd.partials
//!         ──► aggregate (group <g>.aggregate) ──► flowlogd.summaries (+ Parquet / JSON lines)
//! ```
//!
//! Every role commits its input only after its outputs are acknowledged: the source its
//! ledger, parse and aggregate their consumer offsets (aggregate also after a per-partition
//! checkpoint). Replays after a crash are dropped by the chunk ids kept in window state.

mod aggregate;
mod chunk_size;
mod fence;
mod gaps;
mod parse;
mod source;

use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::Context;
use flowlogd_bus::kafka::{self, encode_dead_letter, KafkaConfig, Producer, Record};
use flowlogd_engine::Clock;
use flowlogd_formats::DeadLetter;
use tokio::sync::watch;

use crate::config::Config;

/// A stage of the pipeline that a process can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Source,
    Parse,
    Aggregate,
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "source" => Ok(Role::Source),
            "parse" => Ok(Role::Parse),
            "aggregate" => Ok(Role::Aggregate),
            other => Err(format!(
                "unknown role {other:?} (roles: source, parse, aggregate)"
            )),
        }
    }
}

pub const ALL: [Role; 3] = [Role::Source, Role::Parse, Role::Aggregate];

/// Runs the given roles until `shutdown`, each on its own task.
pub async fn run(
    cfg: Config,
    roles: Vec<Role>,
    clock: Clock,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let Some(kcfg) = cfg.kafka.clone() else {
        anyhow::bail!("--roles needs a [kafka] section in the config");
    };
    if roles.contains(&Role::Source) && cfg.sources.local.is_empty() {
        anyhow::bail!("sources: the source role has no source configured (fix: add [[sources.local]] path = \"/var/lib/flowlogs\", or run without the source role: --roles parse,aggregate)");
    }
    tracing::info!(brokers = %kcfg.brokers, roles = ?roles, "Kafka mode");
    kafka::ensure_topics(&kcfg)
        .await
        .context("preparing the Kafka topics")?;
    // Roles stop on the process's shutdown, or when one of them fails: a half-running
    // process would look healthy.
    let (stop_tx, stop_rx) = watch::channel(false);
    let stop_tx = std::sync::Arc::new(stop_tx);
    {
        let (stop_tx, mut shutdown) = (stop_tx.clone(), shutdown);
        tokio::spawn(async move {
            while shutdown.changed().await.is_ok() {
                if *shutdown.borrow() {
                    break;
                }
            }
            let _ = stop_tx.send(true);
        });
    }
    let mut tasks = tokio::task::JoinSet::new();
    for role in roles {
        let (cfg, kcfg, stop, clock) = (cfg.clone(), kcfg.clone(), stop_rx.clone(), clock.clone());
        tasks.spawn(async move { supervise(role, cfg, kcfg, clock, stop).await });
    }
    let mut first_err = None;
    while let Some(r) = tasks.join_next().await {
        let r = r.context("role task panicked").and_then(|r| r);
        if let Err(e) = r {
            tracing::error!(error = %format!("{e:#}"), "role failed; stopping the others");
            first_err.get_or_insert(e);
            let _ = stop_tx.send(true);
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn on_kafka(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<kafka::KafkaBusError>().is_some()
            || c.downcast_ref::<flowlogd_sinks::kafka::KafkaSinkError>()
                .is_some()
            || c.downcast_ref::<rdkafka::error::KafkaError>().is_some()
    })
}

/// Runs a role and, when it fails on Kafka (a broker restart can leave the idempotent
/// producer unusable), starts it again with new clients after a backoff. Every role resumes
/// from what it committed (ledger, offsets, checkpoints), and what it repeats is dropped
/// downstream by chunk id, so a restart loses and duplicates nothing.
async fn supervise(
    role: Role,
    cfg: Config,
    kcfg: KafkaConfig,
    clock: Clock,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let mut backoff = std::time::Duration::from_secs(1);
    loop {
        let producer = kafka::producer(&kcfg).context("creating the Kafka producer")?;
        let r = match role {
            Role::Source => {
                source::run(cfg.clone(), kcfg.clone(), producer.clone(), stop.clone()).await
            }
            Role::Parse => {
                parse::run(cfg.clone(), kcfg.clone(), producer.clone(), stop.clone()).await
            }
            Role::Aggregate => {
                aggregate::run(
                    cfg.clone(),
                    kcfg.clone(),
                    producer.clone(),
                    clock.clone(),
                    stop.clone(),
                )
                .await
            }
        };
        let _ = kafka::flush(&producer, std::time::Duration::from_secs(10));
        match r {
            Ok(()) => return Ok(()),
            Err(e) if *stop.borrow() => return Err(e).with_context(|| format!("{role:?} role")),
            Err(e) if on_kafka(&e) => {
                tracing::error!(role = ?role, error = %format!("{e:#}"), retry_in = ?backoff, "role failed on Kafka; restarting it");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(std::time::Duration::from_secs(30));
            }
            Err(e) => return Err(e).with_context(|| format!("{role:?} role")),
        }
    }
}

/// Produces dead letters to the dead-letter topic and waits for their acknowledgement.
pub(crate) async fn send_dead_letters(
    producer: &Producer,
    kcfg: &KafkaConfig,
    records: &[DeadLetter],
) -> anyhow::Result<()> {
    let mut pending = Vec::with_capacity(records.len());
    for dl in records {
        let e = encode_dead_letter(dl).map_err(|e| anyhow::anyhow!("dead letter: {e}"))?;
        let f = kafka::enqueue(
            producer,
            Record {
                topic: &kcfg.topics.deadletter,
                key: &e.key,
                value: &e.value,
                headers: None,
            },
        )
        .await?;
        pending.push(f);
    }
    for f in pending {
        kafka::delivered(&kcfg.topics.deadletter, f).await?;
    }
    Ok(())
}

/// Writes `bytes` to `path` by way of a synced temporary file renamed over it.
fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f =
        std::fs::File::create(&tmp).with_context(|| format!("writing {}", tmp.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming {}", tmp.display()))?;
    Ok(())
}
