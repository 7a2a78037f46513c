//! Cuts a Parquet object into standalone Parquet chunks of bounded row count.
//!
//! Parquet needs random access, so a chunk cannot be a byte range of the object. The chunker
//! reads the object a batch at a time (from a file, not memory) and writes each batch as a
//! small Parquet file of its own, with every column as it was: the parser then sees the same
//! columns and types as in the whole object, a chunk is as small as a text chunk, and no
//! stage holds the whole object. Batch boundaries depend only on the object and `rows`, so a
//! re-read after a restart yields the same chunks and ids (the row index is the offset).

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatchReader;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use parquet::file::reader::ChunkReader;

use crate::{Chunk, ChunkFormat, FormatError};

/// Yields the chunks of one Parquet object; stops after the first error.
pub struct ParquetChunker {
    source: String,
    object: String,
    reader: ParquetRecordBatchReader,
    schema: SchemaRef,
    props: WriterProperties,
    next_row: u64,
    seq: u64,
    failed: bool,
}

impl ParquetChunker {
    /// `rows`: rows per chunk (at least 1).
    pub fn new<R: ChunkReader + 'static>(
        source: &str,
        object: &str,
        input: R,
        rows: usize,
    ) -> Result<Self, FormatError> {
        let opened = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            ParquetRecordBatchReaderBuilder::try_new(input)
                .and_then(|b| b.with_batch_size(rows.max(1)).build())
        }));
        let reader = match opened {
            Ok(r) => r.map_err(|e| parquet_err(object, e.to_string()))?,
            Err(_) => return Err(super::panicked(object)),
        };
        let schema = reader.schema();
        Ok(Self {
            source: source.to_owned(),
            object: object.to_owned(),
            reader,
            schema,
            props: WriterProperties::builder()
                .set_compression(Compression::SNAPPY)
                .build(),
            next_row: 0,
            seq: 0,
            failed: false,
        })
    }

    fn encode(&self, batch: &arrow::record_batch::RecordBatch) -> Result<Vec<u8>, FormatError> {
        let err = |e: parquet::errors::ParquetError| parquet_err(&self.object, e.to_string());
        let mut w = ArrowWriter::try_new(Vec::new(), self.schema.clone(), Some(self.props.clone()))
            .map_err(err)?;
        w.write(batch).map_err(err)?;
        w.into_inner().map_err(err)
    }
}

fn parquet_err(object: &str, reason: String) -> FormatError {
    FormatError::Parquet {
        object: object.to_owned(),
        reason,
    }
}

impl Iterator for ParquetChunker {
    type Item = Result<Chunk, FormatError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let batch = match super::next_batch(&mut self.reader, &self.object)? {
            Ok(b) => b,
            Err(e) => {
                self.failed = true;
                return Some(Err(e));
            }
        };
        let data = match self.encode(&batch) {
            Ok(d) => d,
            Err(e) => {
                self.failed = true;
                return Some(Err(e));
            }
        };
        let chunk = Chunk {
            source: self.source.clone(),
            object: self.object.clone(),
            format: ChunkFormat::AwsParquet,
            offset: self.next_row,
            first_line: self.next_row + 1,
            fields: None,
            seq: self.seq,
            data,
        };
        self.next_row += batch.num_rows() as u64;
        self.seq += 1;
        Some(Ok(chunk))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::{generate, GenConfig, SampleFormat};
    use crate::ParseOptions;

    #[test]
    fn chunks_parse_to_the_same_records_as_the_whole_object() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = GenConfig {
            records: 20_000,
            hours: 1,
            formats: vec![SampleFormat::AwsParquet],
            ..GenConfig::default()
        };
        let report = generate(&cfg, dir.path()).unwrap();
        let biggest = report.files.iter().max_by_key(|f| f.records).unwrap();
        let path = dir.path().join(&biggest.path);
        let opts = ParseOptions::default();
        let whole = std::fs::read(&path).unwrap();
        let want: usize = super::super::parse_bytes("o", &whole, &opts)
            .unwrap()
            .iter()
            .map(|p| p.batch.num_rows())
            .sum();
        assert!(want > 100, "the sample object has rows");
        let file = std::fs::File::open(&path).unwrap();
        let chunks: Vec<Chunk> = ParquetChunker::new("s", "o", file, 37)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(chunks.len(), want.div_ceil(37));
        let mut got = Vec::new();
        for c in &chunks {
            for p in crate::parse_chunk(c, &opts).unwrap() {
                got.push(p.batch);
            }
        }
        let whole_batches: Vec<_> = super::super::parse_bytes("o", &whole, &opts)
            .unwrap()
            .into_iter()
            .map(|p| p.batch)
            .collect();
        let concat = |b: &[arrow::record_batch::RecordBatch]| {
            arrow::compute::concat_batches(&b[0].schema(), b).unwrap()
        };
        assert_eq!(concat(&got), concat(&whole_batches));
        // Offsets are row indexes: ids differ per chunk and repeat on a re-read.
        assert_eq!(chunks[1].offset, 37);
        assert_eq!(chunks[1].first_line, 38);
        let again: Vec<String> =
            ParquetChunker::new("s", "o", std::fs::File::open(&path).unwrap(), 37)
                .unwrap()
                .map(|c| c.unwrap().id())
                .collect();
        assert_eq!(again, chunks.iter().map(Chunk::id).collect::<Vec<_>>());
    }

    #[test]
    fn a_truncated_object_is_an_error_not_a_panic() {
        let r = ParquetChunker::new("s", "o", bytes::Bytes::from_static(b"PAR1garbagePAR1"), 10);
        assert!(r.is_err());
    }
}
