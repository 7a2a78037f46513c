//! `flowlogd inventory`: the flow-log configurations of the configured accounts, and which
//! configured destination each writes into.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::access::Format;
use crate::config::Config;

#[derive(Debug, Args)]
pub struct InventoryArgs {
    /// TOML config file: accounts and regions come from its [[sources.s3]].
    #[arg(long, short, env = "FLOWLOGD_CONFIG")]
    pub config: PathBuf,
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Also these regions (repeatable); by default each source's region.
    #[arg(long = "region")]
    pub regions: Vec<String>,
}

pub fn run(a: InventoryArgs) -> anyhow::Result<ExitCode> {
    if !cfg!(feature = "inventory") {
        anyhow::bail!("this flowlogd was built without the `inventory` feature: rebuild with default features");
    }
    let cfg = Config::load(&a.config)?;
    let report = super::access::report(&cfg, true, &a.regions)?;
    match a.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&report.flow_logs)?),
        Format::Table => {
            println!("ACCOUNT       REGION      FLOW LOG               RESOURCE               FORMAT      STATUS  DESTINATION");
            for f in &report.flow_logs {
                println!(
                    "{:<13} {:<11} {:<22} {:<22} {:<11} {:<7} {}{}",
                    f.account,
                    f.region.as_deref().unwrap_or("-"),
                    f.id,
                    f.resource,
                    f.file_format.as_deref().unwrap_or("plain-text"),
                    f.status.as_deref().unwrap_or("-"),
                    f.destination,
                    if f.access.is_some() {
                        ""
                    } else {
                        "  (not read by flowlogd)"
                    }
                );
            }
            for n in &report.notes {
                println!("note: {n}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
