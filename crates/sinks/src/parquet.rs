//! Parquet summaries in a Hive layout, one file per (summary, window):
//! `summary=traffic/date=2024-05-01/hour=13/traffic-20240501T1300.parquet`.
//!
//! A new revision is written to a hidden temporary file, synced, and renamed over the old
//! one, so readers (DataFusion, DuckDB, Athena) always see exactly one complete revision of
//! every window. The `revision` column says which.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use arrow::record_batch::RecordBatch;
use flowlogd_bus::Emission;
use parquet::arrow::arrow_writer::{
    compute_leaves, ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory,
};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::ColumnPath;
use serde::{Deserialize, Serialize};

use crate::emission::{to_output_batch, HEADER_COLUMNS};
use crate::error::{io, SinkError};
use crate::SummarySink;

/// Rows per Parquet row group.
const ROW_GROUP_ROWS: usize = 128 * 1024;

/// `[sinks.parquet]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParquetSinkConfig {
    /// Root directory of the Hive layout.
    pub path: PathBuf,
    /// Column compression: `zstd` (default: smallest files), `snappy` or `lz4` (faster to
    /// write and read), `none`.
    #[serde(default)]
    pub compression: ParquetCompression,
}

/// `sinks.parquet.compression`
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParquetCompression {
    #[default]
    Zstd,
    Snappy,
    Lz4,
    None,
}

impl ParquetCompression {
    fn codec(self) -> Compression {
        match self {
            Self::Zstd => Compression::ZSTD(ZstdLevel::default()),
            Self::Snappy => Compression::SNAPPY,
            Self::Lz4 => Compression::LZ4_RAW,
            Self::None => Compression::UNCOMPRESSED,
        }
    }
}

pub struct ParquetSink {
    root: PathBuf,
    compression: Compression,
    /// The file of an emission given in pieces, until its last piece.
    open: Option<OpenFile>,
}

/// A (summary, window) file being written under its temporary name.
struct OpenFile {
    emission: (String, i64, u32),
    tmp: PathBuf,
    path: PathBuf,
    dir: PathBuf,
    encoder: Encoder,
}

impl ParquetSink {
    pub fn new(cfg: &ParquetSinkConfig) -> Self {
        Self {
            root: cfg.path.clone(),
            compression: cfg.compression.codec(),
            open: None,
        }
    }

    /// Path of the file holding (summary, window).
    pub fn file_path(root: &Path, summary: &str, window_start_ms: i64) -> PathBuf {
        let t = chrono::DateTime::from_timestamp_millis(window_start_ms).unwrap_or_default();
        root.join(format!("summary={summary}"))
            .join(t.format("date=%Y-%m-%d").to_string())
            .join(t.format("hour=%H").to_string())
            .join(format!("{summary}-{}.parquet", t.format("%Y%m%dT%H%M")))
    }
}

/// Writes one (summary, window) file under `root`, encoding its columns on `threads` threads.
fn write_one(
    root: &Path,
    compression: Compression,
    e: &Emission,
    threads: usize,
) -> Result<(), SinkError> {
    let mut file = OpenFile::create(root, compression, e, threads)?;
    file.append(e)?;
    file.finish()
}

impl OpenFile {
    /// Starts the file of `e` under a temporary name (its schema from `e`'s first batch).
    fn create(
        root: &Path,
        compression: Compression,
        e: &Emission,
        threads: usize,
    ) -> Result<Self, SinkError> {
        let path = ParquetSink::file_path(root, &e.summary, e.window_start_ms);
        let dir = path.parent().unwrap_or(root).to_path_buf();
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(format!(".{file_name}.tmp"));
        let Some(first) = e.batches.first() else {
            return Err(SinkError::Internal(format!(
                "emission of {} at {} has no batch",
                e.summary, e.window_start_ms
            )));
        };
        let schema = file_batch(e, first)?.schema();
        let columns = schema.fields().len();
        let f = File::create(&tmp).map_err(io(&tmp))?;
        // Row groups of bounded size: the writer holds one encoded row group at a time,
        // and readers can skip groups by their statistics.
        let mut props = WriterProperties::builder()
            .set_compression(compression)
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS));
        // Metrics (sums, counts, first and last times) rarely repeat: a dictionary of them
        // only costs a hash lookup per value before the writer falls back to plain
        // encoding, and that lookup was a third of the writing. Keys and window columns
        // repeat and keep theirs.
        for f in schema.fields() {
            if !e.keys.contains(f.name()) && !HEADER_COLUMNS.contains(&f.name().as_str()) {
                props =
                    props.set_column_dictionary_enabled(ColumnPath::from(f.name().as_str()), false);
            }
        }
        let props = props.build();
        let w = ArrowWriter::try_new(f, schema, Some(props)).map_err(parquet_err(&tmp))?;
        Ok(Self {
            emission: (e.summary.clone(), e.window_start_ms, e.revision),
            encoder: Encoder::new(w, threads, columns).map_err(parquet_err(&tmp))?,
            tmp,
            path,
            dir,
        })
    }

    fn append(&mut self, e: &Emission) -> Result<(), SinkError> {
        for b in &e.batches {
            let b = file_batch(e, b)?;
            self.encoder.write(&b).map_err(parquet_err(&self.tmp))?;
        }
        Ok(())
    }

    /// Completes the file, syncs it and renames it over the previous revision.
    fn finish(self) -> Result<(), SinkError> {
        let f = self.encoder.finish().map_err(parquet_err(&self.tmp))?;
        f.sync_all().map_err(io(&self.tmp))?;
        fs::rename(&self.tmp, &self.path).map_err(io(&self.path))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io(&self.dir))?;
        Ok(())
    }
}

/// An output batch as stored: the summary name is in the path (Hive partition), so it is
/// kept out of the file, lest Hive-aware readers see it twice.
fn file_batch(e: &Emission, batch: &RecordBatch) -> Result<RecordBatch, SinkError> {
    let b = to_output_batch(e, batch)?;
    Ok(b.project(&(1..b.num_columns()).collect::<Vec<_>>())?)
}

fn parquet_err(path: &Path) -> impl Fn(ParquetError) -> SinkError + '_ {
    move |source| SinkError::Parquet {
        path: path.display().to_string(),
        source,
    }
}

/// Encodes batches into a file: with one thread as `ArrowWriter` does, else a row group at a
/// time (at most [`ROW_GROUP_ROWS`] rows of one batch) with its columns spread over
/// `threads` scoped threads (same metadata, as the writer's own factory makes the column
/// writers).
enum Encoder {
    Plain(ArrowWriter<File>),
    Columns {
        file: SerializedFileWriter<File>,
        factory: ArrowRowGroupWriterFactory,
        groups: usize,
        threads: usize,
    },
}

impl Encoder {
    fn new(w: ArrowWriter<File>, threads: usize, columns: usize) -> Result<Self, ParquetError> {
        if threads <= 1 || columns <= 1 {
            return Ok(Self::Plain(w));
        }
        let (file, factory) = w.into_serialized_writer()?;
        Ok(Self::Columns {
            file,
            factory,
            groups: 0,
            threads,
        })
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<(), ParquetError> {
        let (file, factory, groups, threads) = match self {
            Self::Plain(w) => return w.write(batch),
            Self::Columns {
                file,
                factory,
                groups,
                threads,
            } => (file, factory, groups, *threads),
        };
        for at in (0..batch.num_rows()).step_by(ROW_GROUP_ROWS) {
            let slice = batch.slice(at, ROW_GROUP_ROWS.min(batch.num_rows() - at));
            let chunks = encode_columns(&slice, factory.create_column_writers(*groups)?, threads)?;
            *groups += 1;
            let mut row_group = file.next_row_group()?;
            for chunk in chunks {
                chunk.append_to_row_group(&mut row_group)?;
            }
            row_group.close()?;
        }
        Ok(())
    }

    fn finish(self) -> Result<File, ParquetError> {
        match self {
            Self::Plain(w) => w.into_inner(),
            Self::Columns { file, .. } => file.into_inner(),
        }
    }
}

/// The column chunks of one row group, in column order, encoded on `threads` threads.
fn encode_columns(
    slice: &RecordBatch,
    writers: Vec<ArrowColumnWriter>,
    threads: usize,
) -> Result<Vec<ArrowColumnChunk>, ParquetError> {
    let schema = slice.schema();
    let mut leaves = Vec::new();
    for (array, field) in slice.columns().iter().zip(schema.fields()) {
        leaves.extend(compute_leaves(field, array)?);
    }
    let mut jobs: Vec<Vec<_>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, job) in writers.into_iter().zip(leaves).enumerate() {
        jobs[i % threads].push((i, job));
    }
    let mut chunks: Vec<(usize, ArrowColumnChunk)> = std::thread::scope(|scope| {
        let handles: Vec<_> = jobs
            .into_iter()
            .map(|job| {
                scope.spawn(move || {
                    job.into_iter()
                        .map(|(i, (mut writer, leaf))| {
                            writer.write(&leaf)?;
                            Ok((i, writer.close()?))
                        })
                        .collect::<Result<Vec<_>, ParquetError>>()
                })
            })
            .collect();
        handles.into_iter().try_fold(Vec::new(), |mut all, h| {
            let done = h
                .join()
                .map_err(|_| ParquetError::General("a Parquet column encoder panicked".into()))??;
            all.extend(done);
            Ok::<_, ParquetError>(all)
        })
    })?;
    chunks.sort_by_key(|(i, _)| *i);
    Ok(chunks.into_iter().map(|(_, c)| c).collect())
}

impl SummarySink for ParquetSink {
    fn name(&self) -> &str {
        "parquet"
    }

    /// Windows are independent files, so they are encoded on all cores at once (encoding
    /// and compression of a large window take as long as merging it).
    /// Fewer windows than cores (the last of a backfill, a tick's single window): the
    /// columns of each window are encoded in parallel instead.
    fn write(&mut self, emissions: &[Emission]) -> Result<(), SinkError> {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let threads = cores.min(emissions.len());
        if threads <= 1 {
            return emissions
                .iter()
                .try_for_each(|e| write_one(&self.root, self.compression, e, cores));
        }
        let per_thread = emissions.len().div_ceil(threads);
        let (root, compression) = (self.root.as_path(), self.compression);
        std::thread::scope(|scope| {
            let handles: Vec<_> = emissions
                .chunks(per_thread)
                .map(|part| {
                    scope.spawn(move || {
                        part.iter()
                            .try_for_each(|e| write_one(root, compression, e, 1))
                    })
                })
                .collect();
            handles.into_iter().try_for_each(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(SinkError::Internal(
                        "a Parquet writer thread panicked".into(),
                    ))
                })
            })
        })
    }

    /// Pieces go into one file, renamed into place with the last, so readers never see a
    /// window's file without all its rows. One encoding thread: the next parts merge on the
    /// other cores meanwhile (encoding each piece's columns in parallel, with a join per
    /// piece, left the cores half idle), and row groups fill up across pieces.
    fn write_piece(&mut self, piece: &Emission, last: bool) -> Result<(), SinkError> {
        let id = (piece.summary.clone(), piece.window_start_ms, piece.revision);
        let mut file = match self.open.take() {
            Some(f) if f.emission == id => f,
            Some(f) => {
                return Err(SinkError::Internal(format!(
                    "a piece of {} at {} came before the last piece of {} at {}",
                    piece.summary, piece.window_start_ms, f.emission.0, f.emission.1
                )))
            }
            None => OpenFile::create(&self.root, self.compression, piece, 1)?,
        };
        file.append(piece)?;
        if last {
            file.finish()
        } else {
            self.open = Some(file);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use arrow::array::{ArrayRef, StringArray, UInt64Array};
    use arrow::compute::concat_batches;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    fn emission(rows: usize) -> Emission {
        let addr: StringArray = (0..rows)
            .map(|i| (i % 7 != 0).then(|| format!("10.0.{}.{}", i / 256, i % 256)))
            .collect();
        let bytes: UInt64Array = (0..rows as u64).map(|i| Some(i * 3)).collect();
        let batch = RecordBatch::try_from_iter([
            ("src_addr", Arc::new(addr) as ArrayRef),
            ("bytes", Arc::new(bytes) as ArrayRef),
        ])
        .unwrap();
        Emission {
            summary: "traffic".into(),
            window_start_ms: 1_714_521_600_000,
            window_end_ms: 1_714_525_200_000,
            revision: 1,
            provisional: false,
            batches: vec![batch],
            keys: vec!["src_addr".into()],
        }
    }

    fn read(path: &Path) -> (Vec<RecordBatch>, usize) {
        let b = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap()).unwrap();
        let groups = b.metadata().num_row_groups();
        (b.build().unwrap().map(|r| r.unwrap()).collect(), groups)
    }

    /// Columns encoded on several threads give the same file content (rows, row groups,
    /// schema with its time zone) as the plain writer.
    #[test]
    fn parallel_column_encoding_equals_the_plain_writer() {
        let e = emission(ROW_GROUP_ROWS + 1000);
        let (one, many) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        write_one(one.path(), ParquetCompression::Zstd.codec(), &e, 1).unwrap();
        write_one(many.path(), ParquetCompression::Zstd.codec(), &e, 3).unwrap();
        let path =
            |d: &tempfile::TempDir| ParquetSink::file_path(d.path(), "traffic", e.window_start_ms);
        let (a, groups_a) = read(&path(&one));
        let (b, groups_b) = read(&path(&many));
        assert_eq!(groups_a, 2);
        assert_eq!(groups_b, groups_a);
        assert_eq!(a, b);
        assert_eq!(
            a.iter().map(|b| b.num_rows()).sum::<usize>(),
            ROW_GROUP_ROWS + 1000
        );
    }

    /// An emission in several batches (a split window's parts) is one file with every row
    /// in batch order, whether its columns are encoded on one thread or several.
    #[test]
    fn an_emission_of_several_batches_is_one_file_of_all_rows() {
        let whole = emission(5000);
        let b = &whole.batches[0];
        let mut parts = whole.clone();
        parts.batches = vec![b.slice(0, 1200), b.slice(1200, 0), b.slice(1200, 3800)];
        let expected = b.clone();
        for threads in [1, 3] {
            let d = tempfile::tempdir().unwrap();
            write_one(d.path(), ParquetCompression::Zstd.codec(), &parts, threads).unwrap();
            let (got, _) = read(&ParquetSink::file_path(
                d.path(),
                "traffic",
                whole.window_start_ms,
            ));
            let got = concat_batches(&got[0].schema(), &got).unwrap();
            assert_eq!(got.num_rows(), 5000, "threads = {threads}");
            for name in ["src_addr", "bytes"] {
                assert_eq!(
                    got.column_by_name(name).unwrap(),
                    expected.column_by_name(name).unwrap(),
                    "column {name}, threads = {threads}"
                );
            }
        }
    }

    /// An emission given in pieces is one file, the same as written at once, and appears
    /// only with its last piece; a piece of another emission before that is refused.
    #[test]
    fn pieces_of_an_emission_are_one_file_that_appears_with_the_last() {
        let whole = emission(5000);
        let b = &whole.batches[0];
        let piece = |at: usize, len: usize| {
            let mut p = whole.clone();
            p.batches = vec![b.slice(at, len)];
            p
        };
        let (streamed, at_once) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let mut sink = ParquetSink::new(&ParquetSinkConfig {
            path: streamed.path().into(),
            compression: ParquetCompression::Zstd,
        });
        let path = ParquetSink::file_path(streamed.path(), "traffic", whole.window_start_ms);
        sink.write_piece(&piece(0, 1200), false).unwrap();
        sink.write_piece(&piece(1200, 0), false).unwrap();
        assert!(!path.exists(), "the file appeared before its last piece");
        let mut other = piece(0, 10);
        other.window_start_ms += 3_600_000;
        assert!(sink.write_piece(&other, true).is_err());
        sink.write_piece(&piece(0, 1200), false).unwrap();
        sink.write_piece(&piece(1200, 3800), true).unwrap();
        write_one(at_once.path(), ParquetCompression::Zstd.codec(), &whole, 1).unwrap();
        let (got, _) = read(&path);
        let (want, _) = read(&ParquetSink::file_path(
            at_once.path(),
            "traffic",
            whole.window_start_ms,
        ));
        let concat = |b: Vec<RecordBatch>| concat_batches(&b[0].schema(), &b).unwrap();
        assert_eq!(concat(got), concat(want));
    }
}
