//! `[[sources.local]]` configuration.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A directory tree of flow-log objects (`.log`, `.log.gz`, `.parquet`, `PT1H.json`), for
/// backfills, tests, and files synced from cloud storage by other tools.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalDirConfig {
    /// Name used in chunk ids and the ledger; keep it stable across restarts.
    #[serde(default = "default_name")]
    pub name: String,
    /// Directory scanned recursively (hidden files and directories are skipped).
    pub path: PathBuf,
    /// How often the tree is scanned in continuous mode.
    #[serde(default = "default_poll", with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Text and Parquet files are read once unchanged for this long (still being copied
    /// otherwise); growing `PT1H.json` files are read incrementally regardless.
    #[serde(default = "default_settle", with = "humantime_serde")]
    pub settle: Duration,
    /// Upper bound of one chunk (bytes of decompressed text or JSON).
    #[serde(default = "default_max_chunk_bytes")]
    pub max_chunk_bytes: usize,
    /// Files read (decompressed and chunked) at once; a backfill of many small objects is
    /// limited by one reader otherwise.
    #[serde(default = "default_read_parallelism")]
    pub read_parallelism: usize,
}

fn default_name() -> String {
    "local".into()
}

const fn default_poll() -> Duration {
    Duration::from_secs(5)
}

const fn default_settle() -> Duration {
    Duration::from_secs(2)
}

fn default_read_parallelism() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

pub const fn default_max_chunk_bytes() -> usize {
    1 << 20
}

impl LocalDirConfig {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            name: default_name(),
            path: path.into(),
            poll_interval: default_poll(),
            settle: default_settle(),
            max_chunk_bytes: default_max_chunk_bytes(),
            read_parallelism: default_read_parallelism(),
        }
    }
}
