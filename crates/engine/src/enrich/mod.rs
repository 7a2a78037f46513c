//! Enrichment: lookup tables loaded from files, turned into derived columns before partial
//! aggregation so summaries can group and filter by them:
//!
//! - inventory labels of both addresses (`src_label_app`, `dst_label_env`, …), by
//!   longest-prefix match of the address, else by the record's interface id for the local
//!   side (`direction` ingress → dst, egress → src);
//! - blocklist hits (`src_blocklist`, `dst_blocklist`: the list's name);
//! - cloud service ranges (`src_service`, `dst_service`) and the `traffic_class`.
//!
//! Tables are reloaded when a file changes ([`Enricher::reload_if_changed`]); a file that no
//! longer parses is logged and the previous tables stay in use. Records are enriched with
//! the tables in force when their chunk is processed, so a reload changes the labels of
//! later chunks only (a chunk replayed after a restart is enriched anew).

pub mod blocklist;
pub mod classify;
pub mod inventory;
pub mod ranges;
pub mod table;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use arrow::array::{new_null_array, Array, ArrayRef, AsArray, StringArray, StringBuilder};
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use flowlogd_formats::Col;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::error::ConfigIssue;
pub use blocklist::BlocklistConfig;
use classify::{classify, Side};
pub use inventory::{Inventory, InventoryConfig, Labels};
pub use ranges::CloudRangesConfig;
use table::{is_private, PrefixTable};

/// `[engine.enrichment]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EnrichmentConfig {
    /// Plain-text blocklists; an address on several lists gets the name of the list with
    /// the most specific prefix (the first configured one on a tie).
    pub blocklists: Vec<BlocklistConfig>,
    /// Inventory files (CSV or JSON); on overlaps the most specific prefix wins, on a tie
    /// the first file.
    pub inventory: Vec<InventoryConfig>,
    /// Cloud service ranges (AWS `ip-ranges.json` format).
    pub cloud_ranges: Option<CloudRangesConfig>,
    /// How often the files' modification times are checked.
    #[serde(with = "humantime_serde")]
    pub reload_interval: Duration,
}

impl Default for EnrichmentConfig {
    fn default() -> Self {
        Self {
            blocklists: Vec::new(),
            inventory: Vec::new(),
            cloud_ranges: None,
            reload_interval: Duration::from_secs(30),
        }
    }
}

impl EnrichmentConfig {
    pub fn validate(&self, issues: &mut Vec<ConfigIssue>) {
        for (i, b) in self.blocklists.iter().enumerate() {
            if b.name.trim().is_empty() {
                issues.push(ConfigIssue::new(
                    format!("engine.enrichment.blocklists[{i}].name"),
                    "is empty",
                    "name the list, e.g. \"spamhaus_drop\"",
                ));
            }
        }
        if self.reload_interval.is_zero() {
            issues.push(ConfigIssue::new(
                "engine.enrichment.reload_interval",
                "must be > 0",
                "use e.g. \"30s\"",
            ));
        }
    }

    /// Every file the tables are loaded from.
    pub fn files(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = self.blocklists.iter().map(|b| b.path.clone()).collect();
        out.extend(self.inventory.iter().map(|i| i.path.clone()));
        out.extend(self.cloud_ranges.iter().map(|r| r.path.clone()));
        out
    }
}

#[derive(Debug, Error)]
pub enum LoadError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {reason}")]
    Line {
        path: String,
        line: usize,
        reason: String,
    },
}

fn read(path: &Path) -> Result<String, LoadError> {
    std::fs::read_to_string(path).map_err(|source| LoadError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// Derived enrichment columns, all nullable strings, in this order.
pub const ENRICH_COLUMNS: [&str; 13] = [
    "src_label_app",
    "src_label_env",
    "src_label_owner",
    "src_label_account_name",
    "dst_label_app",
    "dst_label_env",
    "dst_label_owner",
    "dst_label_account_name",
    "src_blocklist",
    "dst_blocklist",
    "src_service",
    "dst_service",
    "traffic_class",
];
const N: usize = ENRICH_COLUMNS.len();
const BLOCK: usize = 8;
const SERVICE: usize = 10;
const CLASS: usize = 12;

/// Which enrichment columns some summary reads; the others are left null.
pub type Used = [bool; N];

pub fn used_by(sql: &str) -> Used {
    ENRICH_COLUMNS.map(|c| sql.contains(c))
}

/// One generation of loaded tables.
#[derive(Debug, Default)]
pub struct Tables {
    pub inventory: Inventory,
    pub blocklist: PrefixTable<Arc<str>>,
    pub services: PrefixTable<Arc<str>>,
}

impl Tables {
    pub fn load(cfg: &EnrichmentConfig) -> Result<Self, LoadError> {
        let mut t = Tables::default();
        for b in &cfg.blocklists {
            blocklist::load_into(&b.path, &Arc::from(b.name.as_str()), &mut t.blocklist)?;
        }
        for i in &cfg.inventory {
            t.inventory.load_into(&i.path)?;
        }
        if let Some(r) = &cfg.cloud_ranges {
            t.services = ranges::load(r)?;
        }
        Ok(t)
    }

    /// The enrichment columns of a normalized batch, in [`ENRICH_COLUMNS`] order; columns
    /// not in `used` are all null.
    pub fn columns(&self, batch: &RecordBatch, used: &Used) -> Vec<ArrayRef> {
        let n = batch.num_rows();
        if !used.iter().any(|u| *u) {
            return (0..N).map(|_| new_null_array(&DataType::Utf8, n)).collect();
        }
        let want_labels = used[..BLOCK].iter().any(|u| *u) || used[CLASS];
        let want_block = used[BLOCK] || used[BLOCK + 1];
        let want_service = used[SERVICE] || used[SERVICE + 1] || used[CLASS];
        let src = batch.column(Col::SrcAddr as usize).as_string::<i32>();
        let dst = batch.column(Col::DstAddr as usize).as_string::<i32>();
        let iface = batch.column(Col::InterfaceId as usize).as_string::<i32>();
        let dir = batch.column(Col::Direction as usize).as_string::<i32>();
        let mut builders: Vec<Option<StringBuilder>> = used
            .iter()
            .map(|u| u.then(|| StringBuilder::with_capacity(n, n * 8)))
            .collect();
        let want = Want {
            labels: want_labels,
            block: want_block,
            service: want_service,
        };
        // Flow logs repeat the same few addresses many times per chunk: look each up once.
        let mut cache: HashMap<&str, Info<'_>, FnvBuild> = HashMap::default();
        let by_interface = want_labels && !self.inventory.by_interface.is_empty();
        for i in 0..n {
            let s = self.info(src, i, &mut cache, want);
            let d = self.info(dst, i, &mut cache, want);
            let mut labels = [s.labels, d.labels];
            if by_interface && !iface.is_null(i) && !dir.is_null(i) {
                let local = match dir.value(i) {
                    "egress" => Some(0),
                    "ingress" => Some(1),
                    _ => None,
                };
                if let Some(side) = local.filter(|&k| labels[k].is_none()) {
                    labels[side] = self
                        .inventory
                        .by_interface
                        .get(iface.value(i))
                        .map(|l| &**l);
                }
            }
            let class =
                (s.valid && d.valid).then(|| classify(&side(&s, labels[0]), &side(&d, labels[1])));
            for (k, b) in builders.iter_mut().enumerate() {
                let Some(b) = b else { continue };
                let v: Option<&str> = match k {
                    0..=7 => labels[k / 4].and_then(|l| match k % 4 {
                        0 => l.app.as_deref(),
                        1 => l.env.as_deref(),
                        2 => l.owner.as_deref(),
                        _ => l.account_name.as_deref(),
                    }),
                    BLOCK => s.block,
                    9 => d.block,
                    SERVICE => s.service,
                    11 => d.service,
                    _ => class,
                };
                b.append_option(v);
            }
        }
        builders
            .into_iter()
            .map(|b| match b {
                Some(mut b) => Arc::new(b.finish()) as ArrayRef,
                None => new_null_array(&DataType::Utf8, n),
            })
            .collect()
    }
}

impl Tables {
    fn info<'a, 't>(
        &'t self,
        addrs: &'a StringArray,
        i: usize,
        cache: &mut HashMap<&'a str, Info<'t>, FnvBuild>,
        want: Want,
    ) -> Info<'t> {
        if addrs.is_null(i) {
            return Info::default();
        }
        let a = addrs.value(i);
        if let Some(v) = cache.get(a) {
            return v.clone();
        }
        let v = match a.parse::<IpAddr>() {
            Err(_) => Info::default(),
            Ok(ip) => Info {
                valid: true,
                private: is_private(ip),
                labels: want
                    .labels
                    .then(|| self.inventory.by_addr.lookup(ip).map(|l| &**l))
                    .flatten(),
                block: want
                    .block
                    .then(|| self.blocklist.lookup(ip).map(|s| &**s))
                    .flatten(),
                service: want
                    .service
                    .then(|| self.services.lookup(ip).map(|s| &**s))
                    .flatten(),
            },
        };
        cache.insert(a, v.clone());
        v
    }
}

fn side<'t>(x: &Info<'t>, labels: Option<&'t Labels>) -> Side<'t> {
    Side {
        private: x.private,
        vpc_id: labels.and_then(|l| l.vpc_id.as_deref()),
        service: x.service.is_some(),
    }
}

/// FNV-1a: the per-chunk address cache is hit for every record, and addresses are short,
/// so a simple hash beats the DoS-resistant default (the keys come from one chunk only).
#[derive(Default, Clone, Copy)]
struct FnvBuild;

struct Fnv(u64);

impl std::hash::BuildHasher for FnvBuild {
    type Hasher = Fnv;
    fn build_hasher(&self) -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// Which lookups the used columns need.
#[derive(Debug, Clone, Copy)]
struct Want {
    labels: bool,
    block: bool,
    service: bool,
}

#[derive(Debug, Clone, Default)]
struct Info<'t> {
    valid: bool,
    private: bool,
    labels: Option<&'t Labels>,
    block: Option<&'t str>,
    service: Option<&'t str>,
}

/// The tables in force and what is needed to notice that their files changed.
#[derive(Debug)]
pub struct Enricher {
    cfg: EnrichmentConfig,
    tables: RwLock<Arc<Tables>>,
    /// (modification time, size) of every file as last loaded or tried.
    stamps: Mutex<Vec<Option<(SystemTime, u64)>>>,
}

impl Enricher {
    /// Loads every table; a file that cannot be read or parsed is an error at startup.
    pub fn load(cfg: &EnrichmentConfig) -> Result<Self, LoadError> {
        let stamps = stamps(cfg);
        Ok(Self {
            tables: RwLock::new(Arc::new(Tables::load(cfg)?)),
            cfg: cfg.clone(),
            stamps: Mutex::new(stamps),
        })
    }

    /// No files: every column but `traffic_class` stays null.
    pub fn empty() -> Self {
        Self {
            cfg: EnrichmentConfig::default(),
            tables: RwLock::new(Arc::new(Tables::default())),
            stamps: Mutex::new(Vec::new()),
        }
    }

    pub fn config(&self) -> &EnrichmentConfig {
        &self.cfg
    }

    /// The tables in force.
    pub fn tables(&self) -> Arc<Tables> {
        match self.tables.read() {
            Ok(t) => t.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Reloads every table when a file's modification time or size changed (or `force`,
    /// e.g. on SIGHUP). `Ok(true)`: new tables are in force. On an error the previous tables
    /// stay in force and the same files are not retried until they change again.
    pub fn reload_if_changed(&self, force: bool) -> Result<bool, LoadError> {
        let now = stamps(&self.cfg);
        {
            let mut last = match self.stamps.lock() {
                Ok(l) => l,
                Err(p) => p.into_inner(),
            };
            if !force && *last == now {
                return Ok(false);
            }
            *last = now;
        }
        let t = Tables::load(&self.cfg)?;
        match self.tables.write() {
            Ok(mut w) => *w = Arc::new(t),
            Err(p) => *p.into_inner() = Arc::new(t),
        }
        Ok(true)
    }
}

fn stamps(cfg: &EnrichmentConfig) -> Vec<Option<(SystemTime, u64)>> {
    cfg.files()
        .iter()
        .map(|p| {
            let m = std::fs::metadata(p).ok()?;
            Some((m.modified().ok()?, m.len()))
        })
        .collect()
}

#[cfg(test)]
mod tests;
