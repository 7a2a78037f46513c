//! Engine errors.

use std::fmt;

use thiserror::Error;

/// One configuration problem: the key at fault, what is wrong, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    pub key: String,
    pub problem: String,
    pub fix: String,
}

impl ConfigIssue {
    pub fn new(key: impl Into<String>, problem: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            problem: problem.into(),
            fix: fix.into(),
        }
    }
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} (fix: {})", self.key, self.problem, self.fix)
    }
}

#[derive(Debug, Error)]
pub enum EngineError {
    #[error("summary {summary}: {source}")]
    Query {
        summary: String,
        #[source]
        source: datafusion::error::DataFusionError,
    },
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("checkpoint {path}: {source}")]
    Checkpoint {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("hash partitioning of window state: {0}")]
    Partition(#[source] datafusion::error::DataFusionError),
    #[error("engine task failed: {0}")]
    Task(String),
    #[error("checkpoint {path}: {reason}")]
    CorruptCheckpoint { path: String, reason: String },
}
