//! [`RunnerCell`]: the runner behind a plugin's adapters, swappable while
//! calls run.

use std::sync::{Arc, RwLock};

use plugin_core::{Runner, RunnerError, RunnerErrorKind};
use serde_json::value::RawValue;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Permits of a runner's call gate: one per call; retiring takes them all.
const GATE: u32 = u32::MAX >> 3;

struct Slot {
    runner: Arc<dyn Runner>,
    gate: Arc<Semaphore>,
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
            gate: Arc::new(Semaphore::new(GATE as usize)),
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
    fn enter(&self) -> Option<(Arc<dyn Runner>, OwnedSemaphorePermit)> {
        // Taken under the read lock: a swap (write lock) cannot come between
        // reading the slot and entering its gate.
        let slot = self.slot.read().unwrap_or_else(|p| p.into_inner());
        let permit = slot.gate.clone().try_acquire_owned().ok()?;
        Some((slot.runner.clone(), permit))
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
    /// entered it have finished.
    pub async fn swap(&self, runner: Arc<dyn Runner>) -> Arc<dyn Runner> {
        let old = std::mem::replace(
            &mut *self.slot.write().unwrap_or_else(|p| p.into_inner()),
            Self::slot(runner),
        );
        // Waits for every pass of the old runner; never fails, as the gate
        // is never closed.
        let _all = old.gate.acquire_many(GATE).await;
        old.runner.clone()
    }
}
