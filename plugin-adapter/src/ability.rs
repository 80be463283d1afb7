//! Abilities: invokers keyed by (capability, operation), their registry, and
//! [`PluginAbilities`], one invoker per operation a plugin declares.

use std::sync::Arc;

use async_trait::async_trait;
use plugin_core::manifest::AbilityDecl;
use plugin_types::InvokeResult;
use plugin_types::event::Kv;
use serde_json::json;

use crate::call::{call, typed};
use crate::error::AdapterError;
use crate::registry::Registry;
use crate::runner_cell::RunnerCell;

/// Runs one ability operation.
#[async_trait]
pub trait AbilityInvoker: Send + Sync {
    /// Invokes the operation with `params`.
    async fn invoke(&self, params: Kv) -> Result<InvokeResult, AdapterError>;
}

/// Where a host keeps its ability invokers, by (capability, operation).
pub trait AbilityRegistry: Send + Sync {
    /// Adds `invoker` for `operation` of `capability`, owned by `plugin`; a
    /// taken pair is a [`AdapterError::Conflict`] naming both plugins.
    fn register_invoker(
        &self,
        capability: &str,
        operation: &str,
        plugin: &str,
        invoker: Arc<dyn AbilityInvoker>,
    ) -> Result<(), AdapterError>;
    /// Removes the invoker if `plugin` owns it; says whether it did.
    fn unregister_invoker(&self, capability: &str, operation: &str, plugin: &str) -> bool;
    /// The invoker of `operation` of `capability`.
    fn invoker(&self, capability: &str, operation: &str) -> Option<Arc<dyn AbilityInvoker>>;
    /// Every registered `(capability/operation, plugin)`, sorted.
    fn invokers(&self) -> Vec<(String, String)>;
}

/// The in-memory [`AbilityRegistry`], keyed `capability/operation`.
pub type InMemoryAbilityRegistry = Registry<Arc<dyn AbilityInvoker>>;

fn key(capability: &str, operation: &str) -> String {
    format!("{capability}/{operation}")
}

impl InMemoryAbilityRegistry {
    /// An empty ability registry.
    pub fn abilities() -> Self {
        Self::new("ability")
    }
}

impl AbilityRegistry for InMemoryAbilityRegistry {
    fn register_invoker(
        &self,
        capability: &str,
        operation: &str,
        plugin: &str,
        invoker: Arc<dyn AbilityInvoker>,
    ) -> Result<(), AdapterError> {
        self.register(&key(capability, operation), plugin, invoker)
    }

    fn unregister_invoker(&self, capability: &str, operation: &str, plugin: &str) -> bool {
        self.unregister(&key(capability, operation), plugin)
    }

    fn invoker(&self, capability: &str, operation: &str) -> Option<Arc<dyn AbilityInvoker>> {
        self.get(&key(capability, operation))
    }

    fn invokers(&self) -> Vec<(String, String)> {
        self.list()
    }
}

/// One declared operation, invoked through `ability_call`.
struct PluginInvoker {
    cell: Arc<RunnerCell>,
    capability: String,
    operation: String,
}

#[async_trait]
impl AbilityInvoker for PluginInvoker {
    async fn invoke(&self, params: Kv) -> Result<InvokeResult, AdapterError> {
        let request = json!({ "operation": self.operation, "params": params });
        let mut result: InvokeResult = call(&self.cell, "ability_call", &request, typed).await?;
        if result.capability.is_empty() {
            result.capability.clone_from(&self.capability);
        }
        if result.operation.is_empty() {
            result.operation.clone_from(&self.operation);
        }
        Ok(result)
    }
}

/// The abilities a plugin declares (`provides.abilities`), as invokers.
pub struct PluginAbilities {
    cell: Arc<RunnerCell>,
    declared: Vec<(String, String)>,
}

impl PluginAbilities {
    /// The operations of `declared`, served by the runner in `cell`.
    pub fn new(cell: Arc<RunnerCell>, declared: &[AbilityDecl]) -> Self {
        let declared = declared
            .iter()
            .flat_map(|d| {
                d.operations
                    .iter()
                    .map(|op| (d.capability.clone(), op.clone()))
            })
            .collect();
        Self { cell, declared }
    }

    /// Registers one invoker per declared operation, all or none: on a
    /// conflict, those already registered are removed again.
    pub fn register(&self, registry: &dyn AbilityRegistry) -> Result<(), AdapterError> {
        let plugin = self.cell.plugin();
        for (done, (capability, operation)) in self.declared.iter().enumerate() {
            let invoker = Arc::new(PluginInvoker {
                cell: self.cell.clone(),
                capability: capability.clone(),
                operation: operation.clone(),
            });
            if let Err(e) = registry.register_invoker(capability, operation, plugin, invoker) {
                for (capability, operation) in &self.declared[..done] {
                    registry.unregister_invoker(capability, operation, plugin);
                }
                return Err(e);
            }
        }
        Ok(())
    }

    /// Removes every invoker of this plugin.
    pub fn unregister(&self, registry: &dyn AbilityRegistry) {
        for (capability, operation) in &self.declared {
            registry.unregister_invoker(capability, operation, self.cell.plugin());
        }
    }
}
