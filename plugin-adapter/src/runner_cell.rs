//! [`RunnerCell`]: the runner behind a plugin's adapters, swappable while
//! calls run.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use plugin_core::{InFlight, Pass, Runner, RunnerError, RunnerErrorKind};
use serde_json::value::RawValue;

struct Slot {
    runner: Arc<dyn Runner>,
    calls: InFlight,
}

/// The current runner of one plugin, shared by its module, ability and
/// provider adapters.
///
/// Invariant: a call enters the runner that is current when it starts and
/// finishes on it. [`swap`](Self::swap) installs a new runner for every call
/// that starts afterwards and returns the old one only once the calls that
/// entered it have finished, so the caller can stop it with none in flight:
/// no call fails because of a swap, and none lands on a stopped runner.
pub struct RunnerCell {
    plugin: String,
    slot: RwLock<Arc<Slot>>,
}

impl RunnerCell {
    /// A cell holding `runner`, which serves plugin `plugin`.
    pub fn new(plugin: impl Into<String>, runner: Arc<dyn Runner>) -> Self {
        Self {
            plugin: plugin.into(),
            slot: RwLock::new(Self::slot(runner)),
        }
    }

    fn slot(runner: Arc<dyn Runner>) -> Arc<Slot> {
        Arc::new(Slot {
            runner,
            calls: InFlight::new(),
        })
    }

    /// The plugin's name.
    pub fn plugin(&self) -> &str {
        &self.plugin
    }

    /// The current runner.
    pub fn runner(&self) -> Arc<dyn Runner> {
        self.slot
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .runner
            .clone()
    }

    /// The current runner and a pass that keeps it from being retired.
    fn enter(&self) -> Option<(Arc<dyn Runner>, Pass)> {
        // Taken under the read lock: a swap (write lock) cannot come between
        // reading the slot and entering its gate.
        let slot = self.slot.read().unwrap_or_else(|p| p.into_inner());
        let pass = slot.calls.enter()?;
        Some((slot.runner.clone(), pass))
    }

    /// Calls `function` on the current runner.
    pub async fn call(
        &self,
        function: &str,
        params: &RawValue,
    ) -> Result<Box<RawValue>, RunnerError> {
        let Some((runner, _pass)) = self.enter() else {
            return Err(RunnerError::in_call(
                &*self.plugin,
                function,
                RunnerErrorKind::Stopped,
            ));
        };
        runner.call(function, params).await
    }

    /// Installs `runner` and returns the previous one once the calls that
    /// entered it have finished, or once `drain` has passed: calls still
    /// running then are the caller's to cancel (by stopping the runner).
    pub async fn swap(&self, runner: Arc<dyn Runner>, drain: Duration) -> Arc<dyn Runner> {
        let old = std::mem::replace(
            &mut *self.slot.write().unwrap_or_else(|p| p.into_inner()),
            Self::slot(runner),
        );
        if !old.calls.drain(Some(drain)).await {
            tracing::warn!(plugin = %self.plugin, "calls still running after the drain timeout ({}); they will be cancelled", plugin_types::duration::format(drain));
        }
        old.runner.clone()
    }
}
