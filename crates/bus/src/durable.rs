//! Which ledger entries a checkpoint has made durable. A source that must not acknowledge
//! its input before then (an SQS notification is deleted only once its objects are in a
//! checkpoint) registers the entries it waits for; the stage that checkpoints the ledger
//! confirms them.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

use crate::LedgerEntry;

/// Shared between the sources and the checkpointing stage; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Durable(Arc<Mutex<State>>);

#[derive(Debug, Default)]
struct State {
    waiting: HashSet<String>,
    confirmed: HashSet<String>,
}

impl Durable {
    /// The ledger key of an object (`source|object`), as checkpoints key it.
    pub fn key(source: &str, object: &str) -> String {
        format!("{source}|{object}")
    }

    pub fn wait_for(&self, key: String) {
        if let Ok(mut s) = self.0.lock() {
            s.waiting.insert(key);
        }
    }

    /// Called after a checkpoint holding `ledger` is on disk: the entries waited for that
    /// it contains are durable.
    pub fn checkpointed(&self, ledger: &BTreeMap<String, LedgerEntry>) {
        let Ok(mut s) = self.0.lock() else {
            return;
        };
        let done: Vec<String> = s
            .waiting
            .iter()
            .filter(|k| ledger.contains_key(*k))
            .cloned()
            .collect();
        for k in done {
            s.waiting.remove(&k);
            s.confirmed.insert(k);
        }
    }

    /// The keys of `source` confirmed since the last call.
    pub fn take_confirmed(&self, source: &str) -> Vec<String> {
        let Ok(mut s) = self.0.lock() else {
            return Vec::new();
        };
        let prefix = format!("{source}|");
        let mine: Vec<String> = s
            .confirmed
            .iter()
            .filter(|k| k.starts_with(&prefix))
            .cloned()
            .collect();
        for k in &mine {
            s.confirmed.remove(k);
        }
        mine
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn only_checkpointed_entries_are_confirmed() {
        let d = Durable::default();
        d.wait_for(Durable::key("s3", "s3://b/a"));
        d.wait_for(Durable::key("s3", "s3://b/b"));
        let entry = LedgerEntry {
            source: "s3".into(),
            object: "s3://b/a".into(),
            size: 1,
            version: "e".into(),
            consumed: 1,
            stats: Default::default(),
        };
        let ledger = BTreeMap::from([(Durable::key("s3", "s3://b/a"), entry)]);
        assert!(d.take_confirmed("s3").is_empty());
        d.checkpointed(&ledger);
        assert!(d.take_confirmed("other").is_empty());
        assert_eq!(d.take_confirmed("s3"), vec!["s3|s3://b/a".to_owned()]);
        assert!(d.take_confirmed("s3").is_empty());
    }
}
