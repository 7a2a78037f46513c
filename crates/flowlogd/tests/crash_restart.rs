//! `kill -9` at several points of a backfill, restart, and the final Parquet output equals
//! an uninterrupted run: nothing lost, nothing counted twice — also when the interrupted run
//! keeps spilling window state to disk under a tiny memory budget and splits it into hash
//! parts early.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

/// `budget`: `engine.backfill_state_bytes`; a tiny one makes the run spill window state to
/// disk all the time, so restarts must also restore spilled state exactly. `split`:
/// `engine.state_split_rows`; a small one splits states into hash parts early (0: never).
fn config(input: &std::path::Path, out: &std::path::Path, budget: u64, split: u64) -> String {
    format!(
        r#"
state_dir = "{out}/state"
[engine]
checkpoint_interval = "150ms"
backfill_state_bytes = {budget}
state_split_rows = {split}
[[sources.local]]
path = "{input}"
max_chunk_bytes = 65536
[sinks.parquet]
path = "{out}/parquet"
[sinks.dead_letter]
path = "{out}/deadletter.jsonl"
"#,
        input = input.display(),
        out = out.display()
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_and_restart_gives_the_uninterrupted_result() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    gen(&input, 150_000, "2024-05-01T00:00:00Z", 4, 5);

    let clean = tmp.path().join("clean");
    std::fs::create_dir_all(&clean).unwrap();
    let clean_cfg = clean.join("flowlogd.toml");
    std::fs::write(&clean_cfg, config(&input, &clean, 512 << 20, 0)).unwrap();
    let clean_run = run_ok(&[
        "run",
        "--once",
        "--quiet",
        "--config",
        clean_cfg.to_str().unwrap(),
    ]);
    let clean_acct = accounting(&clean_run.stdout);

    let crashy = tmp.path().join("crashy");
    std::fs::create_dir_all(&crashy).unwrap();
    let cfg = crashy.join("flowlogd.toml");
    std::fs::write(&cfg, config(&input, &crashy, 256 << 10, 200)).unwrap();
    let mut kills = 0;
    let mut restored = 0;
    let current = crashy.join("state").join("CURRENT");
    let read_current = || std::fs::read_to_string(&current).unwrap_or_default();
    // Each run is killed a varying time after it wrote a new checkpoint (not after a fixed
    // time from its start, which on a slow machine can be before its first checkpoint).
    for delay_ms in [0u64, 250, 60, 400, 120, 700] {
        let before = read_current();
        let mut child = Command::new(bin())
            .args([
                "run",
                "--once",
                "--quiet",
                "--config",
                cfg.to_str().unwrap(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while read_current() == before
            && child.try_wait().unwrap().is_none()
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(delay_ms));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            let out = child.wait_with_output().unwrap();
            if String::from_utf8_lossy(&out.stderr).contains("restored checkpoint") {
                restored += 1;
            }
            kills += 1;
        } else {
            let _ = child.wait_with_output();
            break;
        }
    }
    assert!(
        kills >= 2,
        "the run finished before it could be killed twice; use more data"
    );
    assert!(restored >= 1, "no restart resumed from a checkpoint");
    let final_run = run_ok(&[
        "run",
        "--once",
        "--quiet",
        "--config",
        cfg.to_str().unwrap(),
    ]);
    let acct = accounting(&final_run.stdout);

    let expected = all_output_rows(&clean.join("parquet")).await;
    let actual = all_output_rows(&crashy.join("parquet")).await;
    assert!(!expected.is_empty());
    assert_eq!(actual.len(), expected.len());
    assert_same_rows(&actual, &expected, "output after kill -9 and restarts");
    // The checkpointed accounting survives too: the same records in, once each.
    assert_eq!(acct["records_in"], clean_acct["records_in"]);
    assert_eq!(acct["records_summarized"], clean_acct["records_summarized"]);
    // The budgets did what they say: the interrupted run spilled, the clean one did not.
    assert!(acct["spilled_states"].parse::<u64>().unwrap() > 0);
    assert_eq!(clean_acct["spilled_states"], "0");
    // Split states (in hash parts) give the same rows as whole ones.
    assert!(acct["split_states"].parse::<u64>().unwrap() > 0);
    assert_eq!(clean_acct["split_states"], "0");
}
