//! Gzip compression of AWS text objects on a helper thread.
//!
//! Deflate is about two thirds of the cost of generating gzip text, so the generator hands
//! filled buffers to one worker thread and goes on producing records. Each file's stream is
//! compressed by that one worker in the order the buffers were sent, so the output is the same
//! bytes as a single-threaded run. The job queue is bounded (memory stays a few MB) and
//! buffers are recycled back to the producer.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Write};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::thread::JoinHandle;

use flate2::write::GzEncoder;
use flate2::Compression;

/// Buffers in flight between the producer and the worker.
const QUEUE: usize = 32;

enum Job {
    Open(u64, File, u32),
    Data(u64, Vec<u8>),
    Close(u64),
}

pub(crate) struct Deflater {
    tx: Option<SyncSender<Job>>,
    recycled: Receiver<Vec<u8>>,
    worker: Option<JoinHandle<io::Result<()>>>,
    next_id: u64,
    buf_capacity: usize,
}

impl Deflater {
    pub(crate) fn new(buf_capacity: usize) -> io::Result<Self> {
        let (tx, rx) = sync_channel::<Job>(QUEUE);
        let (rtx, recycled) = channel::<Vec<u8>>();
        let worker = std::thread::Builder::new()
            .name("sample-deflate".into())
            .spawn(move || work(rx, rtx))?;
        Ok(Self {
            tx: Some(tx),
            recycled,
            worker: Some(worker),
            next_id: 0,
            buf_capacity,
        })
    }

    fn send(&mut self, job: Job) -> io::Result<()> {
        let sent = self
            .tx
            .as_ref()
            .map(|tx| tx.send(job).is_ok())
            .unwrap_or(false);
        if sent {
            return Ok(());
        }
        // The worker stopped: its own error says why.
        match self.finish() {
            Err(e) => Err(e),
            Ok(()) => Err(io::Error::other("gzip worker stopped")),
        }
    }

    /// Starts a gzip stream into `file`; returns its id.
    pub(crate) fn open(&mut self, file: File, level: u32) -> io::Result<u64> {
        let id = self.next_id;
        self.next_id += 1;
        self.send(Job::Open(id, file, level))?;
        Ok(id)
    }

    /// Hands the contents of `buf` to the worker and leaves an empty buffer in its place.
    pub(crate) fn write(&mut self, id: u64, buf: &mut Vec<u8>) -> io::Result<()> {
        let fresh = self
            .recycled
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(self.buf_capacity));
        let full = std::mem::replace(buf, fresh);
        self.send(Job::Data(id, full))
    }

    /// Writes the rest and finishes the stream (the file is complete once [`Self::finish`]
    /// returned).
    pub(crate) fn close(&mut self, id: u64, buf: Vec<u8>) -> io::Result<()> {
        if !buf.is_empty() {
            self.send(Job::Data(id, buf))?;
        }
        self.send(Job::Close(id))
    }

    /// Waits for every queued job; returns the first error the worker hit.
    pub(crate) fn finish(&mut self) -> io::Result<()> {
        self.tx = None;
        match self.worker.take() {
            Some(h) => h
                .join()
                .map_err(|_| io::Error::other("gzip worker panicked"))?,
            None => Ok(()),
        }
    }
}

impl Drop for Deflater {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

fn work(rx: Receiver<Job>, recycle: Sender<Vec<u8>>) -> io::Result<()> {
    let mut open: HashMap<u64, GzEncoder<File>> = HashMap::new();
    for job in rx {
        match job {
            Job::Open(id, file, level) => {
                open.insert(id, GzEncoder::new(file, Compression::new(level)));
            }
            Job::Data(id, mut buf) => {
                if let Some(enc) = open.get_mut(&id) {
                    enc.write_all(&buf)?;
                }
                buf.clear();
                let _ = recycle.send(buf);
            }
            Job::Close(id) => {
                if let Some(enc) = open.remove(&id) {
                    enc.finish()?.flush()?;
                }
            }
        }
    }
    Ok(())
}
