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

/// Invokers by `capability/operation`.
pub type AbilityRegistry = Registry<Arc<dyn AbilityInvoker>>;

/// The registry key of an operation: `capability/operation`.
pub fn ability_key(capability: &str, operation: &str) -> String {
    format!("{capability}/{operation}")
}

impl AbilityRegistry {
    /// An empty ability registry.
    pub fn abilities() -> Self {
        Self::new("ability")
    }

    /// The invoker of `operation` of `capability`.
    pub fn invoker(&self, capability: &str, operation: &str) -> Option<Arc<dyn AbilityInvoker>> {
        self.get(&ability_key(capability, operation))
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
    pub fn register(&self, registry: &AbilityRegistry) -> Result<(), AdapterError> {
        let plugin = self.cell.plugin();
        for (done, (capability, operation)) in self.declared.iter().enumerate() {
            let invoker = Arc::new(PluginInvoker {
                cell: self.cell.clone(),
                capability: capability.clone(),
                operation: operation.clone(),
            });
            if let Err(e) = registry.register(&ability_key(capability, operation), plugin, invoker)
            {
                for (capability, operation) in &self.declared[..done] {
                    registry.unregister(&ability_key(capability, operation), plugin);
                }
                return Err(e);
            }
        }
        Ok(())
    }

    /// Removes every invoker of this plugin.
    pub fn unregister(&self, registry: &AbilityRegistry) {
        for (capability, operation) in &self.declared {
            registry.unregister(&ability_key(capability, operation), self.cell.plugin());
        }
    }
}
