//! Helpers shared by the integration tests: fixture location and whole-file parsing.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::concat_batches;
use arrow::datatypes::{DataType, TimeUnit};
use flowlogd_formats::aws_text::header::split_format;
use flowlogd_formats::reader::from_read;
use flowlogd_formats::{
    flow_schema, Col, DeadLetter, FormatError, FormatHint, ObjectStats, ParseOptions,
};

/// `/work/shared/fixtures` seen from the crate; `None` (and a message) when absent.
pub fn fixtures() -> Option<PathBuf> {
    // FLOWLOGD_FIXTURES overrides the location (e.g. when the crate is built elsewhere).
    let p = std::env::var_os("FLOWLOGD_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures"));
    if p.is_dir() {
        Some(p)
    } else {
        println!("SKIP: fixtures not found at {}", p.display());
        None
    }
}

/// Everything parsed out of one object.
pub struct Out {
    pub batch: RecordBatch,
    pub dead: Vec<DeadLetter>,
    pub stats: ObjectStats,
}

impl Out {
    pub fn rows(&self) -> usize {
        self.batch.num_rows()
    }

    /// A cell as text (`None` for null); timestamps as ms.
    pub fn get(&self, col: Col, row: usize) -> Option<String> {
        cell(&self.batch, col, row)
    }
}

pub fn cell(batch: &RecordBatch, col: Col, row: usize) -> Option<String> {
    let a = batch.column(col as usize);
    if a.is_null(row) {
        return None;
    }
    Some(match a.data_type() {
        DataType::Utf8 => a.as_string::<i32>().value(row).to_owned(),
        DataType::UInt8 => a
            .as_primitive::<arrow::datatypes::UInt8Type>()
            .value(row)
            .to_string(),
        DataType::UInt16 => a
            .as_primitive::<arrow::datatypes::UInt16Type>()
            .value(row)
            .to_string(),
        DataType::UInt64 => a
            .as_primitive::<arrow::datatypes::UInt64Type>()
            .value(row)
            .to_string(),
        DataType::Timestamp(TimeUnit::Millisecond, _) => a
            .as_primitive::<arrow::datatypes::TimestampMillisecondType>()
            .value(row)
            .to_string(),
        other => panic!("unexpected type {other}"),
    })
}

/// Parses a whole file via the streaming reader; `fields` replaces the default AWS format.
pub fn parse_path(
    path: &Path,
    hint: FormatHint,
    fields: Option<&str>,
    opts: &ParseOptions,
) -> Result<Out, FormatError> {
    let mut opts = opts.clone();
    if let Some(f) = fields {
        opts.aws_default_fields = split_format(f);
    }
    let r = flowlogd_formats::reader::open_path(path, hint, &opts)?;
    collect(r)
}

pub fn parse_bytes(
    name: &str,
    data: Vec<u8>,
    hint: FormatHint,
    opts: &ParseOptions,
) -> Result<Out, FormatError> {
    let r = from_read(name, Box::new(std::io::Cursor::new(data)), hint, opts)?;
    collect(r)
}

pub fn collect(
    r: impl Iterator<Item = Result<flowlogd_formats::Parsed, FormatError>>,
) -> Result<Out, FormatError> {
    let mut batches = Vec::new();
    let mut dead = Vec::new();
    let mut stats = ObjectStats::default();
    for p in r {
        let p = p?;
        stats.add(&p.stats);
        dead.extend(p.dead_letters);
        batches.push(p.batch);
    }
    let batch = concat_batches(&flow_schema(), &batches).expect("same schema");
    Ok(Out { batch, dead, stats })
}

/// The `.extracted.format.txt` next to a headerless `.extracted.log`, if any.
pub fn format_file(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let stem = name.strip_suffix(".log")?;
    let f = path.with_file_name(format!("{stem}.format.txt"));
    std::fs::read_to_string(f).ok()
}
