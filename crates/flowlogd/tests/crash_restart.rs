//! `kill -9` at several points of a backfill, restart, and the final Parquet output equals
//! an uninterrupted run: nothing lost, nothing counted twice — also when the interrupted run
//! keeps spilling window state to disk under a tiny memory budget and splits it into hash
//! parts early, and when the chunk size changes between a crash and its restart.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::*;

/// `budget`: `engine.backfill_state_bytes`; a tiny one makes the run spill window state to
/// disk all the time, so restarts must also restore spilled state exactly. `split`:
/// `engine.state_split_rows`; a small one splits states into hash parts early (0: never).
/// `chunk`: `max_chunk_bytes` of the source (`None`: the default).
fn config(input: &Path, out: &Path, budget: u64, split: u64, chunk: Option<u64>) -> String {
    let chunk = chunk.map_or(String::new(), |c| format!("max_chunk_bytes = {c}\n"));
    format!(
        r#"
state_dir = "{out}/state"
[engine]
checkpoint_interval = "150ms"
backfill_state_bytes = {budget}
state_split_rows = {split}
[[sources.local]]
path = "{input}"
{chunk}[sinks.parquet]
path = "{out}/parquet"
[sinks.dead_letter]
path = "{out}/deadletter.jsonl"
"#,
        input = input.display(),
        out = out.display()
    )
}

fn run_once(cfg: &Path) -> Output {
    run_ok(&[
        "run",
        "--once",
        "--quiet",
        "--config",
        cfg.to_str().unwrap(),
    ])
}

/// Runs `flowlogd run --once` with `cfgs[i]` for the i-th run, each killed a varying time
/// after it wrote a new checkpoint (not after a fixed time from its start, which on a slow
/// machine can be before its first checkpoint), until a run finishes or every delay was
/// used. Returns the standard error of the killed runs.
fn kill_9_runs(cfgs: &[PathBuf], state: &Path, delays: &[u64]) -> Vec<String> {
    let current = state.join("CURRENT");
    let read_current = || std::fs::read_to_string(&current).unwrap_or_default();
    let mut killed = Vec::new();
    for (i, delay_ms) in delays.iter().enumerate() {
        let before = read_current();
        let cfg = &cfgs[i % cfgs.len()];
        let mut child = Command::new(bin())
            .args(["run", "--once", "--quiet", "--config"])
            .arg(cfg)
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
        std::thread::sleep(Duration::from_millis(*delay_ms));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            let out = child.wait_with_output().unwrap();
            killed.push(String::from_utf8_lossy(&out.stderr).into_owned());
        } else {
            let _ = child.wait_with_output();
            break;
        }
    }
    assert!(
        killed.len() >= 2,
        "the run finished before it could be killed twice; use more data"
    );
    killed
}

fn restored(killed: &[String]) -> usize {
    killed
        .iter()
        .filter(|e| e.contains("restored checkpoint"))
        .count()
}

/// The reference: one run without kills or memory pressure, in `tmp/clean`; returns that
/// directory and the run's accounting.
fn uninterrupted(
    tmp: &Path,
    input: &Path,
    chunk: Option<u64>,
) -> (PathBuf, std::collections::BTreeMap<String, String>) {
    let clean = tmp.join("clean");
    std::fs::create_dir_all(&clean).unwrap();
    let cfg = clean.join("flowlogd.toml");
    std::fs::write(&cfg, config(input, &clean, 512 << 20, 0, chunk)).unwrap();
    let acct = accounting(&run_once(&cfg).stdout);
    (clean, acct)
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_and_restart_gives_the_uninterrupted_result() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    gen(&input, 150_000, "2024-05-01T00:00:00Z", 4, 5);
    let (clean, clean_acct) = uninterrupted(tmp.path(), &input, Some(65536));
    let crashy = tmp.path().join("crashy");
    std::fs::create_dir_all(&crashy).unwrap();
    let cfg = crashy.join("flowlogd.toml");
    std::fs::write(&cfg, config(&input, &crashy, 256 << 10, 200, Some(65536))).unwrap();
    let killed = kill_9_runs(
        std::slice::from_ref(&cfg),
        &crashy.join("state"),
        &[0, 250, 60, 400, 120, 700],
    );
    assert!(
        restored(&killed) >= 1,
        "no restart resumed from a checkpoint"
    );
    let final_run = run_once(&cfg);
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

/// Chunk ids are chunk offsets: an object applied in part before a crash must be cut the same
/// way after it, whatever `max_chunk_bytes` now says. Runs alternate between 64 KiB chunks
/// and the default (4 MiB), each killed after a checkpoint; the last one finishes with the
/// default.
#[tokio::test(flavor = "multi_thread")]
async fn a_chunk_size_changed_across_kill_9_counts_nothing_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    // Objects of about 1 MB, so that a checkpoint often falls inside one.
    gen(&input, 200_000, "2024-05-01T00:00:00Z", 1, 7);
    let (clean, clean_acct) = uninterrupted(tmp.path(), &input, None);
    // Where the kills land is up to timing: a sequence in which no restart found an object
    // applied in part tested nothing, so it is repeated afresh (up to three times).
    let found_in_part =
        |e: &String| e.contains("max_chunk_bytes changed while an object was read in part");
    let mut attempt = 0;
    let (crashy, default, killed) = loop {
        attempt += 1;
        let crashy = tmp.path().join(format!("crashy-{attempt}"));
        std::fs::create_dir_all(&crashy).unwrap();
        let small = crashy.join("small.toml");
        let default = crashy.join("default.toml");
        std::fs::write(&small, config(&input, &crashy, 512 << 20, 0, Some(65536))).unwrap();
        std::fs::write(&default, config(&input, &crashy, 512 << 20, 0, None)).unwrap();
        let delays = [0, 40, 0, 80, 20, 0, 120, 10];
        let killed = kill_9_runs(&[small, default.clone()], &crashy.join("state"), &delays);
        if attempt == 3 || killed.iter().any(found_in_part) {
            break (crashy, default, killed);
        }
    };
    assert!(
        restored(&killed) >= 1,
        "no restart resumed from a checkpoint"
    );
    // At least one restart found an object applied in part under the other size, or this
    // test did not test what it says.
    let kept = killed.iter().filter(|e| found_in_part(e)).count();
    assert!(kept >= 1, "no restart found an object applied in part");
    let acct = accounting(&run_once(&default).stdout);

    let expected = all_output_rows(&clean.join("parquet")).await;
    let actual = all_output_rows(&crashy.join("parquet")).await;
    assert!(!expected.is_empty());
    assert_same_rows(
        &actual,
        &expected,
        "output after chunk-size changes and kill -9",
    );
    assert_eq!(acct["records_in"], clean_acct["records_in"]);
    assert_eq!(acct["records_summarized"], clean_acct["records_summarized"]);
}
