//! The local-directory source: picks up new files and the new bytes of grown ones.

pub(crate) mod config;

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{SystemTime, UNIX_EPOCH};

use flowlogd_bus::{LedgerEntry, RawMessage, Sender};
use flowlogd_formats::{ChunkFormat, ParseOptions};
use walkdir::WalkDir;

pub use config::{LocalDirConfig, EMBEDDED_CHUNK_BYTES, KAFKA_CHUNK_BYTES};

use crate::error::SourceError;
use crate::object::{format_of, send_json, send_parquet, send_text};
use crate::source::{Pending, ScanReport, Source};

pub struct LocalDirSource {
    cfg: LocalDirConfig,
    opts: ParseOptions,
    /// What this source has sent so far, by object path (starts from the checkpoint).
    ledger: HashMap<String, LedgerEntry>,
}

struct Candidate {
    object: String,
    path: std::path::PathBuf,
    size: u64,
    version: String,
    modified: SystemTime,
}

impl LocalDirSource {
    /// `ledger` is the checkpointed ledger (all sources; entries of other sources ignored).
    pub fn new(
        cfg: LocalDirConfig,
        opts: ParseOptions,
        ledger: &BTreeMap<String, LedgerEntry>,
    ) -> Self {
        let ledger = ledger
            .values()
            .filter(|e| e.source == cfg.name)
            .map(|e| (e.object.clone(), e.clone()))
            .collect();
        Self { cfg, opts, ledger }
    }

    pub fn config(&self) -> &LocalDirConfig {
        &self.cfg
    }

    fn candidates(&self) -> Result<Vec<Candidate>, SourceError> {
        let root = &self.cfg.path;
        if !root.is_dir() {
            return Err(SourceError::Io {
                path: root.display().to_string(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "input directory does not exist",
                ),
            });
        }
        let mut out = Vec::new();
        let walk = WalkDir::new(root)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
        for entry in walk {
            let entry = entry.map_err(|e| SourceError::Io {
                path: e
                    .path()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                source: e.into(),
            })?;
            if !entry.file_type().is_file() {
                continue;
            }
            let meta = entry.metadata().map_err(|e| SourceError::Io {
                path: entry.path().display().to_string(),
                source: e.into(),
            })?;
            let modified = meta.modified().unwrap_or(UNIX_EPOCH);
            let mtime_ns = modified
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            let object = entry
                .path()
                .strip_prefix(root)
                .unwrap_or(entry.path())
                .to_string_lossy()
                .into_owned();
            out.push(Candidate {
                object,
                path: entry.path().to_path_buf(),
                size: meta.len(),
                version: format!("{}:{}", meta.len(), mtime_ns),
                modified,
            });
        }
        Ok(out)
    }
}

impl Source for LocalDirSource {
    fn name(&self) -> &str {
        &self.cfg.name
    }

    fn poll_interval(&self) -> std::time::Duration {
        self.cfg.poll_interval
    }

    /// Objects and bytes not yet consumed (for progress reporting).
    fn pending(&self) -> Result<Pending, SourceError> {
        let mut p = Pending::default();
        for c in self.candidates()? {
            let consumed = self.ledger.get(&c.object).map(|e| e.consumed).unwrap_or(0);
            if self
                .ledger
                .get(&c.object)
                .is_none_or(|e| e.version != c.version)
            {
                p.objects += 1;
                p.bytes += c.size.saturating_sub(consumed);
            }
        }
        Ok(p)
    }

    /// One pass over the tree: sends what is new. `settled_only` (continuous mode) defers
    /// files modified within `settle`; a backfill reads everything. Up to
    /// `read_parallelism` files are read at once: each reader sends one file's chunks and
    /// then its ledger entry, which is all the order the engine needs.
    fn scan(
        &mut self,
        tx: &Sender<RawMessage>,
        now: SystemTime,
        settled_only: bool,
        on_object: &mut dyn FnMut(&str, u64),
    ) -> Result<ScanReport, SourceError> {
        let mut report = ScanReport::default();
        let mut work = Vec::new();
        for c in self.candidates()? {
            let prev = self.ledger.get(&c.object);
            if prev.is_some_and(|e| e.version == c.version) {
                continue;
            }
            let mut head = [0u8; 4096];
            let head_len = File::open(&c.path)
                .and_then(|mut f| f.read(&mut head))
                .unwrap_or(0);
            let format = format_of(&c.object, &head[..head_len]);
            let settling = now
                .duration_since(c.modified)
                .map(|age| age < self.cfg.settle)
                .unwrap_or(true);
            if settled_only && settling && format != ChunkFormat::AzureJson {
                report.deferred += 1;
                continue;
            }
            let from = prev.map(|e| e.consumed).unwrap_or(0);
            work.push((c, format, from));
        }
        let threads = self.cfg.read_parallelism.clamp(1, work.len().max(1));
        let (cfg, opts, ledger) = (&self.cfg, &self.opts, &mut self.ledger);
        let next = AtomicUsize::new(0);
        let failed = AtomicBool::new(false);
        let (done_tx, done_rx) = mpsc::channel();
        std::thread::scope(|scope| {
            for _ in 0..threads {
                let done_tx = done_tx.clone();
                let (next, failed, work) = (&next, &failed, &work);
                scope.spawn(move || {
                    while !failed.load(Ordering::SeqCst) {
                        let Some((c, format, from)) = work.get(next.fetch_add(1, Ordering::SeqCst))
                        else {
                            break;
                        };
                        let read = read_object(cfg, opts, c, *format, *from, tx);
                        if read.is_err() {
                            failed.store(true, Ordering::SeqCst);
                        }
                        if done_tx.send((c, *from, read)).is_err() {
                            break;
                        }
                    }
                });
            }
            drop(done_tx);
            let mut first_error = None;
            for (c, from, read) in done_rx {
                match read {
                    Ok(entry) => {
                        report.objects += 1;
                        report.bytes += c.size.saturating_sub(from);
                        on_object(&c.object, c.size);
                        ledger.insert(c.object.clone(), entry);
                    }
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
            }
            first_error.map_or(Ok(report), Err)
        })
    }
}

/// Sends one file's new bytes as chunks, then its ledger entry.
fn read_object(
    cfg: &LocalDirConfig,
    opts: &ParseOptions,
    c: &Candidate,
    format: ChunkFormat,
    from: u64,
    tx: &Sender<RawMessage>,
) -> Result<LedgerEntry, SourceError> {
    let consumed = match format {
        ChunkFormat::AzureJson => {
            // A file that shrank was replaced: read it again from the start (chunk ids of
            // bytes already applied are dropped by the engine).
            let from = if from > c.size { 0 } else { from };
            let data = read_from(&c.path, from)?;
            send_json(&cfg.name, &c.object, from, &data, cfg.chunk_bytes(), tx)?
        }
        ChunkFormat::AwsParquet => {
            let f = File::open(&c.path).map_err(|e| io(&c.path, e))?;
            send_parquet(&cfg.name, &c.object, f, cfg.chunk_bytes(), tx)?;
            c.size
        }
        ChunkFormat::AwsText => {
            let f = File::open(&c.path).map_err(|e| io(&c.path, e))?;
            send_text(
                &cfg.name,
                &c.object,
                Box::new(f),
                cfg.chunk_bytes(),
                opts,
                tx,
            )?;
            c.size
        }
    };
    let entry = LedgerEntry {
        source: cfg.name.clone(),
        object: c.object.clone(),
        size: c.size,
        version: c.version.clone(),
        consumed,
        stats: Default::default(),
    };
    tx.blocking_send(RawMessage::Ledger(entry.clone()))
        .map_err(|_| SourceError::Closed)?;
    Ok(entry)
}

fn io(path: &Path, source: std::io::Error) -> SourceError {
    SourceError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn read_from(path: &Path, offset: u64) -> Result<Vec<u8>, SourceError> {
    let mut f = File::open(path).map_err(|e| io(path, e))?;
    f.seek(SeekFrom::Start(offset)).map_err(|e| io(path, e))?;
    let mut data = Vec::new();
    f.read_to_end(&mut data).map_err(|e| io(path, e))?;
    Ok(data)
}
