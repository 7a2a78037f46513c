//! # flowlogd-bus
//!
//! The messages flowlogd's stages exchange, and the in-process bus that carries them in the
//! embedded default. The same three streams exist as Kafka topics in a distributed
//! deployment:
//!
//! ```text
//!  sources ──RawMessage──► parse ──PartialMessage──► aggregate ──Emission──► sinks
//!          (flowlogd.raw)         (flowlogd.partials)           (flowlogd.summaries)
//! ```
//!
//! Order matters and is kept: a source sends an object's chunks, then its [`LedgerEntry`];
//! the aggregator records the entry only after it has applied the chunks before it, which is
//! what lets one checkpoint hold both the source ledger and the window state consistently.

pub mod durable;
pub mod inprocess;
pub mod kafka;
pub mod message;

pub use durable::Durable;
pub use inprocess::{channel, Receiver, Sender};
pub use message::{
    ChunkPartials, Emission, LedgerEntry, PartialMessage, RawMessage, SummaryPartial,
};
