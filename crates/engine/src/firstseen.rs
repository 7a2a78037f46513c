//! First-seen detection: alerts on (src_addr, dst_addr, dst_port, protocol) pairs never seen
//! before, after a learning period.
//!
//! It rides on the hidden summary [`PAIRS_SUMMARY`] (two-phase and deduplicated like any
//! summary, but written to no summary sink). When a window of it closes (every revision),
//! its rows are compared with a [`FirstSeen`] store of known pairs: a pair not in the store
//! is new, and alerted once the learning period (counted in event time from the first
//! window seen) is over. The store is checkpointed with window state and bounded by a TTL
//! (pairs not seen for that long are forgotten) and a count (least recently seen first).

use std::collections::HashMap;
use std::time::Duration;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{TimestampMillisecondType, UInt16Type, UInt8Type};
use arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};

use crate::config::{MetricConfig, MetricFn, SummaryConfig};
use crate::error::ConfigIssue;

/// Name of the hidden summary first-seen detection reads.
pub const PAIRS_SUMMARY: &str = "__pairs";

/// `[engine.detection.first_seen]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FirstSeenConfig {
    pub enabled: bool,
    /// Event time, from the first window seen, during which pairs are learned silently.
    #[serde(with = "humantime_serde")]
    pub learning_period: Duration,
    /// Pairs kept at most; beyond, the least recently seen are forgotten.
    pub max_pairs: usize,
    /// Pairs not seen for this long (event time) are forgotten.
    #[serde(with = "humantime_serde")]
    pub ttl: Duration,
}

impl Default for FirstSeenConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            learning_period: Duration::from_secs(24 * 3600),
            max_pairs: 1_000_000,
            ttl: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

impl FirstSeenConfig {
    pub fn validate(&self, issues: &mut Vec<ConfigIssue>) {
        if self.enabled && self.max_pairs == 0 {
            issues.push(ConfigIssue::new(
                "engine.detection.first_seen.max_pairs",
                "must be >= 1",
                "use e.g. 1000000",
            ));
        }
        if self.enabled && self.ttl.is_zero() {
            issues.push(ConfigIssue::new(
                "engine.detection.first_seen.ttl",
                "must be > 0",
                "use e.g. \"30d\"",
            ));
        }
    }

    /// The hidden summary the detection reads.
    pub fn summary() -> SummaryConfig {
        let m = |name: &str, func, column: &str| MetricConfig {
            name: name.into(),
            func,
            column: Some(column.into()),
        };
        SummaryConfig {
            name: PAIRS_SUMMARY.into(),
            group_by: ["src_addr", "dst_addr", "dst_port", "protocol"]
                .map(String::from)
                .to_vec(),
            metrics: vec![
                m("first_seen", MetricFn::Min, "start"),
                m("last_seen", MetricFn::Max, "end"),
            ],
            filter: Some("log_status = 'OK'".into()),
            having: None,
        }
    }
}

/// A (src_addr, dst_addr, dst_port, protocol) pair.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Pair {
    pub src_addr: Option<String>,
    pub dst_addr: Option<String>,
    pub dst_port: Option<u16>,
    pub protocol: Option<u8>,
}

/// One alert: a pair seen for the first time, in the window that first had it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirstSeenAlert {
    pub src_addr: Option<String>,
    pub dst_addr: Option<String>,
    pub dst_port: Option<u16>,
    pub protocol: Option<u8>,
    /// RFC 3339 UTC.
    pub window_start: String,
    pub window_end: String,
    /// The pair's earliest record start in the window (RFC 3339 UTC), if known.
    pub first_seen: Option<String>,
}

/// Known pairs: what is checkpointed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirstSeenState {
    /// Start of the first window seen: the learning period runs from here.
    pub learning_start_ms: Option<i64>,
    /// End of the newest window seen: TTLs are relative to it.
    pub newest_ms: Option<i64>,
    /// Pair → (first seen, last seen), event time in ms.
    pub pairs: Vec<(Pair, i64, i64)>,
}

/// The store of known pairs.
#[derive(Debug, Clone)]
pub struct FirstSeen {
    cfg: FirstSeenConfig,
    learning_start_ms: Option<i64>,
    newest_ms: Option<i64>,
    pairs: HashMap<Pair, (i64, i64)>,
}

impl FirstSeen {
    pub fn new(cfg: FirstSeenConfig) -> Self {
        Self {
            cfg,
            learning_start_ms: None,
            newest_ms: None,
            pairs: HashMap::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    pub fn contains(&self, p: &Pair) -> bool {
        self.pairs.contains_key(p)
    }

    pub fn state(&self) -> FirstSeenState {
        let mut pairs: Vec<_> = self
            .pairs
            .iter()
            .map(|(p, &(f, l))| (p.clone(), f, l))
            .collect();
        pairs.sort();
        FirstSeenState {
            learning_start_ms: self.learning_start_ms,
            newest_ms: self.newest_ms,
            pairs,
        }
    }

    pub fn restore(&mut self, s: FirstSeenState) {
        self.learning_start_ms = s.learning_start_ms;
        self.newest_ms = s.newest_ms;
        self.pairs = s.pairs.into_iter().map(|(p, f, l)| (p, (f, l))).collect();
    }

    /// Reads the rows of a closed window (revision) of [`PAIRS_SUMMARY`].
    pub fn observe_batch(
        &mut self,
        window_start_ms: i64,
        window_end_ms: i64,
        batch: &RecordBatch,
    ) -> Vec<FirstSeenAlert> {
        let rows = pairs_of(batch, window_start_ms, window_end_ms);
        self.observe(window_start_ms, window_end_ms, rows)
    }

    /// Compares `rows` (pair, first seen, last seen) of one closed window with the store:
    /// unknown pairs are alerted once the learning period is over; every pair is recorded.
    pub fn observe(
        &mut self,
        window_start_ms: i64,
        window_end_ms: i64,
        rows: Vec<(Pair, i64, i64)>,
    ) -> Vec<FirstSeenAlert> {
        let learning_start = *self.learning_start_ms.get_or_insert(window_start_ms);
        let learning_ms = self.cfg.learning_period.as_millis() as i64;
        let learning = window_start_ms < learning_start.saturating_add(learning_ms);
        let mut alerts = Vec::new();
        for (pair, first, last) in rows {
            match self.pairs.get_mut(&pair) {
                Some(e) => {
                    e.0 = e.0.min(first);
                    e.1 = e.1.max(last);
                }
                None => {
                    if !learning {
                        alerts.push(FirstSeenAlert {
                            src_addr: pair.src_addr.clone(),
                            dst_addr: pair.dst_addr.clone(),
                            dst_port: pair.dst_port,
                            protocol: pair.protocol,
                            window_start: fmt_ms(window_start_ms),
                            window_end: fmt_ms(window_end_ms),
                            first_seen: Some(fmt_ms(first)),
                        });
                    }
                    self.pairs.insert(pair, (first, last));
                }
            }
        }
        let newest = self
            .newest_ms
            .map_or(window_end_ms, |n| n.max(window_end_ms));
        self.newest_ms = Some(newest);
        self.evict(newest);
        alerts
    }

    /// Forgets pairs not seen for `ttl` before `newest`, then the least recently seen ones
    /// beyond `max_pairs`.
    fn evict(&mut self, newest: i64) {
        let cutoff = newest.saturating_sub(self.cfg.ttl.as_millis() as i64);
        self.pairs.retain(|_, &mut (_, last)| last >= cutoff);
        let max = self.cfg.max_pairs.max(1);
        if self.pairs.len() > max {
            let mut by_age: Vec<(i64, Pair)> = self
                .pairs
                .iter()
                .map(|(p, &(_, l))| (l, p.clone()))
                .collect();
            by_age.sort();
            let excess = self.pairs.len() - max;
            for (_, p) in by_age.into_iter().take(excess) {
                self.pairs.remove(&p);
            }
        }
    }
}

/// The (pair, first seen, last seen) rows of a [`PAIRS_SUMMARY`] batch; missing times
/// default to the window's bounds.
fn pairs_of(batch: &RecordBatch, start_ms: i64, end_ms: i64) -> Vec<(Pair, i64, i64)> {
    let str_col = |name: &str| -> Vec<Option<String>> {
        let Some(c) = batch.column_by_name(name) else {
            return vec![None; batch.num_rows()];
        };
        match arrow::compute::cast(c, &arrow::datatypes::DataType::Utf8) {
            Ok(a) => {
                let a = a.as_string::<i32>();
                (0..a.len())
                    .map(|i| a.is_valid(i).then(|| a.value(i).to_owned()))
                    .collect()
            }
            Err(_) => vec![None; batch.num_rows()],
        }
    };
    let src = str_col("src_addr");
    let dst = str_col("dst_addr");
    let port = batch
        .column_by_name("dst_port")
        .and_then(|c| c.as_primitive_opt::<UInt16Type>());
    let proto = batch
        .column_by_name("protocol")
        .and_then(|c| c.as_primitive_opt::<UInt8Type>());
    let ts = |name: &str| {
        batch
            .column_by_name(name)
            .and_then(|c| c.as_primitive_opt::<TimestampMillisecondType>())
    };
    let (first, last) = (ts("first_seen"), ts("last_seen"));
    let at =
        |a: Option<&arrow::array::PrimitiveArray<TimestampMillisecondType>>,
         i: usize,
         default: i64| { a.filter(|a| a.is_valid(i)).map_or(default, |a| a.value(i)) };
    (0..batch.num_rows())
        .map(|i| {
            let pair = Pair {
                src_addr: src[i].clone(),
                dst_addr: dst[i].clone(),
                dst_port: port.filter(|a| a.is_valid(i)).map(|a| a.value(i)),
                protocol: proto.filter(|a| a.is_valid(i)).map(|a| a.value(i)),
            };
            (pair, at(first, i, start_ms), at(last, i, end_ms))
        })
        .collect()
}

fn fmt_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_else(|| ms.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    fn cfg(learning_h: u64, max_pairs: usize, ttl_h: u64) -> FirstSeenConfig {
        FirstSeenConfig {
            enabled: true,
            learning_period: Duration::from_secs(learning_h * 3600),
            max_pairs,
            ttl: Duration::from_secs(ttl_h * 3600),
        }
    }

    fn p(src: &str, port: u16) -> Pair {
        Pair {
            src_addr: Some(src.into()),
            dst_addr: Some("10.0.0.1".into()),
            dst_port: Some(port),
            protocol: Some(6),
        }
    }

    fn rows(w: i64, pairs: &[Pair]) -> Vec<(Pair, i64, i64)> {
        pairs
            .iter()
            .map(|x| (x.clone(), w + 1000, w + 2000))
            .collect()
    }

    #[test]
    fn learning_period_suppresses_alerts() {
        let mut fs = FirstSeen::new(cfg(2, 100, 1000));
        assert!(fs.observe(0, H, rows(0, &[p("a", 1)])).is_empty());
        assert!(fs.observe(H, 2 * H, rows(H, &[p("b", 1)])).is_empty());
        assert_eq!(fs.len(), 2);
        // Learning is over at 2h: a new pair alerts, known ones do not.
        let a = fs.observe(2 * H, 3 * H, rows(2 * H, &[p("a", 1), p("c", 1)]));
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].src_addr.as_deref(), Some("c"));
        assert_eq!(a[0].window_start, "1970-01-01T02:00:00.000Z");
        assert_eq!(a[0].window_end, "1970-01-01T03:00:00.000Z");
        assert_eq!(a[0].first_seen.as_deref(), Some("1970-01-01T02:00:01.000Z"));
    }

    #[test]
    fn new_pair_alerts_once_and_revision_does_not_realert() {
        let mut fs = FirstSeen::new(cfg(0, 100, 1000));
        // Zero learning: the first window alerts already.
        assert_eq!(fs.observe(0, H, rows(0, &[p("a", 1)])).len(), 1);
        // A revision of the same window with a late new pair alerts only that pair.
        let a = fs.observe(0, H, rows(0, &[p("a", 1), p("b", 2)]));
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].dst_port, Some(2));
        // The same pairs later: nothing.
        assert!(fs
            .observe(H, 2 * H, rows(H, &[p("a", 1), p("b", 2)]))
            .is_empty());
    }

    #[test]
    fn ttl_and_count_evict() {
        let mut fs = FirstSeen::new(cfg(0, 2, 2));
        fs.observe(0, H, rows(0, &[p("a", 1)]));
        fs.observe(H, 2 * H, rows(H, &[p("b", 1)]));
        assert_eq!(fs.len(), 2);
        // Count: a third pair evicts the least recently seen ("a").
        fs.observe(2 * H, 3 * H, rows(2 * H, &[p("c", 1)]));
        assert_eq!(fs.len(), 2);
        assert!(!fs.contains(&p("a", 1)));
        assert!(fs.contains(&p("b", 1)) && fs.contains(&p("c", 1)));
        // "a" is new again, so it alerts again.
        assert_eq!(fs.observe(3 * H, 4 * H, rows(3 * H, &[p("a", 1)])).len(), 1);
        // TTL: after 2h without "c" and "a", both are gone.
        fs.observe(6 * H, 7 * H, rows(6 * H, &[p("d", 1)]));
        assert!(!fs.contains(&p("c", 1)));
        assert!(!fs.contains(&p("a", 1)));
        assert!(fs.contains(&p("d", 1)));
    }

    #[test]
    fn state_round_trips_through_json() {
        let mut fs = FirstSeen::new(cfg(1, 100, 1000));
        fs.observe(0, H, rows(0, &[p("a", 1), p("b", 2)]));
        let json = serde_json::to_string(&fs.state()).unwrap();
        let mut back = FirstSeen::new(cfg(1, 100, 1000));
        back.restore(serde_json::from_str(&json).unwrap());
        assert_eq!(back.state(), fs.state());
        // Learning start survives: a new pair after 1h alerts, known ones do not.
        let a = back.observe(H, 2 * H, rows(H, &[p("a", 1), p("c", 3)]));
        assert_eq!(a.len(), 1);
    }
}
