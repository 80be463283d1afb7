//! Supervision: restarting plugin processes that die, and polling health.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use plugin_grpc::PluginExit;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::Inner;
use super::plugin::Managed;

/// Watches one version's process. If it dies unexpectedly, the plugin goes
/// to `error` and is restarted from its current manifest, after the
/// backoff of [`ManagerOptions::restart_delay`](crate::ManagerOptions::restart_delay),
/// until a restart succeeds. The task ends when that version is replaced
/// (a reload, a successful restart), the plugin is unloaded, or the
/// manager shuts down; it holds only weak references meanwhile.
pub(super) fn spawn_supervisor(
    inner: Weak<Inner>,
    managed: Weak<Managed>,
    mut exits: watch::Receiver<Option<PluginExit>>,
    generation: u64,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let exit = loop {
            if let Some(exit) = exits.borrow_and_update().clone() {
                break exit;
            }
            if exits.changed().await.is_err() {
                return; // the runner is gone
            }
        };
        drop(exits);
        if exit.expected {
            return;
        }
        let mut attempt = 0u32;
        // Why the plugin is down: the exit, then the last failed restart.
        let mut why = String::new();
        loop {
            let delay = {
                let (Some(inner), Some(managed)) = (inner.upgrade(), managed.upgrade()) else {
                    return;
                };
                if !inner.still_serves(&managed, generation) {
                    return;
                }
                let delay = inner.options.restart_delay(attempt);
                if attempt == 0 {
                    why = format!("plugin {} exited ({})", managed.name, exit.status);
                }
                tracing::warn!(plugin = %managed.name, attempt = attempt + 1, ?delay, "{why}; restarting");
                managed.fail(format!(
                    "{why}; restart {} in {}",
                    attempt + 1,
                    plugin_types::duration::format(delay)
                ));
                delay
            };
            tokio::time::sleep(delay).await;
            let (Some(inner), Some(managed)) = (inner.upgrade(), managed.upgrade()) else {
                return;
            };
            let _op = managed.op.lock().await;
            if !inner.still_serves(&managed, generation) {
                return;
            }
            let Some(manifest) = managed.active().map(|a| a.manifest) else {
                return;
            };
            match inner.deploy(&managed, &manifest).await {
                Ok(()) => {
                    managed.restarted();
                    tracing::info!(plugin = %managed.name, "plugin restarted");
                    return;
                }
                Err(e) => {
                    why = format!("restart {} failed: {e}", attempt + 1);
                    attempt = attempt.saturating_add(1);
                }
            }
        }
    })
}

impl Inner {
    /// Whether `managed` is still managed and still at `generation`.
    fn still_serves(&self, managed: &Arc<Managed>, generation: u64) -> bool {
        !self.closing.load(Ordering::Acquire)
            && managed.generation() == generation
            && self
                .get(&managed.name)
                .is_ok_and(|current| Arc::ptr_eq(&current, managed))
    }
}

/// Polls every running plugin's health each `health_interval`, recording
/// readiness (and the error when not ready).
pub(super) fn spawn_health_poll(inner: Weak<Inner>) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let (interval, timeout) = match inner.upgrade() {
                Some(inner) => (inner.options.health_interval, inner.options.health_timeout),
                None => return,
            };
            tokio::time::sleep(interval).await;
            let Some(inner) = inner.upgrade() else {
                return;
            };
            for managed in inner.all() {
                let Some(cell) = managed.cell() else { continue };
                let runner = cell.runner();
                match tokio::time::timeout(timeout, runner.health()).await {
                    Ok(Ok(health)) => managed.set_health(health.ready, health.last_error),
                    Ok(Err(e)) => managed.set_health(false, Some(e.to_string())),
                    Err(_) => managed.set_health(
                        false,
                        Some(format!(
                            "plugin {}: health check timed out after {}",
                            managed.name,
                            plugin_types::duration::format(timeout)
                        )),
                    ),
                }
            }
        }
    })
}
