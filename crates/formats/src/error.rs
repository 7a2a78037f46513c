//! Errors that end the parsing of a whole object or chunk (line-level problems are
//! dead-letter records, not errors).

use thiserror::Error;

#[derive(Debug, Error)]
pub enum FormatError {
    #[error("{object}: corrupt or truncated gzip stream: {source}")]
    CorruptGzip {
        object: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{object}: decompressed size exceeds the limit of {limit} bytes (decompression bomb guard; raise max_decompressed_bytes if the object is genuine)")]
    TooLarge { object: String, limit: u64 },
    #[error("{object}: invalid Parquet: {reason}")]
    Parquet { object: String, reason: String },
    #[error("{object}: invalid JSON at byte {offset}: {reason}")]
    Json {
        object: String,
        offset: u64,
        reason: String,
    },
    #[error("{object}: cannot tell the format ({reason}); pass --format")]
    UnknownFormat { object: String, reason: String },
    #[error("{object}: read failed: {source}")]
    Io {
        object: String,
        #[source]
        source: std::io::Error,
    },
}

impl FormatError {
    /// Short stable cause for dead-letter records and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            FormatError::CorruptGzip { .. } => "corrupt_gzip",
            FormatError::TooLarge { .. } => "too_large",
            FormatError::Parquet { .. } => "bad_parquet",
            FormatError::Json { .. } => "bad_json",
            FormatError::UnknownFormat { .. } => "unknown_format",
            FormatError::Io { .. } => "io",
        }
    }

    /// The object-level dead-letter record for this error.
    pub fn to_dead_letter(&self) -> crate::DeadLetter {
        let object = match self {
            FormatError::CorruptGzip { object, .. }
            | FormatError::TooLarge { object, .. }
            | FormatError::Parquet { object, .. }
            | FormatError::Json { object, .. }
            | FormatError::UnknownFormat { object, .. }
            | FormatError::Io { object, .. } => object,
        };
        let dl = crate::DeadLetter::new(object, self.kind(), self.to_string());
        match self {
            FormatError::Json { offset, .. } => dl.at_offset(*offset),
            _ => dl,
        }
    }
}
