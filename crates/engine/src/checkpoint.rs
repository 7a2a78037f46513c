//! Atomic checkpoints of everything that must survive a crash: window state (compacted
//! partials, applied chunk ids, emitted revisions), the source ledger and the accounting.
//!
//! Layout of the state directory:
//! ```text
//! state/CURRENT            name of the live checkpoint directory (replaced by rename)
//! state/ckpt-000042/meta.json
//! state/ckpt-000042/w<start_ms>-<summary>-p<part>.arrow   Arrow IPC, one per state part
//! ```
//! A checkpoint directory is complete (files synced) before `CURRENT` names it, and
//! `CURRENT` is replaced by an atomic rename, so a `kill -9` at any moment leaves either
//! the old or the new checkpoint live, never a mix. A part unchanged since the previous
//! save (same [`crate::window::Version`]) is hard-linked from the previous checkpoint
//! instead of written again: continuous mode saves often, and most windows of a long
//! retention do not change between two saves.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use arrow::ipc::reader::FileReader;
use arrow::ipc::writer::FileWriter;
use flowlogd_bus::LedgerEntry;
use serde::{Deserialize, Serialize};

use crate::accounting::Accounting;
use crate::aggregator::Aggregator;
use crate::error::EngineError;
use crate::firstseen::FirstSeenState;
use crate::partition;
use crate::window::{Part, SummaryState, Version, Window};

#[derive(Debug, Serialize, Deserialize)]
struct Meta {
    format: u32,
    seq: u64,
    windows: Vec<WindowMeta>,
    ledger: Vec<LedgerEntry>,
    accounting: Accounting,
    /// Known pairs of first-seen detection.
    #[serde(default)]
    first_seen: Option<FirstSeenState>,
    /// [`partition::scheme`] of the build that wrote split states.
    #[serde(default)]
    part_scheme: Option<u64>,
    /// [`Aggregator::chunk_bytes`] per source.
    #[serde(default)]
    chunk_bytes: BTreeMap<String, u64>,
}

#[derive(Debug, Serialize, Deserialize)]
struct WindowMeta {
    start_ms: i64,
    records: u64,
    applied: Vec<String>,
    summaries: BTreeMap<String, SummaryMeta>,
}

#[derive(Debug, Serialize, Deserialize)]
struct SummaryMeta {
    revision: u32,
    dirty: bool,
    /// The state's parts (one unless split by hash).
    #[serde(default)]
    parts: Vec<PartMeta>,
    /// Checkpoints before hash parts: the one part's file and spill files.
    #[serde(default, skip_serializing)]
    file: Option<String>,
    #[serde(default, skip_serializing)]
    spilled: Vec<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct PartMeta {
    file: Option<String>,
    /// Compacted partials spilled to disk by a backfill (absolute paths).
    #[serde(default)]
    spilled: Vec<String>,
}

/// Writes and restores checkpoints in one state directory.
pub struct Checkpointer {
    dir: PathBuf,
    seq: u64,
    saved: Option<Saved>,
    reused: u64,
}

/// The live checkpoint this process wrote or restored, and the version of each part file
/// in it.
struct Saved {
    dir: PathBuf,
    files: HashMap<String, Version>,
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> EngineError + '_ {
    move |source| EngineError::Checkpoint {
        path: path.display().to_string(),
        source,
    }
}

impl Checkpointer {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            seq: 0,
            saved: None,
            reused: 0,
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Part files that saves took unchanged from the previous checkpoint.
    pub fn reused_files(&self) -> u64 {
        self.reused
    }

    /// Restores the live checkpoint into `agg` (returns false when there is none).
    pub fn restore(&mut self, agg: &mut Aggregator) -> Result<bool, EngineError> {
        let current = self.dir.join("CURRENT");
        let name = match fs::read_to_string(&current) {
            Ok(n) => n.trim().to_owned(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(io_err(&current)(e)),
        };
        let ckpt = self.dir.join(&name);
        let meta_path = ckpt.join("meta.json");
        let bytes = fs::read(&meta_path).map_err(io_err(&meta_path))?;
        let meta: Meta =
            serde_json::from_slice(&bytes).map_err(|e| EngineError::CorruptCheckpoint {
                path: meta_path.display().to_string(),
                reason: e.to_string(),
            })?;
        self.seq = meta.seq;
        agg.windows.clear();
        let mut saved = HashMap::new();
        for wm in meta.windows {
            let mut w = Window::new(wm.start_ms);
            w.records = wm.records;
            w.applied = wm.applied.into_iter().collect();
            for (name, mut sm) in wm.summaries {
                if sm.parts.is_empty() {
                    sm.parts.push(PartMeta {
                        file: sm.file.take(),
                        spilled: std::mem::take(&mut sm.spilled),
                    });
                }
                let mut parts = sm
                    .parts
                    .iter()
                    .map(|pm| {
                        let partials = match &pm.file {
                            Some(f) => read_ipc(&ckpt.join(f))?,
                            None => Vec::new(),
                        };
                        let spilled = pm.spilled.iter().map(PathBuf::from).collect();
                        Ok((pm.file.clone(), Part::new(partials, spilled)))
                    })
                    .collect::<Result<Vec<_>, EngineError>>()?;
                // Split by another hash function: one unsplit part is always correct.
                if parts.len() > 1 && meta.part_scheme != Some(partition::scheme()) {
                    let (mut partials, mut spilled) = (Vec::new(), Vec::new());
                    for (_, p) in parts.drain(..) {
                        let (b, s) = p.into_inner();
                        partials.extend(b);
                        spilled.extend(s);
                    }
                    parts = vec![(None, Part::new(partials, spilled))];
                }
                for (file, part) in &parts {
                    if let Some(f) = file {
                        saved.insert(f.clone(), part.version());
                    }
                }
                let parts = parts.into_iter().map(|(_, p)| p).collect();
                w.summaries.insert(
                    name,
                    SummaryState {
                        parts,
                        revision: sm.revision,
                        dirty: sm.dirty,
                    },
                );
            }
            agg.windows.insert(w.start_ms, w);
        }
        agg.ledger = meta
            .ledger
            .into_iter()
            .map(|e| (format!("{}|{}", e.source, e.object), e))
            .collect();
        agg.accounting = meta.accounting;
        agg.chunk_bytes = meta.chunk_bytes;
        if let (Some(fs), Some(st)) = (agg.first_seen.as_mut(), meta.first_seen) {
            fs.restore(st);
        }
        self.saved = Some(Saved {
            dir: ckpt,
            files: saved,
        });
        Ok(true)
    }

    /// Writes a new checkpoint of `agg` and makes it the live one.
    pub fn save(&mut self, agg: &Aggregator) -> Result<(), EngineError> {
        fs::create_dir_all(&self.dir).map_err(io_err(&self.dir))?;
        self.seq += 1;
        let name = format!("ckpt-{:06}", self.seq);
        let ckpt = self.dir.join(&name);
        if ckpt.exists() {
            fs::remove_dir_all(&ckpt).map_err(io_err(&ckpt))?;
        }
        fs::create_dir_all(&ckpt).map_err(io_err(&ckpt))?;
        let mut windows = Vec::with_capacity(agg.windows.len());
        let mut files = HashMap::new();
        for w in agg.windows.values() {
            let mut summaries = BTreeMap::new();
            for (sname, st) in &w.summaries {
                let mut parts = Vec::with_capacity(st.parts.len());
                for (i, part) in st.parts.iter().enumerate() {
                    let file = if part.partials().is_empty() {
                        None
                    } else {
                        let f = format!("w{}-{}-p{i}.arrow", w.start_ms, sname);
                        self.save_part(&ckpt, &f, part)?;
                        files.insert(f.clone(), part.version());
                        Some(f)
                    };
                    parts.push(PartMeta {
                        file,
                        spilled: part
                            .spilled
                            .iter()
                            .map(|p| p.display().to_string())
                            .collect(),
                    });
                }
                summaries.insert(
                    sname.clone(),
                    SummaryMeta {
                        revision: st.revision,
                        dirty: st.dirty,
                        parts,
                        file: None,
                        spilled: Vec::new(),
                    },
                );
            }
            windows.push(WindowMeta {
                start_ms: w.start_ms,
                records: w.records,
                applied: w.applied.iter().cloned().collect(),
                summaries,
            });
        }
        let meta = Meta {
            format: 1,
            seq: self.seq,
            windows,
            ledger: agg.ledger.values().cloned().collect(),
            accounting: agg.accounting.clone(),
            first_seen: agg.first_seen.as_ref().map(|f| f.state()),
            part_scheme: Some(partition::scheme()),
            chunk_bytes: agg.chunk_bytes.clone(),
        };
        let meta_path = ckpt.join("meta.json");
        let json = serde_json::to_vec(&meta).map_err(|e| EngineError::CorruptCheckpoint {
            path: meta_path.display().to_string(),
            reason: e.to_string(),
        })?;
        write_synced(&meta_path, &json)?;
        sync_dir(&ckpt)?;
        let tmp = self.dir.join("CURRENT.tmp");
        write_synced(&tmp, name.as_bytes())?;
        let current = self.dir.join("CURRENT");
        fs::rename(&tmp, &current).map_err(io_err(&current))?;
        sync_dir(&self.dir)?;
        self.saved = Some(Saved { dir: ckpt, files });
        self.remove_old(&name);
        Ok(())
    }

    /// Writes a part's file into the checkpoint `ckpt`, or links the previous checkpoint's
    /// file when the part has not changed since (its data is already synced).
    fn save_part(&mut self, ckpt: &Path, file: &str, part: &Part) -> Result<(), EngineError> {
        let path = ckpt.join(file);
        if let Some(prev) = &self.saved {
            if prev.files.get(file) == Some(&part.version())
                && fs::hard_link(prev.dir.join(file), &path).is_ok()
            {
                self.reused += 1;
                return Ok(());
            }
        }
        write_ipc(&path, part.partials())
    }

    /// Where a backfill spills window state (kept until `clear`, since checkpoints refer
    /// to the files).
    pub fn spill_dir(&self) -> PathBuf {
        self.dir.join("spill")
    }

    /// Removes every checkpoint and spill file (after a completed `run --once`).
    pub fn clear(&mut self) -> Result<(), EngineError> {
        let spill = self.spill_dir();
        match fs::remove_dir_all(&spill) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&spill)(e)),
        }
        self.saved = None;
        let current = self.dir.join("CURRENT");
        match fs::remove_file(&current) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&current)(e)),
        }
        self.remove_old("");
        Ok(())
    }

    fn remove_old(&self, keep: &str) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        for e in entries.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with("ckpt-") && n != keep {
                if let Err(err) = fs::remove_dir_all(e.path()) {
                    tracing::warn!(path = %e.path().display(), error = %err, "could not remove old checkpoint");
                }
            }
        }
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), EngineError> {
    let mut f = File::create(path).map_err(io_err(path))?;
    f.write_all(bytes).map_err(io_err(path))?;
    f.sync_all().map_err(io_err(path))
}

fn sync_dir(dir: &Path) -> Result<(), EngineError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

pub(crate) fn write_ipc(
    path: &Path,
    batches: &[arrow::record_batch::RecordBatch],
) -> Result<(), EngineError> {
    let Some(first) = batches.first() else {
        return Ok(());
    };
    let f = File::create(path).map_err(io_err(path))?;
    let mut w = FileWriter::try_new(f, &first.schema())?;
    for b in batches {
        w.write(b)?;
    }
    w.finish()?;
    w.get_ref().sync_all().map_err(io_err(path))
}

pub(crate) fn read_ipc(path: &Path) -> Result<Vec<arrow::record_batch::RecordBatch>, EngineError> {
    let f = File::open(path).map_err(io_err(path))?;
    let r = FileReader::try_new(f, None)?;
    Ok(r.collect::<Result<Vec<_>, _>>()?)
}
