//! Errors of the access crate (failed permission checks are report entries, not errors).

use thiserror::Error;

#[derive(Debug, Error)]
pub enum AccessError {
    #[error("{0}")]
    Input(String),
}
