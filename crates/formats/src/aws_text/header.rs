//! Header lines and layouts: which column each position of an AWS text line feeds.
//!
//! Only the header (or the configured format) decides the layout — never the `version`
//! value, which is the highest field version and often wrong in test data.

use super::field::Slot;
use super::line::V2_SLOTS;
use crate::schema::aws_field;

/// The column mapping of one field list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Field names as written.
    pub names: Vec<String>,
    /// Per position: the known field, or `None` for names flowlogd drops.
    pub slots: Vec<Option<Slot>>,
    /// How many names were unknown.
    pub unknown: u64,
    /// Exactly the default (version 2) format, which has a fast path.
    pub v2: bool,
}

impl Layout {
    /// Builds a layout from names (`-` or `_` spelling, `${…}` accepted).
    pub fn new<S: AsRef<str>>(names: &[S]) -> Layout {
        let names: Vec<String> = names.iter().map(|s| s.as_ref().to_owned()).collect();
        let slots: Vec<Option<Slot>> = names
            .iter()
            .map(|n| aws_field(n).map(Slot::for_col))
            .collect();
        let unknown = slots.iter().filter(|s| s.is_none()).count() as u64;
        let v2 = slots.len() == V2_SLOTS.len()
            && slots.iter().zip(&V2_SLOTS).all(|(a, b)| *a == Some(*b));
        Layout {
            names,
            slots,
            unknown,
            v2,
        }
    }
}

/// Splits a configured format (`${a} ${b}` or `a b`, commas tolerated) into field names.
pub fn split_format(format: &str) -> Vec<String> {
    format
        .split(|c: char| c.is_ascii_whitespace() || c == ',')
        .map(|t| t.trim().trim_start_matches("${").trim_end_matches('}'))
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

fn is_name_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'$' | b'{' | b'}')
}

/// Returns the field names if `line` (no line terminator) is a header line: every token is a
/// plausible field name, the first one is a known field, and at least half are known.
/// Data lines never qualify: their first value is never a field name.
pub fn parse_header(line: &[u8]) -> Option<Vec<String>> {
    let first = *line.first()?;
    if !first.is_ascii_alphabetic() && first != b'$' {
        return None;
    }
    let mut names = Vec::new();
    let mut known = 0usize;
    for tok in line
        .split(|&c| c == b' ' || c == b'\t')
        .filter(|t| !t.is_empty())
    {
        if !tok.iter().all(|&c| is_name_byte(c)) {
            return None;
        }
        // Only ASCII here, checked above.
        let s = String::from_utf8_lossy(tok).into_owned();
        let is_known = aws_field(&s).is_some();
        if names.is_empty() && !is_known {
            return None;
        }
        known += usize::from(is_known);
        names.push(s);
    }
    (known * 2 >= names.len()).then_some(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_and_data() {
        assert!(parse_header(b"version account-id interface-id").is_some());
        assert!(parse_header(b"account_id action az_id").is_some());
        assert!(parse_header(b"2 123 eni-1 - - NODATA").is_none());
        assert!(parse_header(b"bogus line").is_none());
        assert!(parse_header(b"Phony unsupported log format.").is_none());
        assert!(parse_header(b"TransitGateway 123 tgw-1").is_none());
        assert!(parse_header(b"ACCEPT OK").is_none());
        assert!(parse_header(b"").is_none());
        let h = parse_header(b"srcaddr  dstaddr foo-bar").unwrap();
        assert_eq!(h, vec!["srcaddr", "dstaddr", "foo-bar"]);
        assert_eq!(Layout::new(&h).unknown, 1);
    }

    #[test]
    fn format_strings() {
        assert_eq!(
            split_format("${version} ${srcaddr}"),
            vec!["version", "srcaddr"]
        );
        assert_eq!(split_format(" a,b  c "), vec!["a", "b", "c"]);
    }
}
