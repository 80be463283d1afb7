//! Adapters from plugin runners to the registries a host application owns.
//!
//! This crate owns
//! - the registries a host owns, as traits — modules by name
//!   ([`ModuleRegistry`]), ability invokers by (capability, operation)
//!   ([`AbilityRegistry`]), webhook converters and OAuth flows by provider
//!   name ([`ProviderRegistry`]) — with thread-safe in-memory implementations
//!   built on one owner-checked map ([`Registry`]); registering a taken key
//!   is an error naming both plugins;
//! - the host-side traits a registry holds: [`ModuleHandler`],
//!   [`AbilityInvoker`], [`WebhookConverter`], [`OAuthProvider`];
//! - the adapters that make a plugin appear in them: [`PluginModule`],
//!   [`PluginAbilities`] (one invoker per declared operation, calling
//!   `ability_call`) and [`PluginProvider`];
//! - [`RunnerCell`], the runner all of a plugin's adapters share, swapped
//!   atomically on hot reload with the calls in flight finishing on the old
//!   runner.
//!
//! The JSON shapes exchanged (call context, message payloads, invoke
//! results, OAuth tokens) are [`plugin_types::module`]'s, so the SDK and the
//! host agree by construction. A plugin answering the wrong shape is an
//! [`AdapterError::Decode`] naming the plugin and function, never a panic or
//! a silently empty value.

mod ability;
mod call;
mod error;
mod module;
mod provider;
mod registry;
mod runner_cell;

pub use ability::{AbilityInvoker, AbilityRegistry, InMemoryAbilityRegistry, PluginAbilities};
pub use error::AdapterError;
pub use module::{InMemoryModuleRegistry, ModuleHandler, ModuleRegistry, PluginModule};
pub use provider::{
    InMemoryProviderRegistry, OAuthProvider, PluginProvider, ProviderRegistry, WebhookConverter,
};
pub use registry::Registry;
pub use runner_cell::RunnerCell;
