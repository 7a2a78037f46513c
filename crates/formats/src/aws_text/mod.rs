//! AWS VPC / Transit Gateway flow logs, text delivery (`.log.gz`, decompressed by the
//! caller): header-driven layouts, one row per data line, dead letters for bad lines.
//!
//! - [`parse_chunk`]: one line-aligned [`Chunk`] (the pipeline's unit).
//! - [`TextParser`]: incremental state (layout in force, batch in progress) used by
//!   `parse_chunk` and by the streaming [`crate::reader::ObjectReader`].

pub mod chunker;
pub mod field;
pub mod header;
pub mod line;

use crate::keyinfo;
use crate::schema::Col;
use crate::{Chunk, DeadLetter, FlowBatchBuilder, ObjectStats, ParseOptions, Parsed};
use field::Status;
use header::{parse_header, Layout};
use line::LineScan;

/// Value of the `format` column.
pub const FORMAT_NAME: &str = "aws-vpc-text";

/// Parses one chunk of decompressed AWS text into batches of at most `opts.batch_rows` rows.
/// Always returns at least one `Parsed` (possibly empty) so the chunk's counts are reported.
pub fn parse_chunk(chunk: &Chunk, opts: &ParseOptions) -> Vec<Parsed> {
    let mut p = TextParser::new(&chunk.object, chunk.fields.as_deref(), opts);
    let mut out = Vec::new();
    p.feed(&chunk.data, chunk.first_line, &mut out);
    if let Some(last) = p.finish() {
        out.push(last);
    }
    if out.is_empty() {
        out.push(p.take());
    }
    out
}

/// Incremental parser of one object's lines.
pub struct TextParser {
    object: String,
    batch_rows: usize,
    max_raw: usize,
    layout: Layout,
    builder: FlowBatchBuilder,
    dead: Vec<DeadLetter>,
    stats: ObjectStats,
    /// Field boundaries of the current line (scratch, reused).
    bounds: Vec<usize>,
}

impl TextParser {
    /// `fields`: the header in force at the start (a chunk's), else `opts.aws_default_fields`.
    pub fn new(object: &str, fields: Option<&[String]>, opts: &ParseOptions) -> Self {
        let layout = Layout::new(fields.unwrap_or(&opts.aws_default_fields));
        let mut builder = FlowBatchBuilder::new().without_defaults_for(&opts.skip_columns);
        builder.set_default(Col::Provider, Some("aws"));
        builder.set_default(Col::Format, Some(FORMAT_NAME));
        builder.set_default(Col::ObjectKey, Some(object));
        let k = keyinfo::from_key(object);
        builder.set_default(Col::AccountId, k.account_id.as_deref());
        builder.set_default(Col::Region, k.region.as_deref());
        Self {
            object: object.to_owned(),
            batch_rows: opts.batch_rows.max(1),
            max_raw: opts.max_raw_bytes,
            layout,
            builder,
            dead: Vec::new(),
            stats: ObjectStats::default(),
            bounds: vec![0; 64],
        }
    }

    /// The field list currently in force.
    pub fn fields(&self) -> &[String] {
        &self.layout.names
    }

    /// Feeds whole lines (the last one may lack its newline); `first_line` is the 1-based
    /// number of the first. Full batches are appended to `out`.
    pub fn feed(&mut self, data: &[u8], first_line: u64, out: &mut Vec<Parsed>) {
        let mut pos = 0;
        let mut line_no = first_line;
        while pos < data.len() {
            // One pass finds the line's end and its field boundaries.
            let scan = line::scan_line(data, pos, &mut self.bounds);
            self.line(data, pos, scan, line_no);
            pos = scan.next;
            line_no += 1;
            if self.builder.rows() >= self.batch_rows {
                out.push(self.take());
            }
        }
    }

    /// One line, `data[ls..scan.end]` without its terminator; `data` is the whole buffer so
    /// the hot path can read whole words around values.
    fn line(&mut self, data: &[u8], ls: usize, scan: LineScan, line_no: u64) {
        let line = &data[ls..scan.end];
        self.stats.lines_read += 1;
        let first = match line.iter().position(|&c| c != b' ' && c != b'\t') {
            None => return, // blank
            Some(i) => line[i],
        };
        if first == b'#' {
            return;
        }
        if first.is_ascii_alphabetic() || first == b'$' {
            if let Some(names) = parse_header(line.trim_ascii_start()) {
                self.layout = Layout::new(&names);
                self.stats.unknown_fields += self.layout.unknown;
                return;
            }
        }
        let parsed = line::parse_fields(
            &mut self.builder,
            &self.layout,
            data,
            ls,
            scan.end,
            scan.fields,
            scan.non_ascii,
            &self.bounds,
        );
        match parsed {
            Ok(status) => {
                self.stats.records += 1;
                match status {
                    Status::NoData => self.stats.nodata += 1,
                    Status::SkipData => self.stats.skipdata += 1,
                    Status::Other => {}
                }
            }
            Err(e) => {
                self.stats.rejected += 1;
                self.dead.push(
                    DeadLetter::new(&self.object, e.kind(), e.reason())
                        .at_line(line_no)
                        .with_raw(line, self.max_raw),
                );
            }
        }
    }

    /// Takes the batch in progress with its dead letters and counts (possibly empty).
    pub fn take(&mut self) -> Parsed {
        Parsed {
            batch: self.builder.finish(),
            dead_letters: std::mem::take(&mut self.dead),
            stats: std::mem::take(&mut self.stats),
        }
    }

    /// The final partial batch, or `None` when nothing is pending.
    pub fn finish(&mut self) -> Option<Parsed> {
        let pending = self.builder.rows() > 0
            || !self.dead.is_empty()
            || self.stats != ObjectStats::default();
        pending.then(|| self.take())
    }
}

#[cfg(test)]
mod tests;
