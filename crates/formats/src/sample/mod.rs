//! Realistic sample flow logs, written in the providers' real delivery layouts.
//!
//! [`generate`] simulates a small cloud estate for a time range and writes what AWS and Azure
//! would deliver for it, deterministically for a seed (same [`GenConfig`] → identical bytes):
//!
//! | format | files |
//! |---|---|
//! | [`SampleFormat::AwsV2Gz`] | `AWSLogs/{acct}/vpcflowlogs/{region}/{yyyy}/{MM}/{dd}/{acct}_vpcflowlogs_{region}_{fl-id}_{YYYYMMDDTHHmmZ}_{hash}.log.gz`, default (v2) format with its header line |
//! | [`SampleFormat::AwsV5Custom`] | same layout, a custom format with v3–v5 fields ([`AWS_V5_CUSTOM_FIELDS`]) |
//! | [`SampleFormat::AwsParquet`] | same layout, `.log.parquet`, AWS column names and types, SNAPPY |
//! | [`SampleFormat::AzureNsgV1`], [`SampleFormat::AzureNsgV2`] | `insights-logs-networksecuritygroupflowevent/resourceId=/SUBSCRIPTIONS/…/NETWORKSECURITYGROUPS/{NSG}/y=…/m=…/d=…/h=…/m=00/macAddress={MAC}/PT1H.json` |
//! | [`SampleFormat::AzureVnet`] | `insights-logs-flowlogflowevent/flowLogResourceID=/{SUB}_NETWORKWATCHERRG/NETWORKWATCHER_{REGION}_{NAME}/y=…/macAddress={MAC}/PT1H.json` |
//!
//! ## The simulated estate
//! - AWS: `accounts` accounts, each with VPCs (one flow log per VPC; the selected AWS formats
//!   are dealt out over the VPCs), three subnets per VPC and interfaces with roles: public load
//!   balancers and a bastion, app servers, workers, databases, caches, Kafka brokers and a few
//!   idle interfaces. Azure: one subscription per selected Azure format, NSGs with NICs of the
//!   same roles.
//! - Conversations: client (ephemeral port) → server (443, 80, 22, 5432, 3306, 6379, 9092,
//!   8080, 53/udp, 123/udp, ICMP), logged as a request *and* a response record, on both
//!   interfaces when both ends are inside; long-lived pooled connections with a stable client
//!   port spanning hours; internet scanners sending rejected SYNs to many ports of public
//!   interfaces; a little IPv6; NODATA rows for idle interfaces and rare SKIPDATA rows.
//! - AWS records follow the 10-minute aggregation interval per interface (each interface has
//!   its own phase, so records straddle hour boundaries), TCP flags in the v5 format (2 on the
//!   first request interval, 18 on the response, 1 added on the last), and are filed into
//!   5-minute slots by `end`. A `late_fraction` of records goes into files stamped 1–2 hours
//!   after their slot (late delivery).
//! - Azure NSG v2 / VNet tuples: `B` when a flow starts (NSG v2: empty counters, VNet: zeros),
//!   `C` about every 5 minutes with delta counters, `E` with the remainder; denied flows as
//!   repeated `B`/`D` tuples (client retries). One record per NIC per active minute, one
//!   `PT1H.json` per NIC and hour, in the `{"records":[…]}` block layout.
//!
//! ## Resource use
//! Everything streams: conversations live only while active, each output file has a bounded
//! write buffer (gzip text) or a bounded Arrow batch (Parquet), and only the slots still
//! receiving records are open. Generating tens of millions of records needs tens of MB.

mod aws;
mod azure;
mod deflate;
mod model;
mod text;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::{DateTime, Utc};

/// The field list of [`SampleFormat::AwsV5Custom`]: every v2–v5 field in the order of AWS's
/// "all fields up to version 5" custom-format example.
pub const AWS_V5_CUSTOM_FIELDS: &[&str] = &[
    "version",
    "vpc-id",
    "subnet-id",
    "instance-id",
    "interface-id",
    "account-id",
    "type",
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "pkt-srcaddr",
    "pkt-dstaddr",
    "protocol",
    "bytes",
    "packets",
    "start",
    "end",
    "action",
    "tcp-flags",
    "log-status",
    "region",
    "az-id",
    "sublocation-type",
    "sublocation-id",
    "pkt-src-aws-service",
    "pkt-dst-aws-service",
    "flow-direction",
    "traffic-path",
];

/// One output format of the generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SampleFormat {
    /// AWS default (version 2) format, gzip text.
    AwsV2Gz,
    /// AWS custom format with v3–v5 fields ([`AWS_V5_CUSTOM_FIELDS`]), gzip text.
    AwsV5Custom,
    /// AWS Parquet delivery (default fields, SNAPPY).
    AwsParquet,
    /// Azure NSG flow logs, version 1 (8-field tuples, no counters).
    AzureNsgV1,
    /// Azure NSG flow logs, version 2 (13-field tuples with B/C/E states).
    AzureNsgV2,
    /// Azure VNet flow logs (flowLogVersion 4, ms timestamps).
    AzureVnet,
}

impl SampleFormat {
    /// Every format, in a stable order.
    pub const ALL: &'static [SampleFormat] = &[
        SampleFormat::AwsV2Gz,
        SampleFormat::AwsV5Custom,
        SampleFormat::AwsParquet,
        SampleFormat::AzureNsgV1,
        SampleFormat::AzureNsgV2,
        SampleFormat::AzureVnet,
    ];

    /// The command-line name (`aws-v2`, `aws-v5`, `aws-parquet`, `nsg-v1`, `nsg-v2`, `vnet`).
    pub fn name(self) -> &'static str {
        match self {
            SampleFormat::AwsV2Gz => "aws-v2",
            SampleFormat::AwsV5Custom => "aws-v5",
            SampleFormat::AwsParquet => "aws-parquet",
            SampleFormat::AzureNsgV1 => "nsg-v1",
            SampleFormat::AzureNsgV2 => "nsg-v2",
            SampleFormat::AzureVnet => "vnet",
        }
    }

    /// Whether this is one of the AWS formats (records = lines/rows) rather than Azure
    /// (records = flow tuples).
    pub fn is_aws(self) -> bool {
        matches!(
            self,
            SampleFormat::AwsV2Gz | SampleFormat::AwsV5Custom | SampleFormat::AwsParquet
        )
    }
}

impl fmt::Display for SampleFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SampleFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        SampleFormat::ALL
            .iter()
            .copied()
            .find(|f| f.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                let names: Vec<_> = SampleFormat::ALL.iter().map(|f| f.name()).collect();
                format!(
                    "unknown sample format `{s}` (expected one of: {})",
                    names.join(", ")
                )
            })
    }
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenConfig {
    /// Approximate number of AWS records (text lines / Parquet rows, all AWS formats together).
    pub records: u64,
    /// Approximate number of Azure flow tuples (all Azure formats together); `None` = `records`.
    pub azure_records: Option<u64>,
    /// Start of the simulated range (records have `end` in `[start, start + hours)`).
    pub start: DateTime<Utc>,
    pub hours: u32,
    pub seed: u64,
    pub formats: Vec<SampleFormat>,
    /// Fraction of AWS records delivered in a file stamped 1–2 hours after their slot, i.e.
    /// arriving after a window over their `end` closed.
    pub late_fraction: f64,
    /// AWS accounts.
    pub accounts: u32,
    /// Interfaces per VPC (AWS) and NICs per NSG × 4 (Azure); 0 = scale with `records`.
    pub hosts_per_network: u32,
    /// AWS aggregation interval in seconds (600 default, 60 for the 1-minute setting).
    pub aggregation_secs: u32,
    /// gzip level for AWS text objects (1 = fastest; AWS's own level is not documented).
    pub gzip_level: u32,
    /// An AWS file is rolled over to a new one (same slot, new hash) after this many records.
    pub max_records_per_file: u64,
}

impl Default for GenConfig {
    fn default() -> Self {
        Self {
            records: 200_000,
            azure_records: None,
            // A fixed start keeps `GenConfig::default()` reproducible; the CLI picks a recent
            // hour instead.
            start: DateTime::from_timestamp(1_740_787_200, 0).unwrap_or_default(), // 2025-03-01T00:00Z
            hours: 3,
            seed: 1,
            formats: SampleFormat::ALL.to_vec(),
            late_fraction: 0.02,
            accounts: 3,
            hosts_per_network: 0,
            aggregation_secs: 600,
            gzip_level: 1,
            max_records_per_file: 1_000_000,
        }
    }
}

/// One file written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenFile {
    /// Path relative to the output directory, `/`-separated as in the bucket/container.
    pub path: PathBuf,
    pub format: SampleFormat,
    /// Records (AWS lines/rows without the header) or tuples (Azure).
    pub records: u64,
    pub bytes: u64,
    /// Holds late-delivered records (AWS).
    pub late: bool,
}

/// Totals for one format.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FormatTotals {
    pub files: u64,
    pub records: u64,
    pub bytes: u64,
}

/// What [`generate`] wrote.
#[derive(Debug, Clone, Default)]
pub struct GenReport {
    /// Every file, in the order it was finished.
    pub files: Vec<GenFile>,
    /// Totals per format (only formats that were requested).
    pub totals: BTreeMap<SampleFormat, FormatTotals>,
    /// AWS records that went into late files.
    pub late_records: u64,
}

impl GenReport {
    /// Records (AWS) or tuples (Azure) written for one format.
    pub fn records(&self, format: SampleFormat) -> u64 {
        self.totals.get(&format).map_or(0, |t| t.records)
    }

    /// Records and tuples over all formats.
    pub fn total_records(&self) -> u64 {
        self.totals.values().map(|t| t.records).sum()
    }

    /// Bytes over all files.
    pub fn total_bytes(&self) -> u64 {
        self.totals.values().map(|t| t.bytes).sum()
    }

    fn add(&mut self, f: GenFile) {
        let t = self.totals.entry(f.format).or_default();
        t.files += 1;
        t.records += f.records;
        t.bytes += f.bytes;
        self.files.push(f);
    }
}

/// Writes sample flow logs for `cfg` under `out_dir` (created if missing) and reports what it
/// wrote. Existing files with the same names are overwritten; others are left alone.
pub fn generate(cfg: &GenConfig, out_dir: &Path) -> std::io::Result<GenReport> {
    use std::io::{Error, ErrorKind};
    if cfg.hours == 0 {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "hours must be at least 1",
        ));
    }
    if !(0.0..=1.0).contains(&cfg.late_fraction) {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "late_fraction must be in [0, 1]",
        ));
    }
    if !(60..=600).contains(&cfg.aggregation_secs) {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "aggregation_secs must be in 60..=600",
        ));
    }
    std::fs::create_dir_all(out_dir)?;
    let mut report = GenReport::default();
    for f in &cfg.formats {
        report.totals.entry(*f).or_default();
    }
    let aws_formats = dedup(cfg.formats.iter().copied().filter(|f| f.is_aws()));
    if !aws_formats.is_empty() && cfg.records > 0 {
        aws::generate(cfg, &aws_formats, out_dir, &mut report)?;
    }
    let azure_formats = dedup(cfg.formats.iter().copied().filter(|f| !f.is_aws()));
    let azure_records = cfg.azure_records.unwrap_or(cfg.records);
    if !azure_formats.is_empty() && azure_records > 0 {
        azure::generate(cfg, &azure_formats, azure_records, out_dir, &mut report)?;
    }
    Ok(report)
}

fn dedup(it: impl Iterator<Item = SampleFormat>) -> Vec<SampleFormat> {
    let mut v: Vec<SampleFormat> = Vec::new();
    for f in it {
        if !v.contains(&f) {
            v.push(f);
        }
    }
    v
}

/// Joins path segments with `/` under `out_dir` and creates the parent directory.
fn create_file(out_dir: &Path, rel: &str) -> std::io::Result<(PathBuf, std::fs::File)> {
    let path = out_dir.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let file = std::fs::File::create(&path)?;
    Ok((PathBuf::from(rel), file))
}

#[cfg(test)]
mod tests;
