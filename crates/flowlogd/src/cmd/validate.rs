//! `flowlogd validate-config FILE`: every problem by key, with a fix.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::config::Config;

#[derive(Debug, Args)]
pub struct ValidateArgs {
    pub file: PathBuf,
}

pub fn run(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let cfg = match Config::load(&args.file) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e:#}");
            return Ok(ExitCode::from(1));
        }
    };
    let mut issues = cfg.validate();
    if issues.is_empty() {
        issues.extend(cfg.lookup_issues());
    }
    issues.extend(crate::sqlcheck::check_summaries(&cfg));
    if issues.is_empty() {
        println!(
            "{}: ok ({} summaries, {} sources)",
            args.file.display(),
            cfg.all_summaries().len(),
            cfg.sources.local.len() + cfg.sources.s3.len() + cfg.sources.azure_blob.len()
        );
        return Ok(ExitCode::SUCCESS);
    }
    for i in &issues {
        eprintln!("{}: {i}", args.file.display());
    }
    Ok(ExitCode::from(1))
}
