//! Whether phase one aggregates a chunk or passes its records through.
//!
//! Phase one pays a hash aggregation per chunk so that fewer rows reach window state. When a
//! summary's keys hardly repeat within a chunk (addresses and ports of many peers), that
//! aggregation costs about as much as the compaction it is meant to spare, and sends almost
//! as many rows: records then pass through as partials of one record each, and window-state
//! compaction does all the grouping. As DataFusion does when it skips partial aggregation,
//! the choice follows the rows in and out of the chunks aggregated so far, and every
//! [`REPROBE_EVERY`]th chunk is still aggregated so that a change in the input is noticed.
//! Results are the same either way: a partial of one record merges like any other.

use std::sync::Mutex;

/// Chunks aggregated before the ratio is trusted.
const PROBE_CHUNKS: u64 = 16;
/// While passing through, one chunk in this many is aggregated to measure again.
const REPROBE_EVERY: u64 = 16;
/// Rows the ratio is measured over: beyond, older counts are halved, so it follows the input.
const RATIO_ROWS: u64 = 1 << 20;

/// Rows in and out of one summary's phase-one aggregations, shared by every parse task.
#[derive(Debug, Default)]
pub struct ReductionProbe {
    state: Mutex<Counts>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    chunks: u64,
    rows_in: u64,
    rows_out: u64,
    passed: u64,
}

impl ReductionProbe {
    /// Whether the next chunk is aggregated: always while probing and every
    /// [`REPROBE_EVERY`]th chunk; otherwise when aggregation has kept fewer than
    /// `skip_ratio` of the rows it was given.
    pub fn aggregate_next(&self, skip_ratio: f64) -> bool {
        let Ok(mut c) = self.state.lock() else {
            return true;
        };
        let n = c.chunks;
        c.chunks += 1;
        if n < PROBE_CHUNKS || n % REPROBE_EVERY == 0 || c.rows_in == 0 {
            return true;
        }
        let aggregate = (c.rows_out as f64) < skip_ratio * c.rows_in as f64;
        c.passed += u64::from(!aggregate);
        aggregate
    }

    /// Chunks passed through unaggregated so far.
    pub fn passed_through(&self) -> u64 {
        self.state.lock().map_or(0, |c| c.passed)
    }

    /// Records an aggregated chunk: `rows_in` records gave `rows_out` partial rows.
    pub fn record(&self, rows_in: u64, rows_out: u64) {
        let Ok(mut c) = self.state.lock() else {
            return;
        };
        c.rows_in += rows_in;
        c.rows_out += rows_out;
        if c.rows_in > RATIO_ROWS {
            c.rows_in /= 2;
            c.rows_out /= 2;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decisions(probe: &ReductionProbe, ratio: f64, kept: f64, chunks: usize) -> Vec<bool> {
        (0..chunks)
            .map(|_| {
                let agg = probe.aggregate_next(ratio);
                if agg {
                    probe.record(10_000, (10_000.0 * kept) as u64);
                }
                agg
            })
            .collect()
    }

    #[test]
    fn chunks_that_reduce_well_stay_aggregated() {
        let p = ReductionProbe::default();
        assert!(decisions(&p, 0.8, 0.3, 100).iter().all(|a| *a));
    }

    #[test]
    fn chunks_that_hardly_reduce_pass_through_after_probing_with_reprobes() {
        let p = ReductionProbe::default();
        let d = decisions(&p, 0.8, 0.95, 64);
        assert!(d[..PROBE_CHUNKS as usize].iter().all(|a| *a));
        let later = &d[PROBE_CHUNKS as usize..];
        assert_eq!(later.iter().filter(|a| **a).count(), 3, "{d:?}");
        assert_eq!(p.passed_through(), later.len() as u64 - 3);
    }

    #[test]
    fn a_change_in_the_input_is_noticed() {
        let p = ReductionProbe::default();
        decisions(&p, 0.8, 0.95, 64);
        // Keys start to repeat: the reprobes pull the ratio down until chunks aggregate.
        let d = decisions(&p, 0.8, 0.1, 4096);
        assert!(d[d.len() - 64..].iter().all(|a| *a));
    }

    #[test]
    fn a_ratio_above_one_never_skips() {
        let p = ReductionProbe::default();
        assert!(decisions(&p, 1.01, 1.0, 100).iter().all(|a| *a));
    }
}
