//! `flowlogd query "SQL"`: DataFusion over the Parquet summaries, one table per summary
//! (`summary=NAME/` directories). Each window has exactly one file, its latest revision.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use arrow::record_batch::RecordBatch;
use clap::{Args, ValueEnum};
use datafusion::prelude::{ParquetReadOptions, SessionContext};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OutputFormat {
    Table,
    Csv,
    Json,
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// SQL; tables are the summary names, e.g. `SELECT * FROM traffic LIMIT 10`.
    pub sql: String,
    /// Parquet sink directory.
    #[arg(long, default_value = "out/parquet")]
    pub data: PathBuf,
    #[arg(long, value_enum, default_value = "table")]
    pub format: OutputFormat,
}

/// Registers every `summary=NAME` directory under `data` as table NAME.
pub async fn register_summaries(
    ctx: &SessionContext,
    data: &std::path::Path,
) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    let entries = std::fs::read_dir(data).with_context(|| format!("reading {}", data.display()))?;
    for e in entries {
        let e = e?;
        let file_name = e.file_name().to_string_lossy().into_owned();
        let Some(name) = file_name.strip_prefix("summary=") else {
            continue;
        };
        let path = e.path();
        let url = format!("{}/", path.canonicalize()?.display());
        ctx.register_parquet(name, &url, ParquetReadOptions::default())
            .await
            .with_context(|| format!("registering {}", path.display()))?;
        names.push(name.to_owned());
    }
    names.sort();
    Ok(names)
}

pub fn run(args: QueryArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Runtime::new()?;
    let batches: Vec<RecordBatch> = rt.block_on(async {
        let ctx = SessionContext::new();
        let names = register_summaries(&ctx, &args.data).await?;
        if names.is_empty() {
            anyhow::bail!(
                "no summary=NAME directories under {}; run `flowlogd run` first",
                args.data.display()
            );
        }
        let df = ctx
            .sql(&args.sql)
            .await
            .with_context(|| format!("tables: {}", names.join(", ")))?;
        Ok(df.collect().await?)
    })?;
    let stdout = std::io::stdout();
    match args.format {
        OutputFormat::Table => {
            println!("{}", arrow::util::pretty::pretty_format_batches(&batches)?)
        }
        OutputFormat::Csv => {
            let mut w = arrow::csv::Writer::new(stdout.lock());
            for b in &batches {
                w.write(b)?;
            }
        }
        OutputFormat::Json => {
            let mut w = arrow::json::ArrayWriter::new(stdout.lock());
            let refs: Vec<&RecordBatch> = batches.iter().collect();
            w.write_batches(&refs)?;
            w.finish()?;
            println!();
        }
    }
    Ok(ExitCode::SUCCESS)
}
