//! `flowlogd run`: the pipeline, continuous or as a one-shot backfill (`--once`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use flowlogd_engine::{Clock, Mode};
use tokio::sync::watch;

use crate::config::Config;
use crate::pipeline;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Read everything there is, emit every window once, print the accounting and exit.
    #[arg(long)]
    pub once: bool,
    /// TOML config file (see config/*.toml).
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Quick start: local input directory (with --output, no config file needed).
    #[arg(long, conflicts_with = "config")]
    pub input: Option<PathBuf>,
    /// Quick start: output directory for parquet/, summaries.jsonl and deadletter.jsonl.
    #[arg(long, conflicts_with = "config")]
    pub output: Option<PathBuf>,
    /// Checkpoint directory (overrides the config's state_dir).
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Testing: a scaled clock `RFC3339@SPEED` (e.g. 2024-05-01T00:00:00Z@600 runs ten
    /// minutes per second from that time).
    #[arg(long, env = "FLOWLOGD_TEST_CLOCK", hide = true)]
    pub clock: Option<String>,
    /// No progress bar or progress lines.
    #[arg(long)]
    pub quiet: bool,
    /// Kafka mode: the roles this process runs (default all: source,parse,aggregate).
    #[arg(long, value_delimiter = ',', env = "FLOWLOGD_ROLES")]
    pub roles: Vec<crate::roles::Role>,
}

pub fn load_config(args: &RunArgs) -> anyhow::Result<Config> {
    let mut cfg = match (&args.config, &args.input, &args.output) {
        (Some(path), _, _) => Config::load(path)?,
        (None, Some(input), output) => Config::quick_start(
            input,
            output.as_deref().unwrap_or(std::path::Path::new("out")),
        ),
        (None, None, _) => {
            anyhow::bail!("give --config FILE, or --input DIR [--output DIR] for the quick start")
        }
    };
    if let Some(s) = &args.state {
        cfg.state_dir = Some(s.clone());
    }
    let mut issues = cfg.validate();
    if issues.is_empty() {
        issues.extend(crate::sqlcheck::check_summaries(&cfg));
    }
    if !issues.is_empty() {
        let list: Vec<String> = issues.iter().map(|i| format!("  - {i}")).collect();
        anyhow::bail!("invalid configuration:\n{}", list.join("\n"));
    }
    Ok(cfg)
}

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let cfg = load_config(&args)?;
    let clock = match &args.clock {
        Some(spec) => Clock::parse(spec).map_err(|e| anyhow::anyhow!("--clock {e}"))?,
        None => Clock::System,
    };
    if cfg.kafka.is_some() && !args.once {
        return run_kafka(cfg, args, clock);
    }
    if !args.roles.is_empty() {
        anyhow::bail!("--roles needs a [kafka] section in the config (and no --once)");
    }
    let mode = if args.once {
        Mode::Once
    } else {
        Mode::Continuous
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let accounting = rt.block_on(async move {
        let (tx, rx) = watch::channel(false);
        tokio::spawn(async move {
            wait_for_signal().await;
            let _ = tx.send(true);
        });
        let opts = pipeline::Options {
            parallelism: cfg.engine.parallelism.max(1),
            mode,
            clock,
            progress: args.once && !args.quiet,
        };
        pipeline::run(cfg, opts, rx).await
    })?;
    println!("flowlogd: {}", accounting.line());
    Ok(ExitCode::SUCCESS)
}

/// Kafka mode (`[kafka]` configured): the selected roles, until SIGTERM/SIGINT.
fn run_kafka(cfg: Config, args: RunArgs, clock: Clock) -> anyhow::Result<ExitCode> {
    let roles = if args.roles.is_empty() {
        crate::roles::ALL.to_vec()
    } else {
        args.roles
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        let (tx, rx) = watch::channel(false);
        tokio::spawn(async move {
            wait_for_signal().await;
            let _ = tx.send(true);
        });
        crate::roles::run(cfg, roles, clock, rx).await
    })?;
    Ok(ExitCode::SUCCESS)
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
