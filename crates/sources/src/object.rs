//! Turning one object's bytes into chunks, shared by every source: the cloud sources hand
//! in a stream from S3 or Blob storage, the local source a file.

use std::io::Read;

use flowlogd_bus::{RawMessage, Sender};
use flowlogd_formats::chunk::{json_chunks, TextChunker};
use flowlogd_formats::reader::open_text;
use flowlogd_formats::{Chunk, ChunkFormat, FormatHint, ParseOptions};

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

/// Sends a whole Parquet object as one chunk.
pub fn send_parquet(
    source: &str,
    object: &str,
    data: Vec<u8>,
    tx: &Sender<RawMessage>,
) -> Result<(), SourceError> {
    let chunk = Chunk {
        source: source.to_owned(),
        object: object.to_owned(),
        format: ChunkFormat::AwsParquet,
        offset: 0,
        first_line: 1,
        fields: None,
        seq: 0,
        data,
    };
    tx.blocking_send(RawMessage::Chunk(chunk))
        .map_err(|_| SourceError::Closed)
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
