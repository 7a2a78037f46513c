//! Per-object (and per-chunk) record accounting.

use serde::{Deserialize, Serialize};

/// Counts that make record accounting checkable: `records` rows reached the batch,
/// `rejected` went to the dead-letter output; NODATA/SKIPDATA rows are among `records`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectStats {
    pub lines_read: u64,
    pub records: u64,
    pub nodata: u64,
    pub skipdata: u64,
    pub rejected: u64,
    /// Header fields flowlogd does not know (dropped, the rest of the line parsed).
    pub unknown_fields: u64,
}

impl ObjectStats {
    pub fn add(&mut self, o: &ObjectStats) {
        self.lines_read += o.lines_read;
        self.records += o.records;
        self.nodata += o.nodata;
        self.skipdata += o.skipdata;
        self.rejected += o.rejected;
        self.unknown_fields += o.unknown_fields;
    }
}
