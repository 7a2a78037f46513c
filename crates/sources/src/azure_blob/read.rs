//! Reading a blob from the consumed offset: ranged GETs guarded by the listed ETag, the
//! check that the bytes before the offset are unchanged, and record-aligned chunks.

use std::num::NonZero;

use azure_core::http::StatusCode;
use azure_storage_blob::models::BlobClientDownloadOptions;
use azure_storage_blob::BlobContainerClient;
use flowlogd_bus::{RawMessage, Sender};
use flowlogd_formats::chunk::json_chunks;

use super::ledger::{Listed, TAIL_CHECK};
use super::{describe, AzureBlobSource};
use crate::error::SourceError;
use crate::object::send_json;

/// Smallest ranged read; grows when one record is larger.
const MIN_READ_WINDOW: u64 = 8 << 20;

/// How reading a blob from an offset ended.
pub(super) enum Outcome {
    /// Read to the listed size: the offset after the last complete record, and the bytes
    /// before it.
    Done(u64, Vec<u8>),
    /// The blob changed (412) or disappeared (404) after listing; read up to `consumed`.
    Interrupted {
        consumed: u64,
        tail: Vec<u8>,
        gone: bool,
    },
    /// The bytes before the offset are not those read before: different content.
    Replaced,
}

impl AzureBlobSource {
    /// Bytes `[start, start + len)` of a blob, only if its ETag is still `etag`.
    fn get(
        &mut self,
        client: &BlobContainerClient,
        b: &Listed,
        start: u64,
        len: u64,
    ) -> Result<Result<Vec<u8>, StatusCode>, SourceError> {
        let blob = client.blob_client(&b.name);
        let opts = BlobClientDownloadOptions {
            range: Some(azure_storage_blob::models::HttpRange::new(start, len)),
            if_match: b.etag.clone(),
            parallel: NonZero::new(1),
            partition_size: usize::try_from(len).ok().and_then(NonZero::new),
            ..Default::default()
        };
        let res = self.rt.block_on(async move {
            let r = blob.download(Some(opts)).await?;
            r.body.collect().await
        });
        match res {
            Ok(bytes) => {
                self.bytes_fetched += bytes.len() as u64;
                tracing::debug!(source = %self.cfg.name, object = %b.object, offset = start, bytes = bytes.len(), "read blob range");
                Ok(Ok(bytes.to_vec()))
            }
            Err(e) => match e.http_status() {
                Some(s @ (StatusCode::PreconditionFailed | StatusCode::NotFound)) => Ok(Err(s)),
                _ => Err(self.remote(format!("{}: {}", b.name, describe(&e)))),
            },
        }
    }

    /// Reads a blob from `from` to its listed size and sends its complete records (or only
    /// finds the resume offset when `send` is false). `tail` holds the bytes before `from`
    /// as read last time; they are fetched again and compared.
    pub(super) fn consume(
        &mut self,
        client: &BlobContainerClient,
        b: &Listed,
        from: u64,
        mut tail: Vec<u8>,
        send: bool,
        tx: &Sender<RawMessage>,
    ) -> Result<Outcome, SourceError> {
        let mut pos = from;
        let mut window = MIN_READ_WINDOW.max(4 * self.cfg.max_chunk_bytes as u64);
        if (tail.len() as u64) > from {
            tail.clear();
        }
        let mut check = tail.len();
        while pos < b.size {
            let start = pos - check as u64;
            let end = b.size.min(pos.saturating_add(window));
            let data = match self.get(client, b, start, end - start)? {
                Ok(d) => d,
                Err(status) => {
                    return Ok(Outcome::Interrupted {
                        consumed: pos,
                        tail,
                        gone: status == StatusCode::NotFound,
                    })
                }
            };
            if check > 0 {
                if data.get(..check) != Some(&tail[..]) || !continues(&data[check..]) {
                    return Ok(Outcome::Replaced);
                }
                check = 0;
            }
            let body = &data[(pos - start) as usize..];
            let resume = if send {
                send_json(
                    &self.cfg.name,
                    &b.object,
                    pos,
                    body,
                    self.cfg.max_chunk_bytes,
                    tx,
                )?
            } else {
                json_chunks(&self.cfg.name, &b.object, pos, body, usize::MAX).1
            };
            let used = &body[..(resume - pos) as usize];
            tail.extend_from_slice(&used[used.len().saturating_sub(TAIL_CHECK)..]);
            tail.drain(..tail.len().saturating_sub(TAIL_CHECK));
            if (start + data.len() as u64) < end {
                // Shorter than asked: the blob shrank since listing; the next poll sees it.
                return Ok(Outcome::Interrupted {
                    consumed: resume,
                    tail,
                    gone: false,
                });
            }
            if resume == pos && end < b.size {
                // One record is larger than the window.
                window = window.saturating_mul(2);
                continue;
            }
            pos = resume;
            if end >= b.size {
                break;
            }
        }
        Ok(Outcome::Done(pos, tail))
    }
}

/// Do the bytes at the resume offset continue a records array: nothing yet, `,{` (more
/// records) or the `]}` tail at the end?
pub(super) fn continues(data: &[u8]) -> bool {
    let mut rest = data.iter().filter(|c| !c.is_ascii_whitespace());
    match rest.next() {
        None => true,
        Some(b',') => rest.next().is_none_or(|c| *c == b'{'),
        Some(b']') => rest.next().is_none_or(|c| *c == b'}') && rest.next().is_none(),
        Some(_) => false,
    }
}
