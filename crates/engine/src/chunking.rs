//! Which chunk size each source cut its objects with, kept in checkpoints.
//!
//! Chunk ids are the offsets where chunks start, so an object that was applied in part
//! before a restart must be cut the same way after it, or the records of its chunks that
//! were already applied would be counted again under other ids.

use crate::aggregator::Aggregator;

impl Aggregator {
    /// The chunk size `source` cut objects with when this state was checkpointed.
    pub fn chunk_bytes(&self, source: &str) -> Option<u64> {
        self.chunk_bytes.get(source).copied()
    }

    /// Records the chunk size `source` cuts objects with from now on (checkpointed).
    pub fn set_chunk_bytes(&mut self, source: &str, bytes: u64) {
        self.chunk_bytes.insert(source.to_owned(), bytes);
    }

    /// Whether some chunk of `source` was applied beyond what its ledger says is consumed:
    /// an object read only in part (its ledger entry comes after its last chunk), or the
    /// new end of a growing `PT1H.json`. Reading those again must cut them the same way.
    pub fn has_open_chunks(&self, source: &str) -> bool {
        let prefix = format!("{source}|");
        self.windows
            .values()
            .flat_map(|w| w.applied.iter())
            .filter(|id| id.starts_with(&prefix))
            .any(|id| {
                let Some((key, offset)) = id.rsplit_once('|') else {
                    return true;
                };
                match self.ledger.get(key) {
                    None => true,
                    // Only growing JSON objects are read in parts; their chunk offsets are
                    // raw offsets like `consumed`. Text chunks count decompressed bytes.
                    Some(e) => {
                        e.object.ends_with(".json")
                            && offset.parse::<u64>().map_or(true, |o| o >= e.consumed)
                    }
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use flowlogd_bus::LedgerEntry;

    use crate::window::Window;
    use crate::{Aggregator, Checkpointer, EngineConfig};

    fn entry(object: &str, consumed: u64) -> LedgerEntry {
        LedgerEntry {
            source: "local".into(),
            object: object.into(),
            size: consumed,
            version: "v1".into(),
            consumed,
            stats: Default::default(),
        }
    }

    fn with_applied(ids: &[&str], ledger: &[LedgerEntry]) -> Aggregator {
        let mut agg = Aggregator::new(EngineConfig::default(), Default::default());
        let mut w = Window::new(0);
        w.applied = ids.iter().map(|s| s.to_string()).collect();
        agg.windows.insert(0, w);
        for e in ledger {
            agg.ledger
                .insert(format!("{}|{}", e.source, e.object), e.clone());
        }
        agg
    }

    #[test]
    fn chunks_beyond_the_ledger_are_open() {
        let done = entry("a.log.gz", 900);
        // Every chunk of an object with a ledger entry was applied: the entry follows them.
        let agg = with_applied(
            &["local|a.log.gz|0", "local|a.log.gz|4194304"],
            std::slice::from_ref(&done),
        );
        assert!(!agg.has_open_chunks("local"));
        // No ledger entry yet: read in part.
        let agg = with_applied(
            &["local|a.log.gz|0", "local|b.log.gz|0"],
            std::slice::from_ref(&done),
        );
        assert!(agg.has_open_chunks("local"));
        assert!(!agg.has_open_chunks("other"));
        // A growing JSON object: open beyond what its entry says is consumed.
        let json = entry("y=2024/PT1H.json", 5000);
        let agg = with_applied(
            &["local|y=2024/PT1H.json|4000"],
            std::slice::from_ref(&json),
        );
        assert!(!agg.has_open_chunks("local"));
        let agg = with_applied(&["local|y=2024/PT1H.json|5000"], &[json]);
        assert!(agg.has_open_chunks("local"));
    }

    #[test]
    fn chunk_sizes_survive_a_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let mut agg = with_applied(&[], &[]);
        agg.set_chunk_bytes("local", 4 << 20);
        agg.set_chunk_bytes("s3", 1 << 20);
        Checkpointer::new(dir.path()).save(&agg).unwrap();
        let mut restored = with_applied(&[], &[]);
        assert!(Checkpointer::new(dir.path())
            .restore(&mut restored)
            .unwrap());
        assert_eq!(restored.chunk_bytes("local"), Some(4 << 20));
        assert_eq!(restored.chunk_bytes("s3"), Some(1 << 20));
        assert_eq!(restored.chunk_bytes("other"), None);
    }
}
