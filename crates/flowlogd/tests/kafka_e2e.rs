//! Kafka mode end to end on a real broker (tansu): local files → flowlogd.raw →
//! flowlogd.partials → flowlogd.summaries. The summaries an upserting consumer reads from
//! the topic equal `run --once` on the same input; malformed raw records end up on the
//! dead-letter topic while the rest goes on; the OCSF output carries one event per row.

mod kafka_support;

use std::time::Duration;

use kafka_support::*;

#[test]
fn files_through_kafka_equal_run_once_and_bad_records_are_dead_lettered() {
    let Some(brokers) = brokers("kafka_e2e") else {
        return;
    };
    let dir = test_dir();
    let input = dir.path().join("in");
    gen(&input, 20_000, 7);
    let expected = run_once_rows(&input, &dir.path().join("once"));
    assert!(
        expected.len() > 100,
        "too few rows to compare: {}",
        expected.len()
    );

    let t = Topics::new("e2e");
    let cfg = dir.path().join("kafka.toml");
    std::fs::write(
        &cfg,
        config(&brokers, &t, &input, &dir.path().join("state"), 4),
    )
    .unwrap();
    let log = dir.path().join("flowlogd.log");
    let mut child = spawn(&cfg, None, &log);

    // Malformed records on the raw topic, mixed with the real ones.
    drop(Reader::new(&brokers, &t.raw)); // waits until the daemon created the topics
    produce_raw(
        &brokers,
        &t.raw,
        &[
            (Some("junk"), b"no headers at all", vec![]),
            (Some("junk"), b"x", vec![("flowlogd-type", "mystery")]),
            (
                Some("local|bad.log"),
                b"2 1 2",
                vec![
                    ("flowlogd-type", "chunk"),
                    ("object", "bad.log"),
                    ("format", "aws-text"),
                ],
            ),
        ],
    );

    let mut summaries = Reader::new(&brokers, &t.summaries);
    wait_equal(&mut summaries, &expected, Duration::from_secs(180), &[&log]);

    let mut dead = Reader::new(&brokers, &t.deadletter);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let malformed = loop {
        dead.poll_for(Duration::from_secs(1));
        let n = dead
            .values()
            .iter()
            .filter(|v| v["kind"] == "malformed_message")
            .count();
        if n >= 3 || std::time::Instant::now() > deadline {
            break n;
        }
    };
    assert_eq!(malformed, 3, "dead letters: {:?}", dead.values());
    assert!(
        dead.values().iter().any(|v| v["object"] == "bad.log"
            && v["reason"]
                .as_str()
                .unwrap_or_default()
                .contains("missing header")),
        "the chunk with missing headers is dead-lettered with its object and reason: {:?}",
        dead.values()
    );

    // OCSF output: one Network Activity event per traffic row.
    let mut ocsf = Reader::new(&brokers, &t.ocsf);
    let traffic = expected
        .iter()
        .filter(|r| r.contains("\"summary\":\"traffic\""))
        .count();
    wait_rows(&mut ocsf, traffic, Duration::from_secs(60));
    for ev in ocsf.values().iter().take(50) {
        assert_eq!(ev["class_uid"], 4001, "{ev}");
        assert_eq!(ev["activity_id"], 6, "{ev}");
        assert!(ev["count"].as_u64().unwrap_or(0) >= 1, "{ev}");
        assert!(ev["src_endpoint"]["ip"].is_string(), "{ev}");
        assert!(
            ev["start_time"].as_i64().unwrap_or(0) <= ev["end_time"].as_i64().unwrap_or(-1),
            "{ev}"
        );
        assert!(matches!(ev["disposition_id"].as_u64(), Some(1 | 2)), "{ev}");
    }

    sigterm(&mut child);
    let status = child.wait().unwrap();
    assert!(status.success(), "flowlogd exited with {status}");
}
