//! Dead-letter records: what could not be parsed, where it was, and why.

use serde::{Deserialize, Serialize};

/// One rejected line, record or object. Written as one JSON line by the dead-letter sink.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// Object key, blob name or path.
    pub object: String,
    /// 1-based line number within the (decompressed) object, for line-oriented formats.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub line: Option<u64>,
    /// Byte offset within the (decompressed) object, where lines do not apply.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub offset: Option<u64>,
    /// Stable, short cause (`field_count`, `bad_value`, `corrupt_gzip`, `too_late`, ...).
    pub kind: String,
    /// Human-readable reason naming the field and value at fault.
    pub reason: String,
    /// The raw input, cut to the configured limit.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub raw: Option<String>,
}

impl DeadLetter {
    pub fn new(object: &str, kind: &str, reason: impl Into<String>) -> Self {
        Self {
            object: object.to_owned(),
            line: None,
            offset: None,
            kind: kind.to_owned(),
            reason: reason.into(),
            raw: None,
        }
    }

    pub fn at_line(mut self, line: u64) -> Self {
        self.line = Some(line);
        self
    }

    pub fn at_offset(mut self, offset: u64) -> Self {
        self.offset = Some(offset);
        self
    }

    /// Keeps at most `max` bytes of `raw`, cut on a character boundary, lossily decoded.
    pub fn with_raw(mut self, raw: &[u8], max: usize) -> Self {
        let mut cut = raw.len().min(max);
        let text = loop {
            match std::str::from_utf8(&raw[..cut]) {
                Ok(s) => break s.to_owned(),
                Err(e) if e.valid_up_to() > 0 && e.error_len().is_none() => {
                    cut = e.valid_up_to();
                }
                Err(_) => break String::from_utf8_lossy(&raw[..cut]).into_owned(),
            }
        };
        self.raw = Some(text);
        self
    }
}
