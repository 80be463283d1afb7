//! Adapters from plugin runners to the registries a host application owns.
//!
//! This crate will own the module, ability and provider registries (as traits
//! with thread-safe in-memory implementations) and the adapters that make a
//! loaded plugin appear in them: a chat module, one ability invoker per declared
//! capability/operation, and a webhook/OAuth provider.
