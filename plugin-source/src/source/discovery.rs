//! What a source finds: [`Discovered`] plugins and [`Diagnostic`]s for the
//! ones it could not use, together a [`Discovery`].

use std::error::Error;
use std::path::PathBuf;

use plugin_core::Manifest;

/// What a source found at one time.
#[derive(Debug, Default)]
pub struct Discovery {
    /// Plugins whose manifest is valid, in the source's order.
    pub plugins: Vec<Discovered>,
    /// Plugins that could not be used, with why.
    pub diagnostics: Vec<Diagnostic>,
}

/// A plugin a source found, with a valid manifest.
#[derive(Debug, Clone)]
pub struct Discovered {
    /// Where the plugin is within its source, unique there: the local
    /// source's plugin folder, or any path-like key of another source's
    /// own (`memory/echo`). The manager shows it as the plugin's `dir` and
    /// matches change events by it; it never reads it as a path.
    pub location: PathBuf,
    /// Its manifest; artifact paths in it are as the runtime should open
    /// them (the local source resolves them against the plugin folder).
    pub manifest: Manifest,
}

/// A plugin a source found but could not use.
#[derive(Debug)]
pub struct Diagnostic {
    /// Where it is: a [`Discovered::location`], or a place within one (the
    /// local source names the manifest file).
    pub location: PathBuf,
    /// What is wrong with it. The local source's errors name the manifest
    /// file and the field; another source's say what it knows.
    pub error: Box<dyn Error + Send + Sync>,
}

impl Diagnostic {
    /// A diagnostic for the plugin at `location`.
    pub fn new(
        location: impl Into<PathBuf>,
        error: impl Into<Box<dyn Error + Send + Sync>>,
    ) -> Self {
        Self {
            location: location.into(),
            error: error.into(),
        }
    }
}
