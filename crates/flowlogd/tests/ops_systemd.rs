//! The systemd unit and the package metadata: `systemd-analyze verify` accepts the unit
//! (and rejects a broken copy, so the check can fail), its hardening scores as "OK" in
//! `systemd-analyze security`, it has the settings flowlogd relies on, and every file the
//! `.deb` ships exists. Skips with a message when systemd-analyze is not installed
//! (scripts/emulators.sh installs it).

mod ops_common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn unit_text() -> String {
    std::fs::read_to_string(repo().join("deploy/flowlogd.service")).unwrap()
}

fn have_systemd_analyze() -> bool {
    let ok = Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("SKIP: systemd-analyze not installed (apt-get install systemd; scripts/emulators.sh does)");
    }
    ok
}

/// The unit with ExecStart pointing at the binary under test (verify checks that the
/// executables exist), written to `dir`.
fn unit_copy(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("flowlogd.service");
    std::fs::write(&path, text.replace("/usr/bin/flowlogd", &ops_common::bin())).unwrap();
    path
}

fn verify(unit: &Path) -> (bool, String) {
    let o = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(unit)
        .current_dir(unit.parent().unwrap())
        .output()
        .unwrap();
    let mut text = String::from_utf8_lossy(&o.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&o.stderr));
    // Only complaints about the unit file itself (not the host's other units).
    let ours: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("flowlogd.service"))
        .collect();
    (o.status.success() && ours.is_empty(), ours.join("\n"))
}

#[test]
fn unit_passes_systemd_analyze_verify() {
    if !have_systemd_analyze() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (ok, complaints) = verify(&unit_copy(tmp.path(), &unit_text()));
    assert!(ok, "systemd-analyze verify:\n{complaints}");

    let broken = tempfile::tempdir().unwrap();
    let text = unit_text().replace("Type=notify", "Type=notifyy\nWatchdogSecs=1");
    let (ok, complaints) = verify(&unit_copy(broken.path(), &text));
    assert!(!ok, "a broken unit passed verify");
    assert!(complaints.contains("WatchdogSecs"), "{complaints}");
}

#[test]
fn unit_hardening_scores_ok_in_systemd_analyze_security() {
    if !have_systemd_analyze() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let unit = unit_copy(tmp.path(), &unit_text());
    // Exposure 0 (best) .. 10; "OK" is below 2.5. --threshold fails the command above it.
    let o = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--threshold=25", "--no-pager"])
        .arg(&unit)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    if !o.status.success() && !text.contains("Overall exposure level") {
        eprintln!(
            "SKIP: this systemd-analyze has no offline security check: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        return;
    }
    assert!(o.status.success(), "exposure too high:\n{text}");
    assert!(text.contains("Overall exposure level"), "{text}");
}

#[test]
fn unit_has_the_settings_flowlogd_relies_on() {
    let text = unit_text();
    let has = |line: &str| text.lines().any(|l| l.trim() == line);
    for line in [
        "Type=notify",
        "NotifyAccess=main",
        "Restart=on-failure",
        "DynamicUser=yes",
        "StateDirectory=flowlogd",
        "ConfigurationDirectory=flowlogd",
        "EnvironmentFile=-/etc/flowlogd/flowlogd.env",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "SystemCallFilter=@system-service",
    ] {
        assert!(has(line), "deploy/flowlogd.service lacks {line:?}");
    }
    let secs = |key: &str| -> u64 {
        let v = text
            .lines()
            .find_map(|l| l.trim().strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("no {key}"));
        v.trim_end_matches('s').parse().unwrap()
    };
    assert!(secs("WatchdogSec") >= 10);
    // The drain budget (config default 45 s) must end before systemd's SIGKILL.
    assert!(secs("TimeoutStopSec") > 45);
}

#[test]
fn deb_package_metadata_ships_existing_files() {
    let manifest: toml::Value = toml::from_str(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap(),
    )
    .unwrap();
    let deb = &manifest["package"]["metadata"]["deb"];
    let assets = deb["assets"].as_array().unwrap();
    let mut targets = Vec::new();
    for a in assets {
        let a = a.as_array().unwrap();
        let src = a[0].as_str().unwrap();
        targets.push(a[1].as_str().unwrap().to_owned());
        if src.starts_with("target/") {
            continue; // built by `cargo deb`
        }
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(src);
        assert!(p.exists(), "deb asset {src} does not exist");
    }
    assert!(targets.iter().any(|t| t == "usr/bin/"));
    for conf in deb["conf-files"].as_array().unwrap() {
        let conf = conf.as_str().unwrap().trim_start_matches('/');
        assert!(
            targets.iter().any(|t| t == conf),
            "conffile {conf} not shipped"
        );
    }
    let units = &deb["systemd-units"];
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(units["unit-scripts"].as_str().unwrap());
    let name = units["unit-name"].as_str().unwrap();
    assert!(dir.join(format!("{name}.service")).exists());
    // The packaged default config is valid as shipped.
    let o = Command::new(ops_common::bin())
        .args(["validate-config"])
        .arg(repo().join("config/flowlogd.toml"))
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "config/flowlogd.toml: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}
