//! Record boundaries in Azure flow-log JSON, without parsing the records.
//!
//! Accepts `{"records":[…]}` (any whitespace, BOM), NDJSON, a single record object, and the
//! bytes appended to a growing `PT1H.json` (`,{…},{…}]}`, §4 of FORMATS.md). The scanner is
//! string- and escape-aware and only tracks nesting, so it costs one pass over the bytes.

use std::ops::Range;

use crate::{Chunk, ChunkFormat};

/// Result of scanning a byte slice.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scan {
    /// Complete top-level records (byte ranges of `{…}`).
    pub records: Vec<Range<usize>>,
    /// Bytes that are not flow-log JSON structure: (position, reason). Scanning stops there.
    pub error: Option<(usize, String)>,
    /// A record or wrapper starts at this position but does not end in the data.
    pub incomplete: Option<usize>,
}

fn skip_ws(data: &[u8], mut i: usize) -> usize {
    while i < data.len() && matches!(data[i], b' ' | b'\t' | b'\r' | b'\n') {
        i += 1;
    }
    i
}

/// If the object at `i` is a `{"records":[` wrapper, the position after `[`.
/// `Err(())` if the data ends before that can be decided.
fn wrapper_body(data: &[u8], i: usize) -> Result<Option<usize>, ()> {
    let key = b"\"records\"";
    let j = skip_ws(data, i + 1);
    let avail = &data[j.min(data.len())..];
    if avail.len() < key.len() {
        return if key.starts_with(avail) {
            Err(())
        } else {
            Ok(None)
        };
    }
    if !avail.starts_with(key) {
        return Ok(None);
    }
    let j = skip_ws(data, j + key.len());
    if j >= data.len() {
        return Err(());
    }
    if data[j] != b':' {
        return Ok(None);
    }
    let j = skip_ws(data, j + 1);
    if j >= data.len() {
        return Err(());
    }
    Ok((data[j] == b'[').then_some(j + 1))
}

/// End (exclusive) of the JSON object starting at `i`, or `None` if it does not end.
fn object_end(data: &[u8], i: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_str = false;
    let mut esc = false;
    let mut k = i;
    while k < data.len() {
        let c = data[k];
        if in_str {
            if esc {
                esc = false;
            } else if c == b'\\' {
                esc = true;
            } else if c == b'"' {
                in_str = false;
            }
        } else {
            match c {
                b'"' => in_str = true,
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return Some(k + 1);
                    }
                }
                _ => {}
            }
        }
        k += 1;
    }
    None
}

/// Finds the complete records in `data`.
pub fn scan(data: &[u8]) -> Scan {
    let mut out = Scan::default();
    let mut i = 0;
    if data.starts_with(&[0xEF, 0xBB, 0xBF]) {
        i = 3;
    }
    loop {
        while i < data.len()
            && matches!(
                data[i],
                b' ' | b'\t' | b'\r' | b'\n' | b',' | b'[' | b']' | b'}'
            )
        {
            i += 1;
        }
        if i >= data.len() {
            break;
        }
        if data[i] != b'{' {
            out.error = Some((
                i,
                format!("unexpected byte {:?} outside a record", data[i] as char),
            ));
            break;
        }
        match wrapper_body(data, i) {
            Err(()) => {
                out.incomplete = Some(i);
                break;
            }
            Ok(Some(body)) => {
                i = body;
                continue;
            }
            Ok(None) => {}
        }
        match object_end(data, i) {
            Some(end) => {
                out.records.push(i..end);
                i = end;
            }
            None => {
                out.incomplete = Some(i);
                break;
            }
        }
    }
    out
}

/// Cuts Azure `PT1H.json` bytes into record-aligned chunks.
///
/// `data` holds the blob's bytes from raw offset `offset` (0, or a resume offset returned
/// earlier). Chunks are contiguous, each at most `max_chunk_bytes` unless one record alone is
/// larger. Returns the chunks and the offset to resume from: just after the last complete
/// record, so a record still being written (or the moving `]}` tail) is read next time.
/// Bytes that are not record JSON at all are handed on as a final chunk (the parser reports
/// them) and consumed, so a bad blob cannot stall its reader.
pub fn json_chunks(
    source: &str,
    object: &str,
    offset: u64,
    data: &[u8],
    max_chunk_bytes: usize,
) -> (Vec<Chunk>, u64) {
    let sc = scan(data);
    let mut chunks = Vec::new();
    let mk = |start: usize, end: usize, seq: usize| Chunk {
        source: source.to_owned(),
        object: object.to_owned(),
        format: ChunkFormat::AzureJson,
        offset: offset + start as u64,
        first_line: 1,
        fields: None,
        seq: seq as u64,
        data: data[start..end].to_vec(),
    };
    let mut start = 0usize;
    let mut last_end: Option<usize> = None;
    for r in &sc.records {
        if let Some(le) = last_end {
            if r.end - start > max_chunk_bytes {
                chunks.push(mk(start, le, chunks.len()));
                start = le;
            }
        }
        last_end = Some(r.end);
    }
    let mut resume = last_end.unwrap_or(0);
    if let Some(le) = last_end {
        chunks.push(mk(start, le, chunks.len()));
    }
    if sc.error.is_some() {
        chunks.push(mk(resume, data.len(), chunks.len()));
        resume = data.len();
    }
    (chunks, offset + resume as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapper_seams_and_ndjson() {
        let s = scan(br#"{"records":[{"a":"}"},{"b":[1,{"c":2}]}]}"#);
        assert_eq!(s.records.len(), 2);
        assert!(s.error.is_none() && s.incomplete.is_none());
        let s = scan(br#",{"a":1},{"b":2}]}"#);
        assert_eq!(s.records.len(), 2);
        let s = scan(b"\xEF\xBB\xBF {\"x\":\"a\\\"}\"}\n{\"y\":2}\n");
        assert_eq!(s.records.len(), 2);
        let s = scan(br#"{"records":[{"a":1},{"b":"#);
        assert_eq!(s.records.len(), 1);
        assert!(s.incomplete.is_some());
        let s = scan(br#"{"reco"#);
        assert_eq!((s.records.len(), s.incomplete), (0, Some(0)));
        let s = scan(b"hello");
        assert!(s.error.is_some());
    }

    #[test]
    fn resume_offsets() {
        let blob = br#"{"records":[{"a":1},{"b":2}]}"#;
        let (chunks, resume) = json_chunks("s", "o", 0, blob, 1 << 20);
        assert_eq!(chunks.len(), 1);
        assert_eq!(&blob[resume as usize..], b"]}");
        let (chunks, resume) = json_chunks("s", "o", 0, blob, 4);
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[1].offset, 19);
        assert_eq!(resume, 27);
    }
}
