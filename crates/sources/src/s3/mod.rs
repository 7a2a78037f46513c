//! The S3 source: VPC flow logs in a bucket, found by listing and by S3 event
//! notifications on SQS, read as streams.
//!
//! Delivery: an object's chunks and then its ledger entry go to the raw stream; the ledger
//! entry becomes durable with the next checkpoint after it was applied. A notification is
//! deleted from its queue only once every object it names is in a checkpoint (the pipeline
//! confirms them through [`flowlogd_bus::Durable`]); until then its visibility keeps being
//! renewed. If the process dies first, the notification comes back and its objects are
//! read again, or skipped when the last checkpoint has them. Chunk ids are (source, object,
//! position), so a chunk that reaches the engine twice is applied once. Without a
//! `Durable` handle (tools that only read), a notification is deleted on hand-over.

mod client;
mod config;
mod layout;
mod listing;
mod reader;
mod sqs;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_sqs::error::DisplayErrorContext;
use chrono::NaiveDate;
use flowlogd_bus::{Durable, LedgerEntry, RawMessage, Sender};
use flowlogd_formats::ParseOptions;
use tokio::runtime::Handle;

pub use client::{s3_client, sdk_config, sqs_client, sts_client, MAX_ATTEMPTS};
pub use config::{AwsIdentity, S3SourceConfig};
pub use layout::{decode_event_key, root_and_day};
pub use listing::{Lister, S3Object};
pub use sqs::{created_objects, Created};

use crate::error::SourceError;
use crate::object::{send_parquet, send_text};
use crate::source::{Pending, ScanReport, Source};
use reader::S3Reader;
use sqs::VisibilityKeeper;

/// How often the queue is polled when one is configured.
const SQS_POLL: Duration = Duration::from_secs(5);
/// Receive calls per scan at most (10 messages each), so listing and other sources get
/// their turn under a flood of notifications.
const SQS_BATCHES_PER_SCAN: usize = 50;

struct Clients {
    s3: aws_sdk_s3::Client,
    sqs: Option<aws_sdk_sqs::Client>,
}

pub struct S3Source {
    cfg: S3SourceConfig,
    prefix: String,
    opts: ParseOptions,
    rt: Handle,
    /// Built on first use, on the source thread (loading credentials may block).
    clients: Option<Clients>,
    /// Keys read so far (objects are immutable), from the checkpoint on.
    read: HashMap<String, String>,
    /// Last delivery day read, per (account, region) root: listing resumes the day before.
    cursors: HashMap<String, NaiveDate>,
    last_list: Option<Instant>,
    /// A listing made for `pending`, reused by the scan that follows.
    listed: Mutex<Option<Vec<S3Object>>>,
    /// Confirms which ledger entries a checkpoint holds (see the module doc).
    durable: Option<Durable>,
    /// Ledger keys known to be in a checkpoint.
    durable_keys: HashSet<String>,
    /// Notifications whose objects are read but not yet checkpointed.
    unacked: Vec<Unacked>,
}

/// A notification kept (its visibility renewed) until its objects are checkpointed.
struct Unacked {
    receipt: String,
    keys: Vec<String>,
    _keeper: VisibilityKeeper,
}

impl S3Source {
    /// `ledger` is the checkpointed ledger (entries of other sources are ignored); `rt` is
    /// the runtime the AWS clients run on (scans block on it from the source thread).
    pub fn new(
        cfg: S3SourceConfig,
        opts: ParseOptions,
        ledger: &BTreeMap<String, LedgerEntry>,
        rt: Handle,
    ) -> Self {
        let prefix = cfg.normalized_prefix();
        let object_prefix = format!("s3://{}/", cfg.bucket);
        let mut read = HashMap::new();
        let mut durable_keys = HashSet::new();
        let mut cursors: HashMap<String, NaiveDate> = HashMap::new();
        for e in ledger.values().filter(|e| e.source == cfg.name) {
            let Some(key) = e.object.strip_prefix(&object_prefix) else {
                continue;
            };
            if let Some((root, day)) = root_and_day(&prefix, key) {
                let c = cursors.entry(root).or_insert(day);
                *c = (*c).max(day);
            }
            read.insert(key.to_owned(), e.version.clone());
            durable_keys.insert(Durable::key(&e.source, &e.object));
        }
        Self {
            cfg,
            prefix,
            opts,
            rt,
            clients: None,
            read,
            cursors,
            last_list: None,
            listed: Mutex::new(None),
            durable: None,
            durable_keys,
            unacked: Vec::new(),
        }
    }

    /// Deletes notifications only once their objects are checkpointed (see the module doc).
    pub fn with_durable(mut self, durable: Durable) -> Self {
        self.durable = Some(durable);
        self
    }

    /// Deletes the kept notifications whose objects a checkpoint now holds.
    fn ack_checkpointed(&mut self, sqs: &aws_sdk_sqs::Client, queue: &str) {
        if let Some(d) = &self.durable {
            self.durable_keys.extend(d.take_confirmed(&self.cfg.name));
        }
        let (ready, waiting): (Vec<Unacked>, Vec<Unacked>) = std::mem::take(&mut self.unacked)
            .into_iter()
            .partition(|u| u.keys.iter().all(|k| self.durable_keys.contains(k)));
        self.unacked = waiting;
        for u in ready {
            self.delete_notification(sqs, queue, &u.receipt);
        }
    }

    fn delete_notification(&self, sqs: &aws_sdk_sqs::Client, queue: &str, receipt: &str) {
        let r = self.rt.block_on(
            sqs.delete_message()
                .queue_url(queue)
                .receipt_handle(receipt)
                .send(),
        );
        if let Err(e) = r {
            // Redelivered later and skipped then: the keys are in the ledger.
            tracing::warn!(queue = %queue, error = %DisplayErrorContext(&e), "cannot delete a notification");
        }
    }

    pub fn config(&self) -> &S3SourceConfig {
        &self.cfg
    }

    fn clients(&mut self) -> &Clients {
        let (rt, cfg) = (&self.rt, &self.cfg);
        self.clients.get_or_insert_with(|| {
            let shared = rt.block_on(sdk_config(&cfg.identity()));
            Clients {
                s3: s3_client(&shared, cfg.force_path_style),
                sqs: cfg.sqs_queue_url.as_ref().map(|_| sqs_client(&shared)),
            }
        })
    }

    fn list(&mut self) -> Result<Vec<S3Object>, SourceError> {
        if let Some(l) = self.listed.lock().ok().and_then(|mut l| l.take()) {
            return Ok(l);
        }
        let s3 = self.clients().s3.clone();
        let lister = Lister {
            rt: &self.rt,
            s3: &s3,
            bucket: &self.cfg.bucket,
            prefix: &self.prefix,
        };
        let all = lister.list(&self.cursors, self.cfg.from_date)?;
        Ok(all
            .into_iter()
            .filter(|o| !self.read.contains_key(&o.key))
            .collect())
    }

    /// Reads one object: chunks, then its ledger entry. Err (nothing recorded) when the
    /// read gave up on a transient failure, so a later scan or redelivery retries it.
    fn read_object(&mut self, obj: &S3Object, tx: &Sender<RawMessage>) -> Result<(), SourceError> {
        let s3 = self.clients().s3.clone();
        let object = format!("s3://{}/{}", self.cfg.bucket, obj.key);
        let gave_up = Arc::new(AtomicBool::new(false));
        let mut reader = S3Reader::new(
            self.rt.clone(),
            s3,
            &self.cfg.bucket,
            &obj.key,
            obj.size,
            gave_up.clone(),
        );
        // The first request decides whether the object can be read now; a denial or an
        // outage leaves it for a later scan without a dead letter.
        if let Err(e) = reader.start() {
            if gave_up.load(Ordering::SeqCst) {
                return Err(SourceError::Remote {
                    target: object,
                    message: e.to_string(),
                });
            }
        }
        if obj.key.ends_with(".parquet") {
            // Parquet needs random access: the object is spooled to an unnamed temporary
            // file (never held in memory) and cut into chunks from there.
            let spooled = tempfile::tempfile().and_then(|mut f| {
                std::io::copy(&mut reader, &mut f)?;
                Ok(f)
            });
            match spooled {
                Ok(f) => {
                    send_parquet(&self.cfg.name, &object, f, self.cfg.chunk_bytes(), tx)?;
                }
                Err(e) if !gave_up.load(Ordering::SeqCst) => tx
                    .blocking_send(RawMessage::ObjectFailed(flowlogd_formats::DeadLetter::new(
                        &object,
                        "read",
                        e.to_string(),
                    )))
                    .map_err(|_| SourceError::Closed)?,
                Err(_) => {}
            }
        } else {
            send_text(
                &self.cfg.name,
                &object,
                Box::new(reader),
                self.cfg.chunk_bytes(),
                &self.opts,
                tx,
            )?;
        }
        if gave_up.load(Ordering::SeqCst) {
            return Err(SourceError::Remote {
                target: object,
                message: "read interrupted too often; retried on a later scan".into(),
            });
        }
        let entry = LedgerEntry {
            source: self.cfg.name.clone(),
            object,
            size: obj.size,
            version: obj.etag.clone(),
            consumed: obj.size,
            stats: Default::default(),
        };
        tx.blocking_send(RawMessage::Ledger(entry))
            .map_err(|_| SourceError::Closed)?;
        if let Some((root, day)) = root_and_day(&self.prefix, &obj.key) {
            let c = self.cursors.entry(root).or_insert(day);
            *c = (*c).max(day);
        }
        self.read.insert(obj.key.clone(), obj.etag.clone());
        Ok(())
    }

    fn scan_listing(
        &mut self,
        tx: &Sender<RawMessage>,
        report: &mut ScanReport,
        on_object: &mut dyn FnMut(&str, u64),
    ) -> Result<(), SourceError> {
        let objects = self.list()?;
        self.last_list = Some(Instant::now());
        let mut first_err = None;
        for o in objects {
            if self.read.contains_key(&o.key) {
                continue;
            }
            match self.read_object(&o, tx) {
                Ok(()) => {
                    report.objects += 1;
                    report.bytes += o.size;
                    on_object(&o.key, o.size);
                }
                Err(SourceError::Closed) => return Err(SourceError::Closed),
                Err(e) => {
                    tracing::warn!(source = %self.cfg.name, error = %e, "object left for a later scan");
                    report.deferred += 1;
                    first_err.get_or_insert(e);
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    fn scan_queue(
        &mut self,
        tx: &Sender<RawMessage>,
        report: &mut ScanReport,
        on_object: &mut dyn FnMut(&str, u64),
    ) -> Result<(), SourceError> {
        let Some(queue) = self.cfg.sqs_queue_url.clone() else {
            return Ok(());
        };
        let Some(sqs) = self.clients().sqs.clone() else {
            return Ok(());
        };
        let visibility = self.cfg.visibility_timeout;
        let remote = |e: &dyn std::fmt::Display| SourceError::Remote {
            target: queue.clone(),
            message: e.to_string(),
        };
        self.ack_checkpointed(&sqs, &queue);
        for _ in 0..SQS_BATCHES_PER_SCAN {
            let received = self
                .rt
                .block_on(
                    sqs.receive_message()
                        .queue_url(&queue)
                        .max_number_of_messages(10)
                        .wait_time_seconds(1)
                        .visibility_timeout(visibility.as_secs() as i32)
                        .send(),
                )
                .map_err(|e| remote(&DisplayErrorContext(&e)))?;
            let messages = received.messages.unwrap_or_default();
            if messages.is_empty() {
                return Ok(());
            }
            for m in messages {
                let Some(receipt) = m.receipt_handle().map(str::to_owned) else {
                    continue;
                };
                let body = m.body().unwrap_or("");
                let created = match created_objects(body) {
                    Ok(c) => c,
                    Err(why) => {
                        // Not a notification: dropping it loses nothing (listing finds
                        // every object); keeping it would redeliver it forever.
                        tracing::warn!(queue = %queue, message_id = m.message_id().unwrap_or(""), %why, "deleting a message that is not an S3 notification");
                        Vec::new()
                    }
                };
                let keeper = VisibilityKeeper::start(
                    &self.rt,
                    sqs.clone(),
                    queue.clone(),
                    receipt.clone(),
                    visibility,
                );
                let mut done = true;
                let mut keys = Vec::new();
                for c in created {
                    if c.bucket != self.cfg.bucket
                        || !c.key.starts_with(&self.prefix)
                        || !layout::is_flow_log_key(&c.key)
                    {
                        continue;
                    }
                    keys.push(Durable::key(
                        &self.cfg.name,
                        &format!("s3://{}/{}", self.cfg.bucket, c.key),
                    ));
                    if self.read.contains_key(&c.key) {
                        continue;
                    }
                    let obj = S3Object {
                        key: c.key,
                        size: c.size,
                        etag: c.etag,
                    };
                    match self.read_object(&obj, tx) {
                        Ok(()) => {
                            report.objects += 1;
                            report.bytes += obj.size;
                            on_object(&obj.key, obj.size);
                        }
                        Err(SourceError::Closed) => return Err(SourceError::Closed),
                        Err(e) => {
                            tracing::warn!(source = %self.cfg.name, error = %e, "notification kept for redelivery");
                            done = false;
                        }
                    }
                }
                if !done {
                    continue;
                }
                // Every object of the message is handed over: delete it now if they are
                // checkpointed already (or nobody confirms), else once they are.
                match &self.durable {
                    Some(d) if !keys.iter().all(|k| self.durable_keys.contains(k)) => {
                        for k in &keys {
                            d.wait_for(k.clone());
                        }
                        self.unacked.push(Unacked {
                            receipt,
                            keys,
                            _keeper: keeper,
                        });
                    }
                    _ => {
                        drop(keeper);
                        self.delete_notification(&sqs, &queue, &receipt);
                    }
                }
            }
        }
        Ok(())
    }
}

impl Source for S3Source {
    fn name(&self) -> &str {
        &self.cfg.name
    }

    fn poll_interval(&self) -> Duration {
        if self.cfg.sqs_queue_url.is_some() {
            SQS_POLL.min(self.cfg.list_interval)
        } else {
            self.cfg.list_interval
        }
    }

    fn pending(&self) -> Result<Pending, SourceError> {
        // `pending` takes &self; the listing is made with a client of its own and kept
        // for the scan that follows.
        let shared = self.rt.block_on(sdk_config(&self.cfg.identity()));
        let s3 = s3_client(&shared, self.cfg.force_path_style);
        let lister = Lister {
            rt: &self.rt,
            s3: &s3,
            bucket: &self.cfg.bucket,
            prefix: &self.prefix,
        };
        let objects: Vec<S3Object> = lister
            .list(&self.cursors, self.cfg.from_date)?
            .into_iter()
            .filter(|o| !self.read.contains_key(&o.key))
            .collect();
        let p = Pending {
            objects: objects.len() as u64,
            bytes: objects.iter().map(|o| o.size).sum(),
        };
        if let Ok(mut l) = self.listed.lock() {
            *l = Some(objects);
        }
        Ok(p)
    }

    /// Continuous mode: the queue every poll, a listing every `list_interval` (and on the
    /// first scan). A backfill (`run --once`) lists once and reads everything listed.
    fn scan(
        &mut self,
        tx: &Sender<RawMessage>,
        _now: SystemTime,
        continuous: bool,
        on_object: &mut dyn FnMut(&str, u64),
    ) -> Result<ScanReport, SourceError> {
        let mut report = ScanReport::default();
        if !continuous {
            self.scan_listing(tx, &mut report, on_object)?;
            return Ok(report);
        }
        let queue = self.scan_queue(tx, &mut report, on_object);
        let due = self
            .last_list
            .is_none_or(|t| t.elapsed() >= self.cfg.list_interval);
        if due {
            self.scan_listing(tx, &mut report, on_object)?;
        }
        queue.map(|_| report)
    }
}
