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

#[inline]
fn is_addr(b: &[u8]) -> bool {
    !b.is_empty()
        && b.len() <= 45
        && b.iter()
            .all(|&c| c.is_ascii_hexdigit() || c == b':' || c == b'.')
}

/// Error for one value: names the field and the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadValue {
    pub col: Col,
    pub reason: String,
}

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
    if v == b"-" || v.is_empty() {
        return Ok(());
    }
    let col = slot.col;
    match slot.conv {
        Conv::Str => b.set_str(col, as_str(v)),
        Conv::Addr => {
            if !is_addr(v) {
                return Err(bad(col, v, "not an IP address"));
            }
            b.set_str(col, as_str(v));
        }
        Conv::U8 => {
            let n = parse_u64(v).ok_or_else(|| bad(col, v, "not a number"))?;
            let n = u8::try_from(n).map_err(|_| bad(col, v, "out of range 0..255"))?;
            b.set_u8(col, n);
        }
        Conv::U16 => {
            let n = parse_u64(v).ok_or_else(|| bad(col, v, "not a number"))?;
            let n = u16::try_from(n).map_err(|_| bad(col, v, "out of range 0..65535"))?;
            b.set_u16(col, n);
        }
        Conv::U64 => {
            let n = parse_u64(v).ok_or_else(|| bad(col, v, "not a number"))?;
            b.set_u64(col, n);
        }
        Conv::Secs => {
            let n = parse_u64(v).ok_or_else(|| bad(col, v, "not a number"))?;
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
            b.set_str(col, as_str(v));
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
/// field is UTF-8 too; the fallback keeps this free of `unsafe` and panics.
#[inline]
fn as_str(v: &[u8]) -> &str {
    std::str::from_utf8(v).unwrap_or("\u{fffd}")
}
