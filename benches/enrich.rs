//! Enrichment cost: the same `flowlogd run --once` over generated AWS v2 `.log.gz` data
//! without and with enrichment by 100k-prefix tables (a blocklist, an inventory and a
//! cloud-ranges file of random IPv4/IPv6 prefixes each, plus the prefixes the data's own
//! addresses fall in, so lookups hit).
//!
//! ```text
//! cargo build --release -p flowlogd
//! cargo bench -p flowlogd-benches --bench enrich -- --records 2000000 --prefixes 100000
//! ```
//!
//! Runs (the enrichment cost is C − B: the same summaries, with and without tables):
//! - **A**: the built-in summaries;
//! - **B**: A plus a summary grouped by enrichment columns of every kind, without tables (only
//!   `traffic_class` is computed, the lookup columns are null);
//! - **C**: B with the three 100k-prefix tables loaded;
//! - **D**: C plus the `blocklist_hits` summary the blocklist turns on.
//!
//! Each run is repeated (`--repeat`, default 3) and the lowest CPU time is kept, as other
//! processes on the machine only ever add to it.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};

struct Args {
    records: u64,
    prefixes: u64,
    repeat: usize,
}

fn args() -> Result<Args> {
    let mut a = Args {
        records: 2_000_000,
        prefixes: 100_000,
        repeat: 3,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut val = || it.next().context("flag needs a value");
        match k.as_str() {
            "--records" => a.records = val()?.parse()?,
            "--prefixes" => a.prefixes = val()?.parse()?,
            "--repeat" => a.repeat = val()?.parse()?,
            "--bench" => {}
            other => bail!("unknown flag {other} (use --records N --prefixes P --repeat R)"),
        }
    }
    Ok(a)
}

/// Deterministic pseudo-random numbers (SplitMix64): the tables are the same on every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// `n` random prefixes, one per line: 90 % IPv4 /12–/32, 10 % IPv6 /32–/64.
fn random_prefixes(n: u64, seed: u64) -> Vec<String> {
    let mut r = Rng(seed);
    (0..n)
        .map(|_| {
            let v = r.next();
            if v.is_multiple_of(10) {
                let len = 32 + (r.next() % 33) as u8;
                let a = std::net::Ipv6Addr::from((0x2000u128 << 112) | ((r.next() as u128) << 48));
                format!("{a}/{len}")
            } else {
                let len = 12 + (r.next() % 21) as u8;
                let a = std::net::Ipv4Addr::from((v >> 32) as u32);
                format!("{a}/{len}")
            }
        })
        .collect()
}

fn tables(dir: &Path, n: u64) -> Result<String> {
    std::fs::create_dir_all(dir)?;
    // The data's own networks, so that labels and list hits occur.
    let own = [
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "45.0.0.0/8",
        "185.0.0.0/8",
    ];
    let mut block = String::from("# random bench list\n");
    for p in random_prefixes(n, 1)
        .iter()
        .chain(&own[3..].iter().map(|s| s.to_string()).collect::<Vec<_>>())
    {
        writeln!(block, "{p}")?;
    }
    std::fs::write(dir.join("block.txt"), block)?;
    let mut inv = String::from("cidr,app,env,owner,account_name,vpc_id\n");
    for (i, p) in own[..3]
        .iter()
        .map(|s| s.to_string())
        .chain(random_prefixes(n, 2))
        .enumerate()
    {
        writeln!(
            inv,
            "{p},app{},env{},owner{},acct{},vpc-{}",
            i % 50,
            i % 3,
            i % 20,
            i % 10,
            i % 7
        )?;
    }
    std::fs::write(dir.join("inventory.csv"), inv)?;
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    for (i, p) in random_prefixes(n, 3).iter().enumerate() {
        let svc = ["S3", "EC2", "DYNAMODB", "CLOUDFRONT"][i % 4];
        if p.contains(':') {
            v6.push(format!("{{\"ipv6_prefix\":\"{p}\",\"service\":\"{svc}\"}}"));
        } else {
            v4.push(format!("{{\"ip_prefix\":\"{p}\",\"service\":\"{svc}\"}}"));
        }
    }
    std::fs::write(
        dir.join("ranges.json"),
        format!(
            "{{\"prefixes\":[{}],\"ipv6_prefixes\":[{}]}}",
            v4.join(","),
            v6.join(",")
        ),
    )?;
    Ok(format!(
        r#"
[engine.detection]
blocklist_hits = HITS
[engine.enrichment]
blocklists = [{{ name = "bench", path = "{d}/block.txt" }}]
inventory = [{{ path = "{d}/inventory.csv" }}]
cloud_ranges = {{ path = "{d}/ranges.json" }}

"#,
        d = dir.display()
    ))
}

/// A summary over enrichment columns of every kind (labels, blocklists, services, class), so
/// that all three tables are looked up for every record.
const BY_ENRICHMENT: &str = r#"
[[summaries]]
name = "by_enrichment"
group_by = ["traffic_class", "src_label_app", "dst_label_app", "src_label_env", "dst_label_env",
  "src_blocklist", "dst_blocklist", "dst_service", "action"]
metrics = [{ name = "records", fn = "count" }, { name = "bytes", fn = "sum", column = "bytes" }]
"#;

struct Measured {
    wall: f64,
    cpu: f64,
    stdout: String,
}

/// CPU time (user + system) of waited-for children of this process, in seconds.
fn children_cpu() -> f64 {
    let tick = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0);
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // After the command name (which may contain spaces) come fields 3, 4, …; cutime and
    // cstime are fields 16 and 17.
    let rest = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    (f.get(13).unwrap_or(&0.0) + f.get(14).unwrap_or(&0.0)) / tick
}

fn run(bin: &Path, input: &Path, out: &Path, extra: &str) -> Result<Measured> {
    let _ = std::fs::remove_dir_all(out);
    std::fs::create_dir_all(out)?;
    let cfg = out.join("bench.toml");
    std::fs::write(
        &cfg,
        format!(
            "state_dir = \"{o}/state\"\n{extra}\n[[sources.local]]\npath = \"{i}\"\n[sinks.parquet]\npath = \"{o}/parquet\"\n",
            i = input.display(),
            o = out.display()
        ),
    )?;
    let cpu0 = children_cpu();
    let t = Instant::now();
    let o = Command::new(bin)
        .args(["run", "--once", "--quiet", "--config"])
        .arg(&cfg)
        .output()?;
    if !o.status.success() {
        bail!("flowlogd failed: {}", String::from_utf8_lossy(&o.stderr));
    }
    Ok(Measured {
        wall: t.elapsed().as_secs_f64(),
        cpu: children_cpu() - cpu0,
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
    })
}

fn best(bin: &Path, input: &Path, out: &Path, extra: &str, repeat: usize) -> Result<Measured> {
    let mut best: Option<Measured> = None;
    for _ in 0..repeat.max(1) {
        let m = run(bin, input, out, extra)?;
        if best.as_ref().is_none_or(|b| m.cpu < b.cpu) {
            best = Some(m);
        }
    }
    best.context("no run")
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
    let input = flowlogd_benches::aws_v2_data("enrich-aws-v2", a.records, 1)?;
    let t = Instant::now();
    let extra = tables(
        &flowlogd_benches::target_dir().join("bench-data/enrich-tables"),
        a.prefixes,
    )?;
    eprintln!("tables written in {:.1}s", t.elapsed().as_secs_f64());
    let out = flowlogd_benches::target_dir().join("bench-out-enrich");
    let base = best(&bin, &input, &out.join("base"), "", a.repeat)?;
    let plain = best(&bin, &input, &out.join("plain"), BY_ENRICHMENT, a.repeat)?;
    let with = |hits: &str| format!("{}{BY_ENRICHMENT}", extra.replace("HITS", hits));
    let enr = best(
        &bin,
        &input,
        &out.join("enriched"),
        &with("false"),
        a.repeat,
    )?;
    let hits = best(&bin, &input, &out.join("hits"), &with("true"), a.repeat)?;
    // Loading the tables is a one-off at startup (and on reload): measured on its own with
    // `validate-config`, which parses them once, against the same config without tables.
    let load = |dir: &str| -> Result<f64> {
        let t = Instant::now();
        let cfg = out.join(dir).join("bench.toml");
        for _ in 0..3 {
            Command::new(&bin)
                .arg("validate-config")
                .arg(&cfg)
                .output()?;
        }
        Ok(t.elapsed().as_secs_f64() / 3.0)
    };
    let load_s = load("enriched")? - load("plain")?;
    let records: f64 = flowlogd_benches::accounting_value(&base.stdout, "records_in")
        .parse()
        .unwrap_or(f64::NAN);
    println!(
        "{} records, {} prefixes per table, best of {}",
        records, a.prefixes, a.repeat
    );
    println!();
    println!("| run | wall s | CPU s | records/s per CPU s | summary rows | CPU vs A |");
    println!("|---|---|---|---|---|---|");
    for (name, m) in [
        ("A: built-in summaries", &base),
        ("B: A + `by_enrichment` summary, no tables", &plain),
        ("C: B with 3 × 100k-prefix tables", &enr),
        ("D: C + `blocklist_hits` summary", &hits),
    ] {
        println!(
            "| {name} | {:.2} | {:.2} | {:.0} | {} | {:+.1} % |",
            m.wall,
            m.cpu,
            records / m.cpu,
            flowlogd_benches::accounting_value(&m.stdout, "summary_rows"),
            (m.cpu / base.cpu - 1.0) * 100.0
        );
    }
    println!();
    println!(
        "enrichment cost (C - B): {:.0} ns CPU per record, {:+.1} % CPU, {:+.1} % wall; \
         of which loading the tables once: {load_s:.2} s; without it {:.0} ns per record, {:+.1} % CPU",
        (enr.cpu - plain.cpu) / records * 1e9,
        (enr.cpu / plain.cpu - 1.0) * 100.0,
        (enr.wall / plain.wall - 1.0) * 100.0,
        (enr.cpu - load_s - plain.cpu) / records * 1e9,
        ((enr.cpu - load_s) / plain.cpu - 1.0) * 100.0,
    );
    Ok(())
}
