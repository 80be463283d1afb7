//! [`Registries`]: the host application's registries the manager registers
//! plugins' adapters into.

use std::sync::Arc;

use plugin_adapter::{
    AbilityRegistry, InMemoryAbilityRegistry, InMemoryModuleRegistry, InMemoryProviderRegistry,
    ModuleRegistry, ProviderRegistry,
};

/// The registries a plugin's module, abilities and provider go into. Each
/// is the host's own (any implementation of the trait); `default()` gives
/// in-memory ones.
#[derive(Clone)]
pub struct Registries {
    /// Chat modules, by name.
    pub modules: Arc<dyn ModuleRegistry>,
    /// Ability invokers, by (capability, operation).
    pub abilities: Arc<dyn AbilityRegistry>,
    /// Webhook converters and OAuth flows, by provider name.
    pub providers: Arc<dyn ProviderRegistry>,
}

impl Default for Registries {
    fn default() -> Self {
        Self {
            modules: Arc::new(InMemoryModuleRegistry::modules()),
            abilities: Arc::new(InMemoryAbilityRegistry::abilities()),
            providers: Arc::new(InMemoryProviderRegistry::default()),
        }
    }
}
