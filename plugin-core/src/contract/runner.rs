//! The contract every plugin execution environment implements.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::error::RunnerError;
use crate::lifecycle::{HealthStatus, LifecycleEvents};
use crate::manifest::{Manifest, Provides};

/// A plugin execution environment: the wasm runner, the gRPC runner, or one
/// of a host's own.
///
/// A runner drives one plugin through `load` → `start` → (`call` | `health`)*
/// → `stop`. Every method takes `&self`: a runner is shared (`Arc<dyn
/// Runner>`) between the manager, the adapters and any number of concurrent
/// callers, and `call` may run in parallel with itself and with `health`.
///
/// Cancellation is by dropping the future: a caller that gives up on a call
/// drops it, and the runner must stay usable. Deadlines that the runner must
/// honour itself (draining on `stop`) are arguments.
///
/// Functions exchange JSON: `params` and the result are raw JSON text, so a
/// runner can hand them to the plugin without building a value tree.
#[async_trait]
pub trait Runner: Send + Sync {
    /// Prepares the plugin described by `manifest` (compiles the module,
    /// launches the process...) without initialising it.
    async fn load(&self, manifest: &Manifest) -> Result<PluginInfo, RunnerError>;

    /// Initialises the plugin with its configuration (already checked against
    /// the manifest's `config_schema` by the caller). Calls are accepted from
    /// now on.
    async fn start(&self, config: &Value) -> Result<(), RunnerError>;

    /// Stops accepting calls, lets calls in flight finish for up to `drain`,
    /// then releases everything (instances, processes, sockets).
    async fn stop(&self, drain: Duration) -> Result<(), RunnerError>;

    /// Calls the plugin function `function` with JSON `params` and returns its
    /// JSON result.
    async fn call(&self, function: &str, params: &RawValue) -> Result<Box<RawValue>, RunnerError>;

    /// Asks whether the plugin is ready (and reports the answer on
    /// [`events`](Self::events) too), with its last error.
    async fn health(&self) -> Result<HealthStatus, RunnerError>;

    /// The plugin's [`Report`](crate::Report)s, change by change: loading,
    /// ready, not ready, stopping, exited or failed, and its last error.
    /// Available from the runner's creation, before `load`; a manager
    /// derives its status from them and restarts a plugin whose report
    /// says it crashed. Each call is a new subscription.
    fn events(&self) -> LifecycleEvents;
}

/// What a loaded plugin is and provides.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginInfo {
    /// The plugin's name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// What it implements.
    pub provides: Provides,
    /// Its configuration schema, as written.
    pub config_schema: Option<Value>,
    /// What isolates it, one measure a line, as the runtime describes it
    /// (for a process: the confinement in force); empty when the runtime
    /// has nothing to say.
    pub isolation: Vec<String>,
}

impl From<&Manifest> for PluginInfo {
    fn from(manifest: &Manifest) -> Self {
        Self {
            name: manifest.name.clone(),
            version: manifest.version.clone(),
            provides: manifest.provides.clone(),
            config_schema: manifest
                .config_schema
                .as_ref()
                .map(|s| s.as_value().clone()),
            isolation: Vec::new(),
        }
    }
}

/// Where a plugin is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PluginState {
    /// Being loaded and started.
    Loading,
    /// Serving calls.
    Running,
    /// Draining and shutting down.
    Stopping,
    /// Failed; see its last error.
    Error,
}

impl PluginState {
    /// The lowercase name: `loading`, `running`, `stopping` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Loading => "loading",
            Self::Running => "running",
            Self::Stopping => "stopping",
            Self::Error => "error",
        }
    }
}

impl fmt::Display for PluginState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
