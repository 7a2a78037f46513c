//! Streaming a whole object into normalized batches (`flowlogd parse`, tests).
//!
//! Memory stays bounded: gzip is decompressed incrementally and cut into line-aligned chunks,
//! Parquet is read one batch/row group at a time, Azure JSON record by record through a
//! sliding buffer. [`ObjectReader`] yields batches of at most `opts.batch_rows` rows.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;

use crate::aws_parquet::ParquetRows;
use crate::aws_text::TextParser;
use crate::azure::{scan, AzureParser};
use crate::chunk::TextChunker;
use crate::detect::{detect, is_gzip, FormatHint};
use crate::{ChunkFormat, FormatError, ObjectStats, ParseOptions, Parsed};

/// Text chunk size used when streaming a whole object.
const TEXT_CHUNK: usize = 4 << 20;
/// Azure bytes read per step.
const JSON_READ: usize = 1 << 20;

/// Marks an I/O error raised by the gzip decoder, so that it maps to
/// [`FormatError::CorruptGzip`] rather than a plain read failure.
#[derive(Debug, thiserror::Error)]
#[error("gzip: {0}")]
pub struct GzipFault(pub std::io::Error);

struct GzReader(MultiGzDecoder<Box<dyn Read + Send>>);

impl Read for GzReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0
            .read(buf)
            .map_err(|e| std::io::Error::new(e.kind(), GzipFault(e)))
    }
}

/// Wraps `reader` in a (multi-member) gzip decoder when it starts with the gzip magic;
/// otherwise returns the bytes as they are.
pub fn open_text(reader: Box<dyn Read + Send>) -> Box<dyn Read + Send> {
    let mut br = BufReader::with_capacity(64 * 1024, reader);
    let gz = match br.fill_buf() {
        Ok(head) => is_gzip(head),
        Err(_) => false, // the error shows up again on the first read
    };
    if gz {
        Box::new(GzReader(MultiGzDecoder::new(Box::new(br))))
    } else {
        Box::new(br)
    }
}

/// Opens a local file; Parquet is read with random access (row group by row group).
pub fn open_path(
    path: &Path,
    hint: FormatHint,
    opts: &ParseOptions,
) -> Result<ObjectReader, FormatError> {
    let object = path.display().to_string();
    let io = |source| FormatError::Io {
        object: object.clone(),
        source,
    };
    let mut file = File::open(path).map_err(io)?;
    let mut head = [0u8; 4];
    let n = read_up_to(&mut file, &mut head).map_err(io)?;
    let format = detect(hint, &object, &head[..n]);
    let file = File::open(path).map_err(io)?;
    if format == ChunkFormat::AwsParquet {
        let rows = ParquetRows::new(&object, file, opts)?;
        return Ok(ObjectReader::new(
            &object,
            format,
            Inner::Parquet(Box::new(rows)),
        ));
    }
    from_read(&object, Box::new(file), hint_of(format), opts)
}

fn hint_of(f: ChunkFormat) -> FormatHint {
    match f {
        ChunkFormat::AwsText => FormatHint::AwsText,
        ChunkFormat::AwsParquet => FormatHint::AwsParquet,
        ChunkFormat::AzureJson => FormatHint::AzureJson,
    }
}

fn read_up_to(r: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Streams an object from any reader. Parquet needs random access, so a Parquet object read
/// this way is buffered in memory (up to `opts.max_decompressed_bytes`).
pub fn from_read(
    object: &str,
    r: Box<dyn Read + Send>,
    hint: FormatHint,
    opts: &ParseOptions,
) -> Result<ObjectReader, FormatError> {
    let io = |source| FormatError::Io {
        object: object.to_owned(),
        source,
    };
    let mut br = BufReader::with_capacity(64 * 1024, r);
    let head = br.fill_buf().map_err(io)?;
    let format = detect(hint, object, head);
    let inner = match format {
        ChunkFormat::AwsText => {
            let text = open_text(Box::new(br));
            Inner::Text {
                chunker: Box::new(TextChunker::new("", object, text, TEXT_CHUNK, opts)),
                parser: Box::new(TextParser::new(object, None, opts)),
            }
        }
        ChunkFormat::AwsParquet => {
            let mut data = Vec::new();
            let limit = opts.max_decompressed_bytes;
            br.take(limit.saturating_add(1))
                .read_to_end(&mut data)
                .map_err(io)?;
            if data.len() as u64 > limit {
                return Err(FormatError::TooLarge {
                    object: object.to_owned(),
                    limit,
                });
            }
            Inner::Parquet(Box::new(ParquetRows::new(
                object,
                bytes::Bytes::from(data),
                opts,
            )?))
        }
        ChunkFormat::AzureJson => Inner::Azure(Box::new(AzureStream {
            reader: Box::new(br),
            buf: Vec::new(),
            offset: 0,
            total: 0,
            max: opts.max_decompressed_bytes,
            parser: AzureParser::new(object, opts),
        })),
    };
    Ok(ObjectReader::new(object, format, inner))
}

struct AzureStream {
    reader: Box<dyn Read + Send>,
    buf: Vec<u8>,
    /// Raw offset of `buf[0]`.
    offset: u64,
    total: u64,
    max: u64,
    parser: AzureParser,
}

impl AzureStream {
    /// Reads one step; returns `false` at the end of the blob.
    fn step(&mut self, object: &str, out: &mut Vec<Parsed>) -> Result<bool, FormatError> {
        let len = self.buf.len();
        self.buf.resize(len + JSON_READ, 0);
        let n = loop {
            match self.reader.read(&mut self.buf[len..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(FormatError::Io {
                        object: object.to_owned(),
                        source,
                    })
                }
            }
        };
        self.buf.truncate(len + n);
        self.total += n as u64;
        if self.total > self.max {
            return Err(FormatError::TooLarge {
                object: object.to_owned(),
                limit: self.max,
            });
        }
        if n == 0 {
            self.parser.feed(&self.buf, self.offset, true, out)?;
            out.push(self.parser.take());
            return Ok(false);
        }
        let sc = scan::scan(&self.buf);
        if sc.error.is_some() {
            // Let the parser report it (object error or dead letter), then stop.
            self.parser.feed(&self.buf, self.offset, true, out)?;
            out.push(self.parser.take());
            return Ok(false);
        }
        if let Some(end) = sc.records.last().map(|r| r.end) {
            self.parser
                .feed(&self.buf[..end], self.offset, false, out)?;
            self.buf.drain(..end);
            self.offset += end as u64;
        }
        Ok(true)
    }
}

enum Inner {
    Text {
        chunker: Box<TextChunker>,
        parser: Box<TextParser>,
    },
    Parquet(Box<ParquetRows>),
    Azure(Box<AzureStream>),
}

/// Iterator of parsed batches of one object.
pub struct ObjectReader {
    object: String,
    format: ChunkFormat,
    inner: Inner,
    queue: VecDeque<Parsed>,
    totals: ObjectStats,
    done: bool,
}

impl ObjectReader {
    fn new(object: &str, format: ChunkFormat, inner: Inner) -> Self {
        Self {
            object: object.to_owned(),
            format,
            inner,
            queue: VecDeque::new(),
            totals: ObjectStats::default(),
            done: false,
        }
    }

    /// Counts over the batches yielded so far.
    pub fn stats(&self) -> ObjectStats {
        self.totals
    }

    /// The detected (or forced) format.
    pub fn format(&self) -> ChunkFormat {
        self.format
    }

    /// The object name.
    pub fn object(&self) -> &str {
        &self.object
    }

    /// Produces more batches into the queue; `Err` ends the object.
    fn pull(&mut self) -> Result<(), FormatError> {
        let mut out = Vec::new();
        match &mut self.inner {
            Inner::Text { chunker, parser } => match chunker.next() {
                Some(chunk) => {
                    let c = chunk?;
                    parser.feed(&c.data, c.first_line, &mut out);
                }
                None => {
                    out.extend(parser.finish());
                    self.done = true;
                }
            },
            Inner::Parquet(rows) => match rows.next() {
                Some(p) => out.push(p?),
                None => self.done = true,
            },
            Inner::Azure(st) => {
                if !st.step(&self.object, &mut out)? {
                    self.done = true;
                }
            }
        }
        self.queue.extend(out);
        Ok(())
    }
}

impl Iterator for ObjectReader {
    type Item = Result<Parsed, FormatError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(p) = self.queue.pop_front() {
                self.totals.add(&p.stats);
                return Some(Ok(p));
            }
            if self.done {
                return None;
            }
            if let Err(e) = self.pull() {
                self.done = true;
                return Some(Err(e));
            }
        }
    }
}
