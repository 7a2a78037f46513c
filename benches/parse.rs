//! Parse throughput per format, single thread:
//!
//! ```text
//! cargo bench -p flowlogd-benches --bench parse                       # 5 M records per format
//! cargo bench -p flowlogd-benches --bench parse -- --records 1000000 --formats aws-v2,vnet
//! FLOWLOGD_BENCH_RECORDS=200000 cargo bench -p flowlogd-benches --bench parse
//! ```
//!
//! For each format it generates a data set with [`flowlogd_formats::sample`] (cached under
//! the cargo target dir, or `FLOWLOGD_BENCH_DIR`, and reused while the parameters match), then
//! measures, each in its own child process so that each peak RSS is its own:
//! - `baseline`: decompress only (gzip through `MultiGzDecoder` into a sink) or, for Parquet and
//!   JSON, read the raw bytes: the floor any parser pays;
//! - `parse`: `reader::open_path` (what `flowlogd parse` uses), iterating every batch;
//! - `chunked` (AWS text): `chunk::TextChunker` + `chunk::parse_chunk`, the pipeline's path.
//!
//! It prints a markdown table (see BENCHMARKS.md). Timings are reported, never asserted.
//! Throughput per core divides by the child's CPU time (`/proc/self/schedstat`), so other load
//! on the machine affects it less than wall time.

use std::fs::File;
use std::io::{self, BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use flowlogd_formats::chunk::{parse_chunk, TextChunker};
use flowlogd_formats::detect::FormatHint;
use flowlogd_formats::reader::{open_path, open_text};
use flowlogd_formats::sample::{generate, GenConfig, SampleFormat};
use flowlogd_formats::ParseOptions;

/// Child-process protocol: `FLOWLOGD_BENCH_CHILD=<mode>` with the data set in
/// `FLOWLOGD_BENCH_CHILD_DIR`; the child prints one `RESULT …` line.
const CHILD_ENV: &str = "FLOWLOGD_BENCH_CHILD";
const CHILD_DIR_ENV: &str = "FLOWLOGD_BENCH_CHILD_DIR";
/// Bump when the generator's output changes, so cached data sets are rebuilt.
const DATA_VERSION: u32 = 1;
const SEED: u64 = 7;
const DEFAULT_FORMATS: &[SampleFormat] = &[
    SampleFormat::AwsV2Gz,
    SampleFormat::AwsV5Custom,
    SampleFormat::AwsParquet,
    SampleFormat::AzureNsgV2,
    SampleFormat::AzureVnet,
];
/// Chunk size for the chunked path (what a source would cut).
const CHUNK_BYTES: usize = 4 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Baseline,
    Parse,
    Chunked,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Baseline => "baseline",
            Mode::Parse => "parse",
            Mode::Chunked => "chunked",
        }
    }

    fn from_name(s: &str) -> Option<Mode> {
        [Mode::Baseline, Mode::Parse, Mode::Chunked]
            .into_iter()
            .find(|m| m.name() == s)
    }
}

/// What one child measured.
#[derive(Debug, Default, Clone)]
struct Measure {
    records: u64,
    dead_letters: u64,
    bytes_in: u64,
    /// Decompressed bytes (baseline only).
    bytes_raw: u64,
    wall: f64,
    cpu: f64,
    rss_kb: u64,
}

fn main() -> Result<()> {
    if let Ok(mode) = std::env::var(CHILD_ENV) {
        let dir = PathBuf::from(std::env::var(CHILD_DIR_ENV).context("child without data dir")?);
        let mode = Mode::from_name(&mode).context("unknown child mode")?;
        let m = run_child(mode, &dir)?;
        println!(
            "RESULT records={} dead={} bytes_in={} bytes_raw={} wall={} cpu={} rss_kb={}",
            m.records, m.dead_letters, m.bytes_in, m.bytes_raw, m.wall, m.cpu, m.rss_kb
        );
        return Ok(());
    }

    let args = Args::parse()?;
    let cache = args.cache.clone().unwrap_or_else(default_cache_dir);
    eprintln!(
        "parse bench: {} records per format, data under {}",
        args.records,
        cache.display()
    );
    let mut rows = Vec::new();
    for &format in &args.formats {
        let dir = dataset(&cache, format, args.records)?;
        let base = child(format, Mode::Baseline, &dir)?;
        let mut line = |mode: Mode, m: &Measure| {
            rows.push(Row {
                format,
                mode,
                m: m.clone(),
                base: base.clone(),
            });
        };
        line(Mode::Baseline, &base);
        let parse = child(format, Mode::Parse, &dir)?;
        line(Mode::Parse, &parse);
        if matches!(format, SampleFormat::AwsV2Gz | SampleFormat::AwsV5Custom) {
            let ch = child(format, Mode::Chunked, &dir)?;
            line(Mode::Chunked, &ch);
        }
    }
    print_table(&args, &rows);
    Ok(())
}

struct Args {
    records: u64,
    formats: Vec<SampleFormat>,
    cache: Option<PathBuf>,
}

impl Args {
    /// `--records N`, `--formats a,b`, `--dir D`; anything else (cargo's `--bench`, filters)
    /// is ignored.
    fn parse() -> Result<Args> {
        let mut a = Args {
            records: match std::env::var("FLOWLOGD_BENCH_RECORDS") {
                Ok(v) => v
                    .replace('_', "")
                    .parse()
                    .context("FLOWLOGD_BENCH_RECORDS")?,
                Err(_) => 5_000_000,
            },
            formats: DEFAULT_FORMATS.to_vec(),
            cache: std::env::var_os("FLOWLOGD_BENCH_DIR").map(PathBuf::from),
        };
        let mut it = std::env::args().skip(1);
        while let Some(arg) = it.next() {
            let (key, inline) = match arg.split_once('=') {
                Some((k, v)) => (k.to_string(), Some(v.to_string())),
                None => (arg.clone(), None),
            };
            let mut value = |name: &str| -> Result<String> {
                inline
                    .clone()
                    .or_else(|| it.next())
                    .with_context(|| format!("{name} needs a value"))
            };
            match key.as_str() {
                "--records" => {
                    a.records = value("--records")?
                        .replace('_', "")
                        .parse()
                        .context("--records")?
                }
                "--formats" => {
                    a.formats = value("--formats")?
                        .split(',')
                        .map(|s| s.parse::<SampleFormat>().map_err(anyhow::Error::msg))
                        .collect::<Result<_>>()?
                }
                "--dir" => a.cache = Some(PathBuf::from(value("--dir")?)),
                _ => {}
            }
        }
        if a.records == 0 {
            bail!("--records must be positive");
        }
        Ok(a)
    }
}

/// `<target>/flowlogd-bench-data`, found from this executable's path
/// (`<target>/<profile>/deps/parse-…`), so `cargo clean` removes it.
fn default_cache_dir() -> PathBuf {
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(t).join("flowlogd-bench-data");
    }
    std::env::current_exe()
        .ok()
        .and_then(|p| p.ancestors().nth(3).map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("target"))
        .join("flowlogd-bench-data")
}

/// Generates (or reuses) one format's data set and returns its directory.
fn dataset(cache: &Path, format: SampleFormat, records: u64) -> Result<PathBuf> {
    let dir = cache.join(format!(
        "{}-{records}-seed{SEED}-v{DATA_VERSION}",
        format.name()
    ));
    let marker = dir.join(".complete");
    if marker.exists() {
        return Ok(dir);
    }
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    let cfg = GenConfig {
        records,
        azure_records: Some(records),
        formats: vec![format],
        seed: SEED,
        ..GenConfig::default()
    };
    let t = Instant::now();
    let report = generate(&cfg, &dir).with_context(|| format!("generating {}", dir.display()))?;
    let secs = t.elapsed().as_secs_f64();
    eprintln!(
        "generated {}: {} files, {} records, {:.1} MB in {:.1} s ({:.2} M records/s)",
        format,
        report.files.len(),
        report.total_records(),
        report.total_bytes() as f64 / 1e6,
        secs,
        report.total_records() as f64 / secs / 1e6
    );
    std::fs::write(&marker, format!("{}\n", report.total_records()))?;
    Ok(dir)
}

/// Runs one measurement in a fresh copy of this executable.
fn child(format: SampleFormat, mode: Mode, dir: &Path) -> Result<Measure> {
    let exe = std::env::current_exe()?;
    let out = Command::new(exe)
        .env(CHILD_ENV, mode.name())
        .env(CHILD_DIR_ENV, dir)
        .output()
        .context("running a measurement child")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "{} on {} failed: {}\n{}",
            mode.name(),
            dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let line = stdout
        .lines()
        .find(|l| l.starts_with("RESULT "))
        .with_context(|| format!("no RESULT line from {} child", mode.name()))?;
    let mut m = Measure::default();
    for kv in line.trim_start_matches("RESULT ").split(' ') {
        let (k, v) = kv.split_once('=').context("bad RESULT line")?;
        match k {
            "records" => m.records = v.parse()?,
            "dead" => m.dead_letters = v.parse()?,
            "bytes_in" => m.bytes_in = v.parse()?,
            "bytes_raw" => m.bytes_raw = v.parse()?,
            "wall" => m.wall = v.parse()?,
            "cpu" => m.cpu = v.parse()?,
            "rss_kb" => m.rss_kb = v.parse()?,
            _ => {}
        }
    }
    eprintln!(
        "  {:<12} {:<8} {:>10} records {:>7.2} s",
        format.name(),
        mode.name(),
        m.records,
        m.wall
    );
    Ok(m)
}

/// Every flow-log object under `dir`, sorted.
fn objects(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v = flowlogd_benches::files_under(dir)?;
    v.retain(|p| {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        name.ends_with(".log.gz") || name.ends_with(".log.parquet") || name == "PT1H.json"
    });
    Ok(v)
}

fn run_child(mode: Mode, dir: &Path) -> Result<Measure> {
    let files = objects(dir)?;
    let mut m = Measure::default();
    for f in &files {
        m.bytes_in += std::fs::metadata(f)?.len();
    }
    let opts = ParseOptions::default();
    let cpu0 = cpu_secs();
    let t = Instant::now();
    for path in &files {
        let gz = path.extension().is_some_and(|e| e == "gz");
        match mode {
            Mode::Baseline => {
                let file = File::open(path)?;
                let n = if gz {
                    io::copy(
                        &mut flate2::read::MultiGzDecoder::new(io::BufReader::with_capacity(
                            64 * 1024,
                            file,
                        )),
                        &mut io::sink(),
                    )?
                } else {
                    read_to_sink(file)?
                };
                m.bytes_raw += n;
            }
            Mode::Parse => {
                let reader = open_path(path, FormatHint::Auto, &opts)
                    .with_context(|| format!("opening {}", path.display()))?;
                for parsed in reader {
                    let p = parsed.with_context(|| format!("parsing {}", path.display()))?;
                    m.records += p.batch.num_rows() as u64;
                    m.dead_letters += p.dead_letters.len() as u64;
                }
            }
            Mode::Chunked => {
                let object = path.display().to_string();
                let text = open_text(Box::new(File::open(path)?));
                for chunk in TextChunker::new("bench", &object, text, CHUNK_BYTES, &opts) {
                    let chunk = chunk.with_context(|| format!("chunking {object}"))?;
                    for p in
                        parse_chunk(&chunk, &opts).with_context(|| format!("parsing {object}"))?
                    {
                        m.records += p.batch.num_rows() as u64;
                        m.dead_letters += p.dead_letters.len() as u64;
                    }
                }
            }
        }
    }
    m.wall = t.elapsed().as_secs_f64();
    m.cpu = cpu_secs().map_or(m.wall, |c| c - cpu0.unwrap_or(0.0));
    if mode == Mode::Baseline {
        // The generator's count, so the baseline row has a records figure too.
        m.records = std::fs::read_to_string(dir.join(".complete"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
    }
    m.rss_kb = peak_rss_kb().unwrap_or(0);
    Ok(m)
}

fn read_to_sink(mut f: File) -> io::Result<u64> {
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            return Ok(n);
        }
        n += k as u64;
    }
}

/// CPU time of this (single-threaded) process in seconds: the first field of
/// `/proc/self/schedstat` is nanoseconds spent running.
fn cpu_secs() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/schedstat").ok()?;
    let ns: u64 = s.split_whitespace().next()?.parse().ok()?;
    Some(ns as f64 / 1e9)
}

/// `VmHWM` (peak resident set) from `/proc/self/status`, in kB.
fn peak_rss_kb() -> Option<u64> {
    let f = File::open("/proc/self/status").ok()?;
    io::BufReader::new(f)
        .lines()
        .map_while(Result::ok)
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
}

struct Row {
    format: SampleFormat,
    mode: Mode,
    m: Measure,
    base: Measure,
}

fn print_table(args: &Args, rows: &[Row]) {
    let mut o = String::new();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    o.push_str(&format!(
        "\nParse throughput, single thread, {} records per format ({}; {})\n\n",
        args.records,
        cpu,
        if cfg!(debug_assertions) {
            "DEBUG build: numbers are not representative"
        } else {
            "release build"
        }
    ));
    o.push_str("| format | path | records | MB in | MB raw | seconds | records/s per core | MB/s (in) | × baseline | peak RSS MB |\n");
    o.push_str("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for r in rows {
        let cpu = r.m.cpu.max(1e-9);
        o.push_str(&format!(
            "| {} | {} | {} | {:.1} | {:.1} | {:.2} | {:.2} M | {:.1} | {} | {:.0} |\n",
            r.format.name(),
            match r.mode {
                Mode::Baseline => "decompress/read only",
                Mode::Parse => "reader::open_path",
                Mode::Chunked => "TextChunker + parse_chunk",
            },
            r.m.records,
            r.m.bytes_in as f64 / 1e6,
            r.base.bytes_raw as f64 / 1e6,
            r.m.wall,
            r.m.records as f64 / cpu / 1e6,
            r.m.bytes_in as f64 / cpu / 1e6,
            if r.mode == Mode::Baseline {
                "1.0".to_string()
            } else {
                format!("{:.1}", r.m.cpu / r.base.cpu.max(1e-9))
            },
            r.m.rss_kb as f64 / 1024.0,
        ));
        if r.m.dead_letters > 0 {
            o.push_str(&format!(
                "<!-- {} {}: {} dead letters -->\n",
                r.format,
                r.mode.name(),
                r.m.dead_letters
            ));
        }
    }
    o.push_str(
        "\nseconds = wall time; per-core rates and the baseline ratio use the child's CPU time.\n",
    );
    let _ = io::stdout().write_all(o.as_bytes());
}
