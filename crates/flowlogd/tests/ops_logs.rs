//! Structured logs: JSON lines when asked for (config or `FLOWLOGD_LOG_FORMAT`), the level
//! from the config, `RUST_LOG` winning over it, and no colour codes off a terminal.

mod ops_common;

use std::process::Command;

use ops_common::*;

fn run_once(cfg_extra: &str, env: &[(&str, &str)]) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let out = tmp.path().join("out");
    gen(&input, 500, 1, 2);
    std::fs::create_dir_all(&out).unwrap();
    let cfg = out.join("flowlogd.toml");
    std::fs::write(&cfg, config(&input, &out, cfg_extra)).unwrap();
    let mut cmd = Command::new(bin());
    cmd.args([
        "run",
        "--once",
        "--quiet",
        "--config",
        cfg.to_str().unwrap(),
    ])
    .env_remove("RUST_LOG")
    .env_remove("FLOWLOGD_LOG_FORMAT");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let o = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "colour codes off a terminal: {stderr}"
    );
    stderr
}

#[test]
fn json_logs_from_the_config_with_its_level() {
    let stderr = run_once(
        "[telemetry]\nlog_format = \"json\"\nlog_level = \"debug\"\n",
        &[],
    );
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines.iter().any(|v| v["level"] == "DEBUG"), "{stderr}");
    assert!(lines
        .iter()
        .all(|v| v["timestamp"].is_string() && v["fields"].is_object()));
}

#[test]
fn env_format_and_rust_log_win_over_the_config() {
    let stderr = run_once(
        "[telemetry]\nlog_format = \"text\"\nlog_level = \"debug\"\n",
        &[("FLOWLOGD_LOG_FORMAT", "json"), ("RUST_LOG", "warn")],
    );
    for l in stderr.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        assert!(v["level"] == "WARN" || v["level"] == "ERROR", "{l}");
    }
}
