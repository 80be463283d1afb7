//! Where the manager's plugins come from: its sources (those the
//! configuration names, in order, then those the embedder registered, in
//! registration order), what they find at start, and reading a plugin
//! again, for a reload, through the source that found it.

use std::sync::Arc;

use plugin_core::Manifest;
use plugin_source::{Source, SourceEvents, from_config};
use plugin_types::PluginConfig;

use super::Shared;
use super::origin::Origin;
use super::plugin::Managed;
use crate::error::ManagerError;
use crate::status::ManagerDiagnostic;

/// The sources `config` names, in order, then `registered`, in order.
pub(crate) fn all(
    config: &PluginConfig,
    registered: &[Arc<dyn Source>],
) -> Result<Vec<Arc<dyn Source>>, ManagerError> {
    let mut sources = Vec::with_capacity(config.sources.len() + registered.len());
    for entry in &config.sources {
        sources.push(Arc::from(from_config(entry)?));
    }
    sources.extend(registered.iter().cloned());
    Ok(sources)
}

/// Starts watching every source; the events of each wait in its stream.
pub(crate) async fn watch_all(
    sources: &[Arc<dyn Source>],
) -> Result<Vec<(Arc<dyn Source>, SourceEvents)>, ManagerError> {
    let mut watches = Vec::with_capacity(sources.len());
    for source in sources {
        watches.push((source.clone(), source.watch().await?));
    }
    Ok(watches)
}

/// Discovers the plugins of every source, then reserves them in that
/// order (identity rule, `max_plugins`). A source that fails leaves
/// nothing reserved: the error is the source's.
pub(crate) async fn discover_and_reserve(
    inner: &Shared,
    sources: &[Arc<dyn Source>],
) -> Result<(Vec<(Arc<Managed>, Manifest)>, Vec<ManagerDiagnostic>), ManagerError> {
    let mut found = Vec::with_capacity(sources.len());
    for source in sources {
        found.push((source, source.discover().await?));
    }
    let mut diagnostics = Vec::new();
    let mut reserved = Vec::new();
    for (source, discovery) in found {
        diagnostics.extend(
            discovery
                .diagnostics
                .into_iter()
                .map(|d| ManagerDiagnostic {
                    path: d.location,
                    message: d.error.to_string(),
                }),
        );
        for plugin in discovery.plugins {
            let origin = Origin::found(source, &plugin);
            match inner.reserve(&plugin.manifest, plugin.location.clone(), origin) {
                Ok(managed) => reserved.push((managed, plugin.manifest)),
                Err(e) => diagnostics.push(ManagerDiagnostic {
                    path: plugin.location,
                    message: e.to_string(),
                }),
            }
        }
    }
    Ok((reserved, diagnostics))
}
