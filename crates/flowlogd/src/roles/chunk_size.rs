//! The chunk size each source of the source role cuts objects with, kept across restarts.
//!
//! A chunk's id is its offset, and an object whose ledger entry was not acknowledged is
//! read again from its start after a crash; cut with another `max_chunk_bytes`, its
//! chunks would get other ids, and the aggregate role would count what it had applied of
//! the object twice (and drop what a re-cut chunk at a known offset adds). So a changed
//! size takes effect only after a run that ended with no object sent in part; until then
//! the size of `<state_dir>/source-chunking.json` stays in force.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::Context;
use flowlogd_sources::KAFKA_CHUNK_BYTES;
use serde::{Deserialize, Serialize};

use super::write_atomically;
use crate::config::Config;

#[derive(Debug, Default, Serialize, Deserialize)]
struct Recorded {
    /// Source name → chunk size it used.
    chunk_bytes: BTreeMap<String, usize>,
    /// The run ended with the ledger entry of every object it sent chunks of acknowledged.
    clean: bool,
}

/// Chunk sizes in force and the objects sent in part so far.
#[derive(Debug)]
pub struct ChunkSizes {
    path: PathBuf,
    used: BTreeMap<String, usize>,
    /// `source|object` of objects with chunks sent and no acknowledged ledger entry.
    open: BTreeSet<String>,
}

impl ChunkSizes {
    /// Settles the size of every local, S3 and Azure Blob source of `cfg` (see the module
    /// doc) and writes it down as not clean: a crash from now on may leave objects sent in
    /// part.
    pub fn settle(cfg: &mut Config) -> anyhow::Result<Self> {
        let path = cfg.state_dir().join("source-chunking.json");
        let before = load(&path)?;
        let mut used = BTreeMap::new();
        for (name, size) in cfg.sources.chunk_sizes_mut(KAFKA_CHUNK_BYTES) {
            let wanted = *size;
            *size = match before.chunk_bytes.get(name) {
                Some(&old) if old != wanted && !before.clean => {
                    tracing::warn!(
                        source = %name,
                        configured = wanted,
                        used = old,
                        "max_chunk_bytes changed after a run that may have sent an object in \
                         part; keeping the size it used until a run ends with none"
                    );
                    old
                }
                _ => wanted,
            };
            used.insert(name.to_owned(), *size);
        }
        let sizes = Self {
            path,
            used,
            open: BTreeSet::new(),
        };
        sizes.save(false)?;
        Ok(sizes)
    }

    /// A chunk of `source|object` was handed to the producer.
    pub fn chunk_sent(&mut self, source: &str, object: &str) {
        self.open.insert(format!("{source}|{object}"));
    }

    /// The ledger entry of `key` (`source|object`) was acknowledged: all its chunks were.
    pub fn object_done(&mut self, key: &str) {
        self.open.remove(key);
    }

    /// Records the end of the run: clean if no object was left sent in part.
    pub fn finish(&self) -> anyhow::Result<()> {
        self.save(self.open.is_empty())
    }

    /// Written to a temporary file, synced and renamed: a crash leaves the old or the new one.
    fn save(&self, clean: bool) -> anyhow::Result<()> {
        let rec = Recorded {
            chunk_bytes: self.used.clone(),
            clean,
        };
        let bytes = serde_json::to_vec(&rec)?;
        write_atomically(&self.path, &bytes)
    }
}

fn load(path: &Path) -> anyhow::Result<Recorded> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b)
            .with_context(|| format!("{}: not a source chunking record", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Recorded::default()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(state: &Path, size: Option<usize>) -> Config {
        let toml = format!(
            "state_dir = {state:?}\n[[sources.local]]\nname = \"l\"\npath = \"/in\"\n{}",
            size.map(|n| format!("max_chunk_bytes = {n}\n"))
                .unwrap_or_default()
        );
        toml::from_str(&toml).expect("test config")
    }

    fn size_after(state: &Path, size: Option<usize>) -> (ChunkSizes, Option<usize>) {
        let mut c = cfg(state, size);
        let s = ChunkSizes::settle(&mut c).expect("settle");
        let used = c.sources.local[0].max_chunk_bytes;
        (s, used)
    }

    #[test]
    fn a_new_size_waits_for_a_run_that_left_no_object_in_part() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut first, used) = size_after(dir.path(), Some(65536));
        assert_eq!(used, Some(65536));
        first.chunk_sent("l", "a.log.gz");
        // Killed with a.log.gz sent in part: the next run keeps 64 KiB.
        let (_, used) = size_after(dir.path(), None);
        assert_eq!(used, Some(65536));
        // Still not clean (that run was killed too): kept again.
        let (mut third, used) = size_after(dir.path(), Some(1 << 20));
        assert_eq!(used, Some(65536));
        third.chunk_sent("l", "a.log.gz");
        third.object_done("l|a.log.gz");
        third.finish().expect("finish");
        // A run that ended with every object done lets the new size in.
        let (mut fourth, used) = size_after(dir.path(), Some(1 << 20));
        assert_eq!(used, Some(1 << 20));
        fourth.chunk_sent("l", "b.log.gz");
        fourth.finish().expect("finish");
        // Ended (gracefully) with b.log.gz in part: the size stays.
        let (_, used) = size_after(dir.path(), Some(65536));
        assert_eq!(used, Some(1 << 20));
    }
}
