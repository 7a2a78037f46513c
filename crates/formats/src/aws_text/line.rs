//! One AWS text line → one row (or one dead letter).
//!
//! Hot path: one word-at-a-time pass finds every field boundary (and whether the line is
//! pure ASCII), the count is checked against the layout before anything is written, then
//! each value is converted from bytes straight into its column.

use super::field::{put, BadValue, Status};
use super::header::Layout;
use crate::FlowBatchBuilder;

/// Why a line was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineError {
    FieldCount { expected: usize, found: usize },
    NotUtf8,
    Bad(BadValue),
}

impl LineError {
    pub fn kind(&self) -> &'static str {
        match self {
            LineError::FieldCount { .. } => "field_count",
            LineError::NotUtf8 => "bad_utf8",
            LineError::Bad(_) => "bad_value",
        }
    }

    pub fn reason(&self) -> String {
        match self {
            LineError::FieldCount { expected, found } => {
                format!("expected {expected} fields (per header/format), found {found}")
            }
            LineError::NotUtf8 => "line is not valid UTF-8".to_owned(),
            LineError::Bad(b) => b.reason.clone(),
        }
    }
}

/// Splits on runs of ASCII spaces (and tabs), filling `spans` with (start, end) pairs.
#[inline]
pub fn split_fields(line: &[u8], spans: &mut Vec<(usize, usize)>) {
    spans.clear();
    let mut i = 0;
    let n = line.len();
    while i < n {
        while i < n && (line[i] == b' ' || line[i] == b'\t') {
            i += 1;
        }
        if i >= n {
            break;
        }
        let start = i;
        while i < n && line[i] != b' ' && line[i] != b'\t' {
            i += 1;
        }
        spans.push((start, i));
    }
}

/// Parses one data line into the current row and ends it. On error the row is discarded.
#[inline]
pub fn parse_line(
    b: &mut FlowBatchBuilder,
    layout: &Layout,
    line: &[u8],
    spans: &mut Vec<(usize, usize)>,
) -> Result<Status, LineError> {
    spans.clear();
    let mut bounds = Vec::new();
    parse_line_at(b, layout, line, 0, line.len(), &mut bounds)
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;
const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;

/// High bit set in every byte of `x` that is zero (exact: no false positives).
#[inline]
fn zero_bytes(x: u64) -> u64 {
    !((x & LOW7).wrapping_add(LOW7) | x | LOW7)
}

/// Fills `bounds` with the field boundaries of `data[ls..le]` (start, end, start, end, …,
/// absolute offsets; fields are separated by runs of spaces and tabs) and returns the number
/// of fields and whether any byte is non-ASCII.
///
/// Works on 8-byte words: a separator mask per word (one high bit per byte), then the bytes
/// where "separator" flips are field starts and ends, taken with `trailing_zeros`. Up to four
/// boundaries per word are written unconditionally (branch-free for normal field lengths).
#[inline]
pub(crate) fn field_bounds(
    data: &[u8],
    ls: usize,
    le: usize,
    bounds: &mut Vec<usize>,
) -> (usize, bool) {
    let mut n = 0;
    let mut carry = 0x80u64; // "the byte before is a separator" for byte 0 of the next word
    let mut any = 0u64; // OR of the line's bytes: its high bits tell non-ASCII
    let mut base = ls;
    while base < le {
        let valid = le - base;
        let w = match data.get(base..base + 8) {
            Some(b) => u64::from_le_bytes(b.try_into().unwrap_or([b' '; 8])),
            None => {
                let mut b = [b' '; 8];
                let k = valid.min(8);
                b[..k].copy_from_slice(&data[base..base + k]);
                u64::from_le_bytes(b)
            }
        };
        let mut sep = zero_bytes(w ^ (ONES * b' ' as u64)) | zero_bytes(w ^ (ONES * b'\t' as u64));
        let mut w_in = w;
        if valid < 8 {
            // Bytes past the line end count as separators and are not part of the line.
            let keep = (1u64 << (8 * valid)) - 1;
            sep |= HIGH & !keep;
            w_in &= keep;
        }
        any |= w_in;
        let mut t = sep ^ ((sep << 8) | carry);
        carry = sep >> 56;
        if bounds.len() < n + 8 {
            bounds.resize(n + 64, 0);
        }
        // Four boundaries unconditionally (count = how many of them were real), the rare
        // rest in a loop. No `count_ones`: without a `popcnt` target feature it is slow.
        let mut cnt = 0;
        for k in 0..4 {
            cnt += usize::from(t != 0);
            bounds[n + k] = base + (t.trailing_zeros() / 8) as usize;
            t &= t.wrapping_sub(1);
        }
        while t != 0 {
            bounds[n + cnt] = base + (t.trailing_zeros() / 8) as usize;
            t &= t.wrapping_sub(1);
            cnt += 1;
        }
        n += cnt;
        base += 8;
    }
    if n % 2 == 1 {
        // The line ends inside a field exactly at a word boundary.
        if bounds.len() < n + 1 {
            bounds.resize(n + 1, 0);
        }
        bounds[n] = le;
        n += 1;
    }
    (n / 2, any & HIGH != 0)
}

/// [`parse_line`] of `data[ls..le]`; values may be read with word loads past the line's ends.
/// `bounds` is scratch space reused across lines.
#[inline]
pub(crate) fn parse_line_at(
    b: &mut FlowBatchBuilder,
    layout: &Layout,
    data: &[u8],
    ls: usize,
    le: usize,
    bounds: &mut Vec<usize>,
) -> Result<Status, LineError> {
    let (fields, non_ascii) = field_bounds(data, ls, le, bounds);
    // Non-ASCII fields (a Cyrillic letter in a subnet id) are fine as long as the line is
    // valid UTF-8.
    if non_ascii && std::str::from_utf8(&data[ls..le]).is_err() {
        return Err(LineError::NotUtf8);
    }
    if fields != layout.slots.len() {
        return Err(LineError::FieldCount {
            expected: layout.slots.len(),
            found: fields,
        });
    }
    let mut status = Status::Other;
    for (slot, se) in layout.slots.iter().zip(bounds.chunks_exact(2)) {
        if let (Some(slot), &[s, e]) = (slot, se) {
            if let Err(err) = put(b, *slot, data, s, e, &mut status) {
                b.discard_row();
                return Err(LineError::Bad(err));
            }
        }
    }
    b.end_row();
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans_of(line: &[u8]) -> Vec<(usize, usize)> {
        let mut v = Vec::new();
        split_fields(line, &mut v);
        v
    }

    #[test]
    fn word_split_matches_byte_split() {
        let cases: &[&[u8]] = &[
            b"",
            b" ",
            b"a",
            b"abcdefgh",
            b"abcdefg ",
            b" abcdefgh ij",
            b"2 123456789010 eni-0a1b2c3d 10.0.0.1 10.0.0.2 443 49152 6 10 840 1700000000 1700000060 ACCEPT OK",
            b"\t\ta  b\t c   dddddddddddddddddddddd  ",
            b"x\xc3\xa9 y",
        ];
        for (i, line) in cases.iter().enumerate() {
            for pre in 0..9 {
                // Put the line at every alignment inside a larger buffer.
                let mut data = vec![b'Z'; pre];
                data.extend_from_slice(line);
                data.extend_from_slice(b"QQ");
                let mut bounds = Vec::new();
                let (n, non_ascii) = field_bounds(&data, pre, pre + line.len(), &mut bounds);
                let want = spans_of(line);
                let got: Vec<_> = bounds[..2 * n]
                    .chunks_exact(2)
                    .map(|p| (p[0] - pre, p[1] - pre))
                    .collect();
                assert_eq!(got, want, "case {i} at {pre}");
                assert_eq!(non_ascii, !line.is_ascii(), "case {i}");
            }
        }
    }
}
