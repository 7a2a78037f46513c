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
    /// Upper bound of one chunk (bytes of decompressed text or JSON). Default:
    /// [`EMBEDDED_CHUNK_BYTES`] on the in-process bus, [`KAFKA_CHUNK_BYTES`] on Kafka.
    #[serde(default)]
    pub max_chunk_bytes: Option<usize>,
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

/// Chunk size on the Kafka bus unless configured: a chunk is one Kafka record, and brokers
/// accept records of about 1 MB by default.
pub const KAFKA_CHUNK_BYTES: usize = 1 << 20;

/// Chunk size on the in-process bus unless configured. Larger chunks cost only memory there,
/// and phase one runs a quarter as often and reduces more (keys repeat within an object).
pub const EMBEDDED_CHUNK_BYTES: usize = 4 << 20;

impl LocalDirConfig {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            name: default_name(),
            path: path.into(),
            poll_interval: default_poll(),
            settle: default_settle(),
            max_chunk_bytes: None,
            read_parallelism: default_read_parallelism(),
        }
    }

    /// The configured chunk size, or the Kafka bus's default.
    pub fn chunk_bytes(&self) -> usize {
        self.max_chunk_bytes.unwrap_or(KAFKA_CHUNK_BYTES)
    }
}
