//! One AWS text line → one row (or one dead letter).
//!
//! Hot path: one word-at-a-time pass finds every field boundary (and whether the line is
//! pure ASCII), the count is checked against the layout before anything is written, then
//! each value is converted from bytes straight into its column.

use super::field::{put, BadValue, Conv, Slot, Status};
use super::header::Layout;
use crate::schema::Col;
use crate::FlowBatchBuilder;

/// The slots of the AWS default (version 2) format, in order.
pub(crate) const V2_SLOTS: [Slot; 14] = {
    const fn s(col: Col, conv: Conv) -> Slot {
        Slot { col, conv }
    }
    [
        s(Col::Version, Conv::U8),
        s(Col::AccountId, Conv::Str),
        s(Col::InterfaceId, Conv::Str),
        s(Col::SrcAddr, Conv::Addr),
        s(Col::DstAddr, Conv::Addr),
        s(Col::SrcPort, Conv::U16),
        s(Col::DstPort, Conv::U16),
        s(Col::Protocol, Conv::U8),
        s(Col::Packets, Conv::U64),
        s(Col::Bytes, Conv::U64),
        s(Col::Start, Conv::Secs),
        s(Col::End, Conv::Secs),
        s(Col::Action, Conv::Str),
        s(Col::LogStatus, Conv::LogStatus),
    ]
};

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
    let (fields, non_ascii) = field_bounds(line, 0, line.len(), &mut bounds);
    parse_fields(b, layout, line, 0, line.len(), fields, non_ascii, &bounds)
}

/// Separator (space or tab), non-ASCII and newline masks of 16 bytes, one bit per byte.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline(always)]
fn masks16(b: &[u8; 16]) -> (u64, u64, u64) {
    // SAFETY: `sse2_masks16` only needs SSE2, which this cfg proves is enabled at compile
    // time (it is part of the x86_64 baseline); it reads nothing but its argument.
    unsafe { sse2_masks16(b) }
}

#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[target_feature(enable = "sse2")]
fn sse2_masks16(b: &[u8; 16]) -> (u64, u64, u64) {
    // SSE2 is part of the x86_64 baseline, so these intrinsics are safe to call; the two
    // word loads fold into one vector load.
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8, _mm_set_epi64x,
    };
    let (lo, hi) = b.split_at(8);
    let lo = i64::from_le_bytes(lo.try_into().unwrap_or([0; 8]));
    let hi = i64::from_le_bytes(hi.try_into().unwrap_or([0; 8]));
    let v = _mm_set_epi64x(hi, lo);
    let sep = _mm_or_si128(
        _mm_cmpeq_epi8(v, _mm_set1_epi8(b' ' as i8)),
        _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\t' as i8)),
    );
    (
        _mm_movemask_epi8(sep) as u16 as u64,
        _mm_movemask_epi8(v) as u16 as u64,
        _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(b'\n' as i8))) as u16 as u64,
    )
}

/// Portable version of the above (the compiler does not turn it into vector compares).
#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
#[inline(always)]
fn masks16(b: &[u8; 16]) -> (u64, u64, u64) {
    let (mut sep, mut high, mut nl) = (0u64, 0u64, 0u64);
    for (i, &c) in b.iter().enumerate() {
        sep |= u64::from(c == b' ' || c == b'\t') << i;
        high |= u64::from(c >> 7) << i;
        nl |= u64::from(c == b'\n') << i;
    }
    (sep, high, nl)
}

/// Masks of the 64 bytes from `base` (bytes past `data` count as newlines).
#[inline(always)]
fn masks64(data: &[u8], base: usize) -> (u64, u64, u64) {
    let block: [u8; 64] = match data.get(base..base + 64) {
        Some(b) => b.try_into().unwrap_or([b'\n'; 64]),
        None => {
            let mut b = [b'\n'; 64];
            let rest = data.get(base..).unwrap_or(&[]);
            b[..rest.len()].copy_from_slice(rest);
            b
        }
    };
    let (mut sep, mut high, mut nl) = (0u64, 0u64, 0u64);
    for (i, part) in block.chunks_exact(16).enumerate() {
        let (s, h, n) = masks16(part.try_into().unwrap_or(&[b'\n'; 16]));
        sep |= s << (16 * i);
        high |= h << (16 * i);
        nl |= n << (16 * i);
    }
    (sep, high, nl)
}

/// Appends the positions of the set bits of `t` (plus `base`) to `bounds` at `n`.
#[inline(always)]
fn push_bits(mut t: u64, base: usize, bounds: &mut Vec<usize>, n: &mut usize) {
    if bounds.len() < *n + 65 {
        bounds.resize(*n + 128, 0);
    }
    while t != 0 {
        bounds[*n] = base + t.trailing_zeros() as usize;
        *n += 1;
        t &= t - 1;
    }
}

/// One line of a buffer, as found by [`scan_line`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LineScan {
    /// End of the line's text (before `\r\n` / `\n`, or the end of the buffer).
    pub end: usize,
    /// Where the next line starts (past the `\n`; past the buffer's end for the last line).
    pub next: usize,
    /// Fields found; their bounds are in the caller's `bounds` (start, end, …).
    pub fields: usize,
    pub non_ascii: bool,
}

/// Finds the end of the line starting at `ls` and its field boundaries in the same pass over
/// 64-byte blocks (see [`field_bounds`]), instead of a newline search and then a field split.
#[inline]
pub(crate) fn scan_line(data: &[u8], ls: usize, bounds: &mut Vec<usize>) -> LineScan {
    let mut n = 0;
    let mut carry = 1u64; // "the byte before is a separator", for bit 0 of the next block
    let mut non_ascii = 0u64;
    let mut base = ls;
    loop {
        let (mut sep, mut high, nl) = masks64(data, base);
        if nl == 0 {
            non_ascii |= high;
            push_bits(sep ^ ((sep << 1) | carry), base, bounds, &mut n);
            carry = sep >> 63;
            base += 64;
            continue;
        }
        let p = base + nl.trailing_zeros() as usize; // the newline (or the buffer's end)
        let mut le = p;
        if le > ls && data.get(le - 1) == Some(&b'\r') {
            le -= 1;
        }
        // Bytes from the line end on are separators and not part of the line. (A `\r` at the
        // end of the previous block is handled by the clamp below.)
        let keep = (1u64 << le.saturating_sub(base)) - 1; // le - base < 64
        sep |= !keep;
        high &= keep;
        non_ascii |= high;
        push_bits(sep ^ ((sep << 1) | carry), base, bounds, &mut n);
        if n % 2 == 1 {
            bounds[n] = le;
            n += 1;
        }
        if n > 0 && bounds[n - 1] > le {
            // The `\r` ended the previous block: the last field ends before it, and is
            // dropped if that leaves it empty.
            bounds[n - 1] = le;
            if bounds[n - 2] == le {
                n -= 2;
            }
        }
        return LineScan {
            end: le,
            next: p + 1,
            fields: n / 2,
            non_ascii: non_ascii != 0,
        };
    }
}

/// Fills `bounds` with the field boundaries of `data[ls..le]` (start, end, start, end, …,
/// absolute offsets; fields are separated by runs of spaces and tabs) and returns the number
/// of fields and whether any byte is non-ASCII.
///
/// Works on 64-byte blocks: a separator mask with one bit per byte (SSE2 compares), then the
/// bits where "separator" flips are the field starts and ends, taken with `trailing_zeros`.
/// No per-byte branches; one loop exit per block.
#[inline]
pub(crate) fn field_bounds(
    data: &[u8],
    ls: usize,
    le: usize,
    bounds: &mut Vec<usize>,
) -> (usize, bool) {
    let mut n = 0;
    let mut carry = 1u64; // "the byte before is a separator", for bit 0 of the next block
    let mut non_ascii = 0u64;
    let mut base = ls;
    while base < le {
        let (mut sep, mut high, _) = masks64(data, base);
        let valid = le - base;
        if valid < 64 {
            // Bytes past the line end are separators and not part of the line.
            let keep = (1u64 << valid) - 1;
            sep |= !keep;
            high &= keep;
        }
        non_ascii |= high;
        let mut t = sep ^ ((sep << 1) | carry);
        carry = sep >> 63;
        if bounds.len() < n + 65 {
            bounds.resize(n + 128, 0);
        }
        while t != 0 {
            bounds[n] = base + t.trailing_zeros() as usize;
            n += 1;
            t &= t - 1;
        }
        base += 64;
    }
    if n % 2 == 1 {
        // The line ends inside a field exactly at a block boundary.
        bounds[n] = le;
        n += 1;
    }
    (n / 2, non_ascii != 0)
}

/// Converts the fields of the line `data[ls..le]` (found by [`field_bounds`] or
/// [`scan_line`]: `fields` pairs in `bounds`) into the current row and ends it. Values may be
/// read with word loads past the line's ends.
#[inline]
#[allow(clippy::too_many_arguments)]
pub(crate) fn parse_fields(
    b: &mut FlowBatchBuilder,
    layout: &Layout,
    data: &[u8],
    ls: usize,
    le: usize,
    fields: usize,
    non_ascii: bool,
    bounds: &[usize],
) -> Result<Status, LineError> {
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
    if layout.v2 {
        // The default format with every slot a constant: each `put` inlines to the code for
        // its one conversion, with no per-field dispatch.
        let bo = &bounds[..2 * V2_SLOTS.len()];
        macro_rules! v2 {
            ($($i:literal)*) => {$(
                let r = put(b, V2_SLOTS[$i], data, bo[2 * $i], bo[2 * $i + 1], &mut status);
                if let Err(err) = r {
                    b.discard_row();
                    return Err(LineError::Bad(err));
                }
            )*};
        }
        v2!(0 1 2 3 4 5 6 7 8 9 10 11 12 13);
        b.end_row();
        return Ok(status);
    }
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

    #[test]
    fn line_scan_matches_newline_search_and_byte_split() {
        // Pseudo-random buffers over an alphabet heavy in separators and line ends, so CRs
        // and field ends land on every block position.
        let alphabet = b"  \t\r\n\nab1-\xc3";
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for len in (0..300).chain([1000, 4096]) {
            for _ in 0..4 {
                let data: Vec<u8> = (0..len)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        alphabet[(x % alphabet.len() as u64) as usize]
                    })
                    .collect();
                let mut bounds = Vec::new();
                let mut pos = 0;
                while pos < data.len() {
                    let nl = data[pos..].iter().position(|&c| c == b'\n');
                    let next = nl.map_or(data.len(), |i| pos + i);
                    let mut end = next;
                    if end > pos && data[end - 1] == b'\r' {
                        end -= 1;
                    }
                    let scan = scan_line(&data, pos, &mut bounds);
                    assert_eq!((scan.end, scan.next), (end, next + 1), "len {len} at {pos}");
                    let got: Vec<_> = bounds[..2 * scan.fields]
                        .chunks_exact(2)
                        .map(|p| (p[0] - pos, p[1] - pos))
                        .collect();
                    assert_eq!(got, spans_of(&data[pos..end]), "len {len} at {pos}");
                    assert_eq!(scan.non_ascii, !data[pos..end].is_ascii());
                    pos = scan.next;
                }
            }
        }
    }
}
