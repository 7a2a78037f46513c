//! Small, allocation-free text helpers for the generator's hot paths: integer formatting into
//! a reused buffer, civil dates from Unix seconds, deterministic ids and hashes.
//!
//! The formats crate has no `itoa` dependency; a 20-byte stack buffer is just as fast for the
//! few integers per record the generator writes, and avoids `write!`'s formatting machinery.

use std::fmt::Write as _;

use rand::Rng;

/// Appends the decimal form of `n`.
#[inline]
pub(crate) fn push_u64(buf: &mut Vec<u8>, mut n: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&tmp[i..]);
}

/// Appends the decimal form of a signed `n`.
#[inline]
pub(crate) fn push_i64(buf: &mut Vec<u8>, n: i64) {
    if n < 0 {
        buf.push(b'-');
    }
    push_u64(buf, n.unsigned_abs());
}

/// Appends `n` zero-padded to `width` digits (used for dates and 7-digit fractions).
#[inline]
pub(crate) fn push_padded(buf: &mut Vec<u8>, n: u64, width: usize) {
    let mut tmp = [b'0'; 20];
    let mut i = tmp.len();
    let mut v = n;
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    let digits = tmp.len() - i;
    for _ in digits..width {
        buf.push(b'0');
    }
    buf.extend_from_slice(&tmp[i..]);
}

/// A UTC calendar time split into fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

/// Unix seconds to a UTC calendar time (Howard Hinnant's `civil_from_days`), so hot paths do
/// not go through chrono's formatter.
pub(crate) fn civil(secs: i64) -> Civil {
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    Civil {
        year,
        month,
        day,
        hour: (sod / 3600) as u32,
        minute: (sod % 3600 / 60) as u32,
        second: (sod % 60) as u32,
    }
}

/// Appends `YYYY-MM-DDTHH:MM:SS.fffffffZ` (Azure's 7-digit, 100 ns fraction).
pub(crate) fn push_azure_time(buf: &mut Vec<u8>, secs: i64, hundred_ns: u32) {
    let c = civil(secs);
    push_padded(buf, c.year.max(0) as u64, 4);
    buf.push(b'-');
    push_padded(buf, u64::from(c.month), 2);
    buf.push(b'-');
    push_padded(buf, u64::from(c.day), 2);
    buf.push(b'T');
    push_padded(buf, u64::from(c.hour), 2);
    buf.push(b':');
    push_padded(buf, u64::from(c.minute), 2);
    buf.push(b':');
    push_padded(buf, u64::from(c.second), 2);
    buf.push(b'.');
    push_padded(buf, u64::from(hundred_ns % 10_000_000), 7);
    buf.push(b'Z');
}

/// SplitMix64: a cheap, well-mixed hash used for deterministic file-name suffixes.
#[inline]
pub(crate) fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `n` random lower-case hex digits (AWS resource ids: `eni-` + 17 digits).
pub(crate) fn hex_digits<R: Rng>(rng: &mut R, n: usize) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    (0..n)
        .map(|_| HEX[rng.random_range(0..16usize)] as char)
        .collect()
}

/// A random GUID in the usual 8-4-4-4-12 form, lower case.
pub(crate) fn guid<R: Rng>(rng: &mut R) -> String {
    let a: u128 = rng.random();
    let h = format!("{a:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// `n` decimal digits, first one non-zero (AWS account ids).
pub(crate) fn decimal_digits<R: Rng>(rng: &mut R, n: usize) -> String {
    let mut s = String::with_capacity(n);
    let _ = write!(s, "{}", rng.random_range(1..10u8));
    for _ in 1..n {
        let _ = write!(s, "{}", rng.random_range(0..10u8));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_format_like_display() {
        for n in [0u64, 7, 10, 99, 12_345, u64::MAX] {
            let mut b = Vec::new();
            push_u64(&mut b, n);
            assert_eq!(String::from_utf8(b).unwrap(), n.to_string());
        }
        let mut b = Vec::new();
        push_i64(&mut b, -42);
        push_padded(&mut b, 5, 7);
        assert_eq!(String::from_utf8(b).unwrap(), "-420000005");
    }

    #[test]
    fn civil_matches_chrono() {
        for secs in [
            0i64,
            951_782_400,
            1_418_530_010,
            1_740_787_199,
            4_102_444_800,
        ] {
            let c = civil(secs);
            let d = chrono::DateTime::from_timestamp(secs, 0).unwrap();
            use chrono::{Datelike, Timelike};
            assert_eq!(
                (c.year, c.month, c.day, c.hour, c.minute, c.second),
                (
                    i64::from(d.year()),
                    d.month(),
                    d.day(),
                    d.hour(),
                    d.minute(),
                    d.second()
                )
            );
        }
        let mut b = Vec::new();
        push_azure_time(&mut b, 1_542_110_435, 3_899_262);
        assert_eq!(
            std::str::from_utf8(&b).unwrap(),
            "2018-11-13T12:00:35.3899262Z"
        );
    }
}
