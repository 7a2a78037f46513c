//! Phase one: a chunk's parsed records → per-(summary, window) partial aggregates.

use std::collections::{BTreeMap, BTreeSet};

use arrow::array::{AsArray, Scalar, TimestampMillisecondArray};
use arrow::compute::filter_record_batch;
use arrow::compute::kernels::cmp::eq;
use arrow::datatypes::TimestampMillisecondType;
use arrow::record_batch::RecordBatch;
use flowlogd_bus::{ChunkPartials, SummaryPartial};
use flowlogd_formats::{Col, ObjectStats, Parsed};

use crate::config::EngineConfig;
use std::sync::Arc;

use crate::derive::{count_windows, derive};
use crate::enrich::{Enricher, Used};
use crate::error::EngineError;
use crate::orientation::Orienter;
use crate::summary::{Summaries, PER_OBJECT_COLUMNS};

/// Computes partial aggregates for every configured summary.
#[derive(Debug, Clone)]
pub struct Partializer {
    summaries: Summaries,
    window_ms: i64,
    /// `None` when no summary uses the oriented columns (they are then left null).
    orienter: Option<Orienter>,
    /// Tables shared with whoever reloads them.
    enricher: Arc<Enricher>,
    /// Enrichment columns some summary reads; `None` when none does (all left null).
    enrich_used: Option<Used>,
}

impl Partializer {
    pub fn new(summaries: Summaries, cfg: &EngineConfig) -> Self {
        let orienter = summaries
            .iter()
            .any(|s| s.uses_orientation)
            .then(|| Orienter::new(&cfg.orientation));
        let mut used: Used = Default::default();
        for s in summaries.iter() {
            for (u, s) in used.iter_mut().zip(s.enrich_used) {
                *u |= s;
            }
        }
        Self {
            summaries,
            window_ms: cfg.window_ms(),
            orienter,
            enricher: Arc::new(Enricher::empty()),
            enrich_used: used.iter().any(|u| *u).then_some(used),
        }
    }

    /// Per-object columns no summary reads: parsers may leave them null
    /// ([`flowlogd_formats::ParseOptions::skip_columns`]).
    pub fn unread_columns(&self) -> Vec<Col> {
        PER_OBJECT_COLUMNS
            .iter()
            .copied()
            .filter(|c| {
                !self
                    .summaries
                    .iter()
                    .any(|s| s.reads_per_object.contains(c))
            })
            .collect()
    }

    /// Enriches records with these (reloadable) tables; without, only `traffic_class` is
    /// computed and every lookup column is null.
    pub fn with_enricher(mut self, enricher: Arc<Enricher>) -> Self {
        self.enricher = enricher;
        self
    }

    pub async fn run(
        &self,
        chunk_id: String,
        object: String,
        parsed: Vec<Parsed>,
    ) -> Result<ChunkPartials, EngineError> {
        let mut stats = ObjectStats::default();
        let mut dead_letters = Vec::new();
        let mut window_records = BTreeMap::new();
        let mut unwindowed = 0;
        let mut derived = Vec::with_capacity(parsed.len());
        // One generation of tables for the whole chunk, even if a reload happens meanwhile.
        let tables = self.enrich_used.map(|u| (self.enricher.tables(), u));
        for p in parsed {
            stats.add(&p.stats);
            dead_letters.extend(p.dead_letters);
            if p.batch.num_rows() == 0 {
                continue;
            }
            let d = derive(
                &p.batch,
                self.window_ms,
                self.orienter.as_ref(),
                tables.as_ref().map(|(t, u)| (t.as_ref(), u)),
            )?;
            unwindowed += count_windows(&d, &mut window_records);
            derived.push(d);
        }
        let mut partials = Vec::new();
        if !derived.is_empty() {
            for s in self.summaries.iter() {
                let out =
                    s.partial
                        .run(derived.clone())
                        .await
                        .map_err(|source| EngineError::Query {
                            summary: s.name.clone(),
                            source,
                        })?;
                for (window_start_ms, batch) in split_by_window(&out)? {
                    partials.push(SummaryPartial {
                        summary: s.name.clone(),
                        window_start_ms,
                        batch,
                    });
                }
            }
        }
        Ok(ChunkPartials {
            chunk_id,
            object,
            stats,
            dead_letters,
            window_records,
            unwindowed,
            partials,
        })
    }
}

/// Splits partial output (window column first) into one batch per window, without the
/// window column.
fn split_by_window(batches: &[RecordBatch]) -> Result<Vec<(i64, RecordBatch)>, EngineError> {
    let mut out = Vec::new();
    for b in batches.iter().filter(|b| b.num_rows() > 0) {
        let w = b.column(0).as_primitive::<TimestampMillisecondType>();
        let windows: BTreeSet<i64> = w.iter().flatten().collect();
        let rest = b.project(&(1..b.num_columns()).collect::<Vec<_>>())?;
        if windows.len() == 1 {
            if let Some(&ws) = windows.first() {
                out.push((ws, rest));
            }
            continue;
        }
        for ws in windows {
            let target = TimestampMillisecondArray::from(vec![ws]).with_timezone("UTC");
            let mask = eq(w, &Scalar::new(&target))?;
            out.push((ws, filter_record_batch(&rest, &mask)?));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SummaryConfig;
    use crate::summary::prepare_all;

    async fn unread(summaries: Vec<SummaryConfig>) -> Vec<Col> {
        let prepared = prepare_all(&summaries).await.unwrap();
        Partializer::new(prepared, &EngineConfig::default()).unread_columns()
    }

    #[tokio::test]
    async fn only_per_object_columns_no_summary_reads_are_skipped() {
        let mut traffic = SummaryConfig::traffic();
        let skipped = unread(vec![traffic.clone()]).await;
        assert_eq!(
            skipped,
            [
                Col::Format,
                Col::ObjectKey,
                Col::ResourceGroup,
                Col::ResourceId
            ]
        );
        // A filter naming a column unquoted and in capitals still reads it.
        traffic.filter = Some("Object_Key LIKE '%.gz'".into());
        let skipped = unread(vec![traffic, SummaryConfig::traffic()]).await;
        assert!(!skipped.contains(&Col::ObjectKey));
        assert!(skipped.contains(&Col::Format));
    }
}
