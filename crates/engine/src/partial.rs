//! Phase one: a chunk's parsed records → per-(summary, window) partial aggregates.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use arrow::array::make_comparator;
use arrow::array::{Array, ArrayRef, AsArray, Scalar, TimestampMillisecondArray};
use arrow::compute::filter_record_batch;
use arrow::compute::kernels::cmp::eq;
use arrow::compute::SortOptions;
use arrow::datatypes::TimestampMillisecondType;
use arrow::record_batch::RecordBatch;
use flowlogd_bus::{ChunkPartials, SummaryPartial};
use flowlogd_formats::{Col, ObjectStats, Parsed};

use crate::config::EngineConfig;
use std::sync::Arc;

use datafusion::common::ScalarValue;

use crate::derive::{count_windows, derive};
use crate::enrich::{Enricher, Used};
use crate::error::EngineError;
use crate::orientation::Orienter;
use crate::summary::{PreparedSummary, Summaries, PER_OBJECT_COLUMNS};

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
    /// Split partials by hash part (see [`SummaryPartial::part`]).
    split_parts: bool,
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
            split_parts: true,
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

    /// Leaves partials whole: for partials that go through Kafka, whose messages do not
    /// carry the part, so that splitting them would be wasted.
    pub fn without_part_split(mut self) -> Self {
        self.split_parts = false;
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
        let mut constants = HashMap::new();
        if !derived.is_empty() {
            for s in self.summaries.iter() {
                let out = phase_one(s, &derived, &mut constants).await?;
                for (window_start_ms, batch) in split_by_window(&out)? {
                    let partial = |part, batch| SummaryPartial {
                        summary: s.name.clone(),
                        window_start_ms,
                        batch,
                        part,
                    };
                    if !self.split_parts || s.keys.is_empty() {
                        partials.push(partial(None, batch));
                        continue;
                    }
                    // Split by hash part here, on all cores, rather than on the aggregator's
                    // one task; each part in buffers of its own, which it frees by itself.
                    let pieces = crate::partition::split(&batch, &s.keys)?;
                    for (i, piece) in (0u16..).zip(pieces) {
                        if piece.num_rows() > 0 {
                            partials.push(partial(Some(i), piece));
                        }
                    }
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

/// Runs phase one of `s` over a chunk's derived batches. Group keys with one value in the
/// whole chunk (an object's provider, account and region, columns its format lacks) are
/// left out of the GROUP BY and put back as constant columns, which spares hashing and
/// comparing them for every record.
async fn phase_one<'a>(
    s: &'a PreparedSummary,
    derived: &[RecordBatch],
    constants: &mut HashMap<&'a str, Option<ScalarValue>>,
) -> Result<Vec<RecordBatch>, EngineError> {
    let query = |source| EngineError::Query {
        summary: s.name.clone(),
        source,
    };
    let mut omitted = 0u64;
    let mut values = Vec::with_capacity(s.keys.len());
    for (i, key) in s.keys.iter().enumerate() {
        let value = match constants.get(key.as_str()) {
            Some(v) => v.clone(),
            None => {
                let v = (derived.first())
                    .and_then(|b| b.schema().index_of(key).ok())
                    .and_then(|idx| constant(derived, idx));
                constants.insert(key.as_str(), v.clone());
                v
            }
        };
        let value = value.filter(|_| i < 64);
        if value.is_some() {
            omitted |= 1 << i;
        }
        values.push(value);
    }
    let variant = match omitted {
        0 => None,
        _ => s.partial_without(omitted).await?,
    };
    let Some(variant) = variant else {
        return s.partial.run(derived.to_vec()).await.map_err(query);
    };
    let out = variant.run(derived.to_vec()).await.map_err(query)?;
    let schema = s.partial.schema();
    out.iter()
        .map(|b| {
            let n = b.num_rows();
            let mut given = b.columns().iter().cloned();
            let mut cols: Vec<ArrayRef> = given.next().into_iter().collect();
            for v in &values {
                let col = match v {
                    Some(v) => v.to_array_of_size(n).map_err(query)?,
                    None => given.next().ok_or_else(|| {
                        EngineError::Task("phase-one variant returned too few columns".into())
                    })?,
                };
                cols.push(col);
            }
            cols.extend(given);
            Ok(RecordBatch::try_new(schema.clone(), cols)?)
        })
        .collect()
}

/// The value of column `idx` if every row of `batches` has it (null included).
fn constant(batches: &[RecordBatch], idx: usize) -> Option<ScalarValue> {
    let value = batches.first()?.column(idx).slice(0, 1);
    let null = value.is_null(0);
    for b in batches {
        let col = b.column(idx);
        let same = if null {
            col.null_count() == col.len()
        } else {
            col.null_count() == 0
                && !differs_at_samples(&value, col)
                && eq(col, &Scalar::new(&value)).ok()?.true_count() == col.len()
        };
        if !same {
            return None;
        }
    }
    ScalarValue::try_from_array(&value, 0).ok()
}

/// Whether `col` differs from the one-row `value` at one of a few evenly spaced rows. Keys
/// that vary (addresses, ports) almost always do, which spares comparing every row of them.
fn differs_at_samples(value: &ArrayRef, col: &ArrayRef) -> bool {
    const SAMPLES: usize = 16;
    let Ok(cmp) = make_comparator(value.as_ref(), col.as_ref(), SortOptions::default()) else {
        return false;
    };
    let step = (col.len() / SAMPLES).max(1);
    (0..col.len())
        .step_by(step)
        .chain(col.len().checked_sub(1))
        .any(|i| cmp(0, i).is_ne())
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

    #[tokio::test]
    async fn keys_constant_in_a_chunk_are_left_out_of_phase_one_and_put_back() {
        use flowlogd_formats::FlowBatchBuilder;
        let summaries = prepare_all(&[SummaryConfig::traffic()]).await.unwrap();
        let mut b = FlowBatchBuilder::new();
        for i in 0..200u16 {
            b.set_str(Col::Provider, "aws");
            b.set_str(Col::AccountId, "111");
            b.set_str(Col::SrcAddr, &format!("10.0.0.{}", i % 7));
            b.set_str(Col::DstAddr, &format!("10.0.1.{}", i % 5));
            b.set_u16(Col::DstPort, i % 3);
            b.set_u8(Col::Protocol, 6);
            b.set_u64(Col::Packets, u64::from(i));
            b.set_u64(Col::Bytes, u64::from(i) * 100);
            // Two windows.
            let start = 1_714_521_600_000 + i64::from(i) * 30_000;
            b.set_ts_ms(Col::Start, start);
            b.set_ts_ms(Col::End, start + 60_000);
            b.set_str(Col::Action, if i % 4 == 0 { "REJECT" } else { "ACCEPT" });
            b.set_str(Col::LogStatus, "OK");
            b.end_row();
        }
        let batch = b.finish();
        let cfg = EngineConfig::default();
        let parsed = vec![Parsed {
            batch: batch.clone(),
            dead_letters: vec![],
            stats: ObjectStats::default(),
        }];
        let got = Partializer::new(summaries.clone(), &cfg)
            .run("c".into(), "o".into(), parsed)
            .await
            .unwrap();
        let s = &summaries[0];
        assert_eq!(
            s.partial_variant_count(),
            1,
            "no phase-one variant was used"
        );
        let d = derive(&batch, cfg.window_ms(), None, None).unwrap();
        let want = split_by_window(&s.partial.run(vec![d]).await.unwrap()).unwrap();
        let lines = |batches: Vec<RecordBatch>| {
            let t = arrow::util::pretty::pretty_format_batches(&batches).unwrap();
            let mut l: Vec<String> = t.to_string().lines().map(String::from).collect();
            l.sort();
            l
        };
        // Each window's rows come split by hash part: a partial per non-empty part, all of
        // whose rows belong to that part.
        let mut by_window: BTreeMap<i64, Vec<RecordBatch>> = BTreeMap::new();
        for p in got.partials {
            let part = usize::from(p.part.expect("split by part"));
            let again = crate::partition::split(&p.batch, &s.keys).unwrap();
            assert_eq!(again[part].num_rows(), p.batch.num_rows());
            assert_eq!(p.summary, s.name);
            by_window
                .entry(p.window_start_ms)
                .or_default()
                .push(p.batch);
        }
        assert_eq!(want.len(), 2);
        assert_eq!(by_window.len(), 2);
        for ((w, want), (got_w, got)) in want.into_iter().zip(by_window) {
            assert_eq!(w, got_w);
            assert!(got.len() > 1, "one window's rows in several parts");
            assert!(got.iter().all(|b| b.schema() == want.schema()));
            assert_eq!(lines(vec![want]), lines(got));
        }
    }

    #[test]
    fn a_key_is_constant_only_if_every_row_of_every_batch_has_its_value() {
        use arrow::array::StringArray;
        let batch = |values: Vec<Option<&str>>| {
            let col: ArrayRef = Arc::new(StringArray::from(values));
            RecordBatch::try_from_iter([("k", col)]).unwrap()
        };
        let same = batch(vec![Some("a"); 1000]);
        assert_eq!(
            constant(&[same.clone(), same.clone()], 0),
            Some(ScalarValue::Utf8(Some("a".into())))
        );
        // One odd row that no sample looks at: the full comparison must find it.
        let mut odd = vec![Some("a"); 1000];
        odd[3] = Some("b");
        assert_eq!(constant(&[same.clone(), batch(odd)], 0), None);
        let mut null = vec![Some("a"); 1000];
        null[3] = None;
        assert_eq!(constant(&[same.clone(), batch(null)], 0), None);
        let varying: Vec<String> = (0..1000).map(|i| format!("10.0.0.{i}")).collect();
        assert_eq!(
            constant(
                &[batch(varying.iter().map(|v| Some(v.as_str())).collect())],
                0
            ),
            None
        );
        assert_eq!(
            constant(&[batch(vec![None; 10]), batch(vec![None; 5])], 0),
            Some(ScalarValue::Utf8(None))
        );
    }
}
