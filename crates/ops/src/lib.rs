//! # flowlogd-ops
//!
//! What it takes to run flowlogd as a service: structured logs, OpenTelemetry metrics and
//! traces ([`telemetry`], [`metrics`]), the admin HTTP endpoint with the shared
//! [`admin::StatusBoard`], sd_notify ([`notify`]) and progress on a terminal for long
//! backfills ([`progress`]).

pub mod admin;
pub mod logging;
pub mod metrics;
pub mod notify;
pub mod progress;
pub mod telemetry;
