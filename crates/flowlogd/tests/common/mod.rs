//! Helpers for tests that drive the real `flowlogd` binary.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::prelude::{ParquetReadOptions, SessionContext};

/// The binary under test; `FLOWLOGD_BIN` overrides it (a copy, when several checkouts
/// share one target directory and overwrite `target/debug/flowlogd`).
pub fn bin() -> PathBuf {
    std::env::var_os("FLOWLOGD_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_flowlogd")))
}

pub fn run_ok(args: &[&str]) -> Output {
    let out = Command::new(bin())
        .args(args)
        .output()
        .expect("spawn flowlogd");
    assert!(
        out.status.success(),
        "flowlogd {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `flowlogd run --once --input IN --output OUT` (quick start, no config file).
pub fn run_once(input: &Path, out: &Path) -> Output {
    run_ok(&[
        "run",
        "--once",
        "--quiet",
        "--input",
        input.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ])
}

/// Generates sample data of every format into `dir`.
pub fn gen(dir: &Path, records: u64, start: &str, hours: u32, seed: u64) {
    run_ok(&[
        "gen",
        "--out",
        dir.to_str().unwrap(),
        "--records",
        &records.to_string(),
        "--start",
        start,
        "--hours",
        &hours.to_string(),
        "--seed",
        &seed.to_string(),
    ]);
}

/// Every file below `dir`, sorted.
pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Rows of the batches as sorted text lines (one cell per column, `|`-separated).
pub fn rows(batches: &[RecordBatch]) -> Vec<String> {
    let opts = FormatOptions::default().with_null("∅");
    let mut out = Vec::new();
    for b in batches {
        let fmts: Vec<ArrayFormatter> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts).unwrap())
            .collect();
        for r in 0..b.num_rows() {
            out.push(
                fmts.iter()
                    .map(|f| f.value(r).to_string())
                    .collect::<Vec<_>>()
                    .join("|"),
            );
        }
    }
    out.sort();
    out
}

/// Runs SQL with `flows` = a Parquet file of normalized records and one table per summary
/// directory under `summaries` (when given).
pub async fn sql(flows: Option<&Path>, summaries: Option<&Path>, query: &str) -> Vec<RecordBatch> {
    let ctx = SessionContext::new();
    if let Some(f) = flows {
        ctx.register_parquet("flows", f.to_str().unwrap(), ParquetReadOptions::default())
            .await
            .unwrap();
    }
    if let Some(dir) = summaries {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if let Some(n) = name.strip_prefix("summary=") {
                let url = format!("{}/", p.canonicalize().unwrap().display());
                ctx.register_parquet(n, &url, ParquetReadOptions::default())
                    .await
                    .unwrap();
            }
        }
    }
    ctx.sql(query).await.unwrap().collect().await.unwrap()
}

pub const TRAFFIC_KEYS: &str =
    "provider, account_id, region, vpc_id, src_addr, dst_addr, dst_port, protocol, action, direction";

/// `traffic` defined as one plain GROUP BY over all records.
pub fn traffic_reference_sql() -> String {
    format!(
        "SELECT date_bin(INTERVAL '3600 seconds', \"start\", TIMESTAMP '1970-01-01T00:00:00Z') AS window_start, {TRAFFIC_KEYS}, \
         count(*) AS records, \
         sum(CASE WHEN flow_state IS NULL OR flow_state IN ('B', 'D') THEN 1 ELSE 0 END) AS flows, \
         sum(packets) AS packets, sum(bytes) AS bytes, sum(packets_rev) AS packets_rev, sum(bytes_rev) AS bytes_rev, \
         min(\"start\") AS first_seen, max(\"end\") AS last_seen \
         FROM flows WHERE log_status = 'OK' AND \"start\" IS NOT NULL \
         GROUP BY 1, {TRAFFIC_KEYS}"
    )
}

pub fn traffic_output_sql() -> String {
    format!(
        "SELECT window_start, {TRAFFIC_KEYS}, records, flows, packets, bytes, packets_rev, bytes_rev, first_seen, last_seen FROM traffic"
    )
}

pub const REJECTED_KEYS: &str = "provider, account_id, src_addr, protocol";

pub fn rejected_reference_sql() -> String {
    format!(
        "SELECT date_bin(INTERVAL '3600 seconds', \"start\", TIMESTAMP '1970-01-01T00:00:00Z') AS window_start, {REJECTED_KEYS}, \
         count(*) AS records, sum(packets) AS packets, count(DISTINCT dst_port) AS distinct_dst_ports, \
         count(DISTINCT dst_addr) AS distinct_dst_addrs, min(\"start\") AS first_seen, max(\"end\") AS last_seen \
         FROM flows WHERE log_status = 'OK' AND action = 'REJECT' AND \"start\" IS NOT NULL GROUP BY 1, {REJECTED_KEYS}"
    )
}

pub fn rejected_output_sql() -> String {
    format!(
        "SELECT window_start, {REJECTED_KEYS}, records, packets, distinct_dst_ports, distinct_dst_addrs, first_seen, last_seen FROM rejected_by_source"
    )
}

/// Every summary row of a Parquet output directory (window, revision and all columns).
pub async fn all_output_rows(parquet_dir: &Path) -> Vec<String> {
    let mut out = rows(&sql(None, Some(parquet_dir), &traffic_output_sql()).await);
    out.extend(rows(
        &sql(None, Some(parquet_dir), &rejected_output_sql()).await,
    ));
    out.sort();
    out
}

/// Parses every file under `input` with `flowlogd parse` into one Parquet file.
pub fn parse_to_parquet(input: &Path, out: &Path) {
    let mut args: Vec<String> = vec![
        "parse".into(),
        "--output".into(),
        "parquet".into(),
        "--out".into(),
    ];
    args.push(out.to_string_lossy().into_owned());
    args.push("--dead-letter".into());
    args.push(
        out.with_extension("dead.jsonl")
            .to_string_lossy()
            .into_owned(),
    );
    args.extend(
        files(input)
            .iter()
            .map(|p| p.to_string_lossy().into_owned()),
    );
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    run_ok(&refs);
}

/// The `flowlogd: objects=…` accounting line of a run's stdout, as key → value.
pub fn accounting(stdout: &[u8]) -> std::collections::BTreeMap<String, String> {
    let text = String::from_utf8_lossy(stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("flowlogd: "))
        .expect("accounting line");
    line.trim_start_matches("flowlogd: ")
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// Asserts two sorted row lists are equal, printing only the differences.
pub fn assert_same_rows(actual: &[String], expected: &[String], what: &str) {
    if actual == expected {
        return;
    }
    let a: std::collections::BTreeSet<&String> = actual.iter().collect();
    let e: std::collections::BTreeSet<&String> = expected.iter().collect();
    let only_a: Vec<_> = a.difference(&e).take(8).collect();
    let only_e: Vec<_> = e.difference(&a).take(8).collect();
    panic!(
        "{what}: {} rows vs {} expected\nonly in actual (first 8): {only_a:#?}\nonly in expected (first 8): {only_e:#?}",
        actual.len(),
        expected.len()
    );
}

pub const CONNECTIONS_KEYS: &str =
    "provider, account_id, region, vpc_id, client_addr, server_addr, server_port, protocol, action";

/// `connections` defined in plain SQL: the orientation rules as CASE expressions over the
/// parsed records (default service ports and ephemeral range), then one GROUP BY.
pub fn connections_reference_sql() -> String {
    let svc = |p: &str| {
        format!(
            "({p} BETWEEN 1 AND 1023 OR {p} IN (1433, 1521, 2049, 3306, 3389, 5432, 5439, 6379, 8080, 8443, 9092, 9200, 27017))"
        )
    };
    let eph = |p: &str| format!("({p} BETWEEN 32768 AND 65535)");
    let no_ports = "(src_port IS NULL OR dst_port IS NULL OR (protocol IS NOT NULL AND protocol NOT IN (6, 17, 132)))";
    let is_response = format!(
        "CASE WHEN {no_ports} THEN false \
         WHEN protocol = 6 AND tcp_flags IS NOT NULL AND (tcp_flags & 2) <> 0 AND (tcp_flags & 16) <> 0 THEN true \
         WHEN protocol = 6 AND tcp_flags IS NOT NULL AND (tcp_flags & 2) <> 0 THEN false \
         WHEN {sd} AND NOT {ss} THEN false \
         WHEN {ss} AND NOT {sd} THEN true \
         WHEN {es} AND NOT {ed} THEN false \
         WHEN {ed} AND NOT {es} THEN true \
         ELSE false END",
        sd = svc("dst_port"),
        ss = svc("src_port"),
        es = eph("src_port"),
        ed = eph("dst_port"),
    );
    format!(
        "WITH o AS (SELECT *, {is_response} AS r, {no_ports} AS np FROM flows WHERE log_status = 'OK' AND \"start\" IS NOT NULL), \
         c AS (SELECT *, \
           CASE WHEN r THEN dst_addr ELSE src_addr END AS client_addr, \
           CASE WHEN r THEN src_addr ELSE dst_addr END AS server_addr, \
           CASE WHEN np THEN NULL WHEN r THEN src_port ELSE dst_port END AS server_port, \
           CASE WHEN r THEN packets_rev ELSE packets END AS packets_c2s, \
           CASE WHEN r THEN bytes_rev ELSE bytes END AS bytes_c2s, \
           CASE WHEN r THEN packets ELSE packets_rev END AS packets_s2c, \
           CASE WHEN r THEN bytes ELSE bytes_rev END AS bytes_s2c FROM o) \
         SELECT date_bin(INTERVAL '3600 seconds', \"start\", TIMESTAMP '1970-01-01T00:00:00Z') AS window_start, {CONNECTIONS_KEYS}, \
         count(*) AS records, \
         sum(CASE WHEN flow_state IS NULL OR flow_state IN ('B', 'D') THEN 1 ELSE 0 END) AS flows, \
         sum(packets_c2s) AS packets_c2s, sum(bytes_c2s) AS bytes_c2s, sum(packets_s2c) AS packets_s2c, sum(bytes_s2c) AS bytes_s2c, \
         min(\"start\") AS first_seen, max(\"end\") AS last_seen \
         FROM c GROUP BY 1, {CONNECTIONS_KEYS}"
    )
}

pub fn connections_output_sql() -> String {
    format!(
        "SELECT window_start, {CONNECTIONS_KEYS}, records, flows, packets_c2s, bytes_c2s, packets_s2c, bytes_s2c, first_seen, last_seen FROM connections"
    )
}

/// Polls `cond` every 50 ms until it holds; fails the test after `timeout`.
pub fn wait_for(what: &str, timeout: std::time::Duration, mut cond: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !cond() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Sends SIGTERM (graceful drain and checkpoint) to a running flowlogd.
pub fn send_sigterm(pid: u32) {
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}
