//! Subcommands. One file per command; `run` dispatches.

pub mod access;
pub mod access_azure;
pub mod gen;
pub mod inventory;
pub mod parse;
pub mod query;
pub mod run;
pub mod schema;
pub mod validate;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "flowlogd",
    version,
    about = "Cloud flow logs in, exact windowed traffic summaries out"
)]
pub struct Cli {
    /// Log format on stderr: `text` (default) or `json`. Level from RUST_LOG (default info).
    #[arg(long, global = true, env = "FLOWLOGD_LOG_FORMAT")]
    pub log_format: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse flow-log objects and print the normalized records.
    Parse(parse::ParseArgs),
    /// Write realistic sample flow logs (AWS text/Parquet, Azure NSG v1/v2, VNet).
    Gen(gen::GenArgs),
    /// Run the pipeline: sources -> windows -> summaries -> sinks.
    Run(run::RunArgs),
    /// Run SQL over the Parquet summaries (one table per summary, latest revision).
    Query(query::QueryArgs),
    /// Check a config file and report every error by key with a fix.
    ValidateConfig(validate::ValidateArgs),
    /// What flowlogd can read per account (None / Partial / Full), and grants for the rest.
    #[command(subcommand)]
    Access(access::AccessCommand),
    /// List the flow-log configurations of the configured accounts (AWS DescribeFlowLogs).
    Inventory(inventory::InventoryArgs),
    /// Print the normalized flow schema (and derived columns) as a Markdown table.
    Schema(schema::SchemaArgs),
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Parse(a) => parse::run(a),
        Command::Gen(a) => gen::run(a),
        Command::Run(a) => run::run(a, cli.log_format.as_deref()),
        Command::Query(a) => query::run(a),
        Command::ValidateConfig(a) => validate::run(a),
        Command::Schema(a) => schema::run(a),
        Command::Access(a) => access::run(a),
        Command::Inventory(a) => inventory::run(a),
    }
}
