//! Helpers for tests against moto (AWS stand-in): fixture steps run by boto3 in the test
//! venv, moto's auth switch, and a skip when moto is not running.

#![allow(dead_code)]

pub mod proxy;

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

/// moto's endpoint, or None (with a message) when the test should skip.
pub fn moto(test: &str) -> Option<String> {
    let (Ok(ep), Ok(_)) = (
        std::env::var("MOTO_ENDPOINT"),
        std::env::var("FLOWLOGD_PYTHON"),
    ) else {
        eprintln!(
            "skipping {test}: MOTO_ENDPOINT / FLOWLOGD_PYTHON not set (run it under scripts/test.sh or `source scripts/emulators.sh`)"
        );
        return None;
    };
    Some(ep)
}

/// Runs fixture steps (see fixtures.py) and returns their results.
pub fn steps(steps: Value) -> Vec<Value> {
    let python = std::env::var("FLOWLOGD_PYTHON").expect("FLOWLOGD_PYTHON");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/aws_common/fixtures.py");
    let mut child = Command::new(python)
        .arg(script)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn python");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(steps.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "fixture steps failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap()
}

/// Unique lowercase name for buckets and queues.
pub fn unique(base: &str) -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{base}-{}-{}", std::process::id(), n % 1_000_000_000)
}

/// Switches moto's IAM enforcement on (`0` requests without auth) or off (`inf`).
pub fn moto_auth(endpoint: &str, on: bool) {
    let out = Command::new("curl")
        .args([
            "-sf",
            "-X",
            "POST",
            "-H",
            "Content-Type: text/plain",
            "--data-binary",
            if on { "0" } else { "inf" },
            &format!("{endpoint}/moto-api/reset-auth"),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "moto reset-auth failed");
}

/// Switches auth off again when dropped (also when a test fails).
pub struct AuthOn(pub String);

impl AuthOn {
    pub fn new(endpoint: &str) -> Self {
        moto_auth(endpoint, true);
        Self(endpoint.to_owned())
    }
}

impl Drop for AuthOn {
    fn drop(&mut self) {
        moto_auth(&self.0, false);
    }
}

/// Start of the hour that began `hours_ago` hours ago, RFC 3339.
pub fn hour_ago(hours_ago: i64) -> String {
    let t = chrono::Utc::now().timestamp() - hours_ago * 3600;
    let t = t - t.rem_euclid(3600);
    chrono::DateTime::from_timestamp(t, 0)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}
