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
    #[error("the pipeline stopped receiving (shutting down)")]
    Closed,
}
