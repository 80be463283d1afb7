//! [`FnRuntime`]: plugins whose functions are Rust closures, run in the
//! host's process: for an embedder's own tests, and for built-in plugins
//! that should look like any other to the host.
//!
//! Each plugin is an [`FnPlugin`], a table of async closures by function
//! name, registered under the plugin's name. A manifest with
//! `runtime: NAME` (the name the runtime is registered under) and the
//! plugin's `name` loads it; the manifest needs no section of its own.
//!
//! ```
//! use plugin_core::fn_runtime::{FnPlugin, FnRuntime};
//! use serde_json::json;
//!
//! let runtime = FnRuntime::new().plugin(
//!     "greeter",
//!     FnPlugin::new().function("greet", async |call| {
//!         let name = call.params["name"].as_str().unwrap_or("you").to_owned();
//!         Ok(json!(format!("hello, {name}")))
//!     }),
//! );
//! ```

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::error::{RunnerError, RunnerErrorKind};
use crate::host::HostApi;
use crate::in_flight::InFlight;
use crate::lifecycle::{Condition, HealthStatus, Lifecycle, LifecycleEvents, Reporter};
use crate::manifest::{Manifest, ManifestError};
use crate::runner::{PluginInfo, Runner};
use crate::runtime::{RunnerSetup, Runtime};

/// What an [`FnPlugin`] function is called with.
#[derive(Clone)]
pub struct FnCall {
    /// The call's parameters.
    pub params: Value,
    /// The plugin's configuration, as `start` gave it.
    pub config: Value,
    /// The plugin's host services.
    pub host: Arc<dyn HostApi>,
}

/// Why an [`FnPlugin`] function failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FnError {
    /// The function failed; the plugin serves on (a plugin error).
    Failed(String),
    /// The plugin is broken: this call and every later one fail, and the
    /// runner reports [`Condition::Failed`], as a crashed process would be
    /// reported; a supervisor restarts it.
    Crashed(String),
}

type BoxFuture = Pin<Box<dyn Future<Output = Result<Value, FnError>> + Send>>;
type Function = Arc<dyn Fn(FnCall) -> BoxFuture + Send + Sync>;

/// One plugin: its functions by name.
#[derive(Clone, Default)]
pub struct FnPlugin {
    functions: BTreeMap<String, Function>,
}

impl FnPlugin {
    /// A plugin with no functions.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the function `name`, replacing any of that name.
    pub fn function<F, Fut>(mut self, name: impl Into<String>, function: F) -> Self
    where
        F: Fn(FnCall) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, FnError>> + Send + 'static,
    {
        let function: Function = Arc::new(move |call| Box::pin(function(call)));
        self.functions.insert(name.into(), function);
        self
    }
}

/// Plugins of Rust closures, by plugin name; see the [module docs](self).
#[derive(Clone, Default)]
pub struct FnRuntime {
    plugins: BTreeMap<String, FnPlugin>,
}

impl FnRuntime {
    /// A runtime with no plugins.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the plugin `name`, replacing any of that name.
    pub fn plugin(mut self, name: impl Into<String>, plugin: FnPlugin) -> Self {
        self.plugins.insert(name.into(), plugin);
        self
    }
}

impl Runtime for FnRuntime {
    fn check(&self, manifest: &Manifest) -> Result<(), ManifestError> {
        if self.plugins.contains_key(&manifest.name) {
            return Ok(());
        }
        let known: Vec<&str> = self.plugins.keys().map(String::as_str).collect();
        Err(manifest.error(
            "name",
            format!(
                "runtime {} has no plugin {:?} (it has: {})",
                manifest.runtime,
                manifest.name,
                known.join(", ")
            ),
        ))
    }

    fn runner(
        &self,
        manifest: &Manifest,
        setup: RunnerSetup,
    ) -> Result<Arc<dyn Runner>, RunnerError> {
        let plugin = self.plugins.get(&manifest.name).cloned().ok_or_else(|| {
            RunnerError::new(
                &manifest.name,
                RunnerErrorKind::Other(
                    self.check(manifest)
                        .err()
                        .map_or_else(|| "no such plugin".into(), |e| e.to_string().into()),
                ),
            )
        })?;
        Ok(Arc::new(FnRunner {
            plugin,
            // Served as every runner serves its plugin: the identity and
            // the bounds the host sets.
            host: crate::identity::Identified::wrap(&manifest.name, setup.host),
            reporter: Reporter::new(),
            loaded: OnceLock::new(),
            config: RwLock::new(Value::Null),
            crashed: OnceLock::new(),
            calls: InFlight::new(),
        }))
    }
}

/// The runner of one [`FnPlugin`].
struct FnRunner {
    plugin: FnPlugin,
    host: Arc<dyn HostApi>,
    reporter: Reporter,
    loaded: OnceLock<Lifecycle>,
    config: RwLock<Value>,
    /// Why the plugin crashed, once it did.
    crashed: OnceLock<String>,
    calls: InFlight,
}

impl FnRunner {
    fn lifecycle(&self) -> Result<&Lifecycle, RunnerError> {
        self.loaded
            .get()
            .ok_or_else(|| RunnerError::new("<not loaded>", RunnerErrorKind::NotLoaded))
    }
}

#[async_trait]
impl Runner for FnRunner {
    async fn load(&self, manifest: &Manifest) -> Result<PluginInfo, RunnerError> {
        if self
            .loaded
            .set(Lifecycle::new(&manifest.name, self.reporter.clone()))
            .is_err()
        {
            return Err(RunnerError::new(
                &manifest.name,
                RunnerErrorKind::Protocol("already loaded; use a new runner".to_owned()),
            ));
        }
        Ok(PluginInfo::from(manifest))
    }

    async fn start(&self, config: &Value) -> Result<(), RunnerError> {
        let lifecycle = self.lifecycle()?;
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = config.clone();
        lifecycle.mark_started();
        Ok(())
    }

    async fn stop(&self, drain: Duration) -> Result<(), RunnerError> {
        let lifecycle = self.lifecycle()?;
        lifecycle.mark_stopping();
        self.calls.drain(Some(drain)).await;
        self.reporter.exited("stopped".to_owned(), true);
        Ok(())
    }

    async fn call(&self, function: &str, params: &RawValue) -> Result<Box<RawValue>, RunnerError> {
        let lifecycle = self.lifecycle()?;
        lifecycle.check_callable(function)?;
        let Some(_pass) = self.calls.enter() else {
            return Err(lifecycle.fail(Some(function), RunnerErrorKind::Stopped));
        };
        if let Some(why) = self.crashed.get() {
            return Err(lifecycle.fail(Some(function), RunnerErrorKind::Failed(why.clone())));
        }
        let Some(body) = self.plugin.functions.get(function) else {
            return Err(lifecycle.fail(Some(function), RunnerErrorKind::Unsupported));
        };
        let params: Value = serde_json::from_str(params.get()).map_err(|e| {
            lifecycle.fail(
                Some(function),
                RunnerErrorKind::Protocol(format!("params: {e}")),
            )
        })?;
        let call = FnCall {
            params,
            config: self
                .config
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
            host: self.host.clone(),
        };
        match body(call).await {
            Ok(value) => serde_json::value::to_raw_value(&value).map_err(|e| {
                lifecycle.fail(
                    Some(function),
                    RunnerErrorKind::Protocol(format!("answer: {e}")),
                )
            }),
            Err(FnError::Failed(message)) => {
                Err(lifecycle.fail(Some(function), RunnerErrorKind::Plugin(message)))
            }
            Err(FnError::Crashed(why)) => {
                let _ = self.crashed.set(why.clone());
                let error = lifecycle.fail(Some(function), RunnerErrorKind::Failed(why));
                self.reporter.set(Condition::Failed);
                Err(error)
            }
        }
    }

    async fn health(&self) -> Result<HealthStatus, RunnerError> {
        let lifecycle = self.lifecycle()?;
        // A crashed plugin's `Failed` report stands: `health` only moves
        // between ready and not ready.
        let ready =
            self.crashed.get().is_none() && lifecycle.phase() == crate::lifecycle::Phase::Started;
        Ok(lifecycle.health(ready))
    }

    fn events(&self) -> LifecycleEvents {
        self.reporter.subscribe()
    }
}
