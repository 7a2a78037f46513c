//! [`TextChunker`]: cuts a decompressed AWS text stream into line-aligned [`Chunk`]s.
//!
//! Cuts depend only on the bytes (never on `read` sizes), so re-reading an object after a
//! restart yields the same chunk ids. Memory is bounded: at most about two chunks of bytes
//! are buffered, and a pathological line is cut at a hard cap.

use std::io::{ErrorKind, Read};

use memchr::{memchr, memchr_iter, memrchr};

use super::header::parse_header;
use crate::reader::GzipFault;
use crate::{Chunk, ChunkFormat, FormatError, ParseOptions};

const READ_SIZE: usize = 64 * 1024;
/// Chunk buffers are reserved up to this size up front (larger chunks grow as needed).
const MAX_RESERVE: usize = 16 << 20;

/// Iterator of line-aligned chunks over a decompressed text reader.
pub struct TextChunker {
    source: String,
    object: String,
    reader: Box<dyn Read + Send>,
    max_chunk: usize,
    /// A line longer than this is cut here (its rest is skipped).
    hard_cap: usize,
    max_total: u64,
    total: u64,
    /// Pending bytes, starting at decompressed offset `offset`.
    buf: Vec<u8>,
    offset: u64,
    next_line: u64,
    seq: u64,
    fields: Option<Vec<String>>,
    eof: bool,
    done: bool,
    /// Discarding the rest of an over-long line.
    skipping: bool,
}

impl TextChunker {
    /// `reader` yields decompressed text (see [`crate::reader::open_text`]).
    pub fn new(
        source: &str,
        object: &str,
        reader: Box<dyn Read + Send>,
        max_chunk_bytes: usize,
        opts: &ParseOptions,
    ) -> Self {
        let max_chunk = max_chunk_bytes.max(1);
        Self {
            source: source.to_owned(),
            object: object.to_owned(),
            reader,
            max_chunk,
            hard_cap: max_chunk.saturating_mul(2).max(1 << 20),
            max_total: opts.max_decompressed_bytes,
            total: 0,
            // Sized for a whole chunk: growing it copies everything read so far, each time.
            buf: Vec::with_capacity(max_chunk.min(MAX_RESERVE) + READ_SIZE),
            offset: 0,
            next_line: 1,
            seq: 0,
            fields: None,
            eof: false,
            done: false,
            skipping: false,
        }
    }

    fn map_err(&self, e: std::io::Error) -> FormatError {
        let gz = e.get_ref().is_some_and(|r| r.is::<GzipFault>());
        if gz {
            FormatError::CorruptGzip {
                object: self.object.clone(),
                source: e,
            }
        } else {
            FormatError::Io {
                object: self.object.clone(),
                source: e,
            }
        }
    }

    /// Reads up to `READ_SIZE` more bytes into `buf`; sets `eof`.
    fn fill_once(&mut self) -> Result<(), FormatError> {
        let len = self.buf.len();
        self.buf.resize(len + READ_SIZE, 0);
        let n = loop {
            match self.reader.read(&mut self.buf[len..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.buf.truncate(len);
                    return Err(self.map_err(e));
                }
            }
        };
        self.buf.truncate(len + n);
        if n == 0 {
            self.eof = true;
        }
        self.total += n as u64;
        if self.total > self.max_total {
            return Err(FormatError::TooLarge {
                object: self.object.clone(),
                limit: self.max_total,
            });
        }
        Ok(())
    }

    /// Drops the rest of an over-long line (up to and including its newline).
    fn skip_rest_of_line(&mut self) -> Result<(), FormatError> {
        loop {
            if let Some(i) = memchr(b'\n', &self.buf) {
                self.buf.drain(..=i);
                self.offset += i as u64 + 1;
                self.next_line += 1;
                self.skipping = false;
                return Ok(());
            }
            self.offset += self.buf.len() as u64;
            self.buf.clear();
            if self.eof {
                self.skipping = false;
                return Ok(());
            }
            self.fill_once()?;
        }
    }

    fn next_chunk(&mut self) -> Result<Option<Chunk>, FormatError> {
        if self.skipping {
            self.skip_rest_of_line()?;
        }
        while !self.eof && self.buf.len() < self.max_chunk {
            self.fill_once()?;
        }
        if self.buf.is_empty() {
            return Ok(None);
        }
        let window = self.buf.len().min(self.max_chunk);
        let cut = if self.buf.len() <= self.max_chunk && self.eof {
            self.buf.len()
        } else if let Some(i) = memrchr(b'\n', &self.buf[..window]) {
            i + 1
        } else {
            // One line longer than a chunk: it becomes its own chunk, up to the hard cap.
            let mut from = window;
            loop {
                if let Some(i) = memchr(b'\n', &self.buf[from..]) {
                    break from + i + 1;
                }
                if self.buf.len() >= self.hard_cap {
                    self.skipping = true;
                    break self.hard_cap;
                }
                if self.eof {
                    break self.buf.len();
                }
                from = self.buf.len();
                self.fill_once()?;
            }
        };
        // The remainder moves to a buffer sized for a whole chunk, so filling it never
        // regrows (each regrowth copies everything read so far).
        let cap = if self.eof {
            0
        } else {
            self.max_chunk.min(MAX_RESERVE) + READ_SIZE
        };
        let mut rest = Vec::with_capacity(cap);
        rest.extend_from_slice(&self.buf[cut..]);
        self.buf.truncate(cut);
        let data = std::mem::replace(&mut self.buf, rest);
        let chunk = Chunk {
            source: self.source.clone(),
            object: self.object.clone(),
            format: ChunkFormat::AwsText,
            offset: self.offset,
            first_line: self.next_line,
            fields: self.fields.clone(),
            seq: self.seq,
            data,
        };
        self.scan_lines(&chunk.data);
        self.offset += chunk.data.len() as u64;
        self.seq += 1;
        Ok(Some(chunk))
    }

    /// Counts lines and tracks the header in force after `data`.
    fn scan_lines(&mut self, data: &[u8]) {
        let mut start = 0;
        let check = |line: &[u8], fields: &mut Option<Vec<String>>| {
            let line = line.trim_ascii();
            if line
                .first()
                .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'$')
            {
                if let Some(names) = parse_header(line) {
                    *fields = Some(names);
                }
            }
        };
        let mut n = 0;
        for i in memchr_iter(b'\n', data) {
            check(&data[start..i], &mut self.fields);
            start = i + 1;
            n += 1;
        }
        if start < data.len() {
            check(&data[start..], &mut self.fields);
        }
        self.next_line += n;
    }
}

impl Iterator for TextChunker {
    type Item = Result<Chunk, FormatError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_chunk() {
            Ok(Some(c)) => Some(Ok(c)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}
