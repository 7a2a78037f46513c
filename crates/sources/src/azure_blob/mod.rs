//! The Azure Blob source: NSG and VNet flow-log containers, read incrementally.
//!
//! Azure appends to an hour's `PT1H.json` in place (FORMATS.md §4): new blocks go in just
//! before the closing `]}`, so the bytes already read never change and only the 2-byte tail
//! moves. The ledger keeps, per blob, the offset just after the last complete record; a
//! changed ETag means new data, read with one ranged GET from one byte before that offset
//! (that byte must still be the `}` that closed the last record: if not, the blob was
//! replaced). The ranged GET carries `If-Match` on the listed ETag, so a commit landing
//! between listing and read is picked up by the next poll instead of being read torn.

mod auth;
mod config;
mod layout;

use std::collections::{BTreeMap, HashMap};
use std::num::NonZero;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use azure_core::http::{Etag, StatusCode};
use azure_storage_blob::models::{BlobClientDownloadOptions, BlobContainerClientListBlobsOptions};
use azure_storage_blob::BlobContainerClient;
use flowlogd_bus::{LedgerEntry, RawMessage, Sender};
use flowlogd_formats::chunk::json_chunks;
use flowlogd_formats::DeadLetter;
use futures::TryStreamExt;

pub use auth::{
    account_from_endpoint, account_sas, container_url, AuthError, ConnectionString, ContainerAuth,
};
pub use config::{
    AzureAuth, AzureBlobSourceConfig, AzureCredentialKind, ConfigProblem, NSG_CONTAINER,
    VNET_CONTAINER,
};
pub use layout::hour_start;

use crate::error::SourceError;
use crate::object::send_json;
use crate::source::{Pending, ScanReport, Source};

/// Smallest ranged read; grows when one record is larger.
const MIN_READ_WINDOW: u64 = 8 << 20;

pub struct AzureBlobSource {
    cfg: AzureBlobSourceConfig,
    auth: ContainerAuth,
    /// What this source has sent so far, by object (`container/blob`), from the checkpoint.
    ledger: HashMap<String, LedgerEntry>,
    rt: Runtime,
    /// Bytes fetched from storage so far (ranged reads included), for logs and tests.
    bytes_fetched: u64,
}

/// The pipeline calls `scan` on a blocking thread of its runtime; without one (a library
/// user on a plain thread) the source brings its own.
enum Runtime {
    Handle(tokio::runtime::Handle),
    Owned(tokio::runtime::Runtime),
}

impl Runtime {
    fn new() -> Result<Self, SourceError> {
        match tokio::runtime::Handle::try_current() {
            Ok(h) => Ok(Self::Handle(h)),
            Err(_) => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map(Self::Owned)
                .map_err(|e| SourceError::Io {
                    path: "tokio runtime".into(),
                    source: e,
                }),
        }
    }

    fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        match self {
            Self::Handle(h) => h.block_on(f),
            Self::Owned(r) => r.block_on(f),
        }
    }
}

/// One listed blob.
#[derive(Debug, Clone)]
struct Listed {
    name: String,
    object: String,
    size: u64,
    etag: Option<Etag>,
    /// Creation time (ns): a blob deleted and written again gets a new one.
    created_ns: i128,
}

impl Listed {
    fn version(&self) -> String {
        format!(
            "{}|{}",
            self.created_ns,
            self.etag.as_ref().map(|e| e.as_ref()).unwrap_or("")
        )
    }
}

fn created_of(version: &str) -> Option<i128> {
    version
        .split_once('|')
        .and_then(|(c, _)| c.parse().ok())
        .filter(|c| *c != 0)
}

/// Bytes before the consumed offset kept in the ledger: on the next read they must still be
/// there, or the blob was replaced (a `}` alone would also match inside a record).
const TAIL_CHECK: usize = 32;

/// What the ledger's `version` holds: creation time, ETag, and the hex of the bytes just
/// before the consumed offset.
fn ledger_version(listed: &str, tail: &[u8]) -> String {
    let hex: String = tail.iter().map(|b| format!("{b:02x}")).collect();
    format!("{listed}|{hex}")
}

/// (listed version, tail bytes) of a ledger version.
fn split_version(v: &str) -> (&str, Vec<u8>) {
    let Some((listed, hex)) = v.rsplit_once('|').filter(|(l, _)| l.contains('|')) else {
        return (v, Vec::new());
    };
    let tail = (0..hex.len() / 2)
        .filter_map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
        .collect();
    (listed, tail)
}

/// How reading a blob from an offset ended.
enum Outcome {
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
    /// `ledger` is the checkpointed ledger (entries of other sources are ignored).
    pub fn new(
        cfg: AzureBlobSourceConfig,
        ledger: &BTreeMap<String, LedgerEntry>,
    ) -> Result<Self, SourceError> {
        let mut auth = ContainerAuth::new(&cfg).map_err(|e| SourceError::Remote {
            target: format!("azure_blob source {}", cfg.name),
            message: e.to_string(),
        })?;
        // A client that cannot be built (a token credential on an http:// endpoint, a bad
        // URL) fails at startup rather than at every poll.
        auth.client(SystemTime::now())
            .map_err(|e| SourceError::Remote {
                target: auth.display(),
                message: e.to_string(),
            })?;
        let ledger = ledger
            .values()
            .filter(|e| e.source == cfg.name)
            .map(|e| (e.object.clone(), e.clone()))
            .collect();
        Ok(Self {
            cfg,
            auth,
            ledger,
            rt: Runtime::new()?,
            bytes_fetched: 0,
        })
    }

    pub fn config(&self) -> &AzureBlobSourceConfig {
        &self.cfg
    }

    /// Bytes fetched from storage so far.
    pub fn bytes_fetched(&self) -> u64 {
        self.bytes_fetched
    }

    fn remote(&self, e: impl std::fmt::Display) -> SourceError {
        SourceError::Remote {
            target: self.auth.display(),
            message: redact(&e.to_string()),
        }
    }

    fn client(&mut self) -> Result<Arc<BlobContainerClient>, SourceError> {
        self.auth
            .client(SystemTime::now())
            .map_err(|e| SourceError::Remote {
                target: self.auth.display(),
                message: e.to_string(),
            })
    }

    fn list(&mut self) -> Result<Vec<Listed>, SourceError> {
        let client = self.client()?;
        let prefix = (!self.cfg.prefix.is_empty()).then(|| self.cfg.prefix.clone());
        let container = self.cfg.container.clone();
        let out = self.rt.block_on(async move {
            let opts = BlobContainerClientListBlobsOptions {
                prefix,
                ..Default::default()
            };
            let mut pager = client.list_blobs(Some(opts))?;
            let mut out = Vec::new();
            while let Some(item) = pager.try_next().await? {
                let Some(name) = item.name else { continue };
                let props = item.properties.unwrap_or_default();
                out.push(Listed {
                    object: format!("{container}/{name}"),
                    name,
                    size: props.content_length.unwrap_or(0),
                    etag: props.etag,
                    created_ns: props
                        .creation_time
                        .map(|t| t.unix_timestamp_nanos())
                        .unwrap_or(0),
                });
            }
            Ok::<_, azure_core::Error>(out)
        });
        out.map_err(|e| self.remote(describe(&e)))
    }

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
    fn consume(
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

    fn dead_letter(&self, tx: &Sender<RawMessage>, dl: DeadLetter) -> Result<(), SourceError> {
        tracing::warn!(source = %self.cfg.name, object = %dl.object, kind = %dl.kind, reason = %dl.reason, "blob not read");
        tx.blocking_send(RawMessage::ObjectFailed(dl))
            .map_err(|_| SourceError::Closed)
    }

    /// Is the blob's hour still open to appends (plus `settle_after_hour`)?
    fn still_open(&self, b: &Listed, now: SystemTime) -> bool {
        let now = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        layout::hour_start(&b.name)
            .is_some_and(|h| now < h + 3600 + self.cfg.settle_after_hour.as_secs() as i64)
    }
}

/// Do the bytes at the resume offset continue a records array: nothing yet, `,{` (more
/// records) or the `]}` tail at the end?
fn continues(data: &[u8]) -> bool {
    let mut rest = data.iter().filter(|c| !c.is_ascii_whitespace());
    match rest.next() {
        None => true,
        Some(b',') => rest.next().is_none_or(|c| *c == b'{'),
        Some(b']') => rest.next().is_none_or(|c| *c == b'}') && rest.next().is_none(),
        Some(_) => false,
    }
}

impl Source for AzureBlobSource {
    fn name(&self) -> &str {
        &self.cfg.name
    }

    fn poll_interval(&self) -> Duration {
        self.cfg.poll_interval
    }

    fn pending(&self) -> Result<Pending, SourceError> {
        // `list` needs `&mut self` for the client cache; a listing here is rare (backfill
        // progress), so it builds its own client.
        let mut auth = ContainerAuth::new(&self.cfg).map_err(|e| self.remote(e))?;
        let client = auth.client(SystemTime::now()).map_err(|e| self.remote(e))?;
        let prefix = (!self.cfg.prefix.is_empty()).then(|| self.cfg.prefix.clone());
        let container = self.cfg.container.clone();
        let sizes = self
            .rt
            .block_on(async move {
                let opts = BlobContainerClientListBlobsOptions {
                    prefix,
                    ..Default::default()
                };
                let mut pager = client.list_blobs(Some(opts))?;
                let mut out = Vec::new();
                while let Some(item) = pager.try_next().await? {
                    let size = item.properties.and_then(|p| p.content_length).unwrap_or(0);
                    if let Some(n) = item.name {
                        out.push((format!("{container}/{n}"), size));
                    }
                }
                Ok::<_, azure_core::Error>(out)
            })
            .map_err(|e| self.remote(describe(&e)))?;
        let mut p = Pending::default();
        for (object, size) in sizes {
            let consumed = self.ledger.get(&object).map(|e| e.consumed).unwrap_or(0);
            if size > consumed + 2 {
                p.objects += 1;
                p.bytes += size - consumed;
            }
        }
        Ok(p)
    }

    fn scan(
        &mut self,
        tx: &Sender<RawMessage>,
        now: SystemTime,
        continuous: bool,
        on_object: &mut dyn FnMut(&str, u64),
    ) -> Result<ScanReport, SourceError> {
        let mut report = ScanReport::default();
        let listed = self.list()?;
        let client = self.client()?;
        for b in listed {
            let prev = self.ledger.get(&b.object).cloned();
            let listed = b.version();
            let (prev_listed, prev_tail) = prev
                .as_ref()
                .map(|e| split_version(&e.version))
                .unwrap_or(("", Vec::new()));
            if prev.is_some() && prev_listed == listed {
                continue;
            }
            let prev_listed = prev_listed.to_owned();
            let from = prev.as_ref().map(|e| e.consumed).unwrap_or(0);
            let recreated =
                created_of(&prev_listed).is_some_and(|c| b.created_ns != 0 && c != b.created_ns);
            let fetched_before = self.bytes_fetched;
            let outcome = if recreated || b.size < from {
                Outcome::Replaced
            } else {
                self.consume(&client, &b, from, prev_tail, true, tx)?
            };
            let (consumed, tail) = match outcome {
                Outcome::Done(c, t) => (c, t),
                Outcome::Interrupted {
                    consumed,
                    tail,
                    gone,
                } => {
                    if gone {
                        self.dead_letter(
                            tx,
                            DeadLetter::new(
                                &b.object,
                                "blob_gone",
                                format!(
                                    "deleted while being read: bytes {consumed}..{} were not read",
                                    b.size
                                ),
                            )
                            .at_offset(consumed),
                        )?;
                    } else {
                        tracing::debug!(source = %self.cfg.name, object = %b.object, "blob changed while being read; the next poll reads the rest");
                    }
                    // Recorded with the listed version: the blob has changed since, so the
                    // next listing differs and reading resumes from `consumed`.
                    (consumed, tail)
                }
                Outcome::Replaced => {
                    // Records of the earlier content are already counted; counting the new
                    // content from its start would count them twice if it is a copy.
                    self.dead_letter(
                        tx,
                        DeadLetter::new(
                            &b.object,
                            "blob_replaced",
                            format!(
                                "the blob was replaced after {from} bytes had been read (now {} bytes); its current content is skipped and only data appended from now on is read",
                                b.size
                            ),
                        )
                        .at_offset(from),
                    )?;
                    match self.consume(&client, &b, 0, Vec::new(), false, tx)? {
                        Outcome::Done(c, t)
                        | Outcome::Interrupted {
                            consumed: c,
                            tail: t,
                            ..
                        } => (c, t),
                        Outcome::Replaced => (0, Vec::new()),
                    }
                }
            };
            let entry = LedgerEntry {
                source: self.cfg.name.clone(),
                object: b.object.clone(),
                size: b.size,
                version: ledger_version(&listed, &tail),
                consumed,
                stats: prev.as_ref().map(|e| e.stats).unwrap_or_default(),
            };
            tx.blocking_send(RawMessage::Ledger(entry.clone()))
                .map_err(|_| SourceError::Closed)?;
            report.objects += 1;
            report.bytes += self.bytes_fetched - fetched_before;
            if continuous && self.still_open(&b, now) {
                report.deferred += 1;
            } else if prev.is_some() {
                tracing::debug!(source = %self.cfg.name, object = %b.object, "blob changed after its hour settled");
            }
            on_object(&b.object, b.size);
            self.ledger.insert(b.object, entry);
        }
        Ok(report)
    }
}

/// Status, error code and message of a storage error, without secrets.
pub fn describe(e: &azure_core::Error) -> String {
    let code = match e.kind() {
        azure_core::error::ErrorKind::HttpResponse {
            error_code: Some(c),
            ..
        } => format!(" {c}"),
        _ => String::new(),
    };
    match e.http_status() {
        Some(s) => redact(&format!("HTTP {}{code}", u16::from(s))),
        None => redact(&e.to_string()),
    }
}

/// Removes SAS signatures from text that may contain a URL.
pub fn redact(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("sig=") {
        out.push_str(&rest[..i + 4]);
        out.push_str("REDACTED");
        rest = &rest[i + 4..];
        let end = rest
            .find(|c: char| c == '&' || c.is_whitespace() || c == '"' || c == '\'')
            .unwrap_or(rest.len());
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_and_redaction() {
        assert!(continues(b"]}"));
        assert!(continues(b"\n]}\n"));
        assert!(continues(b",{\"a\":1}]}"));
        assert!(continues(b""));
        assert!(!continues(b"\"a\":1}"));
        assert!(!continues(b"]},{\"x\""));
        assert!(!continues(b",\"x\""));
        let v = ledger_version("12|0x8D", b"}\n");
        assert_eq!(split_version(&v), ("12|0x8D", b"}\n".to_vec()));
        assert_eq!(split_version("12|0x8D").0, "12|0x8D");
        assert_eq!(
            redact("GET http://h/c?sv=1&sig=abc%2Fd&sp=r failed"),
            "GET http://h/c?sv=1&sig=REDACTED&sp=r failed"
        );
        assert_eq!(created_of("123|0x8D"), Some(123));
        assert_eq!(created_of("0|0x8D"), None);
    }
}
