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
    /// A cloud request that failed after its retries (listing, reading, a queue).
    #[error("{target}: {message}")]
    Remote { target: String, message: String },
    #[error("the pipeline stopped receiving (shutting down)")]
    Closed,
}
