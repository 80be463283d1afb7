//! [`Source`]: where a host finds plugins, and how it hears of changes.
//!
//! A source is a value: the manager takes the sources its configuration
//! names (`local`) and any an embedder registers, and treats them alike.
//! What a source reports is its own: found plugins ([`Discovered`]), the
//! ones it could not use ([`Diagnostic`]) and a stream of changes
//! ([`SourceEvents`]), none of it tied to files or to a watcher library.

mod discovery;
mod events;

use async_trait::async_trait;

pub use discovery::{Diagnostic, Discovered, Discovery};
pub use events::{SourceEvent, SourceEvents};

use crate::error::SourceError;

/// A place plugins come from.
///
/// Only [`discover`](Self::discover) is required. A source that can read
/// one plugin again more cheaply than everything overrides
/// [`reread`](Self::reread); one that can tell when its plugins change
/// overrides [`watch`](Self::watch).
#[async_trait]
pub trait Source: Send + Sync {
    /// The plugins there now, with a diagnostic for each one that could
    /// not be used. Fails only when the source itself cannot be read.
    async fn discover(&self) -> Result<Discovery, SourceError>;

    /// The current version of `plugin`, found earlier by this source: what
    /// a reload deploys. By default, discovers again and picks the plugin
    /// at the same [`location`](Discovered::location).
    async fn reread(&self, plugin: &Discovered) -> Result<Discovered, SourceError> {
        let found = self.discover().await?;
        if let Some(now) = found
            .plugins
            .into_iter()
            .find(|p| p.location == plugin.location)
        {
            return Ok(now);
        }
        match found
            .diagnostics
            .into_iter()
            .find(|d| d.location.starts_with(&plugin.location))
        {
            Some(diagnostic) => Err(SourceError::Other(diagnostic.error)),
            None => Err(SourceError::Gone {
                location: plugin.location.clone(),
            }),
        }
    }

    /// Starts reporting plugins that appear, change or go; reporting stops
    /// when the [`SourceEvents`] is dropped. By default a source reports no
    /// changes.
    async fn watch(&self) -> Result<SourceEvents, SourceError> {
        Ok(SourceEvents::none())
    }
}
