//! The end of a backfill, streamed: every (window, summary) is taken out of state and merged
//! one hash part at a time, each part's rows handed to the sinks as a piece of the
//! window's emission. Neither a window's merged rows nor its output are ever held whole,
//! so the flush needs no more memory than ingest however dense the windows are, and the
//! sinks encode one part while the next ones merge.

use std::pin::Pin;

use arrow::record_batch::RecordBatch;
use flowlogd_bus::Emission;
use futures::{Stream, StreamExt};

use crate::aggregator::{emit_part, Aggregator, PARTS_AT_ONCE};
use crate::error::EngineError;
use crate::firstseen::PAIRS_SUMMARY;
use crate::summary::Summaries;
use crate::window::Part;

type Merged = Result<(Vec<RecordBatch>, Option<RecordBatch>), EngineError>;

/// One (window, summary) of a flush: its emission, produced a part at a time.
pub struct FlushJob {
    header: Emission,
    summaries: Summaries,
    idx: usize,
    parts: usize,
    given: usize,
    merged: Pin<Box<dyn Stream<Item = Merged> + Send>>,
}

impl FlushJob {
    /// The next piece (one part's rows, an empty batch for an empty part) and whether it is
    /// the last; `None` once every part was given.
    pub async fn next_piece(&mut self) -> Result<Option<(Emission, bool)>, EngineError> {
        let Some(merged) = self.merged.next().await else {
            return Ok(None);
        };
        self.given += 1;
        let (_, rows) = merged?;
        let rows =
            rows.unwrap_or_else(|| RecordBatch::new_empty(self.summaries[self.idx].merge.schema()));
        let mut piece = self.header.clone();
        piece.batches = vec![rows];
        Ok(Some((piece, self.given >= self.parts)))
    }
}

impl Aggregator {
    /// The next (window, summary) of a backfill's final flush, taken out of state with its
    /// revision advanced, oldest window first; `None` when none is left. The hidden
    /// first-seen summary is left to [`Aggregator::tick`], which observes its rows.
    /// Rows given out must be reported with [`Aggregator::count_flushed`].
    pub fn take_flush_job(&mut self) -> Option<FlushJob> {
        let window_ms = self.cfg.window_ms();
        for (start, win) in self.windows.iter_mut() {
            for (idx, s) in self.summaries.iter().enumerate() {
                if s.name == PAIRS_SUMMARY {
                    continue;
                }
                let Some(st) = win.summaries.get_mut(&s.name) else {
                    continue;
                };
                if !st.dirty {
                    continue;
                }
                st.dirty = false;
                st.revision += 1;
                let parts: Vec<Part> = st.parts.iter_mut().map(std::mem::take).collect();
                let summaries = self.summaries.clone();
                let n = parts.len();
                let merged = futures::stream::iter(parts)
                    .map(move |part| {
                        let job = tokio::spawn(emit_part(summaries.clone(), idx, part, false));
                        async move { job.await.map_err(|e| EngineError::Task(e.to_string()))? }
                    })
                    .buffered(PARTS_AT_ONCE);
                return Some(FlushJob {
                    header: Emission {
                        summary: s.name.clone(),
                        window_start_ms: *start,
                        window_end_ms: start + window_ms,
                        revision: st.revision,
                        provisional: false,
                        batches: Vec::new(),
                        keys: s.keys.clone(),
                    },
                    summaries: self.summaries.clone(),
                    idx,
                    parts: n,
                    given: 0,
                    merged: Box::pin(merged),
                });
            }
        }
        None
    }

    /// Counts rows a [`FlushJob`] gave out as summarized.
    pub fn count_flushed(&mut self, rows: u64) {
        self.accounting.summary_rows += rows;
    }
}
