//! Source errors (object-level read problems are dead-letter records, not errors).

use thiserror::Error;

#[derive(Debug, Error)]
pub enum SourceError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// Listing or reading cloud storage failed (the message names status and error code).
    #[error("{target}: {message}")]
    Remote { target: String, message: String },
    #[error("the pipeline stopped receiving (shutting down)")]
    Closed,
}
