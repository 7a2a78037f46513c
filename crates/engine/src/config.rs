//! Engine and summary configuration (the `[engine]` and `[[summaries]]` tables).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::detect::DetectionConfig;
use crate::enrich::EnrichmentConfig;
use crate::error::ConfigIssue;
use crate::orientation::OrientationConfig;

/// `[engine]`: windows, emission and state retention.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    /// Window size; windows are aligned to multiples of it since the Unix epoch (UTC), so
    /// 60 minutes means whole UTC hours.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// How often (wall clock) closed windows are emitted.
    #[serde(with = "humantime_serde")]
    pub tick: Duration,
    /// A window closes at its end plus this much; records usually arrive 10–20 minutes late.
    #[serde(with = "humantime_serde")]
    pub grace: Duration,
    /// State of a window is kept this long after its end, so late records produce a new
    /// revision; records for windows older than this are counted as too late.
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
    /// Also emit windows that are still open, marked provisional.
    pub emit_open_windows: bool,
    /// How often state is checkpointed (besides after every emission).
    #[serde(with = "humantime_serde")]
    pub checkpoint_interval: Duration,
    /// Chunks parsed and pre-aggregated in parallel.
    pub parallelism: usize,
    /// How records are oriented into client → server for the `connections` summary.
    pub orientation: OrientationConfig,
    /// `run --once` keeps window state in memory up to about this many bytes and spills
    /// the largest window's compacted state to the state directory beyond it.
    pub backfill_state_bytes: u64,
    /// A summary's state in a window is split into 16 hash parts of its group keys once it
    /// holds more groups than this (or before a backfill first spills it), so that
    /// compaction, spilling and emission work on one part at a time and memory stays flat
    /// however many keys a window has (0: never split).
    pub state_split_rows: usize,
    /// Lookup tables: inventory labels, blocklists, cloud service ranges.
    pub enrichment: EnrichmentConfig,
    /// Built-in detection summaries (blocklist hits, scans).
    pub detection: DetectionConfig,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(3600),
            tick: Duration::from_secs(600),
            grace: Duration::from_secs(1200),
            retention: Duration::from_secs(24 * 3600),
            emit_open_windows: false,
            checkpoint_interval: Duration::from_secs(30),
            parallelism: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            orientation: OrientationConfig::default(),
            backfill_state_bytes: 256 << 20,
            state_split_rows: 64 * 1024,
            enrichment: EnrichmentConfig::default(),
            detection: DetectionConfig::default(),
        }
    }
}

impl EngineConfig {
    pub fn window_ms(&self) -> i64 {
        self.window.as_millis() as i64
    }

    pub fn validate(&self, issues: &mut Vec<ConfigIssue>) {
        if self.window.as_secs() < 60 || self.window.subsec_nanos() != 0 {
            issues.push(ConfigIssue::new(
                "engine.window",
                format!(
                    "{:?} is not a whole number of seconds of at least 1 minute",
                    self.window
                ),
                "use e.g. \"60m\"",
            ));
        }
        if self.tick.is_zero() {
            issues.push(ConfigIssue::new(
                "engine.tick",
                "must be > 0",
                "use e.g. \"10m\"",
            ));
        }
        if self.retention < self.grace {
            issues.push(ConfigIssue::new(
                "engine.retention",
                "is shorter than engine.grace: windows would be dropped before they close",
                "set retention >= grace, e.g. \"24h\"",
            ));
        }
        self.orientation.validate(issues);
        self.enrichment.validate(issues);
        self.detection.validate(issues);
        if self.parallelism == 0 {
            issues.push(ConfigIssue::new(
                "engine.parallelism",
                "must be >= 1",
                "use the number of cores",
            ));
        }
    }
}

/// Aggregate function of a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricFn {
    /// Number of records.
    Count,
    /// Number of flows begun: Azure B and D tuples and v1 tuples; every AWS record.
    Flows,
    Sum,
    Min,
    Max,
    /// Exact number of distinct values. Two-phase exact: partials keep the value as a
    /// hidden group key, so merging stays exact across chunks and processes.
    Distinct,
}

/// One output metric: `{ name = "bytes", fn = "sum", column = "bytes" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricConfig {
    pub name: String,
    #[serde(rename = "fn")]
    pub func: MetricFn,
    /// Input column (not for `count` and `flows`).
    #[serde(default)]
    pub column: Option<String>,
}

/// `[[summaries]]`: one declarative summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SummaryConfig {
    pub name: String,
    /// Group-by columns of the normalized (and derived) schema.
    pub group_by: Vec<String>,
    pub metrics: Vec<MetricConfig>,
    /// Optional SQL boolean expression over the record columns.
    #[serde(default)]
    pub filter: Option<String>,
    /// Optional SQL boolean expression over the emitted columns (group keys and metrics),
    /// applied when a window is emitted, e.g. `records >= 100`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub having: Option<String>,
}

fn m(name: &str, func: MetricFn, column: Option<&str>) -> MetricConfig {
    MetricConfig {
        name: name.into(),
        func,
        column: column.map(Into::into),
    }
}

impl SummaryConfig {
    /// `traffic`: who talked to whom on which port, accepted or rejected.
    pub fn traffic() -> Self {
        Self {
            name: "traffic".into(),
            group_by: [
                "provider",
                "account_id",
                "region",
                "vpc_id",
                "src_addr",
                "dst_addr",
                "dst_port",
                "protocol",
                "action",
                "direction",
            ]
            .map(String::from)
            .to_vec(),
            metrics: vec![
                m("records", MetricFn::Count, None),
                m("flows", MetricFn::Flows, None),
                m("packets", MetricFn::Sum, Some("packets")),
                m("bytes", MetricFn::Sum, Some("bytes")),
                m("packets_rev", MetricFn::Sum, Some("packets_rev")),
                m("bytes_rev", MetricFn::Sum, Some("bytes_rev")),
                m("first_seen", MetricFn::Min, Some("start")),
                m("last_seen", MetricFn::Max, Some("end")),
            ],
            filter: Some("log_status = 'OK'".into()),
            having: None,
        }
    }

    /// `rejected_by_source`: sources of rejected traffic with how many distinct ports and
    /// hosts they tried — what a SIEM alerts on for scans.
    pub fn rejected_by_source() -> Self {
        Self {
            name: "rejected_by_source".into(),
            group_by: ["provider", "account_id", "src_addr", "protocol"]
                .map(String::from)
                .to_vec(),
            metrics: vec![
                m("records", MetricFn::Count, None),
                m("packets", MetricFn::Sum, Some("packets")),
                m("distinct_dst_ports", MetricFn::Distinct, Some("dst_port")),
                m("distinct_dst_addrs", MetricFn::Distinct, Some("dst_addr")),
                m("first_seen", MetricFn::Min, Some("start")),
                m("last_seen", MetricFn::Max, Some("end")),
            ],
            filter: Some("log_status = 'OK' AND action = 'REJECT'".into()),
            having: None,
        }
    }

    /// `connections`: the service view. Every record oriented into client → server :
    /// service port, responses folded into the connection they answer, bytes both ways.
    pub fn connections() -> Self {
        Self {
            name: "connections".into(),
            group_by: [
                "provider",
                "account_id",
                "region",
                "vpc_id",
                "client_addr",
                "server_addr",
                "server_port",
                "protocol",
                "action",
            ]
            .map(String::from)
            .to_vec(),
            metrics: vec![
                m("records", MetricFn::Count, None),
                m("flows", MetricFn::Flows, None),
                m("packets_c2s", MetricFn::Sum, Some("packets_c2s")),
                m("bytes_c2s", MetricFn::Sum, Some("bytes_c2s")),
                m("packets_s2c", MetricFn::Sum, Some("packets_s2c")),
                m("bytes_s2c", MetricFn::Sum, Some("bytes_s2c")),
                m("first_seen", MetricFn::Min, Some("start")),
                m("last_seen", MetricFn::Max, Some("end")),
            ],
            filter: Some("log_status = 'OK'".into()),
            having: None,
        }
    }

    pub fn builtins() -> Vec<Self> {
        vec![
            Self::traffic(),
            Self::connections(),
            Self::rejected_by_source(),
        ]
    }

    pub fn validate(&self, key: &str, columns: &[&str], issues: &mut Vec<ConfigIssue>) {
        let valid_name = !self.name.is_empty()
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid_name {
            issues.push(ConfigIssue::new(
                format!("{key}.name"),
                format!("{:?} is not a valid summary name", self.name),
                "use lower-case letters, digits and _",
            ));
        }
        let known = |c: &str| columns.contains(&c);
        for (i, g) in self.group_by.iter().enumerate() {
            if !known(g) {
                issues.push(ConfigIssue::new(
                    format!("{key}.group_by[{i}]"),
                    format!("unknown column {g:?}"),
                    "use a column of the flow schema (`flowlogd schema` lists them)",
                ));
            }
        }
        if self.metrics.is_empty() {
            issues.push(ConfigIssue::new(
                format!("{key}.metrics"),
                "no metrics",
                "add e.g. { name = \"records\", fn = \"count\" }",
            ));
        }
        for (i, mc) in self.metrics.iter().enumerate() {
            let mkey = format!("{key}.metrics[{i}]");
            let needs_column = !matches!(mc.func, MetricFn::Count | MetricFn::Flows);
            match (&mc.column, needs_column) {
                (None, true) => issues.push(ConfigIssue::new(
                    format!("{mkey}.column"),
                    format!("fn {:?} needs a column", mc.func),
                    "add column = \"bytes\" (or another column)",
                )),
                (Some(c), true) if !known(c) => issues.push(ConfigIssue::new(
                    format!("{mkey}.column"),
                    format!("unknown column {c:?}"),
                    "use a column of the flow schema",
                )),
                _ => {}
            }
            if self.group_by.contains(&mc.name) || mc.name.starts_with("__") {
                issues.push(ConfigIssue::new(
                    format!("{mkey}.name"),
                    format!(
                        "{:?} clashes with a group-by column or a reserved name",
                        mc.name
                    ),
                    "rename the metric",
                ));
            }
        }
    }
}
