//! What the ledger remembers of a blob, and how a listing is compared with it.

use azure_core::http::Etag;

/// One listed blob.
#[derive(Debug, Clone)]
pub(super) struct Listed {
    pub name: String,
    pub object: String,
    pub size: u64,
    pub etag: Option<Etag>,
    /// Creation time (ns): a blob deleted and written again gets a new one.
    pub created_ns: i128,
}

impl Listed {
    pub fn version(&self) -> String {
        format!(
            "{}|{}",
            self.created_ns,
            self.etag.as_ref().map(|e| e.as_ref()).unwrap_or("")
        )
    }
}

pub(super) fn created_of(version: &str) -> Option<i128> {
    version
        .split_once('|')
        .and_then(|(c, _)| c.parse().ok())
        .filter(|c| *c != 0)
}

/// Bytes before the consumed offset kept in the ledger: on the next read they must still be
/// there, or the blob was replaced (a `}` alone would also match inside a record).
pub(super) const TAIL_CHECK: usize = 32;

/// What the ledger's `version` holds: creation time, ETag, and the hex of the bytes just
/// before the consumed offset.
pub(super) fn ledger_version(listed: &str, tail: &[u8]) -> String {
    let hex: String = tail.iter().map(|b| format!("{b:02x}")).collect();
    format!("{listed}|{hex}")
}

/// (listed version, tail bytes) of a ledger version.
pub(super) fn split_version(v: &str) -> (&str, Vec<u8>) {
    let Some((listed, hex)) = v.rsplit_once('|').filter(|(l, _)| l.contains('|')) else {
        return (v, Vec::new());
    };
    let tail = (0..hex.len() / 2)
        .filter_map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
        .collect();
    (listed, tail)
}
