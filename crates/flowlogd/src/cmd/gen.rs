//! `flowlogd gen`: write realistic sample flow logs in the providers' delivery layouts
//! (AWS text/Parquet under `AWSLogs/…`, Azure NSG/VNet `PT1H.json` under `insights-logs-…`),
//! for demos, tests and benchmarks. The work is done by [`flowlogd_formats::sample`]; this
//! command maps flags to a [`GenConfig`] and prints what was written.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use clap::Args;
use flowlogd_formats::sample::{generate, GenConfig, SampleFormat};

#[derive(Debug, Args)]
pub struct GenArgs {
    /// Output directory (created if missing); the layout inside mirrors the bucket/container.
    #[arg(long, default_value = "sample")]
    pub out: PathBuf,
    /// Approximate number of AWS records (all AWS formats together).
    #[arg(long, default_value_t = 200_000)]
    pub records: u64,
    /// Approximate number of Azure flow tuples (all Azure formats together; default: --records).
    #[arg(long)]
    pub azure_records: Option<u64>,
    /// Start of the simulated range, RFC 3339 (default: the hour that began 6 hours ago).
    #[arg(long, value_parser = parse_start)]
    pub start: Option<DateTime<Utc>>,
    /// Hours of traffic to simulate.
    #[arg(long, default_value_t = 3)]
    pub hours: u32,
    /// Seed: the same flags and seed give byte-identical files.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Formats, comma-separated: aws-v2, aws-v5, aws-parquet, nsg-v1, nsg-v2, vnet (default: all).
    #[arg(long, value_delimiter = ',')]
    pub formats: Vec<SampleFormat>,
    /// Fraction of AWS records delivered 1–2 hours late (in files stamped after their slot).
    #[arg(long, default_value_t = 0.02)]
    pub late_fraction: f64,
    /// AWS accounts to simulate.
    #[arg(long, default_value_t = 3)]
    pub accounts: u32,
    /// AWS aggregation interval in seconds (600 or 60).
    #[arg(long, default_value_t = 600)]
    pub aggregation_secs: u32,
}

fn parse_start(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("expected an RFC 3339 time like 2025-03-01T00:00:00Z: {e}"))
}

/// The hour that began 6 hours ago, so a default run ends 3 hours before now and a pipeline
/// started on it sees only closed windows.
fn default_start() -> DateTime<Utc> {
    let t = Utc::now().timestamp() - 6 * 3600;
    DateTime::from_timestamp(t - t.rem_euclid(3600), 0).unwrap_or_default()
}

pub fn run(a: GenArgs) -> anyhow::Result<ExitCode> {
    if a.hours == 0 {
        bail!("--hours must be at least 1");
    }
    if !(0.0..=1.0).contains(&a.late_fraction) {
        bail!("--late-fraction must be between 0 and 1");
    }
    let formats = if a.formats.is_empty() {
        SampleFormat::ALL.to_vec()
    } else {
        a.formats.clone()
    };
    let cfg = GenConfig {
        records: a.records,
        azure_records: a.azure_records,
        start: a.start.unwrap_or_else(default_start),
        hours: a.hours,
        seed: a.seed,
        formats,
        late_fraction: a.late_fraction,
        accounts: a.accounts,
        aggregation_secs: a.aggregation_secs,
        ..GenConfig::default()
    };
    let began = Instant::now();
    let report = generate(&cfg, &a.out)
        .with_context(|| format!("writing sample flow logs to {}", a.out.display()))?;
    let secs = began.elapsed().as_secs_f64();

    let end = cfg.start + chrono::Duration::hours(i64::from(cfg.hours));
    println!(
        "wrote sample flow logs to {} for {} .. {} (seed {})",
        a.out.display(),
        cfg.start.to_rfc3339(),
        end.to_rfc3339(),
        cfg.seed
    );
    println!(
        "{:<12} {:>7} {:>12} {:>10}",
        "format", "files", "records", "MB"
    );
    for (format, t) in &report.totals {
        let unit = if format.is_aws() { "" } else { " tuples" };
        println!(
            "{:<12} {:>7} {:>12} {:>10.1}{unit}",
            format.name(),
            t.files,
            t.records,
            t.bytes as f64 / 1e6
        );
    }
    let total = report.total_records();
    println!(
        "{} files, {} records, {:.1} MB in {:.2} s ({:.2} M records/s); {} AWS records delivered late",
        report.files.len(),
        total,
        report.total_bytes() as f64 / 1e6,
        secs,
        total as f64 / secs.max(1e-9) / 1e6,
        report.late_records
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        gen: GenArgs,
    }

    #[test]
    fn flags_parse() {
        let c = Cli::try_parse_from([
            "gen",
            "--formats",
            "aws-v2,vnet",
            "--start",
            "2025-03-01T10:00:00Z",
            "--records",
            "1000",
        ])
        .unwrap();
        assert_eq!(
            c.gen.formats,
            vec![SampleFormat::AwsV2Gz, SampleFormat::AzureVnet]
        );
        assert_eq!(c.gen.start.unwrap().timestamp(), 1_740_823_200);
        assert_eq!(c.gen.out, PathBuf::from("sample"));
        assert!(Cli::try_parse_from(["gen", "--formats", "gcp"]).is_err());
        let s = default_start();
        assert_eq!(s.timestamp() % 3600, 0);
        assert!(Utc::now().timestamp() - s.timestamp() >= 6 * 3600);
    }
}
