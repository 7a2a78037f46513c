//! Helpers for the tests of flowlogd as a service: a running daemon with its stderr
//! collected, an sd_notify socket, a plain HTTP client and a Prometheus text parser.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const T0: &str = "2024-05-01T00:00:00Z";

/// The binary under test: `FLOWLOGD_BIN` (e.g. an installed `/usr/bin/flowlogd`, or a
/// copy taken right after the build), else the one cargo built for these tests.
pub fn bin() -> String {
    std::env::var("FLOWLOGD_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_flowlogd").to_owned())
}

/// A continuous-mode config: one local source, Parquet + JSON lines + dead letters, the
/// admin endpoint on a free loopback port; `extra` is appended verbatim.
pub fn config(input: &Path, out: &Path, extra: &str) -> String {
    format!(
        r#"
state_dir = "{out}/state"
[engine]
tick = "10m"
grace = "20m"
retention = "3650d"
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
{extra}
"#,
        input = input.display(),
        out = out.display()
    )
}

/// A running `flowlogd run` with its stdout and stderr collected in the background.
pub struct Daemon {
    pub child: Child,
    pub stderr: Arc<Mutex<String>>,
    pub stdout: Arc<Mutex<String>>,
}

/// A scaled clock three hours after T0 running 600x: windows of the generated data are
/// closed at once and a 10-minute tick is one real second.
pub fn clock() -> String {
    "2024-05-01T03:00:00Z@600".to_owned()
}

impl Daemon {
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(bin());
        cmd.args(args)
            .env_remove("RUST_LOG")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env("FLOWLOGD_TEST_CLOCK", clock())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn flowlogd");
        let stderr = collect(child.stderr.take().unwrap());
        let stdout = collect(child.stdout.take().unwrap());
        Self {
            child,
            stderr,
            stdout,
        }
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until stderr contains `needle` (fails the test after `timeout` or if the
    /// process exits first).
    pub fn wait_stderr(&mut self, needle: &str, timeout: Duration) -> String {
        let start = Instant::now();
        loop {
            let text = self.stderr();
            if text.contains(needle) {
                return text;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                std::thread::sleep(Duration::from_millis(200));
                panic!(
                    "flowlogd exited ({status}) before logging {needle:?}:\n{}",
                    self.stderr()
                );
            }
            assert!(
                start.elapsed() < timeout,
                "timed out waiting for {needle:?} in stderr:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The admin endpoint's address, from its start-up log line.
    pub fn admin_addr(&mut self) -> SocketAddr {
        let text = self.wait_stderr("admin endpoint listening", Duration::from_secs(60));
        let line = text
            .lines()
            .find(|l| l.contains("admin endpoint listening"))
            .unwrap();
        let at = line.find("addr=").expect("addr= in the log line") + 5;
        line[at..]
            .split_whitespace()
            .next()
            .unwrap()
            .trim_matches('"')
            .parse()
            .unwrap()
    }

    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the exit (at most `timeout`); returns (exit code, stdout, stderr).
    pub fn wait_exit(mut self, timeout: Duration) -> (Option<i32>, String, String) {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the reader threads catch the last lines.
                std::thread::sleep(Duration::from_millis(200));
                let out = self.stdout.lock().unwrap().clone();
                return (status.code(), out, self.stderr());
            }
            if start.elapsed() > timeout {
                let _ = self.child.kill();
                panic!(
                    "flowlogd did not exit within {timeout:?}:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn collect(r: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let buf = Arc::new(Mutex::new(String::new()));
    let b = buf.clone();
    std::thread::spawn(move || {
        let mut r = BufReader::new(r);
        let mut line = String::new();
        while r.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
            b.lock().unwrap().push_str(&line);
            line.clear();
        }
    });
    buf
}

/// A `NOTIFY_SOCKET` datagram socket, as systemd provides; collects every message.
pub struct NotifySocket {
    pub path: PathBuf,
    pub messages: Arc<Mutex<Vec<String>>>,
}

impl NotifySocket {
    pub fn bind(dir: &Path) -> Self {
        let path = dir.join("notify.sock");
        let sock = UnixDatagram::bind(&path).unwrap();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let m = messages.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            while let Ok(n) = sock.recv(&mut buf) {
                m.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        });
        Self { path, messages }
    }

    pub fn all(&self) -> Vec<String> {
        self.messages.lock().unwrap().clone()
    }

    /// Messages with a line equal to `line` (e.g. `READY=1`).
    pub fn count(&self, line: &str) -> usize {
        self.all()
            .iter()
            .filter(|m| m.lines().any(|l| l == line))
            .count()
    }

    pub fn wait_for(&self, line: &str, n: usize, timeout: Duration) {
        let start = Instant::now();
        while self.count(line) < n {
            assert!(
                start.elapsed() < timeout,
                "timed out waiting for {n} x {line:?}; got {:#?}",
                self.all()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// `GET path` over HTTP/1.1 (connection closed after): (status code, body).
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    (code, body)
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// One sample of the Prometheus text format.
#[derive(Debug, Clone)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Parses the Prometheus text exposition format; panics on a malformed line (the test
/// is that `/metrics` is valid).
pub fn parse_prometheus(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("no value: {line}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value: {line}")),
        };
        let (name, labels) = match series.split_once('{') {
            None => (series.to_owned(), BTreeMap::new()),
            Some((n, rest)) => {
                let body = rest
                    .strip_suffix('}')
                    .unwrap_or_else(|| panic!("unclosed labels: {line}"));
                (n.to_owned(), parse_labels(body, line))
            }
        };
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name: {line}"
        );
        out.push(Sample {
            name,
            labels,
            value,
        });
    }
    out
}

fn parse_labels(body: &str, line: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut rest = body;
    while !rest.is_empty() {
        let (k, after) = rest
            .split_once("=\"")
            .unwrap_or_else(|| panic!("bad label: {line}"));
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, e)) = chars.next() {
                        value.push(match e {
                            'n' => '\n',
                            other => other,
                        });
                    }
                }
                '"' => {
                    end = Some(i);
                    break;
                }
                c => value.push(c),
            }
        }
        let end = end.unwrap_or_else(|| panic!("unterminated label value: {line}"));
        labels.insert(k.trim_start_matches(',').to_owned(), value);
        rest = after[end + 1..].trim_start_matches(',');
    }
    labels
}

/// Sum of every sample named `name` (all label sets).
pub fn total(samples: &[Sample], name: &str) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name)
        .map(|s| s.value)
        .sum()
}

/// Generates sample data (all formats) into `dir`.
pub fn gen(dir: &Path, records: u64, hours: u32, seed: u64) {
    let out = Command::new(bin())
        .args([
            "gen",
            "--out",
            dir.to_str().unwrap(),
            "--records",
            &records.to_string(),
            "--start",
            T0,
            "--hours",
            &hours.to_string(),
            "--seed",
            &seed.to_string(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Number of files below `dir`.
pub fn count_files(dir: &Path) -> usize {
    let mut n = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                n += 1;
            }
        }
    }
    n
}

/// The `flowlogd: k=v ...` accounting line, as key -> value.
pub fn accounting(stdout: &str) -> BTreeMap<String, u64> {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("flowlogd: "))
        .unwrap_or_else(|| panic!("no accounting line in {stdout:?}"));
    line.trim_start_matches("flowlogd: ")
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .filter_map(|(k, v)| Some((k.to_owned(), v.trim_end_matches('x').parse().ok()?)))
        .collect()
}

/// Polls `/status` until `cond` holds on it.
pub fn wait_status(
    addr: SocketAddr,
    what: &str,
    timeout: Duration,
    cond: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let start = Instant::now();
    loop {
        let (code, body) = http_get(addr, "/status");
        assert_eq!(code, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        if cond(&v) {
            return v;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out waiting for {what}: {v:#}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
