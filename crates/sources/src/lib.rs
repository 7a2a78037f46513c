//! # flowlogd-sources
//!
//! Sources discover flow-log objects, read what is new in them, and send bounded
//! [`flowlogd_formats::Chunk`]s to the raw stream, followed by a
//! [`flowlogd_bus::LedgerEntry`] saying how far the object is consumed. The ledger lives in
//! the engine's checkpoint, so a restarted source resumes exactly where the state is.
//!
//! Sources: [`localdir`] (a directory tree that files are dropped into or grow in),
//! [`s3`] (VPC flow logs in S3 buckets, by listing and SQS notifications, across accounts)
//! and [`azure_blob`] (NSG and VNet flow-log containers in Azure Blob storage).

pub mod azure_blob;
pub mod error;
pub mod localdir;
pub mod object;
pub mod s3;
pub mod source;

pub use azure_blob::{AzureBlobSource, AzureBlobSourceConfig};
pub use error::SourceError;
pub use localdir::{LocalDirConfig, LocalDirSource, EMBEDDED_CHUNK_BYTES, KAFKA_CHUNK_BYTES};
pub use s3::{S3Source, S3SourceConfig};
pub use source::{Pending, ScanReport, Source};
