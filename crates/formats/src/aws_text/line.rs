//! One AWS text line → one row (or one dead letter).
//!
//! Hot path: fields are split on ASCII spaces into a reused span list, the count is checked
//! against the layout before anything is written, then each value is converted from bytes.

use super::field::{set_raw, BadValue, Status};
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
    // ASCII fast path; non-ASCII fields (a Cyrillic letter in a subnet id) are fine as long
    // as the line is valid UTF-8.
    if !line.is_ascii() && std::str::from_utf8(line).is_err() {
        return Err(LineError::NotUtf8);
    }
    split_fields(line, spans);
    if spans.len() != layout.slots.len() {
        return Err(LineError::FieldCount {
            expected: layout.slots.len(),
            found: spans.len(),
        });
    }
    let mut status = Status::Other;
    for (slot, &(s, e)) in layout.slots.iter().zip(spans.iter()) {
        if let Some(slot) = slot {
            if let Err(err) = set_raw(b, *slot, &line[s..e], &mut status) {
                b.discard_row();
                return Err(LineError::Bad(err));
            }
        }
    }
    b.end_row();
    Ok(status)
}
