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
