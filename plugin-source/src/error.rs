//! [`SourceError`]: why a source cannot serve.

use std::path::PathBuf;

/// Why a source cannot serve.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The source's `type` is not implemented.
    #[error("source type {0:?} is not supported (supported: local)")]
    Unsupported(String),
    /// A required field of the source's configuration is missing.
    #[error("source type {kind:?} needs `{field}`")]
    Missing {
        /// The source type.
        kind: String,
        /// The missing field.
        field: &'static str,
    },
    /// The source's folder could not be read or watched.
    #[error("{}: {message}", path.display())]
    Io {
        /// The folder.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}
