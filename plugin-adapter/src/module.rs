//! Chat modules: the host's [`ModuleHandler`] trait, its registry, and
//! [`PluginModule`], a plugin that is one.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use plugin_types::event::Kv;
use plugin_types::{CallContext, MsgPayload, Rules};
use serde_json::{Value, json};

use crate::call::{call, typed};
use crate::error::AdapterError;
use crate::registry::Registry;
use crate::runner_cell::RunnerCell;

/// A chat module as the host drives it (flowbot's module handler).
#[async_trait]
pub trait ModuleHandler: Send + Sync {
    /// The module's name.
    fn name(&self) -> &str;
    /// Initialises the module with its configuration.
    async fn init(&self, config: &Value) -> Result<(), AdapterError>;
    /// Runs the module's one-time bootstrap.
    async fn bootstrap(&self) -> Result<(), AdapterError>;
    /// Handles free chat input.
    async fn input(
        &self,
        ctx: &CallContext,
        head: &Kv,
        content: &Value,
    ) -> Result<MsgPayload, AdapterError>;
    /// Handles a command.
    async fn command(&self, ctx: &CallContext, content: &Value)
    -> Result<MsgPayload, AdapterError>;
    /// Handles a submitted form.
    async fn form(
        &self,
        ctx: &CallContext,
        values: &BTreeMap<String, String>,
    ) -> Result<MsgPayload, AdapterError>;
    /// The module's rulesets.
    async fn rules(&self) -> Result<Rules, AdapterError>;
    /// The module's help: group → lines.
    async fn help(&self) -> Result<BTreeMap<String, Vec<String>>, AdapterError>;
}

/// Where a host keeps its chat modules, by name.
pub trait ModuleRegistry: Send + Sync {
    /// Adds `module`, owned by `plugin`, under its name; a taken name is a
    /// [`AdapterError::Conflict`].
    fn register_module(
        &self,
        plugin: &str,
        module: Arc<dyn ModuleHandler>,
    ) -> Result<(), AdapterError>;
    /// Removes the module `name` if `plugin` owns it; says whether it did.
    fn unregister_module(&self, name: &str, plugin: &str) -> bool;
    /// The module `name`.
    fn module(&self, name: &str) -> Option<Arc<dyn ModuleHandler>>;
    /// The names of the modules, sorted.
    fn module_names(&self) -> Vec<String>;
}

/// The in-memory [`ModuleRegistry`].
pub type InMemoryModuleRegistry = Registry<Arc<dyn ModuleHandler>>;

impl InMemoryModuleRegistry {
    /// An empty module registry.
    pub fn modules() -> Self {
        Self::new("module")
    }
}

impl ModuleRegistry for InMemoryModuleRegistry {
    fn register_module(
        &self,
        plugin: &str,
        module: Arc<dyn ModuleHandler>,
    ) -> Result<(), AdapterError> {
        let name = module.name().to_owned();
        self.register(&name, plugin, module)
    }

    fn unregister_module(&self, name: &str, plugin: &str) -> bool {
        self.unregister(name, plugin)
    }

    fn module(&self, name: &str) -> Option<Arc<dyn ModuleHandler>> {
        self.get(name)
    }

    fn module_names(&self) -> Vec<String> {
        self.list().into_iter().map(|(name, _)| name).collect()
    }
}

/// A plugin as a chat module: each method calls the plugin function of the
/// same name through the plugin's [`RunnerCell`] (so a runner swap applies
/// without unregistering) and decodes the answer.
pub struct PluginModule {
    cell: Arc<RunnerCell>,
}

impl PluginModule {
    /// The module served by the runner in `cell`.
    pub fn new(cell: Arc<RunnerCell>) -> Self {
        Self { cell }
    }

    /// Registers this module under the plugin's name.
    pub fn register(self: &Arc<Self>, registry: &dyn ModuleRegistry) -> Result<(), AdapterError> {
        let handler: Arc<dyn ModuleHandler> = self.clone();
        registry.register_module(self.cell.plugin(), handler)
    }

    /// Removes this module from `registry`.
    pub fn unregister(&self, registry: &dyn ModuleRegistry) -> bool {
        registry.unregister_module(self.cell.plugin(), self.cell.plugin())
    }
}

fn payload(value: Value) -> Result<MsgPayload, String> {
    MsgPayload::from_json(value).map_err(|e| e.to_string())
}

#[async_trait]
impl ModuleHandler for PluginModule {
    fn name(&self) -> &str {
        self.cell.plugin()
    }

    /// Starts the current runner with `config` (flowbot's module `Init`).
    async fn init(&self, config: &Value) -> Result<(), AdapterError> {
        Ok(self.cell.runner().start(config).await?)
    }

    async fn bootstrap(&self) -> Result<(), AdapterError> {
        call(&self.cell, "bootstrap", &Value::Null, |_| Ok(())).await
    }

    async fn input(
        &self,
        ctx: &CallContext,
        head: &Kv,
        content: &Value,
    ) -> Result<MsgPayload, AdapterError> {
        let params = json!({ "context": ctx, "head": head, "content": content });
        call(&self.cell, "input", &params, payload).await
    }

    async fn command(
        &self,
        ctx: &CallContext,
        content: &Value,
    ) -> Result<MsgPayload, AdapterError> {
        let params = json!({ "context": ctx, "content": content });
        call(&self.cell, "command", &params, payload).await
    }

    async fn form(
        &self,
        ctx: &CallContext,
        values: &BTreeMap<String, String>,
    ) -> Result<MsgPayload, AdapterError> {
        let params = json!({ "context": ctx, "values": values });
        call(&self.cell, "form", &params, payload).await
    }

    async fn rules(&self) -> Result<Rules, AdapterError> {
        call(&self.cell, "rules", &Value::Null, typed).await
    }

    async fn help(&self) -> Result<BTreeMap<String, Vec<String>>, AdapterError> {
        call(&self.cell, "help", &Value::Null, typed).await
    }
}
