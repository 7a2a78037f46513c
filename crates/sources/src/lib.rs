//! # flowlogd-sources
//!
//! Sources discover flow-log objects, read what is new in them, and send bounded
//! [`flowlogd_formats::Chunk`]s to the raw stream, followed by a
//! [`flowlogd_bus::LedgerEntry`] saying how far the object is consumed. The ledger lives in
//! the engine's checkpoint, so a restarted source resumes exactly where the state is.
//!
//! Sources: [`localdir`] (a directory tree that files are dropped into or grow in) and
//! [`s3`] (VPC flow logs in S3 buckets, by listing and SQS notifications, across accounts).

pub mod error;
pub mod localdir;
pub mod object;
pub mod s3;
pub mod source;

pub use error::SourceError;
pub use localdir::{LocalDirConfig, LocalDirSource};
pub use s3::{S3Source, S3SourceConfig};
pub use source::{Pending, ScanReport, Source};
