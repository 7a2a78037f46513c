//! AWS field conversions shared by the text and Parquet parsers: how one raw value of one
//! known field lands in the normalized columns (`-` → null, seconds → ms, range checks).

use crate::schema::{Col, Kind};
use crate::FlowBatchBuilder;

/// Earliest accepted AWS timestamp (1990-01-01T00:00:00Z, seconds). Flow logs exist since
/// 2015; anything before 1990 is a corrupt value, not a flow.
pub const MIN_SECS: u64 = 631_152_000;
/// Latest accepted AWS timestamp (2100-01-01T00:00:00Z, seconds).
pub const MAX_SECS: u64 = 4_102_444_800;

/// How a raw value is converted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conv {
    Str,
    /// IPv4/IPv6 text: validated cheaply by alphabet (hex digits, `:` and `.`).
    Addr,
    U8,
    U16,
    U64,
    /// Unix seconds → timestamp ms, range-checked.
    Secs,
    /// `flow-direction`: kept raw and copied to `direction`.
    FlowDir,
    /// `log-status`: counted (NODATA/SKIPDATA).
    LogStatus,
}

/// A known field at one header position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub col: Col,
    pub conv: Conv,
}

impl Slot {
    pub fn for_col(col: Col) -> Slot {
        let conv = match col {
            Col::SrcAddr | Col::DstAddr | Col::PktSrcAddr | Col::PktDstAddr => Conv::Addr,
            Col::Start | Col::End => Conv::Secs,
            Col::FlowDirection => Conv::FlowDir,
            Col::LogStatus => Conv::LogStatus,
            _ => match col.def().kind {
                Kind::Str => Conv::Str,
                Kind::U8 => Conv::U8,
                Kind::U16 => Conv::U16,
                Kind::U64 => Conv::U64,
                Kind::Ts => Conv::Secs,
            },
        };
        Slot { col, conv }
    }
}

/// What a row's `log-status` said, for the object's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Status {
    #[default]
    Other,
    NoData,
    SkipData,
}

/// Parses an unsigned decimal without allocation; `None` on any non-digit or overflow.
#[inline]
pub fn parse_u64(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 20 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in b {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(d as u64)?;
    }
    Some(v)
}

/// Bytes allowed in an address (hex digits, `:` and `.`), as a table: one load per byte and
/// no early exit, so short values run without mispredicted branches.
static ADDR_BYTE: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_hexdigit() || b == b':' || b == b'.';
        c += 1;
    }
    t
};

#[inline]
fn is_addr(b: &[u8]) -> bool {
    !b.is_empty() && b.len() <= 45 && b.iter().fold(true, |ok, &c| ok & ADDR_BYTE[c as usize])
}

/// 8 ASCII bytes, first byte most significant digit, to their value if all are digits.
/// SWAR: digit check on all bytes at once, then pairwise combination (2, 4, 8 digits).
#[inline(always)]
fn swar8(w: u64) -> Option<u64> {
    const ZEROS: u64 = 0x3030_3030_3030_3030;
    const HIGH: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    // Every byte 0x30..=0x3F, and none above 0x39 (adding 6 keeps 0x39 below 0x40; no carry
    // crosses bytes because every byte is at most 0x3F here).
    if w & HIGH != ZEROS || w.wrapping_add(0x0606_0606_0606_0606) & HIGH != ZEROS {
        return None;
    }
    let mut x = w - ZEROS;
    x = (x.wrapping_mul(10) + (x >> 8)) & 0x00FF_00FF_00FF_00FF;
    x = (x.wrapping_mul(100) + (x >> 16)) & 0x0000_FFFF_0000_FFFF;
    x = (x.wrapping_mul(10_000) + (x >> 32)) & 0xFFFF_FFFF;
    Some(x)
}

/// Loads 8 bytes little-endian.
#[inline(always)]
fn load8(b: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(..8)?.try_into().ok()?))
}

/// `data[s..e]` (1..=8 bytes) as digits, loading 8 bytes around it and padding with `0`s.
#[inline(always)]
fn digits_upto8(data: &[u8], s: usize, e: usize) -> Option<u64> {
    let n = e - s;
    let pad = 8 * (8 - n) as u32; // bits of left padding
    if e >= 8 {
        // The value is the top `n` bytes of the 8 ending at `e`.
        let w = load8(&data[e - 8..])?;
        let low = 1u64.checked_shl(pad).map_or(u64::MAX, |v| v - 1);
        return swar8((w & !low) | (0x3030_3030_3030_3030 & low));
    }
    if let Some(w) = load8(&data[s..]) {
        // The value is the low `n` bytes of the 8 starting at `s`.
        let zeros = 0x3030_3030_3030_3030u64
            .checked_shr(8 * n as u32)
            .unwrap_or(0);
        return swar8(w.checked_shl(pad).unwrap_or(0) | zeros);
    }
    parse_u64(&data[s..e])
}

/// Same result as [`parse_u64`]`(&data[s..e])`, reading whole words where `data` around the
/// value allows it (the value's neighbours are only used as padding, never as digits).
#[inline(always)]
pub fn parse_digits(data: &[u8], s: usize, e: usize) -> Option<u64> {
    match e.checked_sub(s)? {
        1..=8 => digits_upto8(data, s, e),
        9..=16 => {
            let hi = digits_upto8(data, s, e - 8)?;
            let lo = swar8(load8(&data[e - 8..])?)?;
            Some(hi * 100_000_000 + lo)
        }
        _ => parse_u64(&data[s..e]),
    }
}

/// Error for one value: names the field and the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadValue {
    pub col: Col,
    pub reason: String,
}

// Cold and out of line: keeps the formatting code out of the inlined hot path.
#[cold]
#[inline(never)]
fn bad(col: Col, value: &[u8], why: &str) -> BadValue {
    BadValue {
        col,
        reason: format!(
            "field {}: {why}: {:?}",
            col.name(),
            String::from_utf8_lossy(&value[..value.len().min(64)])
        ),
    }
}

/// Converts seconds to ms after the range check.
#[inline]
pub fn secs_to_ms(col: Col, v: u64, raw: &[u8]) -> Result<i64, BadValue> {
    if !(MIN_SECS..MAX_SECS).contains(&v) {
        return Err(bad(col, raw, "timestamp out of range 1990..2100"));
    }
    Ok(v as i64 * 1000)
}

/// Sets one raw (already UTF-8-validated) value. `-` and the empty string are null.
#[inline]
pub fn set_raw(
    b: &mut FlowBatchBuilder,
    slot: Slot,
    v: &[u8],
    status: &mut Status,
) -> Result<(), BadValue> {
    if !v.is_ascii() && std::str::from_utf8(v).is_err() {
        // Callers promise UTF-8; if not, strings become U+FFFD as they always did (the
        // columns store raw bytes, which must stay valid UTF-8). Numbers and addresses
        // reject non-ASCII bytes by themselves.
        let fffd = "\u{fffd}".as_bytes();
        match slot.conv {
            Conv::Str | Conv::LogStatus => return put(b, slot, fffd, 0, fffd.len(), status),
            Conv::FlowDir => {
                b.set_str(slot.col, "\u{fffd}");
                return Err(bad(slot.col, v, "expected ingress or egress"));
            }
            _ => {}
        }
    }
    put(b, slot, v, 0, v.len(), status)
}

/// [`set_raw`] of `data[s..e]`: the text parser's hot path. `data` is the whole buffer, so
/// numbers and short strings can be read with word-sized loads past the value's ends.
/// Values are checked before anything is written; a column already set in this row keeps
/// its first value but the later value is still checked.
#[inline(always)]
pub fn put(
    b: &mut FlowBatchBuilder,
    slot: Slot,
    data: &[u8],
    s: usize,
    e: usize,
    status: &mut Status,
) -> Result<(), BadValue> {
    let v = &data[s..e];
    if v == b"-" || v.is_empty() {
        return Ok(());
    }
    let col = slot.col;
    match slot.conv {
        Conv::Str => {
            if let Some(c) = b.free_col(col) {
                c.push_str_at(data, s, e);
            }
        }
        Conv::Addr => {
            if !is_addr(v) {
                return Err(bad(col, v, "not an IP address"));
            }
            if let Some(c) = b.free_col(col) {
                c.push_str_at(data, s, e);
            }
        }
        Conv::U8 => {
            let n = parse_digits(data, s, e).ok_or_else(|| bad(col, v, "not a number"))?;
            let n = u8::try_from(n).map_err(|_| bad(col, v, "out of range 0..255"))?;
            b.set_u8(col, n);
        }
        Conv::U16 => {
            let n = parse_digits(data, s, e).ok_or_else(|| bad(col, v, "not a number"))?;
            let n = u16::try_from(n).map_err(|_| bad(col, v, "out of range 0..65535"))?;
            b.set_u16(col, n);
        }
        Conv::U64 => {
            let n = parse_digits(data, s, e).ok_or_else(|| bad(col, v, "not a number"))?;
            b.set_u64(col, n);
        }
        Conv::Secs => {
            let n = parse_digits(data, s, e).ok_or_else(|| bad(col, v, "not a number"))?;
            b.set_ts_ms(col, secs_to_ms(col, n, v)?);
        }
        Conv::FlowDir => {
            let s = as_str(v);
            b.set_str(col, s);
            match v {
                b"ingress" | b"egress" => b.set_str(Col::Direction, s),
                _ => return Err(bad(col, v, "expected ingress or egress")),
            }
        }
        Conv::LogStatus => {
            *status = match v {
                b"NODATA" => Status::NoData,
                b"SKIPDATA" => Status::SkipData,
                _ => Status::Other,
            };
            if let Some(c) = b.free_col(col) {
                c.push_str_at(data, s, e);
            }
        }
    }
    Ok(())
}

/// Sets one integer value (Parquet integer columns), with the same checks as text.
pub fn set_int(
    b: &mut FlowBatchBuilder,
    slot: Slot,
    v: i64,
    status: &mut Status,
) -> Result<(), BadValue> {
    if v < 0 {
        let s = v.to_string();
        return Err(bad(slot.col, s.as_bytes(), "negative"));
    }
    let s = v.to_string();
    set_raw(b, slot, s.as_bytes(), status)
}

/// The caller validated the whole line as UTF-8 and splits only on ASCII bytes, so every
/// field is UTF-8 too; the fallback keeps this free of `unsafe` and panics. Only used off
/// the hot path (`flow-direction`).
#[inline]
fn as_str(v: &[u8]) -> &str {
    std::str::from_utf8(v).unwrap_or("\u{fffd}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_digits_match_scalar() {
        let values: &[&[u8]] = &[
            b"0",
            b"7",
            b"42",
            b"65535",
            b"65536",
            b"12345678",
            b"123456789",
            b"1700000000",
            b"9999999999999999",
            b"18446744073709551615",
            b"18446744073709551616",
            b"1x",
            b"x",
            b"12:4",
            b"/",
            b"::",
            b"-1",
            b"00000000000000000001",
            b"123456789012345678901",
        ];
        for v in values {
            for pre in [0usize, 1, 3, 8, 12] {
                for post in [0usize, 1, 7, 9] {
                    let mut data = vec![b'9'; pre];
                    data.extend_from_slice(v);
                    data.extend(std::iter::repeat_n(b'5', post));
                    let got = parse_digits(&data, pre, pre + v.len());
                    assert_eq!(got, parse_u64(v), "{:?} at {pre}/{post}", v);
                }
            }
        }
        assert_eq!(parse_digits(b"", 0, 0), None);
    }
}
