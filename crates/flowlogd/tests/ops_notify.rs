//! sd_notify with a real `NOTIFY_SOCKET` datagram socket, as systemd provides it:
//! READY=1 once the pipeline runs (never for a config or sink that does not work),
//! WATCHDOG=1 at half of WATCHDOG_USEC, a STATUS= line, STOPPING=1 on SIGTERM.

mod ops_common;

use std::process::Command;
use std::time::Duration;

use ops_common::*;

#[test]
fn ready_watchdog_status_and_stopping_reach_the_notify_socket() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let out = tmp.path().join("out");
    gen(&input, 2_000, 1, 3);
    std::fs::create_dir_all(&out).unwrap();
    let cfg = out.join("flowlogd.toml");
    std::fs::write(&cfg, config(&input, &out, "[admin]\nenabled = false\n")).unwrap();
    let sock = NotifySocket::bind(tmp.path());
    let sock_path = sock.path.to_str().unwrap().to_owned();
    let d = Daemon::start(
        &["run", "--config", cfg.to_str().unwrap()],
        &[
            ("NOTIFY_SOCKET", sock_path.as_str()),
            ("WATCHDOG_USEC", "200000"),
        ],
    );
    sock.wait_for("READY=1", 1, Duration::from_secs(60));
    // Pinged every 100 ms (half of WATCHDOG_USEC), from the main loop.
    sock.wait_for("WATCHDOG=1", 10, Duration::from_secs(30));
    let first = &sock.all()[0];
    assert!(
        first.lines().any(|l| l == "READY=1"),
        "READY=1 first: {first:?}"
    );
    assert!(
        first.lines().any(|l| l.starts_with("STATUS=running: ")),
        "{first:?}"
    );
    // The status line follows the work: every record read shows up in it.
    let start = std::time::Instant::now();
    loop {
        let msgs = sock.all();
        let last = msgs.last().unwrap();
        if last.contains(" 0 objects") {
            assert!(start.elapsed() < Duration::from_secs(30), "{msgs:#?}");
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        let status = last.lines().find(|l| l.starts_with("STATUS=")).unwrap();
        assert!(
            status.contains("records") && status.contains("windows open"),
            "{status}"
        );
        break;
    }
    assert_eq!(sock.count("STOPPING=1"), 0);
    assert_eq!(sock.count("READY=1"), 1);

    d.signal("TERM");
    let (code, _, stderr) = d.wait_exit(Duration::from_secs(60));
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(sock.count("STOPPING=1"), 1, "{:#?}", sock.all());
    // STOPPING=1 comes before the drain's last pings, never READY again.
    assert_eq!(sock.count("READY=1"), 1);
}

#[test]
fn no_ready_when_the_config_is_invalid_or_a_sink_cannot_open() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    let sock = NotifySocket::bind(tmp.path());
    let bin = bin();

    // A summary over a column that does not exist: rejected before anything starts.
    let bad = tmp.path().join("bad.toml");
    let out = tmp.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(
        &bad,
        config(
            &input,
            &out,
            "[[summaries]]\nname = \"x\"\ngroup_by = [\"no_such_column\"]\nmetrics = [{ name = \"records\", fn = \"count\" }]\n",
        ),
    )
    .unwrap();
    let o = Command::new(&bin)
        .args(["run", "--config", bad.to_str().unwrap()])
        .env("NOTIFY_SOCKET", &sock.path)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("summaries[0]"));

    // The JSON-lines sink below a regular file: it cannot be opened.
    let blocker = tmp.path().join("not-a-dir");
    std::fs::write(&blocker, "x").unwrap();
    let sinkless = tmp.path().join("sinkless.toml");
    std::fs::write(
        &sinkless,
        config(&input, &out, "[admin]\nenabled = false\n").replace(
            &format!("{}/summaries.jsonl", out.display()),
            &format!("{}/summaries.jsonl", blocker.display()),
        ),
    )
    .unwrap();
    let o = Command::new(&bin)
        .args(["run", "--config", sinkless.to_str().unwrap()])
        .env("NOTIFY_SOCKET", &sock.path)
        .env("FLOWLOGD_TEST_CLOCK", clock())
        .output()
        .unwrap();
    assert!(!o.status.success());
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(sock.count("READY=1"), 0, "{:#?}", sock.all());
}
