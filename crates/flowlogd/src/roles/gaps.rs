//! Detection of records a broker skipped while handing them out.
//!
//! flowlogd's topics are neither compacted nor written in transactions, so within a partition
//! the offsets a consumer receives are consecutive. A broker that makes one producer's batch
//! readable before another's that holds lower offsets (tansu 0.6.0 did, with several
//! processes producing to one `flowlogd.partials` partition) lets a fetch at offset N return
//! N+2 first, and the consumer moves on past N and N+1 for good; tansu 0.6.0 also answers a
//! fetch that starts inside a record batch with the next batch, so a consumer that starts at
//! a committed offset in the middle of a batch never sees the rest of it. Those records
//! would never be counted. A role therefore checks every record's offset against the one it
//! expects and, on a gap, seeks back and reads again — first at the missing offset, then ever
//! further back (1, 2, 4, … records, to reach the start of the batch), skipping what it
//! already has — until the missing records show up or, after [`GIVE_UP_AFTER`], accepts the
//! gap (records removed by retention) with an error.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use rdkafka::consumer::{Consumer, ConsumerContext, StreamConsumer};
use rdkafka::Offset;

/// How long a role keeps re-reading a gap before it accepts it.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(30);
/// Pause before each re-read, so the broker can finish writing the lower offsets.
const RETRY_PAUSE: Duration = Duration::from_millis(20);

/// Moves `consumer`'s position in `partition` back to `offset` (a [`Verdict::SeekTo`]),
/// after a short pause.
pub async fn seek_back<C: ConsumerContext>(
    consumer: &StreamConsumer<C>,
    topic: &str,
    partition: i32,
    offset: i64,
) -> anyhow::Result<()> {
    tokio::time::sleep(RETRY_PAUSE).await;
    consumer
        .seek(
            topic,
            partition,
            Offset::Offset(offset),
            Duration::from_secs(10),
        )
        .with_context(|| {
            format!("seeking partition {partition} of {topic} back to offset {offset}")
        })
}

/// What to do with a record.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Next in sequence (or nothing expected yet): process it.
    Take,
    /// Offsets before it are missing: seek back to this offset and read again.
    SeekTo(i64),
    /// Already delivered before a seek back: skip it.
    Skip,
}

/// Offsets expected next per partition, and gaps being re-read.
#[derive(Default)]
pub struct Gaps {
    next: HashMap<i32, i64>,
    /// Gaps being re-read: since when, and how often.
    open: HashMap<(i32, i64), (Instant, u32)>,
}

impl Gaps {
    /// Checks the record at `offset` of `partition`; on `Take` it becomes the last one read.
    pub fn check(&mut self, topic: &str, partition: i32, offset: i64) -> Verdict {
        let Some(&expected) = self.next.get(&partition) else {
            self.next.insert(partition, offset + 1);
            return Verdict::Take;
        };
        if offset < expected {
            return Verdict::Skip;
        }
        if offset > expected {
            let (since, attempts) = self
                .open
                .entry((partition, expected))
                .or_insert_with(|| (Instant::now(), 0));
            if since.elapsed() < GIVE_UP_AFTER {
                let back = if *attempts == 0 {
                    0
                } else {
                    1i64 << (*attempts - 1).min(20)
                };
                *attempts += 1;
                let from = (expected - back).max(0);
                tracing::debug!(
                    topic,
                    partition,
                    expected,
                    got = offset,
                    from,
                    "offsets skipped by the broker; reading again"
                );
                return Verdict::SeekTo(from);
            }
            tracing::error!(
                topic,
                partition,
                from = expected,
                to = offset - 1,
                "records missing from the partition (removed by retention?); going on without them"
            );
        }
        self.open.retain(|(p, _), _| *p != partition);
        self.next.insert(partition, offset + 1);
        Verdict::Take
    }

    /// Expects `offset` next in `partition` (after a restore or an explicit seek).
    pub fn expect(&mut self, partition: i32, offset: i64) {
        self.next.insert(partition, offset);
    }

    /// Whether an offset is expected in `partition`.
    pub fn knows(&self, partition: i32) -> bool {
        self.next.contains_key(&partition)
    }

    /// Forgets a partition (revoked, or its position is no longer known).
    pub fn forget(&mut self, partition: i32) {
        self.next.remove(&partition);
        self.open.retain(|(p, _), _| *p != partition);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gap_is_read_again_and_records_before_it_are_skipped() {
        let mut g = Gaps::default();
        assert_eq!(g.check("t", 0, 5), Verdict::Take);
        assert_eq!(g.check("t", 0, 6), Verdict::Take);
        assert_eq!(g.check("t", 0, 9), Verdict::SeekTo(7));
        // Still missing: read from further back each time, skipping what was read.
        assert_eq!(g.check("t", 0, 9), Verdict::SeekTo(6));
        assert_eq!(g.check("t", 0, 9), Verdict::SeekTo(5));
        assert_eq!(g.check("t", 0, 9), Verdict::SeekTo(3));
        assert_eq!(g.check("t", 0, 5), Verdict::Skip);
        assert_eq!(g.check("t", 0, 7), Verdict::Take);
        assert_eq!(g.check("t", 0, 7), Verdict::Skip);
        assert_eq!(g.check("t", 0, 8), Verdict::Take);
        assert_eq!(g.check("t", 0, 9), Verdict::Take);
        assert_eq!(g.check("t", 1, 100), Verdict::Take);
    }

    #[test]
    fn an_expected_offset_comes_from_a_restore() {
        let mut g = Gaps::default();
        g.expect(3, 40);
        assert_eq!(g.check("t", 3, 39), Verdict::Skip);
        assert_eq!(g.check("t", 3, 41), Verdict::SeekTo(40));
        assert!(g.knows(3));
        g.forget(3);
        assert!(!g.knows(3));
        assert_eq!(g.check("t", 3, 41), Verdict::Take);
    }
}
