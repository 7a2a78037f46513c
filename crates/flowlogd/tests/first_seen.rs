//! First-seen detection end to end, across a restart: pairs learned before the restart
//! (learning period 1h) do not alert after it, a new pair alerts exactly once, and the
//! hidden pairs summary reaches no summary sink.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;

const HEADER: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n";
/// 2024-05-01T00:00:00Z
const T0: i64 = 1_714_521_600;

fn config(input: &Path, out: &Path) -> String {
    format!(
        r#"
state_dir = "{out}/state"
[engine]
tick = "10m"
grace = "20m"
retention = "48h"
checkpoint_interval = "300ms"
[engine.detection.first_seen]
enabled = true
learning_period = "1h"
[[sources.local]]
path = "{input}"
poll_interval = "50ms"
settle = "0s"
[sinks.jsonl]
path = "{out}/summaries.jsonl"
[sinks.first_seen]
path = "{out}/first_seen.jsonl"
"#,
        input = input.display(),
        out = out.display()
    )
}

/// An AWS text object with one record per (src, dst, dst_port) at `hour` of 2024-05-01.
fn write_log(dir: &Path, name: &str, hour: i64, pairs: &[(&str, &str, u16)]) {
    let mut text = HEADER.to_owned();
    for (i, (src, dst, port)) in pairs.iter().enumerate() {
        let start = T0 + hour * 3600 + 60 + i as i64;
        text.push_str(&format!(
            "2 123456789010 eni-1 {src} {dst} 40000 {port} 6 10 1000 {start} {} ACCEPT OK\n",
            start + 30
        ));
    }
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, dir.join(name)).unwrap();
}

fn jsonl(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn traffic_closed(out: &Path, window_start: &str) -> bool {
    jsonl(&out.join("summaries.jsonl"))
        .iter()
        .any(|v| v["summary"] == "traffic" && v["window_start"] == window_start)
}

fn start(cfg: &Path) -> Child {
    // The clock starts at 05:00 (1 event hour = 6 s), so windows 00 and 01 are closed.
    Command::new(bin())
        .args(["run", "--config", cfg.to_str().unwrap()])
        .env("FLOWLOGD_TEST_CLOCK", "2024-05-01T05:00:00Z@600")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn stop(child: Child) {
    send_sigterm(child.id());
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn new_pairs_alert_once_after_learning_and_across_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let out = tmp.path().join("out");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    let cfg = out.join("flowlogd.toml");
    std::fs::write(&cfg, config(&input, &out)).unwrap();
    let alerts_path = out.join("first_seen.jsonl");

    // Run 1: hour 00 is the learning period; nothing alerts.
    write_log(
        &input,
        "h00.log",
        0,
        &[("10.0.0.1", "10.0.1.1", 443), ("10.0.0.2", "10.0.1.1", 22)],
    );
    let child = start(&cfg);
    wait_for("window 00", Duration::from_secs(30), || {
        traffic_closed(&out, "2024-05-01T00:00:00Z")
    });
    std::thread::sleep(Duration::from_millis(500));
    stop(child);
    assert!(jsonl(&alerts_path).is_empty(), "alerted while learning");

    // Run 2 (restored store): hour 01 has a known pair, a known pair reversed in port,
    // and a new one; only the two unknown pairs alert.
    write_log(
        &input,
        "h01.log",
        1,
        &[
            ("10.0.0.1", "10.0.1.1", 443),
            ("10.0.0.2", "10.0.1.1", 443),
            ("10.0.0.9", "10.0.1.1", 3389),
        ],
    );
    let child = start(&cfg);
    wait_for("window 01", Duration::from_secs(30), || {
        traffic_closed(&out, "2024-05-01T01:00:00Z")
    });
    wait_for("alerts", Duration::from_secs(30), || {
        jsonl(&alerts_path).len() >= 2
    });
    std::thread::sleep(Duration::from_millis(1500));
    stop(child);

    let mut alerts = jsonl(&alerts_path);
    alerts.sort_by_key(|v| v["src_addr"].as_str().unwrap_or_default().to_owned());
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    assert_eq!(alerts[0]["src_addr"], "10.0.0.2");
    assert_eq!(alerts[0]["dst_port"], 443);
    assert_eq!(alerts[1]["src_addr"], "10.0.0.9");
    assert_eq!(alerts[1]["dst_addr"], "10.0.1.1");
    assert_eq!(alerts[1]["dst_port"], 3389);
    assert_eq!(alerts[1]["protocol"], 6);
    assert_eq!(alerts[1]["window_start"], "2024-05-01T01:00:00.000Z");
    assert_eq!(alerts[1]["window_end"], "2024-05-01T02:00:00.000Z");
    assert_eq!(alerts[1]["first_seen"], "2024-05-01T01:01:02.000Z");
    // The hidden summary is not a summary output.
    assert!(jsonl(&out.join("summaries.jsonl"))
        .iter()
        .all(|v| v["summary"] != "__pairs"));
}

#[test]
fn once_alerts_new_pairs_after_learning_and_writes_no_pairs_summary() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let out = tmp.path().join("out");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    let cfg = out.join("flowlogd.toml");
    // parallelism = 1: the final flush emits one (window, summary) at a time, so some
    // slices hold only the hidden summary and must not end the flush.
    let text = config(&input, &out)
        .replace("[engine]\n", "[engine]\nparallelism = 1\n")
        .replace(
            "[sinks.jsonl]",
            &format!(
                "[sinks.parquet]\npath = \"{}/parquet\"\n[sinks.jsonl]",
                out.display()
            ),
        );
    std::fs::write(&cfg, text).unwrap();
    write_log(&input, "h00.log", 0, &[("10.0.0.1", "10.0.1.1", 443)]);
    write_log(
        &input,
        "h01.log",
        1,
        &[("10.0.0.1", "10.0.1.1", 443), ("10.0.0.5", "10.0.1.1", 53)],
    );
    write_log(
        &input,
        "h02.log",
        2,
        &[("10.0.0.5", "10.0.1.1", 53), ("10.0.0.6", "10.0.1.1", 53)],
    );
    run_ok(&[
        "run",
        "--once",
        "--quiet",
        "--config",
        cfg.to_str().unwrap(),
    ]);
    let alerts = jsonl(&out.join("first_seen.jsonl"));
    let got: Vec<(String, String)> = alerts
        .iter()
        .map(|v| {
            (
                v["src_addr"].as_str().unwrap().to_owned(),
                v["window_start"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("10.0.0.5".into(), "2024-05-01T01:00:00.000Z".into()),
            ("10.0.0.6".into(), "2024-05-01T02:00:00.000Z".into()),
        ]
    );
    assert!(out.join("parquet").join("summary=traffic").exists());
    assert!(!out.join("parquet").join("summary=__pairs").exists());
}
