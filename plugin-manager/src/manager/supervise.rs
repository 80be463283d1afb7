//! Supervision, for any runtime: a version's reports turned into its
//! status, a crashed version restarted, and health asked for.

use std::sync::Weak;

use plugin_core::{Condition, LifecycleEvents, Report};
use tokio::task::JoinHandle;

use super::Shared;
use super::plugin::Managed;

/// Follows the reports of version `generation` of a plugin: each is
/// applied to its status while that version serves. If one says it
/// crashed (an exit the host did not ask for, a failure), the plugin goes
/// to `error` and is restarted from its current manifest, after the backoff
/// of [`ManagerOptions::restart_delay`](crate::ManagerOptions::restart_delay),
/// until a restart succeeds. The task ends when that version is replaced
/// (a reload, a successful restart), the plugin is unloaded, or the
/// manager shuts down; it holds only weak references meanwhile.
pub(super) fn spawn_supervisor(
    inner: Weak<Shared>,
    managed: Weak<Managed>,
    mut events: LifecycleEvents,
    generation: u64,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let crash = loop {
            let Some(report) = events.next().await else {
                return; // the runner is gone
            };
            let Some(managed) = managed.upgrade() else {
                return;
            };
            if managed.generation() != generation {
                return;
            }
            managed.reported(generation, &report);
            if report.condition.is_crash() {
                break report;
            }
        };
        drop(events);
        restart(inner, managed, generation, &crash).await;
    })
}

/// Why a crashed version is down, as its status says.
fn why(plugin: &str, crash: &Report) -> String {
    match (&crash.condition, &crash.last_error) {
        (Condition::Exited { status, .. }, _) => format!("plugin {plugin} exited ({status})"),
        (_, Some(error)) => format!("plugin {plugin} failed: {error}"),
        (_, None) => format!("plugin {plugin} failed"),
    }
}

/// Restarts the plugin whose version `generation` crashed, with backoff,
/// until a restart succeeds or that version no longer serves.
async fn restart(inner: Weak<Shared>, managed: Weak<Managed>, generation: u64, crash: &Report) {
    let mut attempt = 0u32;
    // Why the plugin is down: the crash, then the last failed restart.
    let mut why_down = String::new();
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
                why_down = why(&managed.name, crash);
            }
            tracing::warn!(plugin = %managed.name, attempt = attempt + 1, ?delay, "{why_down}; restarting");
            managed.crashed(
                generation,
                format!(
                    "{why_down}; restart {} in {}",
                    attempt + 1,
                    plugin_types::duration::format(delay)
                ),
            );
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
                why_down = format!("restart {} failed: {e}", attempt + 1);
                attempt = attempt.saturating_add(1);
            }
        }
    }
}

/// Asks every running plugin for its health each `health_interval`. The
/// answer reaches the status through the runner's reports; a plugin that
/// does not answer in time is recorded as not ready.
pub(super) fn spawn_health_poll(inner: Weak<Shared>) -> JoinHandle<()> {
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
                let generation = managed.generation();
                let Some(cell) = managed.cell() else { continue };
                let runner = cell.runner();
                let failed = match tokio::time::timeout(timeout, runner.health()).await {
                    Ok(Ok(_)) => continue,
                    Ok(Err(e)) => e.to_string(),
                    Err(_) => format!(
                        "plugin {}: health check timed out after {}",
                        managed.name,
                        plugin_types::duration::format(timeout)
                    ),
                };
                managed.health_failed(generation, failed);
            }
        }
    })
}
