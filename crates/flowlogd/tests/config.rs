//! Configuration errors name the key and the fix; the shipped examples are valid.

mod common;

use std::process::Command;

use common::bin;

fn validate(text: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, text).unwrap();
    let out = Command::new(bin())
        .args(["validate-config", path.to_str().unwrap()])
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn shipped_examples_are_valid() {
    for f in ["flowlogd.toml", "quickstart.toml"] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../config")
            .join(f);
        let out = Command::new(bin())
            .args(["validate-config", path.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{f}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn every_problem_is_reported_by_key_with_a_fix() {
    let (code, err) = validate(
        r#"
[engine]
grace = "30m"
retention = "10m"
[[summaries]]
name = "ssh"
group_by = ["account_id", "dst_prot"]
filter = "nosuch > 1"
metrics = [{ name = "bytes", fn = "sum" }]
[[sources.local]]
path = "in"
[sinks.parquet]
path = "out"
"#,
    );
    assert_eq!(code, 1);
    for needle in [
        "engine.retention",
        "summaries[0].group_by[1]: unknown column \"dst_prot\"",
        "summaries[0].metrics[0].column",
        "(fix: ",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
    }
}

#[test]
fn unknown_keys_are_errors_with_the_expected_ones() {
    let (code, err) = validate("[engine]\nwindw = \"1h\"\n");
    assert_eq!(code, 1);
    assert!(
        err.contains("unknown field `windw`") && err.contains("`window`"),
        "{err}"
    );
}

#[test]
fn parquet_compression_is_one_of_the_named_codecs() {
    let sink = |c: &str| {
        format!("[[sources.local]]\npath = \"in\"\n[sinks.parquet]\npath = \"p\"\ncompression = \"{c}\"\n")
    };
    assert_eq!(validate(&sink("snappy")).0, 0);
    let (code, err) = validate(&sink("gzip"));
    assert_eq!(code, 1);
    assert!(
        err.contains("compression")
            && err.contains("unknown variant `gzip`")
            && err.contains("`snappy`"),
        "{err}"
    );
}

#[test]
fn bad_filter_sql_is_caught_before_running() {
    let (code, err) = validate(
        "[[summaries]]\nname = \"x\"\ngroup_by = [\"src_addr\"]\nfilter = \"nosuch > 1\"\nmetrics = [{ name = \"n\", fn = \"count\" }]\n[[sources.local]]\npath = \"in\"\n[sinks.jsonl]\npath = \"o.jsonl\"\n",
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("summaries[0]") && err.contains("nosuch"),
        "{err}"
    );
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin())
        .args([
            "run",
            "--once",
            "--input",
            dir.path().to_str().unwrap(),
            "--output",
        ])
        .arg(dir.path().join("out"))
        .env("FLOWLOGD_TEST_CLOCK", "bad")
        .output()
        .unwrap();
    assert!(!out.status.success(), "a bad --clock must be refused");
}

#[test]
fn first_seen_needs_an_output_and_sane_bounds() {
    let (code, err) = validate(
        r#"
[engine.detection.first_seen]
enabled = true
max_pairs = 0
ttl = "0s"
[[sources.local]]
path = "/tmp/in"
[sinks.jsonl]
path = "/tmp/out/summaries.jsonl"
"#,
    );
    assert_ne!(code, 0);
    for key in [
        "sinks.first_seen",
        "engine.detection.first_seen.max_pairs",
        "engine.detection.first_seen.ttl",
    ] {
        assert!(err.contains(key), "{key} not reported:\n{err}");
    }
}
