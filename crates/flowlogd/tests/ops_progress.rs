//! Backfill progress of `run --once`: plain periodic log lines (objects, bytes, records/s,
//! ETA) when stderr is not a terminal, an indicatif bar when it is (through `script`,
//! which gives the process a pseudo-terminal), nothing with `--quiet`.

mod ops_common;

use std::process::Command;

use ops_common::*;

#[test]
fn progress_lines_without_a_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    gen(&input, 3_000, 2, 4);
    let objects = count_files(&input);
    let o = Command::new(bin())
        .args(["run", "--once", "--input"])
        .arg(&input)
        .arg("--output")
        .arg(tmp.path().join("out"))
        .env_remove("RUST_LOG")
        .env("FLOWLOGD_PROGRESS_INTERVAL", "0ms")
        .output()
        .unwrap();
    assert!(o.status.success());
    let stderr = String::from_utf8_lossy(&o.stderr);
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("backfill progress"))
        .collect();
    assert!(lines.len() >= objects / 2, "{stderr}");
    let last = lines.last().unwrap();
    for field in [
        "objects_done=",
        "objects_total=",
        "mb_per_s=",
        "records_per_s=",
        "eta_s=",
    ] {
        assert!(last.contains(field), "{last}");
    }
    assert!(last.contains(&format!("objects_total={objects}")), "{last}");
    assert!(
        !stderr.contains('\u{1b}'),
        "no terminal escapes in plain logs"
    );

    let o = Command::new(bin())
        .args(["run", "--once", "--quiet", "--input"])
        .arg(&input)
        .arg("--output")
        .arg(tmp.path().join("out2"))
        .env("FLOWLOGD_PROGRESS_INTERVAL", "0ms")
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&o.stderr).contains("backfill progress"));
}

#[test]
fn progress_bar_on_a_terminal() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("SKIP: `script` (util-linux) not installed: no pseudo-terminal for the bar");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    gen(&input, 8_000, 2, 4);
    let cmd = format!(
        "{} run --once --input {} --output {}",
        bin(),
        input.display(),
        tmp.path().join("out").display()
    );
    let o = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("COLUMNS", "160")
        .env("TERM", "xterm")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{text}");
    // The bar is redrawn in place (escape codes) with objects, bytes, rate and ETA.
    assert!(
        text.contains("objects") && text.contains("records/s"),
        "{text}"
    );
    assert!(text.contains("ETA"), "{text}");
    assert!(
        !text.contains("backfill progress"),
        "plain lines on a terminal: {text}"
    );
}
