//! End-to-end benchmark: `flowlogd run --once` over generated AWS v2 `.log.gz` data, side by
//! side in the same run with DuckDB (`read_csv` of the same files + the same GROUP BY, same
//! thread count), at two input sizes to show that memory stays flat.
//!
//! ```text
//! cargo build --release -p flowlogd
//! cargo bench -p flowlogd-benches --bench pipeline -- --records 5000000 --scale 4 --repeat 3
//! ```
//! `--chunk-mib N` sets the local source's `max_chunk_bytes` (default: flowlogd's, 4 MiB on the
//! embedded bus).
//! `--repeat N` runs flowlogd (`traffic`) and DuckDB N times each, in alternation, and reports
//! the median run of each and the median of the paired wall-time ratios: single runs on a
//! shared machine drift by ±15–25 %, and a pair measured back to back shares the drift.
//! Needs a Python with `duckdb` (`FLOWLOGD_PYTHON`, default: the test venv under
//! `~/.cache/flowlogd/emulators/venv`). Prints records/s per core, CPU seconds and peak RSS of
//! each process (sampled from /proc every 20 ms). Both write Snappy-compressed Parquet,
//! DuckDB's default (flowlogd's default is zstd: smaller files, more CPU).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

struct Args {
    records: u64,
    scale: u64,
    threads: usize,
    repeat: usize,
    /// `sources.local.max_chunk_bytes` in MiB; `None` keeps flowlogd's default.
    chunk_mib: Option<u64>,
}

fn args() -> Result<Args> {
    let mut a = Args {
        records: std::env::var("FLOWLOGD_BENCH_RECORDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(5_000_000),
        scale: 4,
        threads: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2),
        repeat: 1,
        chunk_mib: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut val = || it.next().context("flag needs a value");
        match k.as_str() {
            "--records" => a.records = val()?.parse()?,
            "--scale" => a.scale = val()?.parse()?,
            "--threads" => a.threads = val()?.parse()?,
            "--repeat" => a.repeat = val()?.parse::<usize>()?.max(1),
            "--chunk-mib" => a.chunk_mib = Some(val()?.parse::<u64>()?.max(1)),
            "--bench" => {}
            other => {
                bail!("unknown flag {other} (use --records N --scale K --threads T --repeat N --chunk-mib N)")
            }
        }
    }
    Ok(a)
}

/// Peak RSS (MiB) and CPU seconds of a child, sampled until it exits.
struct Measured {
    wall: f64,
    cpu: f64,
    peak_rss_mib: f64,
    stdout: String,
}

fn run_measured(cmd: &mut Command) -> Result<Measured> {
    let start = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("spawn")?;
    let pid = child.id();
    let tick = ticks_per_sec();
    let (mut peak_kb, mut cpu) = (0u64, 0f64);
    loop {
        if let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            if let Some(v) = s.lines().find(|l| l.starts_with("VmHWM:")) {
                peak_kb = peak_kb.max(
                    v.split_whitespace()
                        .nth(1)
                        .and_then(|x| x.parse().ok())
                        .unwrap_or(0),
                );
            }
        }
        if let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            // Fields after the command name: utime is the 14th field, stime the 15th.
            if let Some(rest) = s.rsplit(')').next() {
                let f: Vec<&str> = rest.split_whitespace().collect();
                let t = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
                cpu = cpu.max((t(11) + t(12)) / tick);
            }
        }
        if child.try_wait()?.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!("{cmd:?} failed");
    }
    Ok(Measured {
        wall: start.elapsed().as_secs_f64(),
        cpu,
        peak_rss_mib: peak_kb as f64 / 1024.0,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
    })
}

fn ticks_per_sec() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

const TRAFFIC_ONLY: &str = r#"
builtin_summaries = false
[[summaries]]
name = "traffic"
group_by = ["provider", "account_id", "region", "vpc_id", "src_addr", "dst_addr", "dst_port", "protocol", "action", "direction"]
filter = "log_status = 'OK'"
metrics = [
  { name = "records", fn = "count" },
  { name = "packets", fn = "sum", column = "packets" },
  { name = "bytes", fn = "sum", column = "bytes" },
  { name = "first_seen", fn = "min", column = "start" },
  { name = "last_seen", fn = "max", column = "end" },
]
"#;

fn flowlogd(
    bin: &Path,
    input: &Path,
    out: &Path,
    threads: usize,
    chunk_mib: Option<u64>,
    traffic_only: bool,
) -> Result<Measured> {
    let _ = std::fs::remove_dir_all(out);
    std::fs::create_dir_all(out)?;
    let cfg = out.join("bench.toml");
    let summaries = if traffic_only { TRAFFIC_ONLY } else { "" };
    let chunk = chunk_mib.map_or(String::new(), |m| {
        format!("max_chunk_bytes = {}\n", m << 20)
    });
    std::fs::write(
        &cfg,
        format!(
            "state_dir = \"{o}/state\"\n{summaries}\n[engine]\nparallelism = {threads}\n[[sources.local]]\npath = \"{i}\"\n{chunk}[sinks.parquet]\npath = \"{o}/parquet\"\ncompression = \"snappy\"\n",
            i = input.display(),
            o = out.display()
        ),
    )?;
    run_measured(
        Command::new(bin)
            .args(["run", "--once", "--quiet", "--config"])
            .arg(&cfg),
    )
}

fn duckdb(python: &str, input: &Path, out: &Path, threads: usize) -> Result<Measured> {
    let script = format!(
        r#"
import duckdb
con = duckdb.connect()
con.execute("SET threads={threads}")
con.execute("SET preserve_insertion_order=false")
con.execute("SET enable_progress_bar=false")
cols = {{'version':'INTEGER','account-id':'VARCHAR','interface-id':'VARCHAR','srcaddr':'VARCHAR','dstaddr':'VARCHAR',
        'srcport':'INTEGER','dstport':'INTEGER','protocol':'INTEGER','packets':'BIGINT','bytes':'BIGINT',
        'start':'BIGINT','end':'BIGINT','action':'VARCHAR','log-status':'VARCHAR'}}
con.execute(f"""COPY (
  SELECT time_bucket(INTERVAL 1 HOUR, to_timestamp("start")) AS window_start, 'aws' AS provider,
         "account-id" AS account_id, NULL AS region, NULL AS vpc_id, srcaddr, dstaddr, dstport, protocol, action,
         NULL AS direction, count(*) AS records, sum(packets) AS packets, sum(bytes) AS bytes,
         min(to_timestamp("start")) AS first_seen, max(to_timestamp("end")) AS last_seen
  FROM read_csv('{input}/**/*.log.gz', delim=' ', header=true, nullstr='-', columns={{cols}})
  WHERE "log-status" = 'OK'
  GROUP BY ALL) TO '{out}/duck.parquet' (FORMAT parquet)""")
print(con.execute("SELECT count(*) FROM '{out}/duck.parquet'").fetchone()[0])
"#,
        input = input.display(),
        out = out.display()
    );
    let _ = std::fs::remove_dir_all(out);
    std::fs::create_dir_all(out)?;
    run_measured(Command::new(python).args(["-c", &script]))
}

/// Reads every file under `dir` once.
fn warm_page_cache(dir: &Path) -> Result<()> {
    for path in flowlogd_benches::files_under(dir)? {
        std::io::copy(&mut std::fs::File::open(&path)?, &mut std::io::sink())?;
    }
    Ok(())
}

fn python() -> String {
    std::env::var("FLOWLOGD_PYTHON").unwrap_or_else(|_| {
        let home = std::env::var("HOME").unwrap_or_default();
        format!("{home}/.cache/flowlogd/emulators/venv/bin/python")
    })
}

fn main() -> Result<()> {
    let a = args()?;
    let bin = flowlogd_benches::target_dir().join("release/flowlogd");
    if !bin.exists() {
        bail!(
            "{} not found: run `cargo build --release -p flowlogd` first",
            bin.display()
        );
    }
    let py = python();
    let have_duck = Command::new(&py)
        .args(["-c", "import duckdb"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    println!(
        "threads: {}, flowlogd: {} (chunks: {}), duckdb: {}",
        a.threads,
        bin.display(),
        a.chunk_mib
            .map_or("default size".into(), |m| format!("{m} MiB")),
        if have_duck { &py } else { "not available" }
    );
    println!();
    println!("| input | engine | summaries | records | wall s | records/s | records/s per core | CPU s | peak RSS MiB | output rows |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut reductions = Vec::new();
    let mut speedups = Vec::new();
    for records in [a.records, a.records * a.scale] {
        let input = flowlogd_benches::aws_v2_data("pipeline-aws-v2", records, 6)?;
        // Every engine then reads from the page cache; otherwise the first run would also
        // measure the disk.
        warm_page_cache(&input)?;
        let out = flowlogd_benches::target_dir().join("bench-out");
        let row = |engine: &str, summaries: &str, m: &Measured, rows: &str| {
            let rps = records as f64 / m.wall;
            println!(
                "| {}M AWS v2 gz | {engine} | {summaries} | {records} | {:.2} | {:.0} | {:.0} | {:.1} | {:.0} | {rows} |",
                records / 1_000_000,
                m.wall,
                rps,
                rps / a.threads as f64,
                m.cpu,
                m.peak_rss_mib
            );
        };
        let run_flowlogd = |dir: &str, traffic_only: bool| {
            flowlogd(
                &bin,
                &input,
                &out.join(dir),
                a.threads,
                a.chunk_mib,
                traffic_only,
            )
        };
        let (mut ours, mut duck, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..a.repeat {
            let m = run_flowlogd("flowlogd", true)?;
            if have_duck {
                let d = duckdb(&py, &input, &out.join("duckdb"), a.threads)?;
                ratios.push(d.wall / m.wall);
                duck.push(d);
            }
            ours.push(m);
        }
        let m = median_run(ours);
        let rows = flowlogd_benches::accounting_value(&m.stdout, "summary_rows");
        row("flowlogd", "traffic", &m, &rows);
        let m = run_flowlogd("flowlogd3", false)?;
        let rows = flowlogd_benches::accounting_value(&m.stdout, "summary_rows");
        row(
            "flowlogd",
            "traffic + connections + rejected_by_source",
            &m,
            &rows,
        );
        reductions.push((records, reduction(&bin, &out.join("flowlogd3/parquet"))?));
        if have_duck {
            let m = median_run(duck);
            row("DuckDB read_csv + GROUP BY", "traffic", &m, m.stdout.trim());
            ratios.sort_by(f64::total_cmp);
            speedups.push((records, ratios));
        }
    }
    for (records, r) in speedups {
        println!(
            "\n{}M records, `traffic`: flowlogd / DuckDB throughput over {} paired runs: median {:.2}x (range {:.2}–{:.2}x)",
            records / 1_000_000,
            r.len(),
            r[r.len() / 2],
            r[0],
            r[r.len() - 1]
        );
    }
    println!();
    println!("| input records | summary | rows out | reduction | bytes (both directions) |");
    println!("|---|---|---|---|---|");
    for (records, lines) in reductions {
        for l in lines {
            let f: Vec<&str> = l.split(',').collect();
            if let [name, rows, bytes] = f[..] {
                let r: f64 = rows.parse().unwrap_or(f64::NAN);
                println!(
                    "| {records} | {name} | {rows} | {:.1}x | {bytes} |",
                    records as f64 / r
                );
            }
        }
    }
    Ok(())
}

/// The run with the median wall time.
fn median_run(mut runs: Vec<Measured>) -> Measured {
    runs.sort_by(|a, b| a.wall.total_cmp(&b.wall));
    let mid = runs.len() / 2;
    runs.swap_remove(mid)
}

/// Rows and byte totals of `traffic` and `connections` (bytes must be equal).
fn reduction(bin: &Path, parquet: &Path) -> Result<Vec<String>> {
    let q = "SELECT 'traffic' AS s, count(*) AS n, sum(coalesce(bytes, 0)) + sum(coalesce(bytes_rev, 0)) AS b FROM traffic \
             UNION ALL SELECT 'connections', count(*), sum(coalesce(bytes_c2s, 0)) + sum(coalesce(bytes_s2c, 0)) FROM connections";
    let out = Command::new(bin)
        .args(["query", "--format", "csv", "--data"])
        .arg(parquet)
        .arg(q)
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines: Vec<String> = text.lines().skip(1).map(str::to_owned).collect();
    lines.sort_by(|a, b| b.cmp(a));
    Ok(lines)
}
