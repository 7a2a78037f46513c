//! The `flowlogd` binary: one process, many modes (see `flowlogd --help`).

mod alloc;
mod cmd;
mod config;
mod observe;
mod pipeline;
mod roles;
mod sqlcheck;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    alloc::limit_arenas();
    let cli = cmd::Cli::parse();
    // `run` sets up logging with its config (level, format, OTLP traces) itself.
    if !matches!(cli.command, cmd::Command::Run(_)) {
        flowlogd_ops::logging::init(cli.log_format.as_deref());
    }
    match cmd::run(cli) {
        Ok(code) => code,
        Err(e) => {
            // Broken pipe (`flowlogd parse … | head`) is not a failure.
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
