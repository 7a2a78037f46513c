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
use parquet::arrow::arrow_writer::{compute_leaves, ArrowColumnChunk};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};

use crate::emission::to_output_batches;
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
}

pub struct ParquetSink {
    root: PathBuf,
}

impl ParquetSink {
    pub fn new(cfg: &ParquetSinkConfig) -> Self {
        Self {
            root: cfg.path.clone(),
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

    /// Writes one (summary, window) file, encoding its columns on `threads` threads.
    fn write_one(&self, e: &Emission, threads: usize) -> Result<(), SinkError> {
        let path = Self::file_path(&self.root, &e.summary, e.window_start_ms);
        let dir = path.parent().unwrap_or(&self.root).to_path_buf();
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(format!(".{file_name}.tmp"));
        // The summary name is in the path (Hive partition); keep it out of the file so
        // Hive-aware readers do not see it twice.
        let batches = to_output_batches(e)?
            .into_iter()
            .map(|b| b.project(&(1..b.num_columns()).collect::<Vec<_>>()))
            .collect::<Result<Vec<_>, _>>()?;
        let Some(schema) = batches.first().map(RecordBatch::schema) else {
            return Err(SinkError::Internal(format!(
                "emission of {} at {} has no batch",
                e.summary, e.window_start_ms
            )));
        };
        let f = File::create(&tmp).map_err(io(&tmp))?;
        // Row groups of bounded size: the writer holds one encoded row group at a time,
        // and readers can skip groups by their statistics.
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .build();
        let perr = |source| SinkError::Parquet {
            path: tmp.display().to_string(),
            source,
        };
        let w = ArrowWriter::try_new(f, schema, Some(props)).map_err(perr)?;
        let f = encode(w, &batches, threads).map_err(perr)?;
        f.sync_all().map_err(io(&tmp))?;
        fs::rename(&tmp, &path).map_err(io(&path))?;
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(io(&dir))?;
        Ok(())
    }
}

/// Writes `batches` through `w` and returns the file: with one thread as `ArrowWriter` does,
/// else a row group at a time (at most [`ROW_GROUP_ROWS`] rows of one batch) with its
/// columns spread over `threads` scoped threads (same metadata, as the writer's own factory
/// makes the column writers).
fn encode(
    w: ArrowWriter<File>,
    batches: &[RecordBatch],
    threads: usize,
) -> Result<File, ParquetError> {
    let columns = batches.first().map_or(0, RecordBatch::num_columns);
    if threads <= 1 || columns <= 1 {
        let mut w = w;
        for b in batches {
            w.write(b)?;
        }
        return w.into_inner();
    }
    let (mut file, factory) = w.into_serialized_writer()?;
    let groups = batches.iter().flat_map(|b| {
        (0..b.num_rows())
            .step_by(ROW_GROUP_ROWS)
            .map(move |at| b.slice(at, ROW_GROUP_ROWS.min(b.num_rows() - at)))
    });
    for (group, slice) in groups.enumerate() {
        let schema = slice.schema();
        let mut leaves = Vec::new();
        for (array, field) in slice.columns().iter().zip(schema.fields()) {
            leaves.extend(compute_leaves(field, array)?);
        }
        let mut jobs: Vec<Vec<_>> = (0..threads).map(|_| Vec::new()).collect();
        let writers = factory.create_column_writers(group)?;
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
                let done = h.join().map_err(|_| {
                    ParquetError::General("a Parquet column encoder panicked".into())
                })??;
                all.extend(done);
                Ok::<_, ParquetError>(all)
            })
        })?;
        chunks.sort_by_key(|(i, _)| *i);
        let mut row_group = file.next_row_group()?;
        for (_, chunk) in chunks {
            chunk.append_to_row_group(&mut row_group)?;
        }
        row_group.close()?;
    }
    file.into_inner()
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
            return emissions.iter().try_for_each(|e| self.write_one(e, cores));
        }
        let per_thread = emissions.len().div_ceil(threads);
        let this = &*self;
        std::thread::scope(|scope| {
            let handles: Vec<_> = emissions
                .chunks(per_thread)
                .map(|part| scope.spawn(move || part.iter().try_for_each(|e| this.write_one(e, 1))))
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
        let sink = |d: &tempfile::TempDir| {
            ParquetSink::new(&ParquetSinkConfig {
                path: d.path().into(),
            })
        };
        sink(&one).write_one(&e, 1).unwrap();
        sink(&many).write_one(&e, 3).unwrap();
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
            ParquetSink::new(&ParquetSinkConfig {
                path: d.path().into(),
            })
            .write_one(&parts, threads)
            .unwrap();
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
}
