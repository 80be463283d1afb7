//! Plugins in local folders: [`scan()`] reads a path once (the [`scan`
//! module](mod@scan) says what a path may be), and [`LocalSource`] serves a
//! folder of plugin folders as a [`Source`], watched for changes.
//!
//! A broken manifest never hides the others: it becomes a [`Diagnostic`]
//! naming its file, and scanning goes on. Results are in path order.
//!
//! [`Diagnostic`]: crate::Diagnostic

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use plugin_core::Manifest;

use crate::error::SourceError;
use crate::source::{Discovered, Discovery, Source, SourceEvents};

pub mod scan;
mod watch;

pub use scan::scan;
use scan::scan_folder;

/// A folder of plugin folders as a [`Source`]: each sub-folder holding a
/// `plugin.yaml` is a plugin, its [`location`](Discovered::location) that
/// folder. Watching reports changes after a quiet period (250 ms by
/// default) of file events: a rescan compares each plugin's manifest and
/// artifact with the last scan, and a half-written artifact is not
/// reported until it is complete.
#[derive(Debug, Clone)]
pub struct LocalSource {
    root: PathBuf,
    quiet: Duration,
}

impl LocalSource {
    /// The plugins under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            quiet: Duration::from_millis(250),
        }
    }

    /// How long file events must pause before a change is reported.
    pub fn with_quiet_period(mut self, quiet: Duration) -> Self {
        self.quiet = quiet;
        self
    }

    /// The folder watched.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

#[async_trait]
impl Source for LocalSource {
    async fn discover(&self) -> Result<Discovery, SourceError> {
        let root = self.root.clone();
        if !root.is_dir() {
            return Err(SourceError::Io {
                path: root,
                message: "not a folder".to_owned(),
            });
        }
        tokio::task::spawn_blocking(move || scan_folder(&root))
            .await
            .map_err(|e| SourceError::Io {
                path: self.root.clone(),
                message: e.to_string(),
            })
    }

    /// Reads the `plugin.yaml` in the plugin's folder again.
    async fn reread(&self, plugin: &Discovered) -> Result<Discovered, SourceError> {
        if !plugin.location.is_dir() {
            return Err(SourceError::Gone {
                location: plugin.location.clone(),
            });
        }
        let location = plugin.location.clone();
        let read = tokio::task::spawn_blocking(move || Manifest::from_file(&location))
            .await
            .map_err(|e| SourceError::Io {
                path: plugin.location.clone(),
                message: e.to_string(),
            })?;
        Ok(Discovered {
            location: plugin.location.clone(),
            manifest: read?,
        })
    }

    async fn watch(&self) -> Result<SourceEvents, SourceError> {
        watch::watch(&self.root, self.quiet)
    }
}
