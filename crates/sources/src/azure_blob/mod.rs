//! The Azure Blob source: NSG and VNet flow-log containers, read incrementally.
//!
//! Azure appends to an hour's `PT1H.json` in place (FORMATS.md §4): new blocks go in just
//! before the closing `]}`, so the bytes already read never change and only the 2-byte tail
//! moves. The ledger keeps, per blob, the offset just after the last complete record and the
//! 32 bytes before it; a changed ETag means new data, read with one ranged GET from those 32
//! bytes on (they must be unchanged: if not, the blob was replaced). The ranged GET carries
//! `If-Match` on the listed ETag, so a commit landing between listing and read is picked up
//! by the next poll instead of being read torn.

mod auth;
mod config;
mod credential;
mod layout;
mod ledger;
mod listing;
mod read;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use azure_storage_blob::models::BlobContainerClientListBlobsOptions;
use azure_storage_blob::BlobContainerClient;
use flowlogd_bus::{LedgerEntry, RawMessage, Sender};
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
use crate::source::{Pending, ScanReport, Source};
use ledger::{created_of, ledger_version, split_version, Listed};
use listing::{Lister, Plan};
use read::Outcome;

pub struct AzureBlobSource {
    cfg: AzureBlobSourceConfig,
    auth: ContainerAuth,
    /// What this source has sent so far, by object (`container/blob`), from the checkpoint.
    ledger: HashMap<String, LedgerEntry>,
    rt: Runtime,
    /// Bytes fetched from storage so far (ranged reads included), for logs and tests.
    bytes_fetched: u64,
    lister: Lister,
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
            lister: Lister::default(),
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

    fn list(&mut self, now: SystemTime, continuous: bool) -> Result<Vec<Listed>, SourceError> {
        let plan = self.lister.plan(
            now,
            continuous,
            self.cfg.full_listing_interval,
            self.cfg.settle_after_hour,
        );
        let prefixes = match &plan {
            Plan::Full => vec![self.cfg.prefix.clone()],
            Plan::Hot(p) => p.clone(),
        };
        let lists = prefixes.len();
        let client = self.client()?;
        let container = self.cfg.container.clone();
        let out = self.rt.block_on(list_prefixes(client, container, prefixes));
        let out = out.map_err(|e| self.remote(describe(&e)))?;
        self.lister
            .listed(&plan, now, out.iter().map(|b| b.name.as_str()));
        tracing::debug!(
            source = %self.cfg.name,
            full = plan == Plan::Full,
            prefixes = lists,
            blobs = out.len(),
            flow_logs = self.lister.roots(),
            "container listed"
        );
        Ok(out)
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
        let listed = self
            .rt
            .block_on(list_prefixes(
                client,
                self.cfg.container.clone(),
                vec![self.cfg.prefix.clone()],
            ))
            .map_err(|e| self.remote(describe(&e)))?;
        let mut p = Pending::default();
        for b in listed {
            let consumed = self.ledger.get(&b.object).map(|e| e.consumed).unwrap_or(0);
            if b.size > consumed + 2 {
                p.objects += 1;
                p.bytes += b.size - consumed;
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
        let listed = self.list(now, continuous)?;
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

/// Every blob under each prefix (an empty prefix: the whole container).
async fn list_prefixes(
    client: Arc<BlobContainerClient>,
    container: String,
    prefixes: Vec<String>,
) -> Result<Vec<Listed>, azure_core::Error> {
    let mut out = Vec::new();
    for prefix in prefixes {
        let opts = BlobContainerClientListBlobsOptions {
            prefix: (!prefix.is_empty()).then_some(prefix),
            ..Default::default()
        };
        let mut pager = client.list_blobs(Some(opts))?;
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
    }
    Ok(out)
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
    let hint = match (e.http_status().map(u16::from), code.trim()) {
        (Some(404), "ContainerNotFound") => {
            " (check `container`: VNet flow logs go to insights-logs-flowlogflowevent, NSG flow logs to insights-logs-networksecuritygroupflowevent)"
        }
        (Some(403), "AuthorizationPermissionMismatch") => {
            " (the credential may not list or read: assign Storage Blob Data Reader on the container, see `flowlogd access grant azure`, or use a SAS with sp=rl)"
        }
        (Some(401 | 403), _) => {
            " (authentication failed: check the key, SAS or identity and its expiry)"
        }
        _ => "",
    };
    match e.http_status() {
        Some(s) => redact(&format!("HTTP {}{code}{hint}", u16::from(s))),
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
    use super::read::continues;
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
