//! Continuous mode on a clock the test steps itself: files arriving out of order reach
//! the same final revision as `run --once`; a window that gets late data is emitted again
//! as revision 2; records for a window whose state was dropped are counted as too late and
//! sent to the dead-letter output. The test moves event time only after the daemon's
//! `/status` shows it took in every file so far, so a slow machine cannot turn on-time
//! records into late ones.

mod common;
mod ops_common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use ops_common::{wait_status, Daemon};

const T0: &str = "2024-05-01T00:00:00Z";

fn config(input: &Path, out: &Path) -> String {
    format!(
        r#"
state_dir = "{out}/state"
[engine]
tick = "10m"
grace = "20m"
retention = "2h"
checkpoint_interval = "300ms"
[[sources.local]]
path = "{input}"
poll_interval = "50ms"
settle = "0s"
[sinks.parquet]
path = "{out}/parquet"
[sinks.jsonl]
path = "{out}/summaries.jsonl"
[sinks.dead_letter]
path = "{out}/deadletter.jsonl"
[admin]
listen = "127.0.0.1:0"
"#,
        input = input.display(),
        out = out.display()
    )
}

fn copy_into(src_root: &Path, file: &Path, dst_root: &Path, rename: Option<&str>) {
    let rel = file.strip_prefix(src_root).unwrap();
    let mut dst = dst_root.join(rel);
    if let Some(n) = rename {
        dst.set_file_name(n);
    }
    std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
    // Copy under a hidden name, then rename: the source never sees half a file.
    let tmp = dst.with_file_name(format!(
        ".{}.tmp",
        dst.file_name().unwrap().to_string_lossy()
    ));
    std::fs::copy(file, &tmp).unwrap();
    std::fs::rename(&tmp, &dst).unwrap();
}

fn jsonl_has(path: &Path, window_start: &str, revision: u32) -> bool {
    // The last line may be half-written while the daemon appends: skip what does not parse.
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .any(|v| {
            v["window_start"] == window_start
                && v["revision"] == revision
                && v["summary"] == "traffic"
        })
}

/// AWS text objects whose 5-minute stamp is in hour 00 (records of window 0).
fn hour0_aws(files: &[PathBuf]) -> Vec<PathBuf> {
    files
        .iter()
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.ends_with(".log.gz") && n.contains("_20240501T00")
        })
        .cloned()
        .collect()
}

/// Sets the daemon's clock (written whole, then renamed: never read half-written).
fn set_clock(path: &Path, time: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, time).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Waits until the daemon has applied at least `n` whole objects.
fn wait_objects(d: &mut Daemon, n: usize) {
    let addr = d.admin_addr();
    wait_status(
        addr,
        &format!("{n} objects read"),
        Duration::from_secs(180),
        |v| v["accounting"]["objects"].as_u64().unwrap_or(0) >= n as u64,
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn continuous_revisions_match_once_and_too_late_is_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let all = tmp.path().join("all");
    gen(&all, 20_000, T0, 3, 21);
    let files = files(&all);
    let held_back: Vec<PathBuf> = hour0_aws(&files).into_iter().step_by(2).collect();
    assert!(!held_back.is_empty());

    let input = tmp.path().join("in");
    let out = tmp.path().join("out");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    let cfg = out.join("flowlogd.toml");
    std::fs::write(&cfg, config(&input, &out)).unwrap();
    let clock = tmp.path().join("clock");
    set_clock(&clock, T0);

    // Everything but the held-back files, newest first (out of order).
    let mut copied = 0;
    for f in files.iter().rev().filter(|f| !held_back.contains(f)) {
        copy_into(&all, f, &input, None);
        copied += 1;
    }
    let clock_spec = format!("file:{}", clock.display());
    let mut d = Daemon::start(
        &["run", "--config", cfg.to_str().unwrap()],
        &[("FLOWLOGD_TEST_CLOCK", &clock_spec)],
    );
    wait_objects(&mut d, copied);
    let jsonl = out.join("summaries.jsonl");
    // Window 0 closes at 01:20; its first revision lacks the held-back records.
    set_clock(&clock, "2024-05-01T01:20:00Z");
    wait_for("window 0 revision 1", Duration::from_secs(60), || {
        jsonl_has(&jsonl, "2024-05-01T00:00:00Z", 1)
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !jsonl_has(&jsonl, "2024-05-01T00:00:00Z", 2),
        "window 0 was revised before any late record arrived"
    );
    for f in &held_back {
        copy_into(&all, f, &input, None);
    }
    wait_for("window 0 revision 2", Duration::from_secs(120), || {
        jsonl_has(&jsonl, "2024-05-01T00:00:00Z", 2)
    });
    wait_objects(&mut d, copied + held_back.len());
    // The last window (02:00) closes at 03:20; by then the states of windows 23:00 and
    // 00:00 are past retention (2 h after their ends) and dropped.
    set_clock(&clock, "2024-05-01T03:20:00Z");
    wait_for("window 2 revision 1", Duration::from_secs(60), || {
        jsonl_has(&jsonl, "2024-05-01T02:00:00Z", 1)
    });
    let dead = out.join("deadletter.jsonl");
    let early = std::fs::read_to_string(&dead).unwrap_or_default();
    assert!(
        !early.contains("too_late"),
        "records were too late before the test made any late:\n{}",
        early
            .lines()
            .filter(|l| l.contains("too_late"))
            .take(3)
            .collect::<Vec<_>>()
            .join("\n")
    );
    // A copy of a window-0 object under a new name arrives after retention: too late.
    let late_name = format!(
        "late-{}",
        held_back[0].file_name().unwrap().to_string_lossy()
    );
    copy_into(&all, &held_back[0], &input, Some(&late_name));
    wait_for("too-late dead letters", Duration::from_secs(120), || {
        std::fs::read_to_string(&dead)
            .unwrap_or_default()
            .contains("too_late")
    });

    // SIGTERM: drain, checkpoint, exit 0.
    d.signal("TERM");
    let (code, stdout, stderr) = d.wait_exit(Duration::from_secs(120));
    assert_eq!(code, Some(0), "{stderr}");
    let acct = ops_common::accounting(&stdout);
    assert!(acct.get("too_late").copied().unwrap_or(0) > 0, "{stdout}");

    // The final revision of every window equals `run --once` over the same files.
    std::fs::remove_file(
        input
            .join(held_back[0].strip_prefix(&all).unwrap())
            .with_file_name(&late_name),
    )
    .unwrap();
    let once_out = tmp.path().join("once");
    run_once(&input, &once_out);
    // (Rows compared without the revision column, which differs by design.)
    let expected = all_output_rows(&once_out.join("parquet")).await;
    let actual = all_output_rows(&out.join("parquet")).await;
    assert_same_rows(&actual, &expected, "continuous final revisions vs --once");
    // Window 0 was revised at least once after its first emission (more revisions are fine:
    // every tick that brings new records for a closed window makes one).
    let rev = rows(
        &sql(
            None,
            Some(&out.join("parquet")),
            "SELECT max(revision) FROM traffic WHERE window_start = '2024-05-01T00:00:00Z'",
        )
        .await,
    );
    assert!(
        rev[0].parse::<u32>().unwrap() >= 2,
        "window 0 was not revised: {rev:?}"
    );
}
