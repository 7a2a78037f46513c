//! Signals with the real binary: SIGINT drains, checkpoints and exits 0 (a restart reads
//! nothing twice); SIGHUP applies a new config (new summary, new log level) without
//! losing window state, and rejects a bad one while the old one keeps running.

mod common;
mod ops_common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use ops_common::*;

/// `run --once` over `input`: its accounting.
fn once(input: &Path, out: &Path) -> std::collections::BTreeMap<String, u64> {
    let o = Command::new(bin())
        .args(["run", "--once", "--quiet", "--input"])
        .arg(input)
        .arg("--output")
        .arg(out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    accounting(&String::from_utf8_lossy(&o.stdout))
}

fn jsonl_summaries(path: &Path) -> std::collections::BTreeSet<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["summary"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn sigint_drains_checkpoints_and_a_restart_reads_nothing_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let out = tmp.path().join("out");
    gen(&input, 3_000, 2, 11);
    std::fs::create_dir_all(&out).unwrap();
    let cfg = out.join("flowlogd.toml");
    std::fs::write(
        &cfg,
        config(
            &input,
            &out,
            "[admin]\nlisten = \"127.0.0.1:0\"\n[service]\nshutdown_timeout = \"30s\"\n",
        ),
    )
    .unwrap();
    let objects = count_files(&input) as u64;
    let mut d = Daemon::start(&["run", "--config", cfg.to_str().unwrap()], &[]);
    let addr = d.admin_addr();
    wait_status(addr, "every object", Duration::from_secs(60), |v| {
        v["accounting"]["objects"].as_u64() == Some(objects)
    });
    d.signal("INT");
    let (code, stdout, stderr) = d.wait_exit(Duration::from_secs(40));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("signal=\"SIGINT\""), "{stderr}");
    let first = accounting(&stdout);
    let expected = once(&input, &tmp.path().join("once"));
    assert_eq!(first["records_in"], expected["records_in"]);

    // The restart resumes from the checkpoint: same totals, no chunk read again.
    let mut d = Daemon::start(&["run", "--config", cfg.to_str().unwrap()], &[]);
    d.wait_stderr("restored checkpoint", Duration::from_secs(60));
    d.wait_stderr("pipeline running", Duration::from_secs(60));
    std::thread::sleep(Duration::from_millis(1500));
    d.signal("TERM");
    let (code, stdout, stderr) = d.wait_exit(Duration::from_secs(40));
    assert_eq!(code, Some(0), "{stderr}");
    let second = accounting(&stdout);
    assert_eq!(second["records_in"], first["records_in"]);
    assert_eq!(second["objects"], objects);
    assert_eq!(second["duplicate_chunks"], 0);
}

#[test]
fn sighup_applies_a_new_config_without_losing_state_or_rejects_a_bad_one() {
    let tmp = tempfile::tempdir().unwrap();
    let all = tmp.path().join("all");
    let input = tmp.path().join("in");
    let out = tmp.path().join("out");
    gen(&all, 3_000, 2, 17);
    std::fs::create_dir_all(&out).unwrap();
    // Half of the files now, half after the reload.
    let mut files: Vec<_> = walk(&all);
    files.sort();
    let (before, after) = files.split_at(files.len() / 2);
    for f in before {
        copy(&all, f, &input);
    }
    let cfg = out.join("flowlogd.toml");
    let base = config(&input, &out, "[admin]\nlisten = \"127.0.0.1:0\"\n");
    std::fs::write(&cfg, &base).unwrap();
    let mut d = Daemon::start(&["run", "--config", cfg.to_str().unwrap()], &[]);
    let addr = d.admin_addr();
    wait_status(addr, "the first half", Duration::from_secs(60), |v| {
        v["accounting"]["objects"].as_u64() == Some(before.len() as u64)
            && v["windows"]["revisions_emitted"].as_u64().unwrap_or(0) > 0
    });
    assert!(!d.stderr().contains("DEBUG"));

    // 1. A bad config: rejected with the reason, the old one keeps running.
    std::fs::write(&cfg, format!("{base}\n[engine.nonsense]\nx = 1\n")).unwrap();
    d.signal("HUP");
    let text = d.wait_stderr("keeping the current configuration", Duration::from_secs(30));
    assert!(
        text.contains("nonsense"),
        "the reason names the key:\n{text}"
    );
    let v = wait_status(addr, "rejection on /status", Duration::from_secs(10), |v| {
        v["config"]["reloads_rejected"] == 1
    });
    assert_eq!(v["ready"], true);
    assert!(v["config"]["last_rejection"]
        .as_str()
        .unwrap()
        .contains("nonsense"));

    // 2. A summary changed under its old name: rejected (its state was built for the old one).
    std::fs::write(
        &cfg,
        format!("builtin_summaries = false\n{base}").replace(
            "[engine]",
            "[[summaries]]\nname = \"traffic\"\ngroup_by = [\"action\"]\nmetrics = [{ name = \"records\", fn = \"count\" }]\n[engine]",
        ),
    )
    .unwrap();
    d.signal("HUP");
    let v = wait_status(addr, "second rejection", Duration::from_secs(10), |v| {
        v["config"]["reloads_rejected"] == 2
    });
    let reason = v["config"]["last_rejection"].as_str().unwrap();
    assert!(
        reason.contains("\"traffic\" changed its definition"),
        "{reason}"
    );

    // 3. A good one: a new summary and the debug log level.
    let extra = "[admin]\nlisten = \"127.0.0.1:0\"\n[telemetry]\nlog_level = \"debug\"\n\
                 [[summaries]]\nname = \"by_action\"\ngroup_by = [\"provider\", \"action\"]\n\
                 metrics = [{ name = \"records\", fn = \"count\" }]\n";
    std::fs::write(&cfg, config(&input, &out, extra)).unwrap();
    d.signal("HUP");
    d.wait_stderr("configuration reloaded", Duration::from_secs(60));
    wait_status(addr, "reload applied", Duration::from_secs(30), |v| {
        v["config"]["reloads_applied"] == 1 && v["ready"] == true
    });
    for f in after {
        copy(&all, f, &input);
    }
    let total = files.len() as u64;
    wait_status(addr, "the second half", Duration::from_secs(60), |v| {
        v["accounting"]["objects"].as_u64() == Some(total)
            && v["last_emission"]["by_action"]["revision"]
                .as_u64()
                .unwrap_or(0)
                >= 1
    });
    let (_, text) = http_get(addr, "/metrics");
    let samples = parse_prometheus(&text);
    let reloads = |result: &str| {
        samples
            .iter()
            .find(|s| s.name == "flowlogd_config_reloads_total" && s.labels["result"] == result)
            .map(|s| s.value)
    };
    assert_eq!(reloads("rejected"), Some(2.0), "{text}");
    assert_eq!(reloads("applied"), Some(1.0), "{text}");
    d.signal("TERM");
    let (code, stdout, stderr) = d.wait_exit(Duration::from_secs(40));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("DEBUG"), "the new log level applies");
    assert!(jsonl_summaries(&out.join("summaries.jsonl")).contains("by_action"));

    // State kept across the reload: every record counted once, and the final windows of
    // the built-in summaries equal `run --once` over all files.
    let acct = accounting(&stdout);
    let once_out = tmp.path().join("once");
    let expected = once(&input, &once_out);
    assert_eq!(acct["records_in"], expected["records_in"]);
    assert_eq!(acct["objects"], total);
    assert_eq!(acct["duplicate_chunks"], 0);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let actual = rt.block_on(common::all_output_rows(&out.join("parquet")));
    let expected = rt.block_on(common::all_output_rows(&once_out.join("parquet")));
    common::assert_same_rows(
        &actual,
        &expected,
        "final revisions after a reload vs --once",
    );
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
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
    out
}

/// Copies under a hidden name and renames: the source never sees half a file.
fn copy(root: &Path, file: &Path, dst_root: &Path) {
    let dst = dst_root.join(file.strip_prefix(root).unwrap());
    std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
    let tmp = dst.with_file_name(format!(
        ".{}.tmp",
        dst.file_name().unwrap().to_string_lossy()
    ));
    std::fs::copy(file, &tmp).unwrap();
    std::fs::rename(&tmp, &dst).unwrap();
}

#[test]
fn a_drain_longer_than_shutdown_timeout_exits_1_and_the_restart_recovers() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let out = tmp.path().join("out");
    gen(&input, 15_000, 2, 23);
    std::fs::create_dir_all(&out).unwrap();
    let cfg = out.join("flowlogd.toml");
    let slow = "[admin]\nenabled = false\n[service]\nshutdown_timeout = \"1ms\"\n";
    std::fs::write(&cfg, config(&input, &out, slow)).unwrap();
    let mut d = Daemon::start(&["run", "--config", cfg.to_str().unwrap()], &[]);
    d.wait_stderr("pipeline running", Duration::from_secs(60));
    d.signal("TERM");
    let (code, stdout, stderr) = d.wait_exit(Duration::from_secs(30));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("longer than service.shutdown_timeout"),
        "{stderr}"
    );
    assert!(
        !stdout.contains("flowlogd: "),
        "no accounting after a cut-short drain"
    );

    // The next start resumes from the last checkpoint and ends with every record once.
    std::fs::write(
        &cfg,
        config(&input, &out, "[admin]\nlisten = \"127.0.0.1:0\"\n"),
    )
    .unwrap();
    let objects = count_files(&input) as u64;
    let mut d = Daemon::start(&["run", "--config", cfg.to_str().unwrap()], &[]);
    let addr = d.admin_addr();
    wait_status(addr, "every object", Duration::from_secs(120), |v| {
        v["accounting"]["objects"].as_u64() == Some(objects)
    });
    d.signal("TERM");
    let (code, stdout, stderr) = d.wait_exit(Duration::from_secs(60));
    assert_eq!(code, Some(0), "{stderr}");
    let acct = accounting(&stdout);
    let expected = once(&input, &tmp.path().join("once"));
    assert_eq!(acct["objects"], objects, "{stderr}");
    assert_eq!(acct["records_in"], expected["records_in"]);
}
