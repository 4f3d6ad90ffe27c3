//! Typed errors of the core. The pgrx glue maps each variant to a SQLSTATE
//! (see `src/error.rs` at the repository root); nothing here knows Postgres.

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq)]
pub enum CoreError {
    /// A training option is unknown, malformed or out of range.
    #[error("invalid training option: {0}")]
    InvalidOption(String),
    /// The training data cannot produce a model (too few rows, no usable column).
    #[error("cannot train: {0}")]
    NotEnoughData(String),
    /// A row handed to scoring does not match the model's columns.
    #[error("row does not match the model: {0}")]
    RowMismatch(String),
    /// Stored model bytes are corrupt, truncated or of an unknown format.
    #[error("model bytes are invalid: {0}")]
    CorruptModel(String),
    /// Stored model bytes come from a newer format than this build reads.
    #[error("model format version {found} is newer than the supported version {supported}")]
    UnsupportedFormat { found: u16, supported: u16 },
    /// Training was stopped by the caller's progress callback (cancel, timeout).
    #[error("training was cancelled")]
    Cancelled,
    /// A bug in ssad (never the user's input): reported rather than crashing the backend.
    #[error("internal error: {0}")]
    Internal(String),
    /// Training would need more memory than it may use, or an allocation
    /// of the training sample failed.
    #[error("out of memory for training: {0}")]
    OutOfMemory(String),
    /// Training diverged (non-finite loss); the data is likely degenerate.
    #[error("training diverged: {0}")]
    Diverged(String),
}

pub type Result<T> = std::result::Result<T, CoreError>;
