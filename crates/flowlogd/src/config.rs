//! The whole TOML configuration, composed of each component's own config type.

use std::path::{Path, PathBuf};

use flowlogd_bus::kafka::KafkaConfig;
use flowlogd_engine::{derive, ConfigIssue, EngineConfig, SummaryConfig};
use flowlogd_formats::ParseOptions;
use flowlogd_ops::admin::AdminConfig;
use flowlogd_ops::telemetry::TelemetryConfig;
use flowlogd_sinks::{
    DeadLetterSinkConfig, FirstSeenSinkConfig, JsonlSinkConfig, ParquetSinkConfig,
};
use flowlogd_sources::{AzureBlobSourceConfig, LocalDirConfig, S3SourceConfig};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Checkpoints (window state, source ledger). Default: `<first output>/.state`.
    #[serde(default)]
    pub state_dir: Option<PathBuf>,
    #[serde(default)]
    pub engine: EngineConfig,
    /// Keep the built-in `traffic` and `rejected_by_source` summaries (default true).
    #[serde(default = "yes")]
    pub builtin_summaries: bool,
    #[serde(default)]
    pub summaries: Vec<SummaryConfig>,
    #[serde(default)]
    pub parse: ParseConfig,
    #[serde(default)]
    pub sources: SourcesConfig,
    #[serde(default)]
    pub sinks: SinksConfig,
    /// `[admin]`: the HTTP endpoint (`/healthz`, `/readyz`, `/status`, `/metrics`).
    #[serde(default)]
    pub admin: AdminConfig,
    /// `[telemetry]`: log level/format and OTLP export.
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    /// `[service]`: behaviour under a service manager.
    #[serde(default)]
    pub service: ServiceConfig,
    /// Kafka mode: the stages talk through Kafka topics (see README "Kafka mode").
    #[serde(default)]
    pub kafka: Option<KafkaConfig>,
}

fn yes() -> bool {
    true
}

/// `[service]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// SIGTERM/SIGINT (and a reload) drain in-flight chunks and checkpoint within this
    /// time; past it flowlogd exits 1 and the next start resumes from the last checkpoint.
    /// Keep it below the unit's `TimeoutStopSec`.
    #[serde(default = "default_shutdown_timeout", with = "humantime_serde")]
    pub shutdown_timeout: std::time::Duration,
}

fn default_shutdown_timeout() -> std::time::Duration {
    std::time::Duration::from_secs(45)
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            shutdown_timeout: default_shutdown_timeout(),
        }
    }
}

/// `[parse]`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParseConfig {
    /// Field list for AWS text objects without a header line, e.g.
    /// `"${version} ${account-id} ${interface-id} ..."` (default: the v2 format).
    #[serde(default)]
    pub aws_format: Option<String>,
    /// Decompressed size above which an object is rejected whole (default 8 GiB).
    #[serde(default)]
    pub max_decompressed_bytes: Option<u64>,
}

impl ParseConfig {
    pub fn options(&self) -> ParseOptions {
        let mut o = ParseOptions::default();
        if let Some(f) = &self.aws_format {
            o.aws_default_fields = f.split_whitespace().map(str::to_owned).collect();
        }
        if let Some(m) = self.max_decompressed_bytes {
            o.max_decompressed_bytes = m;
        }
        o
    }
}

/// `[sources]`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourcesConfig {
    #[serde(default)]
    pub local: Vec<LocalDirConfig>,
    /// VPC flow logs in S3 buckets (`[[sources.s3]]`).
    #[serde(default)]
    pub s3: Vec<S3SourceConfig>,
    /// Azure Blob flow-log containers (NSG and VNet flow logs).
    #[serde(default)]
    pub azure_blob: Vec<AzureBlobSourceConfig>,
}

impl SourcesConfig {
    /// Each source's name and the chunk size it cuts objects with, `default` filled in where
    /// none is configured (Azure Blob sources always have one).
    pub fn chunk_sizes_mut(&mut self, default: usize) -> Vec<(&str, &mut usize)> {
        let local = (self.local.iter_mut())
            .map(|s| (s.name.as_str(), s.max_chunk_bytes.get_or_insert(default)));
        let s3 = (self.s3.iter_mut())
            .map(|s| (s.name.as_str(), s.max_chunk_bytes.get_or_insert(default)));
        let azure = (self.azure_blob.iter_mut()).map(|s| (s.name.as_str(), &mut s.max_chunk_bytes));
        local.chain(s3).chain(azure).collect()
    }
}

/// `[sinks]`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinksConfig {
    pub parquet: Option<ParquetSinkConfig>,
    pub jsonl: Option<JsonlSinkConfig>,
    pub dead_letter: Option<DeadLetterSinkConfig>,
    /// First-seen alerts (with `[engine.detection.first_seen] enabled = true`).
    pub first_seen: Option<FirstSeenSinkConfig>,
}

impl Config {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }

    /// The quick-start configuration: one local directory in, Parquet + JSON lines +
    /// dead letters under one output directory.
    pub fn quick_start(input: &Path, output: &Path) -> Self {
        Self {
            state_dir: None,
            engine: EngineConfig::default(),
            builtin_summaries: true,
            summaries: Vec::new(),
            parse: ParseConfig::default(),
            sources: SourcesConfig {
                local: vec![LocalDirConfig::new(input)],
                s3: Vec::new(),
                azure_blob: Vec::new(),
            },
            sinks: SinksConfig {
                parquet: Some(ParquetSinkConfig {
                    path: output.join("parquet"),
                    compression: Default::default(),
                }),
                jsonl: Some(JsonlSinkConfig {
                    path: output.join("summaries.jsonl"),
                }),
                dead_letter: Some(DeadLetterSinkConfig {
                    path: output.join("deadletter.jsonl"),
                }),
                first_seen: None,
            },
            admin: AdminConfig::default(),
            telemetry: TelemetryConfig::default(),
            service: ServiceConfig::default(),
            kafka: None,
        }
    }

    /// Built-ins (unless switched off) followed by the configured summaries.
    pub fn all_summaries(&self) -> Vec<SummaryConfig> {
        let mut all = if self.builtin_summaries {
            let mut b = SummaryConfig::builtins();
            b.extend(self.engine.detection.summaries(&self.engine.enrichment));
            b
        } else {
            Vec::new()
        };
        all.extend(self.summaries.iter().cloned());
        // Hidden: read by first-seen detection, written to no summary sink.
        if self.engine.detection.first_seen.enabled {
            all.push(flowlogd_engine::FirstSeenConfig::summary());
        }
        all
    }

    pub fn state_dir(&self) -> PathBuf {
        if let Some(d) = &self.state_dir {
            return d.clone();
        }
        let base = self
            .sinks
            .parquet
            .as_ref()
            .and_then(|p| p.path.parent().map(Path::to_path_buf))
            .or_else(|| {
                self.sinks
                    .jsonl
                    .as_ref()
                    .and_then(|j| j.path.parent().map(Path::to_path_buf))
            })
            .unwrap_or_else(|| PathBuf::from("."));
        base.join(".state")
    }

    /// Problems in the enrichment files' contents (parses every table).
    pub fn lookup_issues(&self) -> Vec<ConfigIssue> {
        match flowlogd_engine::enrich::Tables::load(&self.engine.enrichment) {
            Ok(_) => Vec::new(),
            Err(e) => vec![ConfigIssue::new(
                "engine.enrichment",
                format!("a lookup file does not load: {e}"),
                "fix the file",
            )],
        }
    }

    /// Every problem, by key, with a fix.
    pub fn validate(&self) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        self.engine.validate(&mut issues);
        // Only that the files are there: `run` parses them once when it starts and
        // `validate-config` parses them too (`lookup_issues`).
        for f in self.engine.enrichment.files() {
            if let Err(e) = std::fs::metadata(&f) {
                issues.push(ConfigIssue::new(
                    "engine.enrichment",
                    format!("{}: {e}", f.display()),
                    "fix the path",
                ));
            }
        }
        let columns = derive::column_names();
        let all = self.all_summaries();
        for (i, s) in self.summaries.iter().enumerate() {
            s.validate(&format!("summaries[{i}]"), &columns, &mut issues);
        }
        for (i, s) in all.iter().enumerate() {
            if all[..i].iter().any(|o| o.name == s.name) {
                issues.push(ConfigIssue::new(
                    "summaries",
                    format!("summary {:?} is defined twice (built-ins are on)", s.name),
                    "rename it, or set builtin_summaries = false",
                ));
            }
        }
        if all.is_empty() {
            issues.push(ConfigIssue::new(
                "summaries",
                "no summaries",
                "add a [[summaries]] table or set builtin_summaries = true",
            ));
        }
        for (i, s) in self.sources.s3.iter().enumerate() {
            for (key, what, fix) in s.issues() {
                issues.push(ConfigIssue::new(
                    format!("sources.s3[{i}].{key}"),
                    what,
                    fix,
                ));
            }
        }
        let names: Vec<&str> = self
            .sources
            .local
            .iter()
            .map(|s| s.name.as_str())
            .chain(self.sources.s3.iter().map(|s| s.name.as_str()))
            .chain(self.sources.azure_blob.iter().map(|s| s.name.as_str()))
            .collect();
        for (i, s) in self.sources.s3.iter().enumerate() {
            if let Some(q) = &s.sqs_queue_url {
                if self.sources.s3[..i]
                    .iter()
                    .any(|o| o.sqs_queue_url.as_ref() == Some(q))
                {
                    issues.push(ConfigIssue::new(
                        format!("sources.s3[{i}].sqs_queue_url"),
                        "the queue is used by another source: each would delete the other's notifications",
                        "give every source its own queue (one notification configuration per prefix)",
                    ));
                }
            }
            if names.iter().filter(|n| **n == s.name).count() > 1 {
                issues.push(ConfigIssue::new(
                    format!("sources.s3[{i}].name"),
                    format!("source name {:?} is used twice", s.name),
                    "give every source a unique name",
                ));
            }
        }
        if let Some(k) = &self.kafka {
            self.validate_kafka(k, &all, &mut issues);
        }
        // In Kafka mode sources are needed by the source role only (checked when it starts).
        if self.sources.local.is_empty()
            && self.sources.s3.is_empty()
            && self.sources.azure_blob.is_empty()
            && self.kafka.is_none()
        {
            issues.push(ConfigIssue::new(
                "sources",
                "no source configured",
                "add [[sources.local]] with path = \"/var/lib/flowlogs\", or [[sources.s3]] with name and bucket",
            ));
        }
        for (i, s) in self.sources.local.iter().enumerate() {
            if let Some(n) = s.max_chunk_bytes.filter(|n| *n < 64 * 1024) {
                issues.push(ConfigIssue::new(
                    format!("sources.local[{i}].max_chunk_bytes"),
                    format!("{n} is below 64 KiB"),
                    "use 1048576 (1 MiB)",
                ));
            }
            if self.sources.local[..i].iter().any(|o| o.name == s.name) {
                issues.push(ConfigIssue::new(
                    format!("sources.local[{i}].name"),
                    format!("source name {:?} is used twice", s.name),
                    "give every source a unique name",
                ));
            }
        }
        for (i, s) in self.sources.azure_blob.iter().enumerate() {
            for p in s.problems() {
                issues.push(ConfigIssue::new(
                    format!("sources.azure_blob[{i}].{}", p.field),
                    p.problem,
                    p.fix,
                ));
            }
            let earlier = self
                .sources
                .local
                .iter()
                .map(|o| &o.name)
                .chain(self.sources.azure_blob[..i].iter().map(|o| &o.name));
            if earlier.into_iter().any(|n| *n == s.name) {
                issues.push(ConfigIssue::new(
                    format!("sources.azure_blob[{i}].name"),
                    format!("source name {:?} is used twice", s.name),
                    "give every source a unique name",
                ));
            }
        }
        if self.sinks.parquet.is_none() && self.sinks.jsonl.is_none() && self.kafka.is_none() {
            issues.push(ConfigIssue::new(
                "sinks",
                "no summary output",
                "add [sinks.parquet] path = \"out/parquet\" and/or [sinks.jsonl] path = \"out/summaries.jsonl\"",
            ));
        }
        if self.engine.detection.first_seen.enabled && self.sinks.first_seen.is_none() {
            issues.push(ConfigIssue::new(
                "sinks.first_seen",
                "first-seen detection is enabled but has no output",
                "add [sinks.first_seen] path = \"out/first_seen.jsonl\"",
            ));
        }
        if self.service.shutdown_timeout.is_zero() {
            issues.push(ConfigIssue::new(
                "service.shutdown_timeout",
                "0s leaves no time to drain and checkpoint",
                "use e.g. \"45s\" (below the unit's TimeoutStopSec)",
            ));
        }
        if let Some(level) = &self.telemetry.log_level {
            if let Err(e) = flowlogd_ops::telemetry::check_level(level) {
                issues.push(ConfigIssue::new(
                    "telemetry.log_level",
                    e,
                    "use e.g. \"info\" or \"info,flowlogd_engine=debug\"",
                ));
            }
        }
        if let Some(f) = &self.parse.aws_format {
            for name in f.split_whitespace() {
                if flowlogd_formats::aws_field(name).is_none() {
                    issues.push(ConfigIssue::new(
                        "parse.aws_format",
                        format!("unknown AWS field {name:?}"),
                        "use field names as in the AWS docs, e.g. ${srcaddr} or srcaddr",
                    ));
                }
            }
        }
        issues
    }

    /// `[kafka]`: its own checks, and what Kafka mode does not support.
    fn validate_kafka(
        &self,
        k: &KafkaConfig,
        all: &[SummaryConfig],
        issues: &mut Vec<ConfigIssue>,
    ) {
        let names: Vec<String> = all.iter().map(|s| s.name.clone()).collect();
        for i in k.validate(&names) {
            issues.push(ConfigIssue::new(i.key, i.problem, i.fix));
        }
        if self.engine.detection.first_seen.enabled {
            issues.push(ConfigIssue::new(
                "engine.detection.first_seen.enabled",
                "first-seen detection needs every window in one place, which Kafka mode spreads over partitions",
                "set enabled = false with [kafka], or run first-seen detection without [kafka]",
            ));
        }
    }
}
