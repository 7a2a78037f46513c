//! The engine's streaming result equals the one-phase SQL definition of every built-in
//! summary, however records are cut into chunks, ordered, or replayed.

use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use flowlogd_bus::PartialMessage;
use flowlogd_engine::derive::{derive, derived_schema};
use flowlogd_engine::detect::{scan_sources, ScanConfig};
use flowlogd_engine::enrich::Tables;
use flowlogd_engine::orientation::Orienter;
use flowlogd_engine::summary::reference_sql;
use flowlogd_engine::{
    prepare_all, Aggregator, Checkpointer, EngineConfig, Mode, Partializer, SummaryConfig,
};
use flowlogd_formats::{Col, FlowBatchBuilder, ObjectStats, Parsed};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

const HOUR_MS: i64 = 3_600_000;

/// `n` random records; with `object_rows`, provider and account change only every that
/// many records, as within one object, so that phase one finds constant group keys.
fn records(n: usize, seed: u64, object_rows: Option<usize>) -> RecordBatch {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut b = FlowBatchBuilder::new();
    let (mut provider, mut account) = ("aws", "111");
    let hosts = [
        "10.0.0.1",
        "10.0.0.2",
        "10.0.1.9",
        "2001:db8::1",
        "203.0.113.7",
    ];
    for i in 0..n {
        if object_rows.is_none_or(|o| i % o == 0) {
            provider = if rng.random_bool(0.7) { "aws" } else { "azure" };
            account = ["111", "222"][rng.random_range(0..2)];
        }
        b.set_str(Col::Provider, provider);
        b.set_str(Col::AccountId, account);
        let (s, d) = (hosts[rng.random_range(0..5)], hosts[rng.random_range(0..5)]);
        b.set_str(Col::SrcAddr, s);
        b.set_str(Col::DstAddr, d);
        let service = [443u16, 22, 5432, 53][rng.random_range(0..4)];
        let eph = rng.random_range(32768..65535);
        if rng.random_bool(0.5) {
            b.set_u16(Col::SrcPort, eph);
            b.set_u16(Col::DstPort, service);
        } else {
            b.set_u16(Col::SrcPort, service);
            b.set_u16(Col::DstPort, eph);
        }
        b.set_u8(Col::Protocol, [6u8, 17, 1][rng.random_range(0..3)]);
        if rng.random_bool(0.3) {
            b.set_u16(Col::TcpFlags, [2u16, 18, 19, 3][rng.random_range(0..4)]);
        }
        b.set_u64(Col::Packets, rng.random_range(1..100));
        b.set_u64(Col::Bytes, rng.random_range(40..100_000));
        if rng.random_bool(0.3) {
            b.set_u64(Col::BytesRev, rng.random_range(40..100_000));
            b.set_str(Col::FlowState, ["B", "C", "E", "D"][rng.random_range(0..4)]);
        }
        let start = 1_714_521_600_000 + rng.random_range(0..3 * HOUR_MS);
        b.set_ts_ms(Col::Start, start);
        b.set_ts_ms(Col::End, start + rng.random_range(0..600_000));
        b.set_str(
            Col::Action,
            if rng.random_bool(0.8) {
                "ACCEPT"
            } else {
                "REJECT"
            },
        );
        b.set_str(
            Col::LogStatus,
            if rng.random_bool(0.95) {
                "OK"
            } else {
                "NODATA"
            },
        );
        b.end_row();
    }
    b.finish()
}

fn rows(batches: &[RecordBatch], skip: usize) -> Vec<String> {
    let opts = FormatOptions::default().with_null("∅");
    let mut out = Vec::new();
    for b in batches {
        let f: Vec<_> = b.columns()[skip..]
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts).unwrap())
            .collect();
        for r in 0..b.num_rows() {
            out.push(
                f.iter()
                    .map(|x| x.value(r).to_string())
                    .collect::<Vec<_>>()
                    .join("|"),
            );
        }
    }
    out.sort();
    out
}

async fn reference(cfg: &SummaryConfig, all: &RecordBatch, ecfg: &EngineConfig) -> Vec<String> {
    let d = derive(
        all,
        ecfg.window_ms(),
        Some(&Orienter::new(&ecfg.orientation)),
        Some((&Tables::default(), &[true; 13])),
    )
    .unwrap();
    let out = flowlogd_engine::sql::run(
        "flows",
        derived_schema(),
        vec![d],
        &reference_sql(cfg, 3600),
    )
    .await
    .unwrap();
    rows(&out, 0)
}

/// The built-ins plus a summary with a `having` (scan detection) and one grouped by the
/// derived `traffic_class`: `having` must filter only the merged window.
fn tested() -> Vec<SummaryConfig> {
    let mut all = SummaryConfig::builtins();
    all.push(scan_sources(&ScanConfig {
        min_rejects: 40,
        min_distinct_dst_ports: 3,
    }));
    let mut by_class = SummaryConfig::traffic();
    by_class.name = "by_class".into();
    by_class.group_by = vec!["traffic_class".into(), "action".into()];
    all.push(by_class);
    all
}

/// Summary rows per summary, and how many states were split into hash parts.
/// With `restarts`, records are cut into chunks in time order (so that a chunk changes few
/// windows), the state is checkpointed before every delivery and restored into a new
/// aggregator every 4 (every 8 also by a new checkpointer). With `spill_to`, state beyond
/// `backfill_state_bytes` is spilled there.
async fn streamed(
    all: &RecordBatch,
    ecfg: &EngineConfig,
    seed: u64,
    restarts: Option<&std::path::Path>,
    upkeep: Option<(usize, usize)>,
    spill_to: Option<&std::path::Path>,
) -> (Vec<(String, Vec<String>)>, Counts) {
    let summaries = prepare_all(&tested()).await.unwrap();
    let part = Partializer::new(summaries.clone(), ecfg);
    let new_agg = || {
        let mut agg = Aggregator::new(ecfg.clone(), summaries.clone());
        if let Some(dir) = spill_to {
            agg.set_spill_dir(dir.to_path_buf());
        }
        match upkeep {
            Some((rows, batches)) => agg.with_upkeep_thresholds(rows, batches),
            None => agg,
        }
    };
    let mut agg = new_agg();
    let mut ckpt = restarts.map(Checkpointer::new);
    let mut reused = 0;
    let mut rng = StdRng::seed_from_u64(seed);
    // Random chunk sizes, shuffled order, and every third chunk delivered twice.
    let by_time;
    let all = if restarts.is_some() {
        let start = all.column(all.schema().index_of("start").unwrap());
        let order = arrow::compute::sort_to_indices(start, None, None).unwrap();
        by_time = arrow::compute::take_record_batch(all, &order).unwrap();
        &by_time
    } else {
        all
    };
    let mut chunks = Vec::new();
    let mut off = 0;
    while off < all.num_rows() {
        let len = rng.random_range(1..400).min(all.num_rows() - off);
        chunks.push((format!("c{off}"), all.slice(off, len)));
        off += len;
    }
    chunks.shuffle(&mut rng);
    let mut deliveries = chunks.clone();
    deliveries.extend(chunks.iter().step_by(3).cloned());
    for (n, (id, batch)) in deliveries.into_iter().enumerate() {
        if let (Some(c), Some(dir)) = (ckpt.as_mut(), restarts) {
            c.save(&agg).unwrap();
            if n % 4 == 0 {
                agg = new_agg();
                if n % 8 == 0 {
                    reused += c.reused_files();
                    *c = Checkpointer::new(dir);
                }
                c.restore(&mut agg).unwrap();
            }
        }
        let parsed = vec![Parsed {
            batch,
            dead_letters: vec![],
            stats: ObjectStats::default(),
        }];
        let cp = part.run(id, "obj".into(), parsed).await.unwrap();
        agg.apply(PartialMessage::Chunk(Box::new(cp)), 0, Mode::Once)
            .await
            .unwrap();
    }
    assert_eq!(
        agg.accounting().chunks_duplicate as usize,
        chunks.len().div_ceil(3)
    );
    if let Some(c) = &ckpt {
        // Unchanged parts must have been taken from the previous checkpoint, or the
        // restores tested only full writes.
        assert!(
            reused + c.reused_files() > 0,
            "no checkpoint reused a part file"
        );
    }
    let emissions = agg.tick(0, Mode::Once, true, usize::MAX).await.unwrap();
    let rows = tested()
        .iter()
        .map(|s| {
            let mut r = Vec::new();
            for e in emissions.iter().filter(|e| e.summary == s.name) {
                let batch =
                    arrow::compute::concat_batches(&e.batches[0].schema(), &e.batches).unwrap();
                let w = arrow::array::TimestampMillisecondArray::from(vec![
                    e.window_start_ms;
                    batch.num_rows()
                ])
                .with_timezone("UTC");
                let mut cols: Vec<arrow::array::ArrayRef> = vec![std::sync::Arc::new(w)];
                cols.extend(batch.columns().iter().cloned());
                let mut fields = vec![arrow::datatypes::Field::new(
                    "w",
                    cols[0].data_type().clone(),
                    true,
                )];
                fields.extend(batch.schema().fields().iter().map(|f| f.as_ref().clone()));
                let b = RecordBatch::try_new(
                    std::sync::Arc::new(arrow::datatypes::Schema::new(fields)),
                    cols,
                )
                .unwrap();
                r.extend(rows(&[b], 0));
            }
            r.sort();
            (s.name.clone(), r)
        })
        .collect();
    let (compactions, coalesces) = agg.upkeep_counts();
    let counts = Counts {
        splits: agg.accounting().split_states,
        spills: agg.accounting().spilled_states,
        compactions,
        coalesces,
    };
    (rows, counts)
}

#[derive(Debug, Default)]
struct Counts {
    splits: u64,
    spills: u64,
    compactions: u64,
    coalesces: u64,
}

#[tokio::test]
async fn streaming_equals_sql_for_any_chunking_order_and_replay() {
    let counts = equals_sql_over(&EngineConfig::default(), None, None, None, None).await;
    assert_eq!(counts.splits, 0);
}

/// Chunks mostly from within one object (provider and account the same in all their
/// records): phase one leaves those keys out of its GROUP BY and puts them back.
#[tokio::test]
async fn keys_constant_within_chunks_equal_sql() {
    equals_sql_over(&EngineConfig::default(), None, None, Some(500), None).await;
}

/// States split into hash parts after a few hundred groups: each part is compacted and
/// merged on its own, and the emission is their union.
#[tokio::test]
async fn split_states_equal_sql() {
    let ecfg = EngineConfig {
        state_split_rows: 50,
        ..EngineConfig::default()
    };
    let counts = equals_sql_over(&ecfg, None, None, None, None).await;
    // A test of split states in which nothing split would test nothing.
    assert!(counts.splits > 0, "no state was split");
}

/// Pending partials compacted (several parts at once, on their own tasks) and concatenated
/// while chunks arrive, at thresholds small enough for this data, give the SQL result.
#[tokio::test]
async fn compacted_and_concatenated_states_equal_sql() {
    let ecfg = EngineConfig {
        state_split_rows: 100,
        ..EngineConfig::default()
    };
    let counts = equals_sql_over(&ecfg, None, Some((40, 3)), None, None).await;
    assert!(counts.splits > 0, "no state was split");
    assert!(counts.compactions > 0, "nothing was compacted");
    assert!(counts.coalesces > 0, "nothing was concatenated");
}

/// Checkpoints that re-use the files of unchanged parts, restored again and again (with
/// split states too), lose and double nothing.
#[tokio::test]
async fn restored_incremental_checkpoints_equal_sql() {
    let dir = tempfile::tempdir().unwrap();
    let ecfg = EngineConfig {
        state_split_rows: 200,
        ..EngineConfig::default()
    };
    equals_sql_over(&ecfg, Some(dir.path()), Some((40, 3)), None, None).await;
}

/// A backfill over its state budget spills the largest states, each split into hash parts
/// before its first spill (so that emission merges a part at a time, however large the
/// state grew) and read back at emission: the result is unchanged.
#[tokio::test]
async fn spilled_states_equal_sql() {
    let dir = tempfile::tempdir().unwrap();
    let ecfg = EngineConfig {
        backfill_state_bytes: 16 << 10,
        ..EngineConfig::default()
    };
    let counts = equals_sql_over(&ecfg, None, None, None, Some(dir.path())).await;
    // A test of spilling in which nothing spilled or split would test nothing.
    assert!(counts.spills > 0, "no state was spilled");
    assert!(counts.splits > 0, "no state was split before its spill");
}

/// Compares streamed and SQL results over three seeds (checkpointed and restored under
/// `restarts` if given); returns the states split.
async fn equals_sql_over(
    ecfg: &EngineConfig,
    restarts: Option<&std::path::Path>,
    upkeep: Option<(usize, usize)>,
    object_rows: Option<usize>,
    spill_to: Option<&std::path::Path>,
) -> Counts {
    let mut total = Counts::default();
    for seed in 0..3 {
        let all = records(3000, seed, object_rows);
        let dir = restarts.map(|d| d.join(format!("seed{seed}")));
        let spill = spill_to.map(|d| d.join(format!("seed{seed}")));
        let (summaries, counts) = streamed(
            &all,
            ecfg,
            seed + 100,
            dir.as_deref(),
            upkeep,
            spill.as_deref(),
        )
        .await;
        total.splits += counts.splits;
        total.spills += counts.spills;
        total.compactions += counts.compactions;
        total.coalesces += counts.coalesces;
        for (name, got) in summaries {
            let cfg = tested().into_iter().find(|s| s.name == name).unwrap();
            let want = reference(&cfg, &all, ecfg).await;
            assert!(!want.is_empty());
            assert_eq!(got, want, "summary {name}, seed {seed}");
        }
    }
    total
}

#[tokio::test]
async fn connections_conserve_bytes_and_fold_responses() {
    let ecfg = EngineConfig::default();
    let all = records(5000, 9, None);
    let d = derive(
        &all,
        ecfg.window_ms(),
        Some(&Orienter::new(&ecfg.orientation)),
        Some((&Tables::default(), &[true; 13])),
    )
    .unwrap();
    let q = "SELECT (SELECT sum(bytes) + sum(bytes_rev) FROM flows WHERE log_status = 'OK') AS t, \
             (SELECT sum(bytes_c2s) + sum(bytes_s2c) FROM flows WHERE log_status = 'OK') AS c, \
             (SELECT count(*) FROM (SELECT DISTINCT src_addr, dst_addr, dst_port, protocol FROM flows)) AS traffic_keys, \
             (SELECT count(*) FROM (SELECT DISTINCT client_addr, server_addr, server_port, protocol FROM flows)) AS conn_keys";
    let out = flowlogd_engine::sql::run("flows", derived_schema(), vec![d], q)
        .await
        .unwrap();
    let r = rows(&out, 0);
    let v: Vec<&str> = r[0].split('|').collect();
    assert_eq!(v[0], v[1], "bytes are not conserved by orientation");
    let (t, c): (u64, u64) = (v[2].parse().unwrap(), v[3].parse().unwrap());
    assert!(
        c * 2 < t,
        "connections keys {c} not well below traffic keys {t}"
    );
}
