//! Hot reload: a source's change events turned into add, reload and
//! unload.

use std::path::Path;
use std::sync::{Arc, Weak};

use plugin_source::{Discovered, SourceEvent, Watch};
use tokio::task::JoinHandle;

use super::Inner;
use super::plugin::lock;
use crate::status::ManagerDiagnostic;

/// Applies the events of `watch` until it ends or the manager is gone:
/// - a new plugin folder is loaded (identity and `max_plugins` apply);
/// - a changed one is reloaded (validate, then swap; a failure leaves the
///   old version serving); if its manifest now names another plugin, the
///   old one is unloaded and the new one loaded;
/// - a removed one is unloaded;
/// - a manifest that broke is a diagnostic, and the plugin's last error
///   says its new version was not loaded.
pub(super) fn spawn(inner: Weak<Inner>, mut watch: Watch) -> JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(event) = watch.next().await {
            let Some(inner) = inner.upgrade() else {
                return;
            };
            inner.apply(event).await;
        }
    })
}

impl Inner {
    async fn apply(self: &Arc<Self>, event: SourceEvent) {
        match event {
            SourceEvent::Added(plugin) | SourceEvent::Updated(plugin) => {
                self.forget_diagnostics(&plugin.dir);
                match self.find_by_dir(&plugin.dir) {
                    Some(managed) if managed.name == plugin.manifest.name => {
                        tracing::info!(plugin = %managed.name, "plugin changed on disk; reloading");
                        // A failure is recorded on the plugin.
                        let _ = self.reload(&managed).await;
                    }
                    Some(managed) => {
                        tracing::info!(plugin = %managed.name, new = %plugin.manifest.name, "plugin folder now holds another plugin");
                        if let Err(e) = self.unload(&managed).await {
                            tracing::warn!(plugin = %managed.name, "unload failed: {e}");
                        }
                        self.add(plugin).await;
                    }
                    None => self.add(plugin).await,
                }
            }
            SourceEvent::Removed { dir, name } => {
                if let Some(managed) = self.find_by_dir(&dir) {
                    tracing::info!(plugin = %name, "plugin folder removed; unloading");
                    if let Err(e) = self.unload(&managed).await {
                        tracing::warn!(plugin = %name, "unload failed: {e}");
                    }
                }
                self.forget_diagnostics(&dir);
            }
            SourceEvent::Broken(diagnostic) => {
                let message = diagnostic.error.to_string();
                tracing::warn!(path = %diagnostic.path.display(), "plugin manifest broken: {message}");
                if let Some(managed) = self
                    .all()
                    .into_iter()
                    .find(|m| diagnostic.path.starts_with(&m.dir))
                {
                    managed.record(format!(
                        "new version not loaded, the previous version keeps serving: {message}"
                    ));
                }
                self.note(ManagerDiagnostic {
                    path: diagnostic.path,
                    message,
                });
            }
        }
    }

    /// Loads a plugin that appeared; a refusal becomes a diagnostic.
    async fn add(self: &Arc<Self>, plugin: Discovered) {
        match self.reserve(&plugin.manifest, plugin.dir.clone()) {
            Ok(managed) => {
                tracing::info!(plugin = %managed.name, "new plugin found; loading");
                self.bring_up(&[(managed, plugin.manifest)]).await;
            }
            Err(e) => {
                tracing::warn!(path = %plugin.dir.display(), "plugin not loaded: {e}");
                self.note(ManagerDiagnostic {
                    path: plugin.dir,
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
