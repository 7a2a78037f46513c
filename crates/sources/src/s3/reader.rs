//! A blocking [`Read`] over an S3 object, for the chunkers that run on the source thread.
//! It holds one network buffer at a time (bounded memory) and resumes an interrupted body
//! with a ranged GET from the byte it stopped at, with its own backoff on top of the SDK's
//! per-request retries.

use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use tokio::runtime::Handle;

/// Resumptions of one body after a failure, before the read fails.
const STREAM_ATTEMPTS: u32 = 8;

pub struct S3Reader {
    rt: Handle,
    s3: aws_sdk_s3::Client,
    bucket: String,
    key: String,
    size: u64,
    /// Next byte to fetch from S3.
    pos: u64,
    body: Option<ByteStream>,
    buf: Bytes,
    failures: u32,
    /// Set when the read gave up on a transient failure (not a property of the object):
    /// the caller then keeps the object for a later scan instead of recording it as read.
    gave_up: Arc<AtomicBool>,
}

impl S3Reader {
    pub fn new(
        rt: Handle,
        s3: aws_sdk_s3::Client,
        bucket: &str,
        key: &str,
        size: u64,
        gave_up: Arc<AtomicBool>,
    ) -> Self {
        Self {
            rt,
            s3,
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            size,
            pos: 0,
            body: None,
            buf: Bytes::new(),
            failures: 0,
            gave_up,
        }
    }

    /// Opens the body now (the first GET), so the caller learns before reading whether
    /// the object is readable at all.
    pub fn start(&mut self) -> io::Result<()> {
        while self.body.is_none() && self.size > 0 {
            self.open()?;
        }
        Ok(())
    }

    fn open(&mut self) -> io::Result<()> {
        let mut req = self.s3.get_object().bucket(&self.bucket).key(&self.key);
        if self.pos > 0 {
            req = req.range(format!("bytes={}-", self.pos));
        }
        match self.rt.block_on(req.send()) {
            Ok(out) => {
                self.body = Some(out.body);
                Ok(())
            }
            Err(e) => {
                let code = e.code().unwrap_or_default().to_owned();
                let status = e.raw_response().map(|r| r.status().as_u16());
                if code == "NoSuchKey" {
                    // Deleted since it was listed: a property of the object.
                    return Err(io::Error::other(format!(
                        "s3://{}/{}: {code}",
                        self.bucket, self.key
                    )));
                }
                if code == "AccessDenied" || status == Some(403) {
                    // Not readable now (a permission, a KMS key): retrying at once will not
                    // help, and recording the object as read would lose it.
                    self.gave_up.store(true, Ordering::SeqCst);
                    return Err(io::Error::other(format!(
                        "s3://{}/{}: access denied (see `flowlogd access check`)",
                        self.bucket, self.key
                    )));
                }
                self.failed(format!(
                    "GET failed: {}",
                    aws_sdk_s3::error::DisplayErrorContext(&e)
                ))
            }
        }
    }

    /// Counts a transient failure; backs off, or gives up after [`STREAM_ATTEMPTS`].
    fn failed(&mut self, why: String) -> io::Result<()> {
        self.body = None;
        self.failures += 1;
        if self.failures >= STREAM_ATTEMPTS {
            self.gave_up.store(true, Ordering::SeqCst);
            return Err(io::Error::other(format!(
                "s3://{}/{} at byte {}: {why} (gave up after {} attempts)",
                self.bucket, self.key, self.pos, self.failures
            )));
        }
        let delay = Duration::from_millis(100u64 << self.failures.min(7));
        tracing::debug!(bucket = %self.bucket, key = %self.key, pos = self.pos, %why, "resuming S3 read");
        std::thread::sleep(delay);
        Ok(())
    }
}

impl Read for S3Reader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            if !self.buf.is_empty() {
                let n = out.len().min(self.buf.len());
                out[..n].copy_from_slice(&self.buf.split_to(n));
                return Ok(n);
            }
            if self.pos >= self.size {
                return Ok(0);
            }
            if self.body.is_none() {
                self.open()?;
                continue;
            }
            let next = match self.body.as_mut() {
                Some(b) => self.rt.block_on(b.next()),
                None => continue,
            };
            match next {
                Some(Ok(bytes)) => {
                    // Never trust a body past the listed size (a replaced object).
                    let room = (self.size - self.pos) as usize;
                    let bytes = if bytes.len() > room {
                        bytes.slice(..room)
                    } else {
                        bytes
                    };
                    self.pos += bytes.len() as u64;
                    self.buf = bytes;
                    self.failures = 0;
                }
                Some(Err(e)) => self.failed(format!("body interrupted: {e}"))?,
                None => self.failed("body ended early".into())?,
            }
        }
    }
}
