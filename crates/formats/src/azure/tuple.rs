//! Azure flow tuples (comma-separated strings) → rows.

use crate::aws_text::field::parse_u64;
use crate::schema::Col;
use crate::FlowBatchBuilder;

/// Tuple flavour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TupleKind {
    NsgV1,
    NsgV2,
    Vnet,
}

impl TupleKind {
    pub fn format_name(self) -> &'static str {
        match self {
            TupleKind::NsgV1 => "azure-nsg-v1",
            TupleKind::NsgV2 => "azure-nsg-v2",
            TupleKind::Vnet => "azure-vnet",
        }
    }

    fn fields(self) -> usize {
        match self {
            TupleKind::NsgV1 => 8,
            TupleKind::NsgV2 | TupleKind::Vnet => 13,
        }
    }
}

/// 1990-01-01 and 2100-01-01 in ms.
const MIN_MS: i64 = 631_152_000_000;
const MAX_MS: i64 = 4_102_444_800_000;

/// Tuple time to ms. NSG writes seconds, VNet milliseconds, but a documented VNet example
/// uses seconds: a value below 10^11 can only be seconds (10^11 ms is 1973).
fn time_ms(v: &str) -> Result<i64, String> {
    let n = parse_u64(v.as_bytes()).ok_or_else(|| format!("bad time {v:?}"))?;
    let ms = if n < 100_000_000_000 {
        n.saturating_mul(1000)
    } else {
        n
    };
    let ms = i64::try_from(ms).map_err(|_| format!("time out of range {v:?}"))?;
    if !(MIN_MS..MAX_MS).contains(&ms) {
        return Err(format!("time out of range 1990..2100: {v:?}"));
    }
    Ok(ms)
}

fn addr(v: &str, what: &str) -> Result<(), String> {
    let ok = !v.is_empty()
        && v.len() <= 45
        && v.bytes()
            .all(|c| c.is_ascii_hexdigit() || c == b':' || c == b'.');
    if ok {
        Ok(())
    } else {
        Err(format!("bad {what} address {v:?}"))
    }
}

fn port(v: &str, what: &str) -> Result<Option<u16>, String> {
    if v.is_empty() {
        return Ok(None);
    }
    parse_u64(v.as_bytes())
        .and_then(|n| u16::try_from(n).ok())
        .map(Some)
        .ok_or_else(|| format!("bad {what} port {v:?}"))
}

fn counter(v: &str, what: &str) -> Result<Option<u64>, String> {
    if v.is_empty() {
        return Ok(None);
    }
    parse_u64(v.as_bytes())
        .map(Some)
        .ok_or_else(|| format!("bad counter {what} {v:?}"))
}

/// Parses one tuple into the current row (not ended). On `Err` the caller discards the row.
pub fn set_tuple(b: &mut FlowBatchBuilder, kind: TupleKind, tuple: &str) -> Result<(), String> {
    let f: Vec<&str> = tuple.split(',').map(str::trim).collect();
    if f.len() != kind.fields() {
        return Err(format!(
            "{}: expected {} tuple fields, found {}",
            kind.format_name(),
            kind.fields(),
            f.len()
        ));
    }
    let ms = time_ms(f[0])?;
    b.set_ts_ms(Col::Start, ms);
    b.set_ts_ms(Col::End, ms);
    addr(f[1], "source")?;
    addr(f[2], "destination")?;
    b.set_str(Col::SrcAddr, f[1]);
    b.set_str(Col::DstAddr, f[2]);
    if let Some(p) = port(f[3], "source")? {
        b.set_u16(Col::SrcPort, p);
    }
    if let Some(p) = port(f[4], "destination")? {
        b.set_u16(Col::DstPort, p);
    }
    match kind {
        TupleKind::NsgV1 | TupleKind::NsgV2 => {
            // NSG logs only distinguish TCP and UDP; anything else stays null.
            match f[5] {
                "T" | "t" => b.set_u8(Col::Protocol, 6),
                "U" | "u" => b.set_u8(Col::Protocol, 17),
                _ => {}
            }
        }
        TupleKind::Vnet => {
            let p = parse_u64(f[5].as_bytes())
                .and_then(|n| u8::try_from(n).ok())
                .ok_or_else(|| format!("bad protocol {:?}", f[5]))?;
            b.set_u8(Col::Protocol, p);
        }
    }
    let dir = match f[6] {
        "I" => "ingress",
        "O" => "egress",
        d => return Err(format!("bad direction {d:?}")),
    };
    b.set_str(Col::Direction, dir);
    b.set_str(Col::FlowDirection, f[6]);
    let counters_at = match kind {
        TupleKind::NsgV1 | TupleKind::NsgV2 => {
            let action = match f[7] {
                "A" => "ACCEPT",
                "D" => "REJECT",
                d => return Err(format!("bad decision {d:?}")),
            };
            b.set_str(Col::Action, action);
            if kind == TupleKind::NsgV1 {
                None
            } else {
                match f[8] {
                    s @ ("B" | "C" | "E" | "D") => b.set_str(Col::FlowState, s),
                    s => return Err(format!("bad flow state {s:?}")),
                }
                Some(9)
            }
        }
        TupleKind::Vnet => {
            let action = match f[7] {
                "D" => "REJECT",
                "B" | "C" | "E" => "ACCEPT",
                s => return Err(format!("bad flow state {s:?}")),
            };
            b.set_str(Col::FlowState, f[7]);
            b.set_str(Col::Action, action);
            if !f[8].is_empty() {
                b.set_str(Col::Encryption, f[8]);
            }
            Some(9)
        }
    };
    if let Some(i) = counters_at {
        let cols = [Col::Packets, Col::Bytes, Col::PacketsRev, Col::BytesRev];
        let names = [
            "pktsSrcToDst",
            "bytesSrcToDst",
            "pktsDstToSrc",
            "bytesDstToSrc",
        ];
        for k in 0..4 {
            if let Some(v) = counter(f[i + k], names[k])? {
                b.set_u64(cols[k], v);
            }
        }
    }
    b.set_str(Col::LogStatus, "OK");
    Ok(())
}
