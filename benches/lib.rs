//! Support package for flowlogd's benchmarks; the benchmarks themselves are the `[[bench]]`
//! targets next to this file (see `BENCHMARKS.md` at the repository root).

use std::path::{Path, PathBuf};

use flowlogd_formats::sample::{generate, GenConfig, SampleFormat};

/// The cargo target directory of the running bench (`target/release/deps/<bench>-<hash>`).
pub fn target_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent()?.parent()?.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("target"))
}

/// Every file under `dir`, sorted by path.
pub fn files_under(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry?;
        if entry.file_type().is_file() {
            files.push(entry.into_path());
        }
    }
    Ok(files)
}

/// AWS default-format `.log.gz` objects of `records` records, generated once into
/// `target/bench-data/<name>-<records>` and reused: 6 simulated hours and a fixed host
/// population, so more records means denser traffic rather than more hosts.
pub fn aws_v2_data(name: &str, records: u64, gzip_level: u32) -> std::io::Result<PathBuf> {
    let dir = target_dir().join(format!("bench-data/{name}-{records}"));
    if dir.join(".complete").exists() {
        return Ok(dir);
    }
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!(
        "generating {records} AWS v2 records into {} ...",
        dir.display()
    );
    let cfg = GenConfig {
        records,
        formats: vec![SampleFormat::AwsV2Gz],
        hours: 6,
        hosts_per_network: 24,
        gzip_level,
        ..GenConfig::default()
    };
    generate(&cfg, &dir)?;
    std::fs::write(dir.join(".complete"), b"")?;
    Ok(dir)
}

/// A value of `flowlogd run --once`'s accounting line (`key=value`), or `?`.
pub fn accounting_value(stdout: &str, key: &str) -> String {
    stdout
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
        .unwrap_or("?")
        .to_owned()
}
