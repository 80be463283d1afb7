//! [`Source`]: where a host finds plugins, and how it hears of changes.

use std::path::PathBuf;

use async_trait::async_trait;

use crate::error::SourceError;
use crate::local::scan::{Discovered, Discovery};
use crate::watch::Watch;

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
