//! `flowlogd parse FILE...`: parse flow-log objects and print the normalized records
//! (table, JSON lines or Parquet), with dead letters and a per-object accounting line.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use arrow::array::{Array, RecordBatch};
use arrow::datatypes::Schema;
use clap::{Args, ValueEnum};
use flowlogd_formats::aws_text::header::split_format;
use flowlogd_formats::reader::open_path;
use flowlogd_formats::{flow_schema, DeadLetter, FormatHint, ParseOptions};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Auto,
    AwsText,
    AwsParquet,
    AzureJson,
}

impl From<FormatArg> for FormatHint {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::Auto => FormatHint::Auto,
            FormatArg::AwsText => FormatHint::AwsText,
            FormatArg::AwsParquet => FormatHint::AwsParquet,
            FormatArg::AzureJson => FormatHint::AzureJson,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputArg {
    Table,
    Jsonl,
    Parquet,
}

#[derive(Debug, Args)]
pub struct ParseArgs {
    /// Flow-log objects: AWS `.log`/`.log.gz`/`.parquet`, Azure `PT1H.json`.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Input format (detected from content and name by default).
    #[arg(long, value_enum, default_value = "auto")]
    pub format: FormatArg,
    /// Output: a table (first --limit rows), JSON lines, or Parquet (--out required).
    #[arg(long, value_enum, default_value = "table")]
    pub output: OutputArg,
    /// Output file (stdout when absent; required for parquet).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Dead-letter JSON lines go here (default: stderr).
    #[arg(long)]
    pub dead_letter: Option<PathBuf>,
    /// Field list for AWS text objects without a header line: `a b c` or `${a} ${b}`.
    #[arg(long)]
    pub aws_format: Option<String>,
    /// Rows shown by the table output.
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
}

enum Sink {
    Table {
        batches: Vec<RecordBatch>,
        rows: usize,
        limit: usize,
        out: Box<dyn Write>,
    },
    Jsonl(arrow::json::LineDelimitedWriter<Box<dyn Write>>),
    Parquet(ArrowWriter<File>),
}

impl Sink {
    fn write(&mut self, b: &RecordBatch) -> anyhow::Result<()> {
        match self {
            Sink::Table {
                batches,
                rows,
                limit,
                ..
            } => {
                if *rows < *limit {
                    let take = (*limit - *rows).min(b.num_rows());
                    batches.push(b.slice(0, take));
                    *rows += take;
                }
            }
            Sink::Jsonl(w) => w.write(b)?,
            Sink::Parquet(w) => w.write(b)?,
        }
        Ok(())
    }

    fn finish(self) -> anyhow::Result<()> {
        match self {
            Sink::Table {
                batches, mut out, ..
            } => {
                let batches = non_null_columns(&batches)?;
                writeln!(
                    out,
                    "{}",
                    arrow::util::pretty::pretty_format_batches(&batches)?
                )?;
                out.flush()?;
            }
            Sink::Jsonl(mut w) => {
                w.finish()?;
                w.into_inner().flush()?;
            }
            Sink::Parquet(w) => {
                w.close()?;
            }
        }
        Ok(())
    }
}

/// Keeps only the columns that have a value somewhere in the shown rows.
fn non_null_columns(batches: &[RecordBatch]) -> anyhow::Result<Vec<RecordBatch>> {
    if batches.is_empty() {
        return Ok(Vec::new());
    }
    let all = arrow::compute::concat_batches(&flow_schema(), batches)?;
    let keep: Vec<usize> = (0..all.num_columns())
        .filter(|&i| all.column(i).null_count() < all.num_rows())
        .collect();
    if keep.is_empty() {
        return Ok(Vec::new());
    }
    Ok(vec![all.project(&keep)?])
}

fn stdout() -> Box<dyn Write> {
    Box::new(BufWriter::new(std::io::stdout().lock()))
}

pub fn run(a: ParseArgs) -> anyhow::Result<ExitCode> {
    let mut opts = ParseOptions::default();
    if let Some(f) = &a.aws_format {
        let fields = split_format(f);
        if fields.is_empty() {
            bail!("--aws-format: empty field list");
        }
        opts.aws_default_fields = fields;
    }
    let out_writer = |path: &Option<PathBuf>| -> anyhow::Result<Box<dyn Write>> {
        Ok(match path {
            Some(p) => Box::new(BufWriter::new(
                File::create(p).with_context(|| format!("creating {}", p.display()))?,
            )),
            None => stdout(),
        })
    };
    let mut sink = match a.output {
        OutputArg::Table => Sink::Table {
            batches: Vec::new(),
            rows: 0,
            limit: a.limit,
            out: out_writer(&a.out)?,
        },
        OutputArg::Jsonl => Sink::Jsonl(arrow::json::LineDelimitedWriter::new(out_writer(&a.out)?)),
        OutputArg::Parquet => {
            let Some(p) = &a.out else {
                bail!("--output parquet needs --out FILE")
            };
            let file = File::create(p).with_context(|| format!("creating {}", p.display()))?;
            let props = WriterProperties::builder()
                .set_compression(Compression::ZSTD(ZstdLevel::default()))
                .build();
            let schema: std::sync::Arc<Schema> = flow_schema();
            Sink::Parquet(ArrowWriter::try_new(file, schema, Some(props))?)
        }
    };
    let mut dl: Box<dyn Write> = match &a.dead_letter {
        Some(p) => Box::new(BufWriter::new(
            File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => Box::new(std::io::stderr()),
    };
    let write_dl = |dl: &mut Box<dyn Write>, d: &DeadLetter| -> anyhow::Result<()> {
        serde_json::to_writer(&mut *dl, d)?;
        dl.write_all(b"\n")?;
        Ok(())
    };
    let mut failed = false;
    for path in &a.files {
        let object = path.display().to_string();
        let mut reader = match open_path(path, a.format.into(), &opts) {
            Ok(r) => r,
            Err(e) => {
                write_dl(&mut dl, &e.to_dead_letter())?;
                eprintln!("{object}: FAILED: {e}");
                failed = true;
                continue;
            }
        };
        let mut err = None;
        for p in reader.by_ref() {
            match p {
                Ok(p) => {
                    for d in &p.dead_letters {
                        write_dl(&mut dl, d)?;
                    }
                    if p.batch.num_rows() > 0 {
                        sink.write(&p.batch)?;
                    }
                }
                Err(e) => err = Some(e),
            }
        }
        let s = reader.stats();
        eprintln!(
            "{object}: lines={} records={} nodata={} skipdata={} rejected={}{}",
            s.lines_read,
            s.records,
            s.nodata,
            s.skipdata,
            s.rejected,
            if s.unknown_fields > 0 {
                format!(" unknown_fields={}", s.unknown_fields)
            } else {
                String::new()
            }
        );
        if let Some(e) = err {
            write_dl(&mut dl, &e.to_dead_letter())?;
            eprintln!("{object}: FAILED: {e}");
            failed = true;
        }
    }
    dl.flush()?;
    sink.finish()?;
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
