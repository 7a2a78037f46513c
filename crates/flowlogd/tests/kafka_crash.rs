//! Kafka mode survives `kill -9`: the daemon is killed while summaries are being produced,
//! restarted, and the final revision of every window read from the summaries topic equals
//! `run --once` — no row missing, none counted twice.

mod kafka_support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kafka_support::*;

/// Generated input, what `run --once` makes of it, and a Kafka config over it.
struct Case {
    brokers: String,
    dir: tempfile::TempDir,
    topics: Topics,
    expected: BTreeSet<String>,
    config: String,
}

impl Case {
    fn new(test: &str, records: u64, seed: u64) -> Option<Case> {
        let brokers = brokers("kafka_crash")?;
        let dir = test_dir();
        let input = dir.path().join("in");
        gen(&input, records, seed);
        let expected = run_once_rows(&input, &dir.path().join("once"));
        let topics = Topics::new(test);
        let config = config(&brokers, &topics, &input, &dir.path().join("state"), 4);
        Some(Case {
            brokers,
            dir,
            topics,
            expected,
            config,
        })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Starts the daemon again after `log1`'s run was killed, waits until the summaries
    /// equal `run --once` and stops it; returns the restart's log.
    fn restart_until_equal(&self, cfg: &Path, summaries: &mut Reader, log1: &Path) -> PathBuf {
        let log2 = self.path("flowlogd-2.log");
        let mut child = spawn(cfg, None, &log2);
        wait_equal(
            summaries,
            &self.expected,
            Duration::from_secs(240),
            &[log1, &log2],
        );
        sigterm(&mut child);
        assert!(child.wait().unwrap().success());
        log2
    }
}

#[test]
fn kill_9_mid_run_then_restart_equals_run_once() {
    let Some(case) = Case::new("crash", 60_000, 11) else {
        return;
    };
    let cfg = case.path("kafka.toml");
    std::fs::write(&cfg, &case.config).unwrap();
    let log1 = case.path("flowlogd-1.log");
    let mut child = spawn(&cfg, None, &log1);
    let mut summaries = Reader::new(&case.brokers, &case.topics.summaries);
    wait_rows(&mut summaries, 1, Duration::from_secs(120));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    summaries.poll_for(Duration::from_secs(1));
    assert_ne!(
        summaries.rows(),
        case.expected,
        "the run was complete before the kill: the test needs more input"
    );
    eprintln!(
        "killed with {} of {} rows out",
        summaries.rows().len(),
        case.expected.len()
    );
    case.restart_until_equal(&cfg, &mut summaries, &log1);
}

/// Killed while the source role has objects sent in part, restarted with another
/// `max_chunk_bytes`: the restart must keep cutting with the old size, since chunk ids are
/// offsets (re-cut, the objects' chunks would be counted twice or dropped as replays).
#[test]
fn a_chunk_size_changed_across_kill_9_counts_nothing_twice() {
    let Some(case) = Case::new("crash-size", 200_000, 12) else {
        return;
    };
    let large = (case.config).replace("max_chunk_bytes = 65536", "max_chunk_bytes = 1048576");
    assert_ne!(
        case.config, large,
        "the test config no longer sets max_chunk_bytes"
    );
    let cfg = case.path("kafka.toml");
    std::fs::write(&cfg, &case.config).unwrap();
    let log1 = case.path("flowlogd-1.log");
    let mut child = spawn(&cfg, None, &log1);
    // The first ledger entry is acknowledged while other objects are still being sent.
    let ledger = case.path("state").join("source-ledger.json");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !ledger.exists() {
        assert!(Instant::now() < deadline, "no source ledger after 120 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    std::fs::write(&cfg, &large).unwrap();
    let mut summaries = Reader::new(&case.brokers, &case.topics.summaries);
    let log2 = case.restart_until_equal(&cfg, &mut summaries, &log1);
    let kept = std::fs::read_to_string(log2).unwrap();
    assert!(
        kept.contains("max_chunk_bytes changed"),
        "the restart after the kill did not keep the chunk size it had used"
    );
}
