//! [`SourceError`]: why a source cannot serve.

use std::error::Error;
use std::path::PathBuf;

use plugin_core::ManifestError;

/// Why a source cannot serve, or cannot serve one plugin.
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
    /// A plugin's manifest could not be read or is invalid (the message
    /// names the file and the field).
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The plugin asked for is no longer in the source.
    #[error("{}: the plugin is no longer there", location.display())]
    Gone {
        /// Where it was.
        location: PathBuf,
    },
    /// A failure of the source's own (a third-party source: a registry
    /// that cannot be reached, a refused download...).
    #[error(transparent)]
    Other(Box<dyn Error + Send + Sync>),
}

impl SourceError {
    /// A source's own failure, from its error or its message.
    pub fn other(error: impl Into<Box<dyn Error + Send + Sync>>) -> Self {
        Self::Other(error.into())
    }
}
