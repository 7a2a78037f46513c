//! The S3 source against moto: objects that exist at start are found by listing, objects
//! uploaded later by S3 event notifications on SQS; redelivered notifications count
//! nothing twice; the final summaries equal `run --once` over the same files from a local
//! directory, and so does `run --once` over the bucket. Skips when MOTO_ENDPOINT is unset.

mod aws_common;
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use aws_common::*;
use common::*;
use serde_json::json;

pub struct Fixture {
    pub tmp: tempfile::TempDir,
    pub data: PathBuf,
    pub files: Vec<PathBuf>,
    pub bucket: String,
    pub expected: Vec<String>,
    pub expected_acct: std::collections::BTreeMap<String, String>,
}

/// Sample AWS objects (text, gzip, Parquet) ending three hours ago, and `run --once` over
/// them from a local directory.
pub async fn fixture(seed: u64, hours: u32) -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    run_ok(&[
        "gen",
        "--out",
        data.to_str().unwrap(),
        "--records",
        "12000",
        "--start",
        &hour_ago(3 + hours as i64),
        "--hours",
        &hours.to_string(),
        "--seed",
        &seed.to_string(),
        "--formats",
        "aws-v2,aws-v5,aws-parquet",
    ]);
    let files = files(&data);
    let once = tmp.path().join("once");
    let out = run_once(&data, &once);
    let expected = all_output_rows(&once.join("parquet")).await;
    assert!(!expected.is_empty());
    Fixture {
        bucket: unique("flowlogs"),
        expected_acct: accounting(&out.stdout),
        tmp,
        data,
        files,
        expected,
    }
}

pub fn key_of(f: &Fixture, file: &Path) -> String {
    format!(
        "custom/{}",
        file.strip_prefix(&f.data).unwrap().to_string_lossy()
    )
}

pub fn put_steps(f: &Fixture, files: &[PathBuf]) -> Vec<serde_json::Value> {
    files
        .iter()
        .map(|p| json!({"op": "put", "bucket": f.bucket, "key": key_of(f, p), "path": p}))
        .collect()
}

pub fn config(f: &Fixture, out: &Path, endpoint: &str, queue: Option<&str>) -> PathBuf {
    let queue = queue
        .map(|q| format!("sqs_queue_url = \"{q}\"\n"))
        .unwrap_or_default();
    let text = format!(
        r#"
state_dir = "{out}/state"
[engine]
tick = "1s"
grace = "20m"
retention = "48h"
checkpoint_interval = "300ms"
[[sources.s3]]
name = "s3"
bucket = "{bucket}"
prefix = "custom"
region = "us-east-1"
endpoint_url = "{endpoint}"
force_path_style = true
list_interval = "1h"
visibility_timeout = "30s"
{queue}
[sinks.parquet]
path = "{out}/parquet"
[sinks.dead_letter]
path = "{out}/deadletter.jsonl"
"#,
        out = out.display(),
        bucket = f.bucket,
    );
    std::fs::create_dir_all(out).unwrap();
    let path = out.join("flowlogd.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// An S3 notification as S3 sends it (keys form-encoded).
pub fn notification(bucket: &str, key: &str) -> String {
    let enc: String = key
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            b' ' => "+".into(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    json!({"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": bucket}, "object": {"key": enc, "size": 1, "eTag": "x"}}}]})
    .to_string()
}

fn rows_now(rt: &tokio::runtime::Handle, dir: &Path) -> Vec<String> {
    if !dir.exists() {
        return Vec::new();
    }
    let dir = dir.to_path_buf();
    std::thread::scope(|s| {
        s.spawn(|| rt.block_on(all_output_rows(&dir)))
            .join()
            .unwrap_or_default()
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn listing_then_sqs_equals_run_once_and_redelivery_counts_once() {
    let Some(moto) = moto("listing_then_sqs_equals_run_once_and_redelivery_counts_once") else {
        return;
    };
    let f = fixture(7, 3).await;
    let (listed, notified): (Vec<_>, Vec<_>) = f
        .files
        .iter()
        .cloned()
        .enumerate()
        .partition(|(i, _)| i % 2 == 0);
    let listed: Vec<PathBuf> = listed.into_iter().map(|(_, p)| p).collect();
    let notified: Vec<PathBuf> = notified.into_iter().map(|(_, p)| p).collect();

    // Objects that exist before notifications are configured: only listing can find them.
    let mut setup = vec![json!({"op": "create_bucket", "bucket": f.bucket})];
    setup.extend(put_steps(&f, &listed));
    setup.push(json!({"op": "create_queue", "name": unique("events")}));
    let r = steps(json!(setup));
    let queue = r.last().unwrap().as_str().unwrap().to_owned();
    steps(json!([{"op": "notify", "bucket": f.bucket, "queue_url": queue}]));

    let out = f.tmp.path().join("cont");
    let cfg = config(&f, &out, &moto, Some(&queue));
    let child = Command::new(bin())
        .args(["run", "--config", cfg.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The listing interval is an hour: what arrives now comes through the queue.
    std::thread::sleep(Duration::from_secs(2));
    steps(json!(put_steps(&f, &notified)));
    let rt = tokio::runtime::Handle::current();
    let parquet = out.join("parquet");
    wait_for(
        "summaries equal to run --once",
        Duration::from_secs(120),
        || rows_now(&rt, &parquet) == f.expected,
    );

    // Redelivered and duplicate notifications (of listed and of notified objects).
    let dups: Vec<_> = listed
        .iter()
        .take(3)
        .chain(notified.iter().take(3))
        .map(|p| json!({"op": "send", "queue_url": queue, "body": notification(&f.bucket, &key_of(&f, p))}))
        .collect();
    steps(json!(dups));
    wait_for("queue drained", Duration::from_secs(60), || {
        let d = &steps(json!([{"op": "queue_depth", "queue_url": queue}]))[0];
        d["ApproximateNumberOfMessages"] == 0 && d["ApproximateNumberOfMessagesNotVisible"] == 0
    });
    std::thread::sleep(Duration::from_secs(3));
    send_sigterm(child.id());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let acct = accounting(&output.stdout);
    for k in [
        "objects",
        "records_in",
        "records_summarized",
        "failed_objects",
    ] {
        assert_eq!(acct[k], f.expected_acct[k], "{k}: {acct:?}\n{stderr}");
    }
    assert_eq!(
        acct["duplicate_chunks"], "0",
        "objects were read twice: {acct:?}"
    );
    assert_same_rows(
        &rows_now(&rt, &parquet),
        &f.expected,
        "S3 continuous vs --once",
    );

    // A backfill over the bucket gives the same.
    let once = f.tmp.path().join("s3once");
    let cfg = config(&f, &once, &moto, None);
    let o = run_ok(&[
        "run",
        "--once",
        "--quiet",
        "--config",
        cfg.to_str().unwrap(),
    ]);
    let acct = accounting(&o.stdout);
    assert_eq!(acct["objects"], f.expected_acct["objects"]);
    assert_same_rows(
        &all_output_rows(&once.join("parquet")).await,
        &f.expected,
        "S3 --once vs local --once",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn throttling_and_cut_connections_lose_nothing() {
    let Some(moto) = moto("throttling_and_cut_connections_lose_nothing") else {
        return;
    };
    let f = fixture(11, 1).await;
    let mut setup = vec![json!({"op": "create_bucket", "bucket": f.bucket})];
    setup.extend(put_steps(&f, &f.files));
    steps(json!(setup));
    // Every 4th request: 503 SlowDown; the GET after it: the response cut in half.
    let proxy = aws_common::proxy::FaultProxy::start(&moto, 4);
    let out = f.tmp.path().join("faults");
    let cfg = config(&f, &out, &proxy.endpoint, None);
    let o = run_ok(&[
        "run",
        "--once",
        "--quiet",
        "--config",
        cfg.to_str().unwrap(),
    ]);
    let acct = accounting(&o.stdout);
    for k in [
        "objects",
        "records_in",
        "records_summarized",
        "failed_objects",
    ] {
        assert_eq!(acct[k], f.expected_acct[k], "{k}: {acct:?}");
    }
    let slow = proxy
        .counts
        .slowdowns
        .load(std::sync::atomic::Ordering::SeqCst);
    let cut = proxy
        .counts
        .truncated
        .load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        slow >= 5 && cut >= 5,
        "too few faults injected: {slow} SlowDown, {cut} cut"
    );
    eprintln!("injected {slow} SlowDown answers and {cut} cut responses");
    assert_same_rows(
        &all_output_rows(&out.join("parquet")).await,
        &f.expected,
        "S3 --once through faults vs local --once",
    );
    let dead = std::fs::read_to_string(out.join("deadletter.jsonl")).unwrap_or_default();
    assert!(dead.is_empty(), "dead letters: {dead}");
}

#[tokio::test(flavor = "multi_thread")]
async fn assumed_role_reads_a_second_account() {
    let Some(moto) = moto("assumed_role_reads_a_second_account") else {
        return;
    };
    let f = fixture(13, 1).await;
    let role = "arn:aws:iam::111111111111:role/x";
    // The bucket and objects are created with the role's credentials: in account 111111111111.
    let creds = steps(json!([{"op": "assume", "role_arn": role}])).remove(0);
    let mut setup = vec![json!({"op": "create_bucket", "bucket": f.bucket, "creds": creds})];
    for mut s in put_steps(&f, &f.files) {
        s["creds"] = creds.clone();
        setup.push(s);
    }
    setup.push(json!({"op": "caller", "creds": creds}));
    let r = steps(json!(setup));
    assert_eq!(r.last().unwrap(), "111111111111");
    let out = f.tmp.path().join("role");
    let cfg = config(&f, &out, &moto, None);
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        "force_path_style = true",
        &format!("force_path_style = true\nrole_arn = \"{role}\"\nexternal_id = \"e-1\"\nsession_name = \"flowlogd-test\""),
    );
    std::fs::write(&cfg, text).unwrap();
    let o = run_ok(&[
        "run",
        "--once",
        "--quiet",
        "--config",
        cfg.to_str().unwrap(),
    ]);
    assert_eq!(accounting(&o.stdout)["objects"], f.expected_acct["objects"]);
    assert_same_rows(
        &all_output_rows(&out.join("parquet")).await,
        &f.expected,
        "S3 --once through an assumed role vs local --once",
    );
    // The access check names the role's account as the destination's owner.
    let c = run_ok_code(&[
        "access",
        "check",
        "--config",
        cfg.to_str().unwrap(),
        "--format",
        "json",
        "--no-inventory",
    ]);
    let report: serde_json::Value = serde_json::from_slice(&c).unwrap();
    assert_eq!(
        report["accounts"][0]["account"], "111111111111",
        "{report:#}"
    );
    assert_eq!(report["accounts"][0]["access"], "full", "{report:#}");
}

/// stdout of a flowlogd command that may exit 0 or 1 (access check).
fn run_ok_code(args: &[&str]) -> Vec<u8> {
    let out = Command::new(bin()).args(args).output().unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "flowlogd {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The same object under the Hive-compatible hourly layout:
/// `AWSLogs/aws-account-id=A/aws-service=vpcflowlogs/aws-region=R/year=Y/month=M/day=D/hour=H/file`.
fn hive_key(key: &str) -> String {
    let p: Vec<&str> = key.split('/').collect();
    // custom/AWSLogs/A/vpcflowlogs/R/Y/M/D/file
    let file = p[8];
    let hour = file
        .split('_')
        .find(|s| s.len() == 14 && s.ends_with('Z') && s.as_bytes()[8] == b'T')
        .map(|s| &s[9..11])
        .unwrap_or("00");
    format!(
        "custom/AWSLogs/aws-account-id={}/aws-service=vpcflowlogs/aws-region={}/year={}/month={}/day={}/hour={hour}/{file}",
        p[2], p[4], p[5], p[6], p[7]
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn hive_hourly_layouts_and_from_date() {
    let Some(moto) = moto("hive_hourly_layouts_and_from_date") else {
        return;
    };
    let f = fixture(17, 1).await;
    let mut setup = vec![json!({"op": "create_bucket", "bucket": f.bucket})];
    let mut first_day = None;
    for (i, p) in f.files.iter().enumerate() {
        let plain = key_of(&f, p);
        let parts: Vec<&str> = plain.split('/').collect();
        let day = format!("{}-{}-{}", parts[5], parts[6], parts[7]);
        if first_day.as_ref().is_none_or(|d: &String| day < *d) {
            first_day = Some(day);
        }
        let key = if i % 2 == 0 {
            hive_key(&plain)
        } else {
            plain.clone()
        };
        setup.push(json!({"op": "put", "bucket": f.bucket, "key": key, "path": p}));
        // A copy three days earlier: outside from_date, never read.
        if i % 5 == 0 {
            let old = key.replacen(
                &format!("{}/{}/{}", parts[5], parts[6], parts[7]),
                "2020/01/01",
                1,
            );
            let old = old.replacen(
                &format!("year={}/month={}/day={}", parts[5], parts[6], parts[7]),
                "year=2020/month=01/day=01",
                1,
            );
            assert_ne!(old, key);
            setup.push(json!({"op": "put", "bucket": f.bucket, "key": old, "path": p}));
        }
    }
    steps(json!(setup));
    let out = f.tmp.path().join("hive");
    let cfg = config(&f, &out, &moto, None);
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        "force_path_style = true",
        &format!(
            "force_path_style = true\nfrom_date = \"{}\"",
            first_day.unwrap()
        ),
    );
    std::fs::write(&cfg, text).unwrap();
    let o = run_ok(&[
        "run",
        "--once",
        "--quiet",
        "--config",
        cfg.to_str().unwrap(),
    ]);
    let acct = accounting(&o.stdout);
    assert_eq!(acct["objects"], f.expected_acct["objects"], "{acct:?}");
    assert_same_rows(
        &all_output_rows(&out.join("parquet")).await,
        &f.expected,
        "Hive + default layouts from from_date vs local --once",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn backfill_killed_and_restarted_resumes_from_the_ledger() {
    let Some(moto) = moto("backfill_killed_and_restarted_resumes_from_the_ledger") else {
        return;
    };
    let f = fixture(19, 3).await;
    let mut setup = vec![json!({"op": "create_bucket", "bucket": f.bucket})];
    setup.extend(put_steps(&f, &f.files));
    steps(json!(setup));
    let out = f.tmp.path().join("crashy");
    let cfg = config(&f, &out, &moto, None);
    let (mut kills, mut restored) = (0, 0);
    for delay_ms in [1500u64, 2500, 2000, 3000, 2500] {
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
        std::thread::sleep(Duration::from_millis(delay_ms));
        if child.try_wait().unwrap().is_some() {
            let _ = child.wait_with_output();
            break;
        }
        child.kill().unwrap(); // SIGKILL
        let o = child.wait_with_output().unwrap();
        if String::from_utf8_lossy(&o.stderr).contains("restored checkpoint") {
            restored += 1;
        }
        kills += 1;
    }
    assert!(
        kills >= 1,
        "the backfill finished before it could be killed"
    );
    let last = run_ok(&[
        "run",
        "--once",
        "--quiet",
        "--config",
        cfg.to_str().unwrap(),
    ]);
    if kills >= 2 {
        assert!(restored >= 1, "no restart resumed from a checkpoint");
    }
    let acct = accounting(&last.stdout);
    assert_eq!(
        acct["records_in"], f.expected_acct["records_in"],
        "{acct:?}"
    );
    assert_eq!(
        acct["records_summarized"],
        f.expected_acct["records_summarized"]
    );
    assert_same_rows(
        &all_output_rows(&out.join("parquet")).await,
        &f.expected,
        "S3 backfill after kill -9 and restarts vs local --once",
    );
    eprintln!("killed {kills} times, {restored} restarts restored a checkpoint");
}

/// A notification is deleted only once its objects are in a checkpoint: with checkpoints an
/// hour apart it stays in flight after its objects are read; a shutdown (whose final
/// checkpoint holds them) lets it come back, and the next run deletes it without reading
/// anything twice.
#[tokio::test(flavor = "multi_thread")]
async fn notifications_are_deleted_only_after_their_objects_are_checkpointed() {
    let Some(moto) = moto("notifications_are_deleted_only_after_their_objects_are_checkpointed")
    else {
        return;
    };
    let f = fixture(11, 2).await;
    let r = steps(json!([
        {"op": "create_bucket", "bucket": f.bucket},
        {"op": "create_queue", "name": unique("durable")},
    ]));
    let queue = r.last().unwrap().as_str().unwrap().to_owned();
    steps(json!([{"op": "notify", "bucket": f.bucket, "queue_url": queue}]));
    let out = f.tmp.path().join("cont");
    let cfg = config(&f, &out, &moto, Some(&queue));
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        "visibility_timeout = \"30s\"",
        "visibility_timeout = \"10s\"",
    );
    std::fs::write(&cfg, &text).unwrap();
    let slow = out.join("slow.toml");
    std::fs::write(
        &slow,
        text.replace(
            "checkpoint_interval = \"300ms\"",
            "checkpoint_interval = \"1h\"",
        )
        .replace("tick = \"1s\"", "tick = \"1h\""),
    )
    .unwrap();
    let depth = || steps(json!([{"op": "queue_depth", "queue_url": queue}])).remove(0);

    let first = Command::new(bin())
        .args(["run", "--config", slow.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    steps(json!(put_steps(&f, &f.files)));
    wait_for("notifications received", Duration::from_secs(120), || {
        depth()["ApproximateNumberOfMessages"] == 0
    });
    // Long enough to read the objects and hand their ledger entries over, and for
    // visibility renewals; no checkpoint yet, so the notifications must still be there.
    std::thread::sleep(Duration::from_secs(12));
    let d = depth();
    assert_ne!(
        d["ApproximateNumberOfMessagesNotVisible"], 0,
        "notifications deleted before their objects were checkpointed: {d}"
    );
    send_sigterm(first.id());
    let output = first.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // The shutdown checkpoint holds the objects: the redelivered notifications are deleted
    // unread, and the output equals `run --once`.
    let second = Command::new(bin())
        .args(["run", "--config", cfg.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let rt = tokio::runtime::Handle::current();
    let parquet = out.join("parquet");
    wait_for(
        "summaries equal to run --once",
        Duration::from_secs(120),
        || rows_now(&rt, &parquet) == f.expected,
    );
    wait_for("queue drained", Duration::from_secs(60), || {
        let d = depth();
        d["ApproximateNumberOfMessages"] == 0 && d["ApproximateNumberOfMessagesNotVisible"] == 0
    });
    send_sigterm(second.id());
    let output = second.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let acct = accounting(&output.stdout);
    assert_eq!(
        acct["duplicate_chunks"], "0",
        "objects read twice: {acct:?}"
    );
    assert_same_rows(&rows_now(&rt, &parquet), &f.expected, "after redelivery");
}
