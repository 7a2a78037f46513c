//! Bounded memory and throughput of the streaming reader on large generated gzip objects.
//!
//! - `streams_large_gzip_in_bounded_memory`: always on, ~48 MiB decompressed.
//! - `streams_1gb_gzip_in_bounded_memory`: `#[ignore]` (about 1 GiB; run with
//!   `cargo test --release -p flowlogd-formats --test streaming -- --ignored`).
//! - `throughput`: `#[ignore]`, prints records/s and MB/s for parse-to-Arrow vs gzip-only on
//!   realistic v2 data at gzip level 6 (run with `-- --ignored throughput --nocapture`).
//!
//! Each test file is its own process, so VmHWM (peak RSS) reflects this file's tests only.

use std::io::{BufWriter, Read, Write};
use std::path::PathBuf;
use std::time::Instant;

use flate2::write::GzEncoder;
use flowlogd_formats::reader::{open_path, open_text};
use flowlogd_formats::sample::{generate, GenConfig, SampleFormat};
use flowlogd_formats::{FormatHint, ParseOptions};

/// Writes `lines` default-format lines (plus a header) gzip-compressed to a temp file.
fn make_gz(lines: usize) -> (tempfile::TempPath, u64) {
    let f = tempfile::NamedTempFile::new().expect("tmp");
    let (file, path) = f.into_parts();
    let mut e = GzEncoder::new(BufWriter::new(file), flate2::Compression::fast());
    let mut raw = 0u64;
    let header = b"version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n";
    e.write_all(header).expect("w");
    raw += header.len() as u64;
    let mut line = String::new();
    for i in 0..lines {
        line.clear();
        use std::fmt::Write as _;
        let _ = writeln!(
            line,
            "2 123456789010 eni-{:08x} 10.{}.{}.{} 172.31.{}.{} {} 443 6 {} {} {} {} {} OK",
            i % 5000,
            (i >> 16) & 255,
            (i >> 8) & 255,
            i & 255,
            (i >> 3) & 255,
            i % 251,
            1024 + i % 60000,
            1 + i % 97,
            40 + i % 9000,
            1_700_000_000 + (i / 1000) as u64,
            1_700_000_060 + (i / 1000) as u64,
            if i % 7 == 0 { "REJECT" } else { "ACCEPT" },
        );
        e.write_all(line.as_bytes()).expect("w");
        raw += line.len() as u64;
    }
    e.finish().expect("finish").flush().expect("flush");
    (path, raw)
}

fn peak_rss_mb() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let l = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = l.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

fn stream(lines: usize) {
    let (path, raw) = make_gz(lines);
    let opts = ParseOptions {
        batch_rows: 16 * 1024,
        ..ParseOptions::default()
    };
    let t = Instant::now();
    let mut r = open_path(&path, FormatHint::Auto, &opts).expect("open");
    let mut rows = 0usize;
    for p in r.by_ref() {
        let p = p.expect("batch");
        assert!(p.batch.num_rows() <= opts.batch_rows);
        rows += p.batch.num_rows();
    }
    assert_eq!(rows, lines);
    assert_eq!(r.stats().records as usize, lines);
    let peak = peak_rss_mb();
    println!(
        "{} MiB decompressed, {rows} rows in {:?}; peak RSS {peak:?} MiB",
        raw >> 20,
        t.elapsed()
    );
    if let Some(p) = peak {
        assert!(p < 256, "peak RSS {p} MiB");
    }
}

#[test]
fn streams_large_gzip_in_bounded_memory() {
    stream(400_000); // ~48 MiB decompressed
}

#[test]
#[ignore = "about 1 GiB decompressed; run in release mode"]
fn streams_1gb_gzip_in_bounded_memory() {
    stream(8_500_000);
}

/// Reads every file fully through the gzip decoder only; returns decompressed bytes.
fn gunzip_all(files: &[PathBuf]) -> u64 {
    // Large reads, like the chunker's: the decoder cost, not the syscall/copy count, is measured.
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    for f in files {
        let mut r = open_text(Box::new(std::fs::File::open(f).expect("open")));
        loop {
            let k = r.read(&mut buf).expect("read");
            if k == 0 {
                break;
            }
            n += k as u64;
        }
    }
    n
}

/// Parses every file to Arrow; returns records.
fn parse_all(files: &[PathBuf]) -> usize {
    let opts = ParseOptions::default();
    files
        .iter()
        .map(|f| {
            open_path(f, FormatHint::Auto, &opts)
                .expect("open")
                .map(|p| p.expect("batch").batch.num_rows())
                .sum::<usize>()
        })
        .sum()
}

/// Seconds this thread has run on a CPU (`/proc/thread-self/schedstat`, ns).
fn thread_cpu_secs() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = s.split_whitespace().next()?.parse().ok()?;
    Some(ns as f64 / 1e9)
}

/// Parse throughput vs gzip-decompress-only on realistic default-format (v2) data compressed at
/// the default gzip level 6 (what AWS delivers), one thread. Best of three runs each.
#[test]
#[ignore = "performance measurement; run in release mode with --nocapture"]
fn throughput() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = GenConfig {
        formats: vec![SampleFormat::AwsV2Gz],
        records: 2_000_000,
        gzip_level: 6,
        late_fraction: 0.0,
        ..Default::default()
    };
    let report = generate(&cfg, dir.path()).expect("generate");
    let files: Vec<PathBuf> = report
        .files
        .iter()
        .map(|f| dir.path().join(&f.path))
        .collect();
    let records = report.records(SampleFormat::AwsV2Gz) as usize;
    let gz_bytes = report.total_bytes();
    // Per-core numbers: CPU time of this thread (Linux), so other load on the machine skews
    // them less than wall time; wall time where schedstat is missing. Best of three.
    let best = |f: &dyn Fn()| {
        (0..3)
            .map(|_| {
                let (t, c) = (Instant::now(), thread_cpu_secs());
                f();
                match (c, thread_cpu_secs()) {
                    (Some(a), Some(b)) => b - a,
                    _ => t.elapsed().as_secs_f64(),
                }
            })
            .fold(f64::INFINITY, f64::min)
    };
    let raw = gunzip_all(&files);
    let gz_only = best(&|| assert_eq!(gunzip_all(&files), raw));
    let parse = best(&|| assert_eq!(parse_all(&files), records));
    println!(
        "{} files, {records} records, {:.1} MB gzip (level 6), {:.1} MB decompressed",
        files.len(),
        gz_bytes as f64 / 1e6,
        raw as f64 / 1e6
    );
    println!(
        "gzip only:      {:>10.0} records/s  {:>6.0} MB/s decompressed",
        records as f64 / gz_only,
        raw as f64 / gz_only / 1e6
    );
    println!(
        "parse to Arrow: {:>10.0} records/s  {:>6.0} MB/s decompressed  = {:.0}% of gzip-only",
        records as f64 / parse,
        raw as f64 / parse / 1e6,
        100.0 * gz_only / parse
    );
}
