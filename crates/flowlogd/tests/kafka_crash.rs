//! Kafka mode survives `kill -9`: the daemon is killed while summaries are being produced,
//! restarted, and the final revision of every window read from the summaries topic equals
//! `run --once` — no row missing, none counted twice.

mod kafka_support;

use std::time::Duration;

use kafka_support::*;

#[test]
fn kill_9_mid_run_then_restart_equals_run_once() {
    let Some(brokers) = brokers("kafka_crash") else {
        return;
    };
    let dir = test_dir();
    let input = dir.path().join("in");
    gen(&input, 60_000, 11);
    let expected = run_once_rows(&input, &dir.path().join("once"));

    let t = Topics::new("crash");
    let cfg = dir.path().join("kafka.toml");
    std::fs::write(
        &cfg,
        config(&brokers, &t, &input, &dir.path().join("state"), 4),
    )
    .unwrap();
    let log1 = dir.path().join("flowlogd-1.log");
    let mut child = spawn(&cfg, None, &log1);
    let mut summaries = Reader::new(&brokers, &t.summaries);
    wait_rows(&mut summaries, 1, Duration::from_secs(120));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    summaries.poll_for(Duration::from_secs(1));
    assert_ne!(
        summaries.rows(),
        expected,
        "the run was complete before the kill: the test needs more input"
    );
    eprintln!(
        "killed with {} of {} rows out",
        summaries.rows().len(),
        expected.len()
    );

    let log2 = dir.path().join("flowlogd-2.log");
    let mut child = spawn(&cfg, None, &log2);
    wait_equal(
        &mut summaries,
        &expected,
        Duration::from_secs(240),
        &[&log1, &log2],
    );
    sigterm(&mut child);
    assert!(child.wait().unwrap().success());
}

/// Killed while the source role has objects sent in part, restarted with another
/// `max_chunk_bytes`: the restart must keep cutting with the old size, since chunk ids are
/// offsets (re-cut, the objects' chunks would be counted twice or dropped as replays).
#[test]
fn a_chunk_size_changed_across_kill_9_counts_nothing_twice() {
    let Some(brokers) = brokers("kafka_crash") else {
        return;
    };
    let dir = test_dir();
    let input = dir.path().join("in");
    gen(&input, 200_000, 12);
    let expected = run_once_rows(&input, &dir.path().join("once"));

    let t = Topics::new("crash-size");
    let state = dir.path().join("state");
    let small = config(&brokers, &t, &input, &state, 4);
    let large = small.replace("max_chunk_bytes = 65536", "max_chunk_bytes = 1048576");
    assert_ne!(
        small, large,
        "the test config no longer sets max_chunk_bytes"
    );
    let cfg = dir.path().join("kafka.toml");
    std::fs::write(&cfg, &small).unwrap();
    let log1 = dir.path().join("flowlogd-1.log");
    let mut child = spawn(&cfg, None, &log1);
    // The first ledger entry is acknowledged while other objects are still being sent.
    let ledger = state.join("source-ledger.json");
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while !ledger.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "no source ledger after 120 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    std::fs::write(&cfg, &large).unwrap();
    let log2 = dir.path().join("flowlogd-2.log");
    let mut child = spawn(&cfg, None, &log2);
    let mut summaries = Reader::new(&brokers, &t.summaries);
    wait_equal(
        &mut summaries,
        &expected,
        Duration::from_secs(240),
        &[&log1, &log2],
    );
    sigterm(&mut child);
    assert!(child.wait().unwrap().success());
    let kept = std::fs::read_to_string(&log2).unwrap();
    assert!(
        kept.contains("max_chunk_bytes changed"),
        "the restart after the kill did not keep the chunk size it had used"
    );
}
