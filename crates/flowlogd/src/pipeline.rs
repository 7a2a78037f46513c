//! The embedded pipeline: local sources → in-process bus → parse + partial aggregation
//! (parallel, order kept) → aggregator → sinks, with checkpoints.
//!
//! Ordering is what makes one checkpoint consistent: the parse stage keeps message order
//! (`buffered`), so the aggregator sees an object's ledger entry only after its chunks,
//! and a checkpoint never records an object as read without its records in window state.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use flowlogd_bus::{channel, PartialMessage, RawMessage, Receiver, Sender};
use flowlogd_engine::{
    prepare_all, Accounting, Aggregator, Checkpointer, Clock, Enricher, Mode, Partializer,
};
use flowlogd_formats::{DeadLetter, ParseOptions};
use flowlogd_ops::progress::Progress;
use flowlogd_sinks::{DeadLetterSink, FirstSeenSink, JsonlSink, ParquetSink, SummarySink};
use flowlogd_sources::{AzureBlobSource, LocalDirSource, Source, EMBEDDED_CHUNK_BYTES};
use futures::StreamExt;
use tokio::sync::watch;
use tracing::Instrument;

use crate::config::Config;
use crate::observe::{self, Observer};

pub struct Options {
    pub mode: Mode,
    /// (Window, summary) pairs merged at once when flushing.
    pub parallelism: usize,
    pub clock: Clock,
    /// Show a progress bar / progress lines (backfills).
    pub progress: bool,
    /// `/status`, readiness and the sd_notify status line.
    pub board: flowlogd_ops::admin::StatusBoard,
}

pub async fn run(
    mut cfg: Config,
    opts: Options,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<Accounting> {
    let summaries = prepare_all(&cfg.all_summaries()).await?;
    let mut agg = Aggregator::new(cfg.engine.clone(), summaries.clone());
    let mut ckpt = Checkpointer::new(cfg.state_dir());
    if opts.mode == Mode::Once {
        agg.set_spill_dir(ckpt.spill_dir());
    }
    if ckpt.restore(&mut agg).context("restoring checkpoint")? {
        tracing::info!(state = %ckpt.dir().display(), windows = agg.open_windows(), objects = agg.ledger().len(), "restored checkpoint");
    }
    for (source, size) in cfg.sources.chunk_sizes_mut(EMBEDDED_CHUNK_BYTES) {
        *size = settle_chunk_bytes(source, *size, &mut agg);
    }
    let mut sinks: Vec<Box<dyn SummarySink>> = Vec::new();
    if let Some(p) = &cfg.sinks.parquet {
        sinks.push(Box::new(ParquetSink::new(p)));
    }
    if let Some(j) = &cfg.sinks.jsonl {
        sinks.push(Box::new(JsonlSink::open(j)?));
    }
    let mut dead = match &cfg.sinks.dead_letter {
        Some(d) => Some(DeadLetterSink::open(d)?),
        None => None,
    };
    let mut first_seen = match &cfg.sinks.first_seen {
        Some(f) => Some(FirstSeenSink::open(f)?),
        None => None,
    };

    let parallelism = cfg.engine.parallelism.max(1);
    let (raw_tx, raw_rx) = channel::<RawMessage>(parallelism * 4);
    let (part_tx, mut part_rx) = channel::<PartialMessage>(parallelism * 4);
    let mut parse_opts = cfg.parse.options();
    // SQS notifications are deleted once their objects are in a checkpoint.
    let durable = flowlogd_bus::Durable::default();
    let sources = build_sources(&cfg, &parse_opts, agg.ledger(), &durable)?;

    let stop = Arc::new(AtomicBool::new(false));
    let source_names: Vec<String> = sources.iter().map(|s| s.name().to_string()).collect();
    let source_task = spawn_sources(sources, raw_tx, opts.mode, opts.progress, stop.clone());
    let enricher =
        Arc::new(Enricher::load(&cfg.engine.enrichment).context("loading the enrichment tables")?);
    let has_tables = !cfg.engine.enrichment.files().is_empty();
    let partializer = Partializer::new(summaries, &cfg.engine).with_enricher(enricher.clone());
    parse_opts.skip_columns = partializer.unread_columns();
    // Continuous mode stops taking raw chunks on shutdown (the source then sees the
    // stream closed mid-scan): an object cut short has no ledger entry yet, so the next
    // start reads it again and drops the chunks already applied.
    let intake = (opts.mode == Mode::Continuous).then(|| stop.clone());
    let parse_task = tokio::spawn(parse_stage(
        raw_rx,
        part_tx,
        partializer,
        parse_opts,
        parallelism,
        intake,
    ));

    let mut shutdown = shutdown;
    let tick_period = opts.clock.real_duration(cfg.engine.tick.as_millis() as i64);
    let mut tick = tokio::time::interval(tick_period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut checkpoint = tokio::time::interval(cfg.engine.checkpoint_interval);
    checkpoint.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    checkpoint.tick().await;
    let mut reload = tokio::time::interval(cfg.engine.enrichment.reload_interval);
    reload.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    reload.tick().await;
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let mut obs = Observer::new(opts.board.clone(), &source_names, &agg);
    let mut heartbeat =
        tokio::time::interval(flowlogd_ops::notify::ping_interval(Duration::from_secs(1)));
    obs.ready();
    loop {
        tokio::select! {
            msg = part_rx.recv() => match msg {
                Some(m) => {
                    obs.message(&m, &agg);
                    agg.apply(m, opts.clock.now_ms(), opts.mode).await?;
                    obs.applied(&agg);
                }
                None => break,
            },
            _ = tick.tick(), if opts.mode == Mode::Continuous => {
                emit(&mut agg, &mut sinks, &mut dead, &mut first_seen, &opts, false)
                    .instrument(tracing::info_span!("emit"))
                    .await?;
                observe::checkpoint(&mut ckpt, &agg, &durable)?;
            }
            _ = checkpoint.tick() => {
                write_dead(&mut dead, agg.take_dead_letters())?;
                observe::checkpoint(&mut ckpt, &agg, &durable)?;
            }
            _ = heartbeat.tick() => obs.heartbeat(&agg),
            _ = reload.tick(), if has_tables => reload_tables(&enricher, false),
            Some(()) = recv_hangup(&mut hangup) => reload_tables(&enricher, true),
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    tracing::info!("shutting down: draining in-flight chunks");
                    stop.store(true, Ordering::SeqCst);
                }
            }
        }
    }
    source_task.await.context("source task")??;
    parse_task.await.context("parse task")??;
    let flush = opts.mode == Mode::Once;
    emit(
        &mut agg,
        &mut sinks,
        &mut dead,
        &mut first_seen,
        &opts,
        flush,
    )
    .instrument(tracing::info_span!("emit", flush))
    .await?;
    if opts.mode == Mode::Once {
        // Until here a crash resumes from the last checkpoint (and emits every window
        // again, identically); once every window is out, the next `--once` starts over.
        ckpt.clear()?;
    } else {
        observe::checkpoint(&mut ckpt, &agg, &durable)?;
    }
    obs.heartbeat(&agg);
    Ok(agg.accounting().clone())
}

/// Reloads the lookup tables off the async threads (a 100k-prefix list takes a while to
/// parse); on failure the tables in force stay, and the error is logged.
fn reload_tables(enricher: &Arc<Enricher>, force: bool) {
    let enricher = enricher.clone();
    tokio::task::spawn_blocking(move || match enricher.reload_if_changed(force) {
        Ok(true) => tracing::info!("reloaded enrichment tables"),
        Ok(false) => {}
        Err(e) => {
            tracing::error!(error = %e, "enrichment file does not load; keeping the previous tables")
        }
    });
}

async fn recv_hangup(sig: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
    match sig {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

async fn emit(
    agg: &mut Aggregator,
    sinks: &mut Vec<Box<dyn SummarySink>>,
    dead: &mut Option<DeadLetterSink>,
    first_seen: &mut Option<FirstSeenSink>,
    opts: &Options,
    flush: bool,
) -> anyhow::Result<()> {
    // A flush writes a few windows at a time so that their rows are freed before the next
    // ones are merged; a tick emits what is due in one go (provisional windows stay dirty,
    // so a tick must not loop). Since each window's parts are merged in parallel and the
    // next windows are merged while the last ones are written, half as many windows as
    // cores per slice keep the cores busy with half the rows in memory.
    let max_jobs = if flush {
        (opts.parallelism / 2).max(1)
    } else {
        usize::MAX
    };
    if flush && opts.mode == Mode::Once {
        flush_streamed(agg, sinks, opts).await?;
    }
    let mut emissions = next_emissions(agg, first_seen, opts, flush, max_jobs).await?;
    while !emissions.is_empty() {
        if !flush {
            write_summaries(sinks, &emissions)?;
            observe::emitted(&opts.board, &emissions);
            break;
        }
        // The next windows are merged while these are written: merging runs on the async
        // workers and writing on a blocking thread, so neither waits for the other.
        let mut owned = std::mem::take(sinks);
        let writing = tokio::task::spawn_blocking(move || {
            let written = write_summaries(&mut owned, &emissions);
            (owned, emissions, written)
        });
        let next = next_emissions(agg, first_seen, opts, flush, max_jobs).await;
        let (owned, written_emissions, written) = writing.await.context("summary writer")?;
        *sinks = owned;
        written?;
        observe::emitted(&opts.board, &written_emissions);
        emissions = next?;
    }
    write_dead(dead, agg.take_dead_letters())
}

/// A backfill's end: every (window, summary) merged a hash part at a time, each part written
/// while the next ones merge (see [`flowlogd_engine::flush`]). What it leaves (the hidden
/// first-seen summary) goes out through the tick path.
async fn flush_streamed(
    agg: &mut Aggregator,
    sinks: &mut Vec<Box<dyn SummarySink>>,
    opts: &Options,
) -> anyhow::Result<()> {
    // Two pieces queued: the writer always has the next part at hand, and at most three
    // parts' rows are out of the engine at a time.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(flowlogd_bus::Emission, bool)>(2);
    let mut owned = std::mem::take(sinks);
    let board = opts.board.clone();
    let writer = tokio::task::spawn_blocking(move || {
        let (mut written, mut rows) = (Ok(()), 0);
        while let Some((piece, last)) = rx.blocking_recv() {
            // After a failure the rest is drained unwritten: the run fails with the error.
            if written.is_ok() {
                written = write_piece(&mut owned, &piece, last);
                rows += piece.num_rows() as u64;
                if last {
                    observe::emitted_rows(&board, &piece, std::mem::take(&mut rows));
                }
            }
        }
        (owned, written)
    });
    let merged = async {
        while let Some(mut job) = agg.take_flush_job() {
            let mut rows = 0;
            while let Some((piece, last)) = job.next_piece().await? {
                rows += piece.num_rows() as u64;
                if tx.send((piece, last)).await.is_err() {
                    break;
                }
            }
            agg.count_flushed(rows);
            crate::alloc::release_free_memory();
        }
        drop(tx);
        anyhow::Ok(())
    }
    .await;
    let (owned, written) = writer.await.context("summary writer")?;
    *sinks = owned;
    written?;
    merged
}

fn write_piece(
    sinks: &mut [Box<dyn SummarySink>],
    piece: &flowlogd_bus::Emission,
    last: bool,
) -> anyhow::Result<()> {
    for s in sinks.iter_mut() {
        s.write_piece(piece, last)
            .with_context(|| format!("writing summaries to the {} sink", s.name()))?;
    }
    Ok(())
}

/// The next emissions of a tick (a slice of `max_jobs` when flushing), after writing the
/// first-seen alerts the tick raised.
async fn next_emissions(
    agg: &mut Aggregator,
    first_seen: &mut Option<FirstSeenSink>,
    opts: &Options,
    flush: bool,
    max_jobs: usize,
) -> anyhow::Result<Vec<flowlogd_bus::Emission>> {
    let emissions = agg
        .tick(opts.clock.now_ms(), opts.mode, flush, max_jobs)
        .await?;
    // Alerts go out before the checkpoint that records their pairs as known.
    let alerts = agg.take_first_seen_alerts();
    if !alerts.is_empty() {
        tracing::info!(alerts = alerts.len(), "first-seen pairs");
        if let Some(f) = first_seen.as_mut() {
            f.write(&alerts).context("writing first-seen alerts")?;
        }
    }
    Ok(emissions)
}

fn write_summaries(
    sinks: &mut [Box<dyn SummarySink>],
    emissions: &[flowlogd_bus::Emission],
) -> anyhow::Result<()> {
    for s in sinks.iter_mut() {
        s.write(emissions)
            .with_context(|| format!("writing summaries to the {} sink", s.name()))?;
    }
    tracing::debug!(
        emissions = emissions.len(),
        rows = emissions.iter().map(|e| e.num_rows()).sum::<usize>(),
        "emitted windows"
    );
    Ok(())
}

fn write_dead(dead: &mut Option<DeadLetterSink>, records: Vec<DeadLetter>) -> anyhow::Result<()> {
    if records.is_empty() {
        return Ok(());
    }
    match dead {
        Some(d) => d.write(&records).context("writing dead letters")?,
        None => {
            for r in &records {
                tracing::warn!(object = %r.object, line = ?r.line, kind = %r.kind, reason = %r.reason, "rejected");
            }
        }
    }
    Ok(())
}

/// The chunk size a source cuts objects with on the in-process bus: the configured one
/// (`wanted`), but the checkpointed one while an object it cut is applied in part, since
/// chunk ids are chunk offsets (a new size would count that object's records twice). The
/// new size then applies from the first restart without such objects.
fn settle_chunk_bytes(source: &str, wanted: usize, agg: &mut Aggregator) -> usize {
    let used = match agg.chunk_bytes(source) {
        Some(before) if before != wanted as u64 && agg.has_open_chunks(source) => {
            tracing::warn!(
                source,
                configured = wanted,
                used = before,
                "max_chunk_bytes changed while an object was read in part; keeping the size \
                 of the checkpoint until a restart finds none"
            );
            before
        }
        _ => wanted as u64,
    };
    agg.set_chunk_bytes(source, used);
    usize::try_from(used).unwrap_or(wanted)
}

/// Every configured source, each resuming from its entries in the checkpointed ledger.
pub(crate) fn build_sources(
    cfg: &Config,
    parse_opts: &ParseOptions,
    ledger: &std::collections::BTreeMap<String, flowlogd_bus::LedgerEntry>,
    durable: &flowlogd_bus::Durable,
) -> anyhow::Result<Vec<Box<dyn Source>>> {
    let mut sources: Vec<Box<dyn Source>> = Vec::new();
    for s in &cfg.sources.local {
        sources.push(Box::new(LocalDirSource::new(
            s.clone(),
            parse_opts.clone(),
            ledger,
        )));
    }
    for s in &cfg.sources.s3 {
        sources.push(Box::new(
            flowlogd_sources::S3Source::new(
                s.clone(),
                parse_opts.clone(),
                ledger,
                tokio::runtime::Handle::current(),
            )
            .with_durable(durable.clone()),
        ));
    }
    for s in &cfg.sources.azure_blob {
        let src = AzureBlobSource::new(s.clone(), ledger)
            .with_context(|| format!("setting up Azure Blob source {:?}", s.name))?;
        sources.push(Box::new(src));
    }
    Ok(sources)
}

pub(crate) fn spawn_sources(
    mut sources: Vec<Box<dyn Source>>,
    tx: Sender<RawMessage>,
    mode: Mode,
    progress: bool,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<anyhow::Result<()>> {
    tokio::task::spawn_blocking(move || {
        if mode == Mode::Once {
            let (mut objects, mut bytes) = (0, 0);
            for s in &sources {
                let p = s.pending()?;
                objects += p.objects;
                bytes += p.bytes;
            }
            let mut bar = progress.then(|| Progress::new(objects, bytes));
            for s in &mut sources {
                s.scan(&tx, SystemTime::now(), false, &mut |_, size| {
                    if let Some(b) = bar.as_mut() {
                        b.object_done(size);
                    }
                })?;
            }
            if let Some(b) = bar {
                b.finish();
            }
            return Ok(());
        }
        let poll = sources
            .iter()
            .map(|s| s.poll_interval())
            .min()
            .unwrap_or(std::time::Duration::from_secs(5));
        while !stop.load(Ordering::SeqCst) {
            for s in &mut sources {
                if let Err(e) = s.scan(&tx, SystemTime::now(), true, &mut |_, _| {}) {
                    if matches!(e, flowlogd_sources::SourceError::Closed) {
                        return Ok(());
                    }
                    tracing::warn!(source = %s.name(), error = %e, "scan failed; retrying next poll");
                }
            }
            let deadline = std::time::Instant::now() + poll;
            while std::time::Instant::now() < deadline && !stop.load(Ordering::SeqCst) {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
        Ok(())
    })
}

async fn parse_stage(
    rx: Receiver<RawMessage>,
    tx: Sender<PartialMessage>,
    partializer: Partializer,
    opts: ParseOptions,
    parallelism: usize,
    stop_intake: Option<Arc<AtomicBool>>,
) -> anyhow::Result<()> {
    let rx = tokio_stream_from(rx);
    let out = rx
        .take_while(move |_| {
            let stopped = stop_intake
                .as_ref()
                .is_some_and(|s| s.load(Ordering::SeqCst));
            futures::future::ready(!stopped)
        })
        .map(|msg| {
            let partializer = partializer.clone();
            let opts = opts.clone();
            // A task per chunk, so partial aggregation runs on all cores; `buffered` keeps
            // the order of results.
            tokio::spawn(async move { process(msg, &partializer, opts).await })
        })
        // More chunks in flight than cores, so one slow chunk does not idle the others.
        .buffered(parallelism * 4);
    let mut out = std::pin::pin!(out);
    while let Some(m) = out.next().await {
        let m = m.context("parse task panicked")?;
        if tx.send(m).await.is_err() {
            break;
        }
    }
    Ok(())
}

fn tokio_stream_from<T: Send + 'static>(rx: Receiver<T>) -> impl futures::Stream<Item = T> {
    futures::stream::unfold(rx.into_inner(), |mut rx| async move {
        rx.recv().await.map(|m| (m, rx))
    })
}

pub(crate) async fn process(
    msg: RawMessage,
    partializer: &Partializer,
    opts: ParseOptions,
) -> PartialMessage {
    match msg {
        RawMessage::ObjectFailed(dl) => PartialMessage::ObjectFailed(dl),
        RawMessage::Ledger(e) => PartialMessage::Ledger(e),
        RawMessage::Chunk(chunk) => {
            let id = chunk.id();
            let object = chunk.object.clone();
            let span = observe::chunk_span(&chunk.source, &object, &id);
            let parsed = tokio::task::spawn_blocking(move || {
                let _span = span.entered();
                flowlogd_formats::parse_chunk(&chunk, &opts)
            })
            .await;
            let parsed = match parsed {
                Ok(Ok(p)) => {
                    observe::parsed_chunk(&object, &p);
                    p
                }
                Ok(Err(e)) => return PartialMessage::ObjectFailed(e.to_dead_letter()),
                Err(e) => {
                    return PartialMessage::ObjectFailed(DeadLetter::new(
                        &object,
                        "internal",
                        format!("parser task failed: {e}"),
                    ))
                }
            };
            match partializer.run(id, object.clone(), parsed).await {
                Ok(cp) => PartialMessage::Chunk(Box::new(cp)),
                Err(e) => {
                    PartialMessage::ObjectFailed(DeadLetter::new(&object, "engine", e.to_string()))
                }
            }
        }
    }
}
