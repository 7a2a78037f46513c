//! The admin endpoint of a running flowlogd: `/healthz`, `/readyz`, `/status` and a
//! `/metrics` page that parses as Prometheus text and whose counters agree with the
//! record accounting; and no secret from the environment in any output.

mod ops_common;

use std::time::Duration;

use ops_common::*;

const SECRETS: &[&str] = &[
    "wJalrXUtnFEMI-flowlogd-test-secret",
    "Bearer-otlp-header-secret-9f2c",
    "AccountKey-secret-a7b1c9",
];

#[test]
fn admin_endpoints_serve_health_status_and_metrics_without_secrets() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let out = tmp.path().join("out");
    gen(&input, 4_000, 2, 7);
    // One object that is not gzip at all: a dead letter, counted as a reject by reason.
    let bad =
        input.join("AWSLogs/bad/123456789012_vpcflowlogs_us-east-1_fl-1_20240501T0000Z_bad.log.gz");
    std::fs::create_dir_all(bad.parent().unwrap()).unwrap();
    std::fs::write(&bad, b"this is not gzip").unwrap();
    let objects = count_files(&input);
    std::fs::create_dir_all(&out).unwrap();
    let cfg = out.join("flowlogd.toml");
    std::fs::write(
        &cfg,
        config(
            &input,
            &out,
            "[admin]\nlisten = \"127.0.0.1:0\"\n[telemetry]\nlog_level = \"debug\"\n",
        ),
    )
    .unwrap();
    let headers = format!("authorization={}", SECRETS[1]);
    let conn = format!(
        "DefaultEndpointsProtocol=http;AccountName=x;AccountKey={};",
        SECRETS[2]
    );
    let mut d = Daemon::start(
        &["run", "--config", cfg.to_str().unwrap()],
        &[
            ("AWS_SECRET_ACCESS_KEY", SECRETS[0]),
            ("OTEL_EXPORTER_OTLP_HEADERS", &headers),
            ("AZURE_STORAGE_CONNECTION_STRING", &conn),
            // Export fails (nothing listens there): its errors are logged, the headers not.
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "300"),
        ],
    );
    let addr = d.admin_addr();
    assert!(addr.ip().is_loopback());

    let (code, body) = http_get(addr, "/healthz");
    assert_eq!((code, body.trim()), (200, "ok"));
    let status = wait_status(addr, "every object read", Duration::from_secs(60), |v| {
        let a = &v["accounting"];
        a["objects"].as_u64().unwrap_or(0) + a["objects_failed"].as_u64().unwrap_or(0)
            == objects as u64
            && v["windows"]["revisions_emitted"].as_u64().unwrap_or(0) > 0
    });
    let (code, _) = http_get(addr, "/readyz");
    assert_eq!(code, 200);
    assert_eq!(status["ready"], true);
    assert_eq!(status["phase"], "running");
    let src = &status["sources"]["local"];
    let read = status["accounting"]["objects"].as_u64().unwrap();
    assert_eq!(src["objects"].as_u64(), Some(read), "{status:#}");
    assert!(src["last_object"].as_str().is_some_and(|o| !o.is_empty()));
    assert!(src["event_lag_seconds"].as_f64().unwrap() > 0.0);
    assert!(status["windows"]["open"].as_u64().unwrap() >= 2);
    assert!(
        status["windows"]["closed"].as_u64().unwrap() >= 2,
        "{status:#}"
    );
    let traffic = &status["last_emission"]["traffic"];
    assert!(traffic["revision"].as_u64().unwrap() >= 1, "{status:#}");
    assert!(traffic["window_start"]
        .as_str()
        .unwrap()
        .starts_with("2024-05-01T0"));
    assert!(status.get("access").is_some());

    let (code, text) = http_get(addr, "/metrics");
    assert_eq!(code, 200);
    let samples = parse_prometheus(&text);
    let records_in = status["accounting"]["records_in"].as_u64().unwrap() as f64;
    assert!(records_in > 0.0);
    assert_eq!(
        total(&samples, "flowlogd_records_read_total"),
        records_in,
        "{text}"
    );
    assert_eq!(total(&samples, "flowlogd_objects_read_total"), read as f64);
    // Immutable objects are consumed whole; a `PT1H.json` up to the end of its last
    // complete record (its closing `]}` is left for the next append).
    let (bytes, json_files) = files_bytes(&input);
    let read = total(&samples, "flowlogd_read_bytes_total");
    assert!(
        read <= bytes as f64 && read >= (bytes - 8 * json_files) as f64,
        "{read} bytes read of {bytes}"
    );
    assert!(samples
        .iter()
        .any(|s| s.name == "flowlogd_records_read_total" && s.labels["source"] == "local"));
    let windowed = status["accounting"]["records_windowed"].as_u64().unwrap() as f64;
    assert_eq!(total(&samples, "flowlogd_window_records"), windowed);
    assert!(total(&samples, "flowlogd_revisions_emitted_total") >= 3.0);
    assert!(total(&samples, "flowlogd_summary_rows_total") > 0.0);
    assert!(total(&samples, "flowlogd_checkpoint_duration_seconds_count") >= 1.0);
    assert!(total(&samples, "flowlogd_process_rss_bytes") > 1e6);
    assert!(total(&samples, "flowlogd_window_lag_seconds") > 3600.0);
    assert!(total(&samples, "flowlogd_windows_open") >= 2.0);
    let a = &status["accounting"];
    let rejected = (a["rejected"].as_u64().unwrap() + a["objects_failed"].as_u64().unwrap()) as f64;
    assert!(rejected >= 1.0);
    assert_eq!(total(&samples, "flowlogd_parse_rejects_total"), rejected);
    // By reason: as many as the dead-letter output holds of each kind.
    let dead = out.join("deadletter.jsonl");
    let start = std::time::Instant::now();
    while (std::fs::read_to_string(&dead)
        .unwrap_or_default()
        .lines()
        .count() as f64)
        < rejected
    {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "dead letters not written"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut kinds = std::collections::BTreeMap::<String, f64>::new();
    for l in std::fs::read_to_string(&dead).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        *kinds
            .entry(v["kind"].as_str().unwrap().to_owned())
            .or_default() += 1.0;
    }
    let by_reason: std::collections::BTreeMap<String, f64> = samples
        .iter()
        .filter(|s| s.name == "flowlogd_parse_rejects_total")
        .map(|s| (s.labels["reason"].clone(), s.value))
        .collect();
    assert_eq!(by_reason, kinds, "{text}");

    d.signal("TERM");
    let (code, stdout, stderr) = d.wait_exit(Duration::from_secs(60));
    assert_eq!(code, Some(0), "{stderr}");
    let everything = format!("{stdout}\n{stderr}\n{status}\n{text}");
    for s in SECRETS {
        assert!(!everything.contains(s), "secret {s:?} in an output");
    }
    // The debug log was on: the check covers more than the quiet default.
    assert!(stderr.contains("DEBUG"), "{stderr}");
}

/// Bytes of every file below `dir`, and the number of `PT1H.json` blobs among them.
fn files_bytes(dir: &std::path::Path) -> (u64, u64) {
    let (mut n, mut json) = (0, 0);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                n += std::fs::metadata(&p).unwrap().len();
                json += u64::from(p.ends_with("PT1H.json"));
            }
        }
    }
    (n, json)
}

#[test]
fn admin_endpoint_can_be_turned_off() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let out = tmp.path().join("out");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    let cfg = out.join("flowlogd.toml");
    std::fs::write(&cfg, config(&input, &out, "[admin]\nenabled = false\n")).unwrap();
    let mut d = Daemon::start(&["run", "--config", cfg.to_str().unwrap()], &[]);
    d.wait_stderr("pipeline running", Duration::from_secs(60));
    d.signal("TERM");
    let (code, _, stderr) = d.wait_exit(Duration::from_secs(60));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("admin endpoint listening"), "{stderr}");
}
