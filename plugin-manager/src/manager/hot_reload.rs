//! Hot reload: a source's change events turned into add, reload and
//! unload.

use std::path::Path;
use std::sync::{Arc, Weak};

use plugin_source::{Discovered, Source, SourceEvent, SourceEvents};
use tokio::task::JoinHandle;

use super::Shared;
use super::origin::Origin;
use super::plugin::Managed;
use crate::status::ManagerDiagnostic;

/// Applies the events `source` reports until they end or the manager is
/// gone; a plugin is matched by its source and location:
/// - a new plugin is loaded (identity and `max_plugins` apply);
/// - a changed one is reloaded through its source (validate, then swap; a
///   failure leaves the old version serving); if it now names another
///   plugin, the old one is unloaded and the new one loaded;
/// - a removed one is unloaded;
/// - a plugin that broke is a diagnostic, and the plugin's last error
///   says its new version was not loaded.
pub(super) fn spawn(
    inner: Weak<Shared>,
    source: Arc<dyn Source>,
    mut events: SourceEvents,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(event) = events.next().await {
            let Some(inner) = inner.upgrade() else {
                return;
            };
            apply(&inner, &source, event).await;
        }
    })
}

/// Applies one change `source` reported.
async fn apply(shared: &Arc<Shared>, source: &Arc<dyn Source>, event: SourceEvent) {
    match event {
        SourceEvent::Added(plugin) | SourceEvent::Updated(plugin) => {
            shared.forget_diagnostics(&plugin.location);
            match found_at(shared, source, &plugin.location) {
                Some(managed) if managed.name == plugin.manifest.name => {
                    tracing::info!(plugin = %managed.name, "plugin changed on disk; reloading");
                    // A failure is recorded on the plugin.
                    let _ = shared.reload(&managed).await;
                }
                Some(managed) => {
                    tracing::info!(plugin = %managed.name, new = %plugin.manifest.name, "the plugin's place in its source now holds another plugin");
                    if let Err(e) = shared.unload(&managed).await {
                        tracing::warn!(plugin = %managed.name, "unload failed: {e}");
                    }
                    add(shared, source, plugin).await;
                }
                None => add(shared, source, plugin).await,
            }
        }
        SourceEvent::Removed { location, name } => {
            if let Some(managed) = found_at(shared, source, &location) {
                tracing::info!(plugin = %name, "plugin removed from its source; unloading");
                if let Err(e) = shared.unload(&managed).await {
                    tracing::warn!(plugin = %name, "unload failed: {e}");
                }
            }
            shared.forget_diagnostics(&location);
        }
        SourceEvent::Broken(diagnostic) => {
            let message = diagnostic.error.to_string();
            tracing::warn!(path = %diagnostic.location.display(), "plugin broken: {message}");
            if let Some(managed) = shared
                .all()
                .into_iter()
                .find(|m| m.origin.is(source) && diagnostic.location.starts_with(&m.dir))
            {
                managed.record(format!(
                    "new version not loaded, the previous version keeps serving: {message}"
                ));
            }
            shared.note(ManagerDiagnostic {
                path: diagnostic.location,
                message,
            });
        }
    }
}

/// The plugin `source` found at `location`, if it is loaded.
fn found_at(shared: &Shared, source: &Arc<dyn Source>, location: &Path) -> Option<Arc<Managed>> {
    shared
        .all()
        .into_iter()
        .find(|m| m.dir == location && m.origin.is(source))
}

/// Loads a plugin that appeared; a refusal becomes a diagnostic.
async fn add(shared: &Arc<Shared>, source: &Arc<dyn Source>, plugin: Discovered) {
    let origin = Origin::found(source, &plugin);
    match shared.reserve(&plugin.manifest, plugin.location.clone(), origin) {
        Ok(managed) => {
            tracing::info!(plugin = %managed.name, "new plugin found; loading");
            shared.bring_up(&[(managed, plugin.manifest)]).await;
        }
        Err(e) => {
            tracing::warn!(path = %plugin.location.display(), "plugin not loaded: {e}");
            shared.note(ManagerDiagnostic {
                path: plugin.location,
                message: e.to_string(),
            });
        }
    }
}
