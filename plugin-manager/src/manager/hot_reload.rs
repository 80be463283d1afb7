//! Hot reload: a source's change events turned into add, reload and
//! unload.

use std::path::Path;
use std::sync::{Arc, Weak};

use plugin_source::{Discovered, Source, SourceEvent, SourceEvents};
use tokio::task::JoinHandle;

use super::Inner;
use super::plugin::{Managed, lock};
use super::sources::Origin;
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
    inner: Weak<Inner>,
    source: Arc<dyn Source>,
    mut events: SourceEvents,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(event) = events.next().await {
            let Some(inner) = inner.upgrade() else {
                return;
            };
            inner.apply(&source, event).await;
        }
    })
}

impl Inner {
    async fn apply(self: &Arc<Self>, source: &Arc<dyn Source>, event: SourceEvent) {
        match event {
            SourceEvent::Added(plugin) | SourceEvent::Updated(plugin) => {
                self.forget_diagnostics(&plugin.location);
                match self.found_at(source, &plugin.location) {
                    Some(managed) if managed.name == plugin.manifest.name => {
                        tracing::info!(plugin = %managed.name, "plugin changed on disk; reloading");
                        // A failure is recorded on the plugin.
                        let _ = self.reload(&managed).await;
                    }
                    Some(managed) => {
                        tracing::info!(plugin = %managed.name, new = %plugin.manifest.name, "the plugin's place in its source now holds another plugin");
                        if let Err(e) = self.unload(&managed).await {
                            tracing::warn!(plugin = %managed.name, "unload failed: {e}");
                        }
                        self.add(source, plugin).await;
                    }
                    None => self.add(source, plugin).await,
                }
            }
            SourceEvent::Removed { location, name } => {
                if let Some(managed) = self.found_at(source, &location) {
                    tracing::info!(plugin = %name, "plugin removed from its source; unloading");
                    if let Err(e) = self.unload(&managed).await {
                        tracing::warn!(plugin = %name, "unload failed: {e}");
                    }
                }
                self.forget_diagnostics(&location);
            }
            SourceEvent::Broken(diagnostic) => {
                let message = diagnostic.error.to_string();
                tracing::warn!(path = %diagnostic.location.display(), "plugin broken: {message}");
                if let Some(managed) = self
                    .all()
                    .into_iter()
                    .find(|m| m.origin.is(source) && diagnostic.location.starts_with(&m.dir))
                {
                    managed.record(format!(
                        "new version not loaded, the previous version keeps serving: {message}"
                    ));
                }
                self.note(ManagerDiagnostic {
                    path: diagnostic.location,
                    message,
                });
            }
        }
    }

    /// The plugin `source` found at `location`, if it is loaded.
    fn found_at(&self, source: &Arc<dyn Source>, location: &Path) -> Option<Arc<Managed>> {
        self.all()
            .into_iter()
            .find(|m| m.dir == location && m.origin.is(source))
    }

    /// Loads a plugin that appeared; a refusal becomes a diagnostic.
    async fn add(self: &Arc<Self>, source: &Arc<dyn Source>, plugin: Discovered) {
        let origin = Origin::found(source, &plugin);
        match self.reserve(&plugin.manifest, plugin.location.clone(), origin) {
            Ok(managed) => {
                tracing::info!(plugin = %managed.name, "new plugin found; loading");
                self.bring_up(&[(managed, plugin.manifest)]).await;
            }
            Err(e) => {
                tracing::warn!(path = %plugin.location.display(), "plugin not loaded: {e}");
                self.note(ManagerDiagnostic {
                    path: plugin.location,
                    message: e.to_string(),
                });
            }
        }
    }

    fn note(&self, diagnostic: ManagerDiagnostic) {
        let mut diagnostics = lock(&self.diagnostics);
        diagnostics.retain(|d| d.path != diagnostic.path);
        diagnostics.push(diagnostic);
    }

    fn forget_diagnostics(&self, dir: &Path) {
        lock(&self.diagnostics).retain(|d| !d.path.starts_with(dir));
    }
}
