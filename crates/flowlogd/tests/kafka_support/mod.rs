//! Helpers for the Kafka-mode tests: a tansu broker from `KAFKA_BROKERS`, unique topic and
//! group names, the real `flowlogd` binary as a child process, and a reader of the
//! summaries topic that keeps what an upserting consumer keeps.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Message, Offset, TopicPartitionList};
use serde_json::Value;

/// A private link to (or copy of) the binary: the build directory may be shared with
/// other builds of the workspace, which relink `flowlogd` in place while a long test runs
/// (the linker replaces the file, so a hard link keeps the old one). Links of test
/// processes that are gone are removed first: a copy per test process filled the disk.
pub fn bin() -> PathBuf {
    static COPY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    COPY.get_or_init(|| {
        // FLOWLOGD_TEST_BIN: a binary built from this tree, when the build directory is
        // shared with builds of other trees (the last link wins `target/debug/flowlogd`).
        let src = std::env::var_os("FLOWLOGD_TEST_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_flowlogd")));
        let base = std::env::temp_dir().join("flowlogd-test-bins");
        remove_links_of_finished_tests(&base);
        let dir = base.join(unique("run"));
        std::fs::create_dir_all(&dir).unwrap();
        let dst = dir.join("flowlogd");
        if std::fs::hard_link(&src, &dst).is_err() {
            std::fs::copy(&src, &dst).unwrap();
        }
        dst
    })
    .clone()
}

/// Removes the `run-<pid>-<nanos>` directories under `base` whose process has exited.
fn remove_links_of_finished_tests(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let pid = name.split('-').nth(1).unwrap_or_default();
        if !pid.is_empty() && !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// The test's working directory (inputs, state, logs); kept afterwards when
/// `FLOWLOGD_TEST_KEEP` is set, to look at a failure.
pub fn test_dir() -> tempfile::TempDir {
    let mut dir = tempfile::tempdir().unwrap();
    if std::env::var_os("FLOWLOGD_TEST_KEEP").is_some() {
        dir.disable_cleanup(true);
        eprintln!("keeping {}", dir.path().display());
    }
    dir
}

/// The broker under test, or `None` (the test then prints why it skips).
pub fn brokers(test: &str) -> Option<String> {
    match std::env::var("KAFKA_BROKERS") {
        Ok(b) if !b.is_empty() => Some(b),
        _ => {
            eprintln!("SKIP {test}: KAFKA_BROKERS is not set (run it through scripts/test.sh, which starts tansu)");
            None
        }
    }
}

/// A name no earlier run used (tansu keeps topics and group offsets while it runs).
pub fn unique(prefix: &str) -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{}-{n}", std::process::id())
}

pub struct Topics {
    pub raw: String,
    pub partials: String,
    pub summaries: String,
    pub deadletter: String,
    pub ocsf: String,
    pub group: String,
}

impl Topics {
    pub fn new(test: &str) -> Self {
        let p = unique(test);
        Self {
            raw: format!("{p}.raw"),
            partials: format!("{p}.partials"),
            summaries: format!("{p}.summaries"),
            deadletter: format!("{p}.deadletter"),
            ocsf: format!("{p}.ocsf"),
            group: format!("{p}.group"),
        }
    }
}

pub fn gen(dir: &Path, records: u64, seed: u64) {
    let out = Command::new(bin())
        .args([
            "gen",
            "--out",
            dir.to_str().unwrap(),
            "--records",
            &records.to_string(),
        ])
        .args(["--start", T0, "--hours", "3", "--seed", &seed.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "gen: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Start of the generated data; the daemon's clock is set a few hours later so that every
/// window is closed and within retention.
pub const T0: &str = "2024-05-01T00:00:00Z";
pub const CLOCK: &str = "2024-05-01T06:00:00Z@1";

pub fn config(brokers: &str, t: &Topics, input: &Path, state: &Path, partitions: u32) -> String {
    format!(
        r#"
state_dir = "{state}"
[engine]
tick = "1s"
checkpoint_interval = "1s"
parallelism = 2
[[sources.local]]
path = "{input}"
poll_interval = "200ms"
settle = "0s"
max_chunk_bytes = 65536
[kafka]
brokers = "{brokers}"
group = "{group}"
[kafka.topics]
raw = "{raw}"
partials = "{partials}"
summaries = "{summaries}"
deadletter = "{deadletter}"
partitions = {partitions}
[[kafka.outputs]]
topic = "{summaries}"
[[kafka.outputs]]
topic = "{ocsf}"
format = "ocsf"
summaries = ["traffic"]
"#,
        state = state.display(),
        input = input.display(),
        group = t.group,
        raw = t.raw,
        partials = t.partials,
        summaries = t.summaries,
        deadletter = t.deadletter,
        ocsf = t.ocsf,
    )
}

/// A daemon that is killed when the test ends, also when it fails.
pub struct Daemon(Child);

impl std::ops::Deref for Daemon {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Daemon {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// `flowlogd run --config FILE [--roles ROLES]` with the test clock; stderr to `log`.
pub fn spawn(config: &Path, roles: Option<&str>, log: &Path) -> Daemon {
    let mut c = Command::new(bin());
    c.args(["run", "--config", config.to_str().unwrap()]);
    if let Some(r) = roles {
        c.args(["--roles", r]);
    }
    c.env("FLOWLOGD_TEST_CLOCK", CLOCK)
        .env(
            "RUST_LOG",
            std::env::var("FLOWLOGD_TEST_LOG").unwrap_or_else(|_| "info".into()),
        )
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .map(Daemon)
        .unwrap()
}

pub fn sigterm(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
}

/// A summary row without what differs between revisions and runs.
pub fn canonical(row: &Value) -> String {
    let mut r = row.clone();
    if let Some(o) = r.as_object_mut() {
        o.remove("revision");
        o.remove("provisional");
    }
    r.to_string()
}

/// `run --once` on the same input: its summary rows, canonical.
pub fn run_once_rows(input: &Path, out: &Path) -> BTreeSet<String> {
    let o = Command::new(bin())
        .args([
            "run",
            "--once",
            "--quiet",
            "--input",
            input.to_str().unwrap(),
        ])
        .args(["--output", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "run --once: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    std::fs::read_to_string(out.join("summaries.jsonl"))
        .unwrap()
        .lines()
        .map(|l| canonical(&serde_json::from_str(l).unwrap()))
        .collect()
}

/// Reads a topic from the beginning of every partition (no group), keeping per record key
/// the record of the highest revision, ties to the later one — what an upserting consumer
/// or a compacted topic keeps.
pub struct Reader {
    consumer: BaseConsumer,
    pub latest: BTreeMap<String, (u32, Value)>,
    pub records: u64,
    /// Offset expected next per partition: the broker may hand out a later offset first
    /// (see `roles/gaps.rs`), and a reader that moved on would miss the records before it.
    next: BTreeMap<i32, i64>,
    retries: BTreeMap<(i32, i64), u32>,
    topic: String,
}

impl Reader {
    pub fn new(brokers: &str, topic: &str) -> Self {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("group.id", unique("reader"))
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        let partitions = loop {
            let md = consumer
                .fetch_metadata(Some(topic), Duration::from_secs(5))
                .ok();
            let n = md.as_ref().and_then(|m| {
                m.topics()
                    .first()
                    .map(|t| (t.error().is_none(), t.partitions().len()))
            });
            if let Some((true, n)) = n {
                if n > 0 {
                    break n;
                }
            }
            assert!(Instant::now() < deadline, "topic {topic} never appeared");
            std::thread::sleep(Duration::from_millis(300));
        };
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition_offset(topic, p as i32, Offset::Beginning)
                .unwrap();
        }
        consumer.assign(&tpl).unwrap();
        Self {
            consumer,
            latest: BTreeMap::new(),
            records: 0,
            next: BTreeMap::new(),
            retries: BTreeMap::new(),
            topic: topic.to_owned(),
        }
    }

    /// Reads what arrived within `d`.
    pub fn poll_for(&mut self, d: Duration) {
        let deadline = Instant::now() + d;
        while Instant::now() < deadline {
            let Some(m) = self.consumer.poll(Duration::from_millis(100)) else {
                continue;
            };
            let Ok(m) = m else { continue };
            let expected = *self.next.get(&m.partition()).unwrap_or(&0);
            if m.offset() < expected {
                continue;
            }
            if m.offset() > expected {
                // Further back on every try, to reach the start of the batch.
                let tries = self.retries.entry((m.partition(), expected)).or_insert(0);
                let back = if *tries == 0 {
                    0
                } else {
                    1i64 << (*tries - 1).min(20)
                };
                *tries += 1;
                std::thread::sleep(Duration::from_millis(20));
                self.consumer
                    .seek(
                        &self.topic,
                        m.partition(),
                        Offset::Offset((expected - back).max(0)),
                        Duration::from_secs(10),
                    )
                    .unwrap();
                continue;
            }
            self.next.insert(m.partition(), m.offset() + 1);
            self.records += 1;
            let key = String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned();
            let Ok(v) = serde_json::from_slice::<Value>(m.payload().unwrap_or_default()) else {
                continue;
            };
            let rev = revision(&v);
            match self.latest.get(&key) {
                Some((r, _)) if *r > rev => {}
                _ => {
                    self.latest.insert(key, (rev, v));
                }
            }
        }
    }

    pub fn rows(&self) -> BTreeSet<String> {
        self.latest.values().map(|(_, v)| canonical(v)).collect()
    }

    pub fn values(&self) -> Vec<Value> {
        self.latest.values().map(|(_, v)| v.clone()).collect()
    }
}

fn revision(v: &Value) -> u32 {
    v.get("revision")
        .or_else(|| v.pointer("/unmapped/flowlogd/revision"))
        .and_then(Value::as_u64)
        .unwrap_or(0) as u32
}

/// Waits until the summaries read equal `expected`; on timeout fails with the difference.
pub fn wait_equal(
    reader: &mut Reader,
    expected: &BTreeSet<String>,
    timeout: Duration,
    logs: &[&Path],
) {
    let deadline = Instant::now() + timeout;
    loop {
        reader.poll_for(Duration::from_secs(1));
        let got = reader.rows();
        if &got == expected {
            return;
        }
        if Instant::now() > deadline {
            let missing: Vec<_> = expected.difference(&got).take(3).collect();
            let extra: Vec<_> = got.difference(expected).take(3).collect();
            print_tails(logs);
            panic!(
                "summaries from Kafka differ from run --once after {timeout:?}: {} rows read ({} records), {} expected; {} missing, e.g. {missing:?}; {} unexpected, e.g. {extra:?}",
                got.len(),
                reader.records,
                expected.len(),
                expected.difference(&got).count(),
                got.difference(expected).count(),
            );
        }
    }
}

/// Prints the last lines of each log (what a failed assertion needs to be understood).
pub fn print_tails(logs: &[&Path]) {
    for l in logs {
        let text = std::fs::read_to_string(l).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(30).collect();
        eprintln!(
            "--- {} (last lines)\n{}",
            l.display(),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
}

/// Writes every record of `topic` as `partition offset header=value...` lines to `out`
/// (a debugging aid for kept test directories).
pub fn dump_topic(brokers: &str, topic: &str, out: &Path) {
    use rdkafka::message::Headers;
    let r = Reader::new(brokers, topic);
    let mut lines = Vec::new();
    let mut quiet = Instant::now();
    while quiet.elapsed() < Duration::from_secs(3) {
        let Some(Ok(m)) = r.consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        quiet = Instant::now();
        let mut line = format!(
            "{} {} key={}",
            m.partition(),
            m.offset(),
            String::from_utf8_lossy(m.key().unwrap_or_default())
        );
        if let Ok(v) = serde_json::from_slice::<Value>(m.payload().unwrap_or_default()) {
            line.push_str(&format!(
                " revision={} records={}",
                revision(&v),
                v.pointer("/metrics/records").unwrap_or(&Value::Null)
            ));
        }
        if let Some(hs) = m.headers() {
            for h in hs.iter() {
                let v = String::from_utf8_lossy(h.value.unwrap_or_default());
                line.push_str(&format!(" {}={}", h.key, v));
            }
        }
        lines.push(line);
    }
    std::fs::write(out, lines.join("\n")).unwrap();
    eprintln!("{} records of {topic} in {}", lines.len(), out.display());
}

/// Waits until `reader` has read at least `n` distinct rows.
pub fn wait_rows(reader: &mut Reader, n: usize, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while reader.latest.len() < n {
        assert!(
            Instant::now() < deadline,
            "fewer than {n} summary rows after {timeout:?}"
        );
        reader.poll_for(Duration::from_millis(200));
    }
}

/// Key, value and headers of a record produced as is.
pub type RawRecord<'a> = (Option<&'a str>, &'a [u8], Vec<(&'a str, &'a str)>);

/// Produces records as they are (for malformed input), waiting for delivery.
pub fn produce_raw(brokers: &str, topic: &str, records: &[RawRecord<'_>]) {
    let p: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    for (key, value, headers) in records {
        let mut h = OwnedHeaders::new();
        for (k, v) in headers {
            h = h.insert(rdkafka::message::Header {
                key: k,
                value: Some(v.as_bytes()),
            });
        }
        let mut r = BaseRecord::<str, [u8]>::to(topic).payload(value).headers(h);
        if let Some(k) = key {
            r = r.key(k);
        }
        p.send(r).map_err(|(e, _)| e).unwrap();
    }
    p.flush(Duration::from_secs(30)).unwrap();
}
