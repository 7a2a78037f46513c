//! Parquet summaries in a Hive layout, one file per (summary, window):
//! `summary=traffic/date=2024-05-01/hour=13/traffic-20240501T1300.parquet`.
//!
//! A new revision is written to a hidden temporary file, synced, and renamed over the old
//! one, so readers (DataFusion, DuckDB, Athena) always see exactly one complete revision of
//! every window. The `revision` column says which.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use flowlogd_bus::Emission;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};

use crate::emission::to_output_batch;
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

    fn write_one(&self, e: &Emission) -> Result<(), SinkError> {
        let path = Self::file_path(&self.root, &e.summary, e.window_start_ms);
        let dir = path.parent().unwrap_or(&self.root).to_path_buf();
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(format!(".{file_name}.tmp"));
        let batch = to_output_batch(e)?;
        // The summary name is in the path (Hive partition); keep it out of the file so
        // Hive-aware readers do not see it twice.
        let batch = batch.project(&(1..batch.num_columns()).collect::<Vec<_>>())?;
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
        let mut w = ArrowWriter::try_new(f, batch.schema(), Some(props)).map_err(perr)?;
        w.write(&batch).map_err(perr)?;
        let f = w.into_inner().map_err(perr)?;
        f.sync_all().map_err(io(&tmp))?;
        fs::rename(&tmp, &path).map_err(io(&path))?;
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(io(&dir))?;
        Ok(())
    }
}

impl SummarySink for ParquetSink {
    fn name(&self) -> &str {
        "parquet"
    }

    /// Windows are independent files, so they are encoded on all cores at once (encoding
    /// and compression of a large window take as long as merging it).
    fn write(&mut self, emissions: &[Emission]) -> Result<(), SinkError> {
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(emissions.len());
        if threads <= 1 {
            return emissions.iter().try_for_each(|e| self.write_one(e));
        }
        let per_thread = emissions.len().div_ceil(threads);
        let this = &*self;
        std::thread::scope(|scope| {
            let handles: Vec<_> = emissions
                .chunks(per_thread)
                .map(|part| scope.spawn(move || part.iter().try_for_each(|e| this.write_one(e))))
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
