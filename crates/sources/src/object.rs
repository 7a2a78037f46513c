//! Turning one object's bytes into chunks, shared by every source: the cloud sources hand
//! in a stream from S3 or Blob storage, the local source a file.

use std::io::Read;

use flowlogd_bus::{RawMessage, Sender};
use flowlogd_formats::aws_parquet::ParquetChunker;
use flowlogd_formats::chunk::{json_chunks, TextChunker};
use flowlogd_formats::reader::open_text;
use flowlogd_formats::{ChunkFormat, FormatHint, ParseOptions};

use crate::error::SourceError;

/// Format of an object from its first bytes and its name.
pub fn format_of(name: &str, head: &[u8]) -> ChunkFormat {
    flowlogd_formats::detect::detect(FormatHint::Auto, name, head)
}

/// Sends an AWS text object as chunks. Returns false when the object failed as a whole
/// (its dead letter was sent instead).
pub fn send_text(
    source: &str,
    object: &str,
    reader: Box<dyn Read + Send>,
    max_chunk_bytes: usize,
    opts: &ParseOptions,
    tx: &Sender<RawMessage>,
) -> Result<bool, SourceError> {
    let reader = open_text(reader);
    for chunk in TextChunker::new(source, object, reader, max_chunk_bytes, opts) {
        match chunk {
            Ok(c) => tx
                .blocking_send(RawMessage::Chunk(c))
                .map_err(|_| SourceError::Closed)?,
            Err(e) => {
                // Chunks already sent stay applied (they are valid lines); the failure is
                // recorded once for the object.
                tx.blocking_send(RawMessage::ObjectFailed(e.to_dead_letter()))
                    .map_err(|_| SourceError::Closed)?;
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// Rows per Parquet chunk: about as many bytes as a text chunk holds (an AWS record is ~64
/// bytes of Parquet before compression), within sane bounds.
pub fn parquet_chunk_rows(max_chunk_bytes: usize) -> usize {
    (max_chunk_bytes / 64).clamp(1024, 131_072)
}

/// Sends a Parquet object (read from a file: Parquet needs random access) as standalone
/// Parquet chunks of bounded rows. Returns false when the object failed as a whole (its dead
/// letter was sent instead; chunks already sent stay applied).
pub fn send_parquet(
    source: &str,
    object: &str,
    file: std::fs::File,
    max_chunk_bytes: usize,
    tx: &Sender<RawMessage>,
) -> Result<bool, SourceError> {
    let failed = |e: flowlogd_formats::FormatError| {
        tx.blocking_send(RawMessage::ObjectFailed(e.to_dead_letter()))
            .map_err(|_| SourceError::Closed)
            .map(|()| false)
    };
    let chunks =
        match ParquetChunker::new(source, object, file, parquet_chunk_rows(max_chunk_bytes)) {
            Ok(c) => c,
            Err(e) => return failed(e),
        };
    for chunk in chunks {
        match chunk {
            Ok(c) => tx
                .blocking_send(RawMessage::Chunk(c))
                .map_err(|_| SourceError::Closed)?,
            Err(e) => return failed(e),
        }
    }
    Ok(true)
}

/// Sends the complete records in `data` (bytes of an Azure `PT1H.json` from `offset`);
/// returns the offset to resume from.
pub fn send_json(
    source: &str,
    object: &str,
    offset: u64,
    data: &[u8],
    max_chunk_bytes: usize,
    tx: &Sender<RawMessage>,
) -> Result<u64, SourceError> {
    let (chunks, resume) = json_chunks(source, object, offset, data, max_chunk_bytes);
    for c in chunks {
        tx.blocking_send(RawMessage::Chunk(c))
            .map_err(|_| SourceError::Closed)?;
    }
    Ok(resume)
}
