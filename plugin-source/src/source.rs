//! [`Source`]: where a host finds plugins, and how it hears of changes.

use std::path::PathBuf;

use async_trait::async_trait;
use plugin_types::SourceConfig;

use crate::local::{Discovered, Discovery, LocalSource};
use crate::watch::Watch;

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

/// A place plugins come from.
#[async_trait]
pub trait Source: Send + Sync {
    /// A name for logs and errors, e.g. `local:/srv/plugins`.
    fn name(&self) -> String;
    /// The plugins there now, with a diagnostic for each broken one.
    async fn discover(&self) -> Result<Discovery, SourceError>;
    /// The file a plugin runs from: its wasm module or its executable.
    fn artifact(&self, plugin: &Discovered) -> Option<PathBuf> {
        let manifest = &plugin.manifest;
        match (&manifest.wasm, &manifest.grpc) {
            (Some(wasm), _) => Some(wasm.module.clone()),
            (None, Some(grpc)) => Some(grpc.binary.clone()),
            (None, None) => None,
        }
    }
    /// Starts watching for plugins that appear, change or go; watching stops
    /// when the [`Watch`] is dropped.
    fn watch(&self) -> Result<Watch, SourceError>;
}

/// The source a `sources:` entry of the host configuration describes.
pub fn from_config(config: &SourceConfig) -> Result<Box<dyn Source>, SourceError> {
    match config.kind.as_str() {
        "local" => {
            let path = config.path.clone().ok_or_else(|| SourceError::Missing {
                kind: config.kind.clone(),
                field: "path",
            })?;
            Ok(Box::new(LocalSource::new(path)))
        }
        other => Err(SourceError::Unsupported(other.to_owned())),
    }
}
