//! # flowlogd-ops
//!
//! What it takes to run flowlogd for people: structured logs through `tracing` and
//! progress on a terminal for long backfills.

pub mod logging;
pub mod progress;
