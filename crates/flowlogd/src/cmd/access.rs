//! `flowlogd access check` and `flowlogd access grant`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use flowlogd_access::aws::grant::{parse_destination, AwsGrant};
use flowlogd_access::{Access, CheckInput, Cloud, Filter, Report, View};

use crate::config::Config;

#[derive(Debug, Subcommand)]
pub enum AccessCommand {
    /// Test the real permissions of every configured destination. Exit code 0 when every
    /// account is Full, 1 otherwise, 2 on errors.
    Check(CheckArgs),
    /// Print a least-privilege grant for chosen destinations.
    #[command(subcommand)]
    Grant(GrantCommand),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// TOML config file: its sources are the destinations checked.
    #[arg(long, short, env = "FLOWLOGD_CONFIG")]
    pub config: PathBuf,
    /// Only this account (destination owner or flow-log account).
    #[arg(long)]
    pub account: Option<String>,
    #[arg(long, value_parser = parse_cloud)]
    pub cloud: Option<Cloud>,
    #[arg(long)]
    pub region: Option<String>,
    /// Only accounts with this access: none, partial or full.
    #[arg(long, value_parser = parse_access)]
    pub access: Option<Access>,
    /// Group by destination account (buckets it owns, flow logs writing into them) or by
    /// source account (its flow logs and where they go).
    #[arg(long, default_value = "destination", value_parser = parse_view)]
    pub view: View,
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Skip the flow-log inventory (DescribeFlowLogs).
    #[arg(long)]
    pub no_inventory: bool,
}

fn parse_cloud(s: &str) -> Result<Cloud, String> {
    serde_json::from_value(serde_json::Value::String(s.to_ascii_lowercase()))
        .map_err(|_| format!("unknown cloud {s:?}: use aws or azure"))
}

fn parse_access(s: &str) -> Result<Access, String> {
    serde_json::from_value(serde_json::Value::String(s.to_ascii_lowercase()))
        .map_err(|_| format!("unknown access {s:?}: use none, partial or full"))
}

fn parse_view(s: &str) -> Result<View, String> {
    serde_json::from_value(serde_json::Value::String(s.to_ascii_lowercase()))
        .map_err(|_| format!("unknown view {s:?}: use destination or source"))
}

#[derive(Debug, Subcommand)]
pub enum GrantCommand {
    /// CloudFormation template (YAML) of a role flowlogd assumes to read flow logs.
    Aws(AwsGrantArgs),
    /// az CLI or PowerShell script: Storage Blob Data Reader on the flow-log containers,
    /// Reader on the Network Watcher resource group.
    Azure(super::access_azure::GrantAzureArgs),
}

#[derive(Debug, Args)]
pub struct AwsGrantArgs {
    /// Flow-log destination `s3://bucket/prefix` (repeatable).
    #[arg(long = "destination")]
    pub destinations: Vec<String>,
    /// Take the destinations (and queues' URLs, external_id) from this config's [[sources.s3]].
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Only the config's destinations in this account.
    #[arg(long)]
    pub account: Option<String>,
    /// Principal allowed to assume the role (default: who flowlogd runs as, from STS).
    #[arg(long)]
    pub principal: Option<String>,
    /// ExternalId the role requires (default: the config's external_id).
    #[arg(long)]
    pub external_id: Option<String>,
    #[arg(long, default_value = "flowlogd-read")]
    pub role_name: String,
    /// KMS key the objects are encrypted with (SSE-KMS; repeatable).
    #[arg(long = "kms-key-arn")]
    pub kms_keys: Vec<String>,
    /// Notification queue ARN (repeatable; default: from the config's sqs_queue_url).
    #[arg(long = "sqs-queue-arn")]
    pub queues: Vec<String>,
    /// Leave out ec2:DescribeFlowLogs (inventory).
    #[arg(long)]
    pub no_inventory: bool,
}

pub fn run(cmd: AccessCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        AccessCommand::Check(a) => check(a),
        AccessCommand::Grant(GrantCommand::Aws(a)) => grant_aws(a),
        AccessCommand::Grant(GrantCommand::Azure(a)) => super::access_azure::grant_azure(a),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// The unfiltered report for a config.
pub fn report(cfg: &Config, inventory: bool, regions: &[String]) -> anyhow::Result<Report> {
    let input = CheckInput {
        aws: cfg.sources.s3.clone(),
        azure: cfg.sources.azure_blob.clone(),
        inventory,
        inventory_regions: regions.to_vec(),
    };
    Ok(runtime()?.block_on(flowlogd_access::check(&input)))
}

fn check(a: CheckArgs) -> anyhow::Result<ExitCode> {
    let cfg = Config::load(&a.config)?;
    if cfg.sources.s3.is_empty() {
        anyhow::bail!(
            "{}: no cloud destination to check: add [[sources.s3]] (bucket, prefix, role_arn)",
            a.config.display()
        );
    }
    let full = report(&cfg, !a.no_inventory, &[])?;
    let filter = Filter {
        account: a.account,
        cloud: a.cloud,
        region: a.region,
        access: a.access,
    };
    let shown = filter.apply(&full);
    match a.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&shown)?),
        Format::Table => print!("{}", flowlogd_access::render(&shown, a.view)),
    }
    let all_full = full.accounts.iter().all(|x| x.access == Access::Full);
    Ok(if all_full {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `arn:aws:sqs:<region>:<account>:<name>` from a queue URL `https://host/<account>/<name>`.
fn queue_arn(url: &str, region: Option<&str>) -> Option<String> {
    let mut parts = url.trim_end_matches('/').rsplit('/');
    let name = parts.next()?;
    let account = parts.next()?;
    Some(format!(
        "arn:aws:sqs:{}:{account}:{name}",
        region.unwrap_or("*")
    ))
}

fn grant_aws(a: AwsGrantArgs) -> anyhow::Result<ExitCode> {
    let mut g = AwsGrant {
        principal: a.principal.clone().unwrap_or_default(),
        external_id: a.external_id.clone().unwrap_or_default(),
        role_name: a.role_name.clone(),
        kms_keys: a.kms_keys.clone(),
        queues: a.queues.clone(),
        inventory: !a.no_inventory,
        destinations: Vec::new(),
    };
    for d in &a.destinations {
        g.destinations.push(parse_destination(d)?);
    }
    let mut endpoint = None;
    if let Some(path) = &a.config {
        let cfg = Config::load(path)?;
        for s in &cfg.sources.s3 {
            if a.account.as_ref().is_some_and(|acc| {
                s.account.as_ref() != Some(acc) && s.identity().role_account() != Some(acc)
            }) {
                continue;
            }
            g.destinations.push((
                s.bucket.clone(),
                s.normalized_prefix().trim_end_matches('/').to_owned(),
            ));
            if a.queues.is_empty() {
                if let Some(q) = s
                    .sqs_queue_url
                    .as_deref()
                    .and_then(|u| queue_arn(u, s.region.as_deref()))
                {
                    g.queues.push(q);
                }
            }
            if g.external_id.is_empty() {
                g.external_id = s.external_id.clone().unwrap_or_default();
            }
            endpoint = endpoint.or(s.endpoint_url.clone());
        }
    }
    g.destinations.sort();
    g.destinations.dedup();
    g.queues.sort();
    g.queues.dedup();
    if g.principal.is_empty() {
        let rt = runtime()?;
        g.principal = rt
            .block_on(flowlogd_access::aws::check::caller_arn(endpoint))
            .context("no --principal, and flowlogd's own identity is unknown (no AWS credentials): give --principal arn:aws:iam::<account>:role/<flowlogd's role>")?;
    }
    g.validate()?;
    print!("{}", g.yaml());
    Ok(ExitCode::SUCCESS)
}
