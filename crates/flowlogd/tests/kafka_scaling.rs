//! Scaling out: three processes share the consumer groups. The first runs every role, the
//! second `parse,aggregate` from the start, the third joins late; the second is killed with
//! `kill -9` mid-run, so its partitions (and their window state) move to the others. The
//! final revision of every window equals `run --once`.

mod kafka_support;

use std::time::Duration;

use kafka_support::*;

#[test]
fn three_processes_one_late_one_killed_equal_run_once() {
    let Some(brokers) = brokers("kafka_scaling") else {
        return;
    };
    let dir = test_dir();
    let input = dir.path().join("in");
    gen(&input, 60_000, 13);
    let expected = run_once_rows(&input, &dir.path().join("once"));

    let t = Topics::new("scale");
    let cfg = dir.path().join("kafka.toml");
    std::fs::write(
        &cfg,
        config(&brokers, &t, &input, &dir.path().join("state"), 6),
    )
    .unwrap();
    let logs: Vec<_> = (1..=3)
        .map(|i| dir.path().join(format!("flowlogd-{i}.log")))
        .collect();
    let mut first = spawn(&cfg, None, &logs[0]);
    let mut second = spawn(&cfg, Some("parse,aggregate"), &logs[1]);
    let mut summaries = Reader::new(&brokers, &t.summaries);
    wait_rows(&mut summaries, 1, Duration::from_secs(120));
    let mut third = spawn(&cfg, Some("parse,aggregate"), &logs[2]);
    // Let the third join the groups (a rebalance), then take the second away.
    std::thread::sleep(Duration::from_secs(4));
    second.kill().unwrap();
    second.wait().unwrap();
    summaries.poll_for(Duration::from_secs(1));
    eprintln!(
        "second killed with {} of {} rows out",
        summaries.rows().len(),
        expected.len()
    );

    let log_refs: Vec<&std::path::Path> = logs.iter().map(|p| p.as_path()).collect();
    let waited = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_equal(
            &mut summaries,
            &expected,
            Duration::from_secs(300),
            &log_refs,
        )
    }));
    if let Err(e) = waited {
        if std::env::var_os("FLOWLOGD_TEST_KEEP").is_some() {
            dump_topic(&brokers, &t.raw, &dir.path().join("raw.txt"));
            dump_topic(&brokers, &t.partials, &dir.path().join("partials.txt"));
            dump_topic(&brokers, &t.summaries, &dir.path().join("summaries.txt"));
        }
        std::panic::resume_unwind(e);
    }
    let third_log = std::fs::read_to_string(&logs[2]).unwrap();
    assert!(
        third_log.contains("partitions assigned"),
        "the late process never got partitions:\n{third_log}"
    );
    sigterm(&mut third);
    sigterm(&mut first);
    assert!(first.wait().unwrap().success());
    assert!(third.wait().unwrap().success());
}
