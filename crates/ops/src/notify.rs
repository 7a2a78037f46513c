//! sd_notify: tells systemd (or whatever listens on `NOTIFY_SOCKET`) when flowlogd is ready,
//! alive, reloading or stopping, and what it is doing (`STATUS=`).
//!
//! Every call is a no-op without `NOTIFY_SOCKET`, and a failed send is only logged: the
//! service manager going away must not stop the pipeline.

use std::time::Duration;

use sd_notify::NotifyState;

fn send(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::debug!(error = %e, "sd_notify failed");
    }
}

/// `READY=1` (with a status line): config valid, state restored, sinks open.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(&one_line(status))]);
}

/// `RELOADING=1` with the monotonic timestamp systemd expects for `Type=notify-reload`;
/// `READY=1` follows once the new configuration runs.
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[
            NotifyState::Reloading,
            now,
            NotifyState::Status("reloading configuration"),
        ]),
        Err(_) => send(&[
            NotifyState::Reloading,
            NotifyState::Status("reloading configuration"),
        ]),
    }
}

/// `STOPPING=1`: draining in-flight chunks and writing the last checkpoint.
pub fn stopping() {
    send(&[
        NotifyState::Stopping,
        NotifyState::Status("stopping: draining and checkpointing"),
    ]);
}

/// `WATCHDOG=1` plus the current one-line status. Sent from the pipeline's main loop only,
/// so a stuck loop misses its pings and systemd restarts the service.
pub fn watchdog(status: &str) {
    send(&[
        NotifyState::Watchdog,
        NotifyState::Status(&one_line(status)),
    ]);
}

/// `STATUS=` alone.
pub fn status(status: &str) {
    send(&[NotifyState::Status(&one_line(status))]);
}

/// How often the main loop checks in: `fallback` (which also paces the status line and
/// `/status`), or more often when half of systemd's `WATCHDOG_USEC` (its advice) is shorter.
pub fn ping_interval(fallback: Duration) -> Duration {
    match sd_notify::watchdog_enabled() {
        Some(d) => (d / 2).clamp(Duration::from_millis(10), fallback),
        None => fallback,
    }
}

/// The protocol is line-based: a newline in a status would start a bogus assignment.
fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}
