//! [`Origin`]: where a managed plugin came from, and so where its new
//! versions are read.

use std::path::Path;
use std::sync::{Arc, Mutex};

use plugin_core::Manifest;
use plugin_source::{Discovered, Source, SourceError};

use super::lock::lock;
use crate::error::ManagerError;

/// Where a plugin came from, and so where its new versions are read.
pub(crate) enum Origin {
    /// Found by a source: a reload reads it again through that source.
    Source {
        /// The source.
        source: Arc<dyn Source>,
        /// The plugin as the source last gave it.
        last: Mutex<Box<Discovered>>,
    },
    /// Loaded with `load_dir`: a reload reads its folder again.
    Folder,
}

impl Origin {
    /// `plugin`, found by `source`.
    pub(crate) fn found(source: &Arc<dyn Source>, plugin: &Discovered) -> Self {
        Self::Source {
            source: source.clone(),
            last: Mutex::new(Box::new(plugin.clone())),
        }
    }

    /// Whether the plugin came from `source`.
    pub(crate) fn is(&self, source: &Arc<dyn Source>) -> bool {
        matches!(self, Self::Source { source: own, .. } if Arc::ptr_eq(own, source))
    }

    /// The current manifest of the plugin `name` at `dir`, from where it
    /// came; it must still be the plugin `name`.
    pub(crate) async fn reread(&self, name: &str, dir: &Path) -> Result<Manifest, ManagerError> {
        let manifest = match self {
            Self::Folder => Manifest::from_file(dir)?,
            Self::Source { source, last } => {
                let before = lock(last).clone();
                let now = source.reread(&before).await.map_err(|e| match e {
                    // The same error a folder read gives.
                    SourceError::Manifest(e) => ManagerError::Manifest(e),
                    e => ManagerError::Source(e),
                })?;
                if now.manifest.name == name {
                    **lock(last) = now.clone();
                }
                now.manifest
            }
        };
        if manifest.name != name {
            return Err(ManagerError::IdentityChanged {
                plugin: name.to_owned(),
                found: manifest.name,
            });
        }
        Ok(manifest)
    }
}
