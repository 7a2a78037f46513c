//! The admin HTTP endpoint (axum): `/healthz`, `/readyz`, `/status`, `/metrics`.
//!
//! Bound to loopback by default: it is for the host's agents (Prometheus, probes, an
//! operator with curl), not the network. Nothing it serves comes from configuration
//! values or the environment, so it cannot leak credentials; `/status` holds only what
//! the pipeline and other components put on the [`StatusBoard`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// `[admin]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Serve the endpoint at all (continuous mode only).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Address to listen on; port 0 picks a free one (logged at start).
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// `/healthz` fails when the main loop has not checked in for this long.
    #[serde(default = "default_stall", with = "humantime_serde")]
    pub stall_after: Duration,
}

fn yes() -> bool {
    true
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9464))
}

fn default_stall() -> Duration {
    Duration::from_secs(120)
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: default_listen(),
            stall_after: default_stall(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("admin endpoint: cannot listen on {addr}: {source} (set [admin] listen to a free address, or enabled = false)")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// What flowlogd is doing, for `/status`, `/readyz` and the sd_notify status line.
/// Cheap to clone (shared); the pipeline updates it, other components add sections.
#[derive(Clone, Default)]
pub struct StatusBoard {
    inner: Arc<RwLock<Board>>,
}

#[derive(Default)]
struct Board {
    ready: bool,
    phase: String,
    started: Option<SystemTime>,
    heartbeat: Option<Instant>,
    sources: BTreeMap<String, SourceStatus>,
    windows_open: usize,
    revisions_emitted: u64,
    /// Windows emitted (closed) at least once, newest last; bounded.
    windows_closed: std::collections::BTreeSet<String>,
    windows_closed_total: u64,
    emissions: BTreeMap<String, EmissionStatus>,
    accounting: Value,
    config: ConfigStatus,
    sections: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Default, Serialize)]
struct SourceStatus {
    objects: u64,
    last_object: Option<String>,
    last_object_at: Option<String>,
    /// Wall clock minus the newest event time read from this source, in seconds.
    event_lag_seconds: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
struct EmissionStatus {
    window_start: String,
    revision: u32,
    rows: u64,
    provisional: bool,
    at: String,
}

#[derive(Debug, Clone, Default, Serialize)]
struct ConfigStatus {
    path: Option<String>,
    loaded_at: Option<String>,
    reloads_applied: u64,
    reloads_rejected: u64,
    last_rejection: Option<String>,
}

fn now_rfc3339() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

impl StatusBoard {
    pub fn new() -> Self {
        let b = Self::default();
        if let Ok(mut w) = b.inner.write() {
            w.started = Some(SystemTime::now());
            w.phase = "starting".into();
        }
        b
    }

    fn update(&self, f: impl FnOnce(&mut Board)) {
        // A panic elsewhere while holding the lock must not take the status down too.
        let mut g = match self.inner.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        f(&mut g);
    }

    fn read<T>(&self, f: impl FnOnce(&Board) -> T) -> T {
        let g = match self.inner.read() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        f(&g)
    }

    /// Ready means: config valid, state restored, sinks open, pipeline running.
    pub fn set_ready(&self, ready: bool, phase: &str) {
        self.update(|b| {
            b.ready = ready;
            b.phase = phase.to_owned();
        });
    }

    pub fn is_ready(&self) -> bool {
        self.read(|b| b.ready)
    }

    /// The main loop is alive (feeds `/healthz`).
    pub fn heartbeat(&self) {
        self.update(|b| b.heartbeat = Some(Instant::now()));
    }

    /// Time since the last heartbeat (None before the first).
    pub fn since_heartbeat(&self) -> Option<Duration> {
        self.read(|b| b.heartbeat.map(|h| h.elapsed()))
    }

    /// `source` finished reading `object` (or its new part); `event_lag` is the wall
    /// clock minus the newest event time in it, when known.
    pub fn object_read(
        &self,
        source: &str,
        object: &str,
        new_object: bool,
        event_lag: Option<Duration>,
    ) {
        self.update(|b| {
            let s = b.sources.entry(source.to_owned()).or_default();
            if new_object {
                s.objects += 1;
            }
            s.last_object = Some(object.to_owned());
            s.last_object_at = Some(now_rfc3339());
            if let Some(l) = event_lag {
                s.event_lag_seconds = Some((l.as_secs_f64() * 1000.0).round() / 1000.0);
            }
        });
    }

    /// A configured source, listed even before it reads anything.
    pub fn source_configured(&self, source: &str) {
        self.update(|b| {
            b.sources.entry(source.to_owned()).or_default();
        });
    }

    pub fn windows_open(&self, n: usize) {
        self.update(|b| b.windows_open = n);
    }

    pub fn emitted(
        &self,
        summary: &str,
        window_start: String,
        revision: u32,
        rows: u64,
        provisional: bool,
    ) {
        self.update(|b| {
            if !provisional {
                b.revisions_emitted += 1;
                if b.windows_closed.insert(window_start.clone()) {
                    b.windows_closed_total += 1;
                    while b.windows_closed.len() > 10_000 {
                        b.windows_closed.pop_first();
                    }
                }
            }
            b.emissions.insert(
                summary.to_owned(),
                EmissionStatus {
                    window_start,
                    revision,
                    rows,
                    provisional,
                    at: now_rfc3339(),
                },
            );
        });
    }

    /// The record accounting (serialized `Accounting`).
    pub fn set_accounting(&self, v: Value) {
        self.update(|b| b.accounting = v);
    }

    /// The config file in force (its path only, never its contents).
    pub fn config_loaded(&self, path: Option<&str>) {
        self.update(|b| {
            b.config.path = path.map(str::to_owned);
            b.config.loaded_at = Some(now_rfc3339());
        });
    }

    pub fn reload_applied(&self) {
        self.update(|b| {
            b.config.reloads_applied += 1;
            b.config.loaded_at = Some(now_rfc3339());
        });
    }

    /// `reason` must name keys, not values (it is served on `/status`).
    pub fn reload_rejected(&self, reason: &str) {
        self.update(|b| {
            b.config.reloads_rejected += 1;
            b.config.last_rejection = Some(reason.to_owned());
        });
    }

    /// Adds or replaces a top-level section of `/status` (e.g. `access` for the
    /// access checks). The value must hold no secrets.
    pub fn set_section(&self, name: &str, value: Value) {
        self.update(|b| {
            b.sections.insert(name.to_owned(), value);
        });
    }

    /// Everything `/status` serves.
    pub fn snapshot(&self) -> Value {
        self.read(|b| {
            let uptime = b
                .started
                .and_then(|s| s.elapsed().ok())
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let mut v = json!({
                "version": env!("CARGO_PKG_VERSION"),
                "ready": b.ready,
                "phase": b.phase,
                "uptime_seconds": uptime,
                "sources": b.sources,
                "windows": {
                    "open": b.windows_open,
                    "closed": b.windows_closed_total,
                    "revisions_emitted": b.revisions_emitted,
                },
                "last_emission": b.emissions,
                "accounting": b.accounting,
                "config": b.config,
                "access": Value::Null,
            });
            if let Some(obj) = v.as_object_mut() {
                for (k, s) in &b.sections {
                    obj.insert(k.clone(), s.clone());
                }
            }
            v
        })
    }

    /// One line for `STATUS=` and progress logs.
    pub fn status_line(&self) -> String {
        self.read(|b| {
            let get = |k: &str| b.accounting.get(k).and_then(Value::as_u64).unwrap_or(0);
            format!(
                "{}: {} objects, {} records, {} rejected, {} too late, {} windows open, {} revisions",
                b.phase,
                get("objects"),
                get("records_in"),
                get("rejected"),
                get("too_late"),
                b.windows_open,
                b.revisions_emitted,
            )
        })
    }
}

/// What the router serves.
#[derive(Clone)]
pub struct AdminState {
    pub board: StatusBoard,
    pub registry: prometheus::Registry,
    pub stall_after: Duration,
}

pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/status", get(status))
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// Binds `addr` and serves the router until the process ends; returns the bound address.
pub async fn serve(addr: SocketAddr, state: AdminState) -> Result<SocketAddr, AdminError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| AdminError::Bind { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| AdminError::Bind { addr, source })?;
    let app = router(state);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "admin endpoint stopped");
        }
    });
    Ok(bound)
}

async fn healthz(State(s): State<AdminState>) -> Response {
    match s.board.since_heartbeat() {
        Some(d) if d > s.stall_after => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("stalled: main loop silent for {}s\n", d.as_secs()),
        )
            .into_response(),
        _ => (StatusCode::OK, "ok\n").into_response(),
    }
}

async fn readyz(State(s): State<AdminState>) -> Response {
    if s.board.is_ready() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response()
    }
}

async fn status(State(s): State<AdminState>) -> Json<Value> {
    Json(s.board.snapshot())
}

async fn metrics(State(s): State<AdminState>) -> Response {
    use prometheus::Encoder;
    let encoder = prometheus::TextEncoder::new();
    let mut buf = Vec::new();
    match encoder.encode(&s.registry.gather(), &mut buf) {
        Ok(()) => (
            [(header::CONTENT_TYPE, encoder.format_type().to_owned())],
            buf,
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("encoding metrics: {e}\n"),
        )
            .into_response(),
    }
}
