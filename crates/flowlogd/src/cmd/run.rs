//! `flowlogd run`: the pipeline, continuous or as a one-shot backfill (`--once`), and the
//! service around it: telemetry, the admin endpoint, sd_notify, signals.
//!
//! - SIGTERM/SIGINT: `STOPPING=1`, drain in-flight chunks, checkpoint, exit 0 — within
//!   `service.shutdown_timeout`, else exit 1 (the last checkpoint stays valid).
//! - SIGHUP: read and validate the config file again. Rejected: keep running on the old one
//!   and log why. Accepted: a log-level-only change applies at once; anything else drains and
//!   checkpoints the running pipeline and starts one on the new config from that
//!   checkpoint, so no window state is lost.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use flowlogd_engine::{Accounting, Clock, Mode};
use flowlogd_ops::admin::{AdminState, StatusBoard};
use flowlogd_ops::telemetry::Telemetry;
use flowlogd_ops::{metrics, notify};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::pipeline;

#[derive(Debug, Clone, Args)]
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

/// How the supervised pipeline ended.
enum Outcome {
    Done(Accounting),
    /// Draining took longer than `service.shutdown_timeout`.
    TimedOut(Duration),
}

pub fn run(args: RunArgs, log_format: Option<&str>) -> anyhow::Result<ExitCode> {
    let cfg = load_config(&args)?;
    let clock = match &args.clock {
        Some(spec) => Clock::parse(spec).map_err(|e| anyhow::anyhow!("--clock {e}"))?,
        None => Clock::System,
    };
    if cfg.kafka.is_some() && !args.once {
        return run_kafka(cfg, args, clock, log_format);
    }
    if !args.roles.is_empty() {
        anyhow::bail!("--roles needs a [kafka] section in the config (and no --once)");
    }
    let mode = if args.once {
        Mode::Once
    } else {
        Mode::Continuous
    };
    let (rt, telemetry) = runtime_with_telemetry(&cfg, log_format)?;
    let board = StatusBoard::new();
    board.config_loaded(
        args.config
            .as_ref()
            .map(|p| p.display().to_string())
            .as_deref(),
    );
    let sup = Supervisor {
        args: &args,
        clock,
        mode,
        board,
        telemetry: &telemetry,
    };
    let outcome = rt.block_on(sup.run(cfg));
    // Flushes the last metrics and spans; the runtime still drives the gRPC client.
    telemetry.shutdown();
    match outcome? {
        Outcome::Done(accounting) => {
            println!("flowlogd: {}", accounting.line());
            Ok(ExitCode::SUCCESS)
        }
        Outcome::TimedOut(limit) => {
            tracing::error!(
                timeout = ?limit,
                "draining took longer than service.shutdown_timeout; exiting without a final checkpoint (the next start resumes from the last one)"
            );
            // Stuck tasks must not hold the process: the runtime is not waited for.
            std::process::exit(1);
        }
    }
}

/// The async runtime, and logging/metrics/traces set up on it (the OTLP gRPC client is
/// created on the runtime).
fn runtime_with_telemetry(
    cfg: &Config,
    log_format: Option<&str>,
) -> anyhow::Result<(tokio::runtime::Runtime, Telemetry)> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let telemetry = {
        let _rt = rt.enter();
        flowlogd_ops::telemetry::init(&cfg.telemetry, log_format)?
    };
    Ok((rt, telemetry))
}

/// Kafka mode (`[kafka]` configured): the selected roles, until SIGTERM/SIGINT.
fn run_kafka(
    cfg: Config,
    args: RunArgs,
    clock: Clock,
    log_format: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let roles = if args.roles.is_empty() {
        crate::roles::ALL.to_vec()
    } else {
        args.roles
    };
    let (rt, telemetry) = runtime_with_telemetry(&cfg, log_format)?;
    let done = rt.block_on(async move {
        let (tx, rx) = watch::channel(false);
        tokio::spawn(async move {
            wait_for_signal().await;
            let _ = tx.send(true);
        });
        crate::roles::run(cfg, roles, clock, rx).await
    });
    telemetry.shutdown();
    done?;
    Ok(ExitCode::SUCCESS)
}

async fn wait_for_signal() {
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

struct Supervisor<'a> {
    args: &'a RunArgs,
    clock: Clock,
    mode: Mode,
    board: StatusBoard,
    telemetry: &'a Telemetry,
}

/// A running pipeline and the switch that stops it.
struct Running {
    stop: watch::Sender<bool>,
    task: JoinHandle<anyhow::Result<Accounting>>,
}

enum Reload {
    /// Nothing or only the log level changed: the pipeline keeps running.
    InPlace(Config),
    /// Restart the pipeline on the new config (from a fresh checkpoint).
    Restart(Config),
}

impl Supervisor<'_> {
    async fn run(self, mut cfg: Config) -> anyhow::Result<Outcome> {
        let continuous = self.mode == Mode::Continuous;
        if continuous && cfg.admin.enabled {
            self.serve_admin(&cfg).await;
        }
        let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
        let mut int = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
        let mut hup = signal(SignalKind::hangup()).context("installing SIGHUP handler")?;
        let mut running = self.start(&cfg);
        let mut access = self.publish_access(&cfg);
        loop {
            tokio::select! {
                done = &mut running.task => {
                    return Ok(Outcome::Done(done.context("pipeline task")??));
                }
                _ = term.recv() => return self.shut_down(&cfg, running, "SIGTERM").await,
                _ = int.recv() => return self.shut_down(&cfg, running, "SIGINT").await,
                _ = hup.recv(), if continuous => match self.reload(&cfg).await {
                    Err(reason) => {
                        tracing::error!(reason = %reason, "configuration reload rejected; keeping the current configuration");
                        self.board.reload_rejected(&reason);
                        metrics::get().reload(false);
                    }
                    Ok(Reload::InPlace(new)) => {
                        self.apply_log_level(&new);
                        cfg = new;
                        self.reloaded();
                    }
                    Ok(Reload::Restart(new)) => {
                        notify::reloading();
                        self.board.set_ready(false, "reloading");
                        tracing::info!("configuration changed: draining and checkpointing before restarting the pipeline");
                        let _ = running.stop.send(true);
                        match tokio::time::timeout(cfg.service.shutdown_timeout, &mut running.task).await {
                            Ok(done) => {
                                done.context("pipeline task")??;
                            }
                            Err(_) => return Ok(Outcome::TimedOut(cfg.service.shutdown_timeout)),
                        }
                        self.apply_log_level(&new);
                        cfg = new;
                        running = self.start(&cfg);
                        if let Some(a) = access.take() {
                            a.abort();
                        }
                        access = self.publish_access(&cfg);
                        self.reloaded();
                    }
                },
            }
        }
    }

    fn start(&self, cfg: &Config) -> Running {
        let (stop, rx) = watch::channel(false);
        let opts = pipeline::Options {
            parallelism: cfg.engine.parallelism.max(1),
            mode: self.mode,
            clock: self.clock.clone(),
            progress: self.mode == Mode::Once && !self.args.quiet,
            board: self.board.clone(),
        };
        let task = tokio::spawn(pipeline::run(cfg.clone(), opts, rx));
        Running { stop, task }
    }

    async fn shut_down(
        &self,
        cfg: &Config,
        mut running: Running,
        signal: &str,
    ) -> anyhow::Result<Outcome> {
        tracing::info!(signal, timeout = ?cfg.service.shutdown_timeout, "shutting down: draining in-flight chunks and checkpointing");
        notify::stopping();
        self.board.set_ready(false, "stopping");
        let _ = running.stop.send(true);
        match tokio::time::timeout(cfg.service.shutdown_timeout, &mut running.task).await {
            Ok(done) => Ok(Outcome::Done(done.context("pipeline task")??)),
            Err(_) => Ok(Outcome::TimedOut(cfg.service.shutdown_timeout)),
        }
    }

    /// Continuous mode with cloud sources: the access report (and the flow-log inventory)
    /// is refreshed every `ACCESS_REFRESH` into `/status` under `access`, so a new flow-log
    /// configuration or a revoked permission shows up without a restart.
    fn publish_access(&self, cfg: &Config) -> Option<JoinHandle<()>> {
        const ACCESS_REFRESH: Duration = Duration::from_secs(5 * 60);
        if self.mode != Mode::Continuous
            || !cfg.admin.enabled
            || (cfg.sources.s3.is_empty() && cfg.sources.azure_blob.is_empty())
        {
            return None;
        }
        let input = flowlogd_access::CheckInput {
            aws: cfg.sources.s3.clone(),
            azure: cfg.sources.azure_blob.clone(),
            inventory: cfg!(feature = "inventory"),
            inventory_regions: Vec::new(),
        };
        let board = self.board.clone();
        Some(tokio::spawn(async move {
            loop {
                let report = flowlogd_access::check(&input).await;
                board.set_section("access", report.to_json());
                tokio::time::sleep(ACCESS_REFRESH).await;
            }
        }))
    }

    async fn serve_admin(&self, cfg: &Config) {
        let state = AdminState {
            board: self.board.clone(),
            registry: self.telemetry.registry(),
            stall_after: cfg.admin.stall_after,
        };
        if !cfg.admin.listen.ip().is_loopback() {
            tracing::warn!(listen = %cfg.admin.listen, "the admin endpoint listens beyond loopback and has no authentication; restrict it with a firewall");
        }
        match flowlogd_ops::admin::serve(cfg.admin.listen, state).await {
            Ok(addr) => tracing::info!(%addr, "admin endpoint listening"),
            // Not fatal: the pipeline matters more than its dashboard (and probes will
            // notice the missing endpoint).
            Err(e) => tracing::error!(error = %e, "admin endpoint not started"),
        }
    }

    /// Reads and validates the config file again and decides how to apply it.
    async fn reload(&self, current: &Config) -> Result<Reload, String> {
        if self.args.config.is_none() {
            return Err("no --config file to reload (quick-start mode)".into());
        }
        tracing::info!("SIGHUP: reloading the configuration");
        // Validation plans the summaries' SQL on a runtime of its own: not on this one.
        let args = self.args.clone();
        let new = tokio::task::spawn_blocking(move || load_config(&args))
            .await
            .map_err(|e| format!("validating the configuration: {e}"))?
            .map_err(|e| without_source_lines(&format!("{e:#}")))?;
        if new.state_dir() != current.state_dir() {
            return Err(
                "state_dir changed: the window state lives there; restart flowlogd to move it"
                    .into(),
            );
        }
        if new.engine.window != current.engine.window {
            return Err("engine.window changed: window state cannot be re-cut; restart with a new state_dir".into());
        }
        let old = current.all_summaries();
        for s in new.all_summaries() {
            if let Some(o) = old.iter().find(|o| o.name == s.name) {
                if *o != s {
                    return Err(format!(
                        "summary {:?} changed its definition: its window state was built for the old one; give the new definition a new name",
                        s.name
                    ));
                }
            }
        }
        for (what, changed) in [
            ("[admin]", new.admin != current.admin),
            (
                "telemetry.otlp / telemetry.log_format",
                new.telemetry.otlp != current.telemetry.otlp
                    || new.telemetry.log_format != current.telemetry.log_format,
            ),
        ] {
            if changed {
                tracing::warn!("{what} changes take effect at the next start");
            }
        }
        let mut same = new.clone();
        same.telemetry = current.telemetry.clone();
        same.admin = current.admin.clone();
        let unchanged = serde_json::to_value(&same).ok() == serde_json::to_value(current).ok();
        Ok(if unchanged {
            Reload::InPlace(new)
        } else {
            Reload::Restart(new)
        })
    }

    fn apply_log_level(&self, cfg: &Config) {
        if let Err(e) = self
            .telemetry
            .set_log_level(cfg.telemetry.log_level.as_deref())
        {
            tracing::error!(error = %e, "log level not changed");
        }
    }

    fn reloaded(&self) {
        self.board.reload_applied();
        metrics::get().reload(true);
        tracing::info!("configuration reloaded");
    }
}

/// A TOML error quotes the offending line of the file; a rejected reload's reason goes to
/// the log and to `/status`, so the line (which may hold a credential) is left out.
fn without_source_lines(error: &str) -> String {
    error
        .lines()
        .filter(|l| {
            let t = l.trim_start();
            let t = t
                .trim_start_matches(|c: char| c.is_ascii_digit())
                .trim_start();
            !t.starts_with('|')
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::without_source_lines;

    #[test]
    fn toml_errors_lose_the_quoted_line() {
        let e = "f.toml: TOML parse error at line 3, column 1\n  |\n3 | key = \"s3cr3t\"\n  | ^^^\nunknown field `key`";
        let r = without_source_lines(e);
        assert!(!r.contains("s3cr3t"), "{r}");
        assert!(
            r.contains("line 3") && r.contains("unknown field `key`"),
            "{r}"
        );
    }
}
