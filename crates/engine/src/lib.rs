//! # flowlogd-engine
//!
//! The heart of flowlogd: flow records are aggregated into event-time windows (60 minutes
//! by default, aligned to the UTC hour) that are emitted on wall-clock ticks (every 10
//! minutes), with DataFusion, in two phases:
//!
//! ```text
//!  chunk ─► parse ─► derive (window_start) ─► partial SQL ─► SummaryPartial per window
//!                                                                  │
//!   Aggregator: window state  ◄── dedup by chunk id ◄──────────────┘
//!       │  tick: closed = now ≥ end + grace, dirty ⇒ revision + 1
//!       └─► merge SQL ─► Emission (summary, window, revision, rows) ─► sinks
//! ```
//!
//! Partials are associative and carry no window mixing, so the result equals a plain SQL
//! `GROUP BY` ([`summary::reference_sql`]) however records are chunked, ordered or
//! replayed. [`checkpoint`] makes window state, applied chunk ids and the source ledger
//! survive `kill -9`.

pub mod accounting;
pub mod aggregator;
pub mod checkpoint;
mod chunking;
pub mod clock;
pub mod config;
pub mod derive;
pub mod detect;
pub mod enrich;
pub mod error;
pub mod firstseen;
pub mod flush;
pub mod orientation;
pub mod partial;
pub mod partition;
pub mod prepared;
pub mod sql;
pub mod summary;
pub mod window;

pub use accounting::Accounting;
pub use aggregator::{Aggregator, Mode};
pub use checkpoint::Checkpointer;
pub use clock::Clock;
pub use config::{EngineConfig, MetricConfig, MetricFn, SummaryConfig};
pub use detect::DetectionConfig;
pub use enrich::{Enricher, EnrichmentConfig};
pub use error::{ConfigIssue, EngineError};
pub use firstseen::{FirstSeen, FirstSeenAlert, FirstSeenConfig};
pub use partial::Partializer;
pub use summary::{prepare_all, CompiledSummary, PreparedSummary, Summaries};
