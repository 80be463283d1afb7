//! Plugin orchestration: what a host application embeds to keep its plugins
//! loaded, configured, healthy and current, and the `pluginctl` CLI.
//!
//! This crate owns
//! - [`PluginManager`]: discovery through `plugin-source` (the configured
//!   sources and any the embedder registers), the identity rule
//!   and `max_plugins`, config-schema checks, runner creation by runtime,
//!   adapter registration into the host's [`Registries`], lifecycle states,
//!   validate-then-swap reload, hot reload from source events, supervision
//!   (restart with capped backoff, health polling) and graceful shutdown;
//! - the default host services ([`host`]): configuration by dotted key,
//!   logs to `tracing`, a durable per-plugin KV store (redb), outbound HTTP
//!   held to each plugin's allowlist on every redirect and to public
//!   addresses unless granted, and an event bus;
//! - the grant check at load: what a manifest asks against the host's
//!   `permissions` policy ([`plugin_core::grant`]), the refusal naming the
//!   setting that would allow it;
//! - the admin HTTP API ([`admin`]) that `pluginctl run` serves, behind a
//!   bearer token, JSON bodies only, its own `Host` and `Origin` only;
//! - reading a host configuration file ([`host_config`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use plugin_manager::{PluginManager, host::DefaultHost};
//! use plugin_types::{PluginConfig, SourceConfig};
//!
//! let host = DefaultHost::open("data".as_ref())?;
//! let config = PluginConfig {
//!     enabled: true,
//!     sources: vec![SourceConfig::local("plugins")],
//!     ..PluginConfig::default()
//! };
//! let manager = PluginManager::builder(config, Arc::new(host)).build();
//! manager.start().await?;
//! let reply = manager.call("hello-wasm", "greet", &serde_json::value::RawValue::from_string(r#"{"name":"Ada"}"#.into())?).await?;
//! println!("{reply}");
//! manager.shutdown().await;
//! # Ok(()) }
//! ```

#[cfg(feature = "admin")]
pub mod admin;
mod error;
pub mod host;
pub mod host_config;
mod manager;
mod options;
mod registries;
mod runtime;
mod status;

pub use error::ManagerError;
pub use manager::{PluginManager, PluginManagerBuilder};
pub use options::ManagerOptions;
pub use registries::Registries;
pub use status::{ManagerDiagnostic, PluginStatus, describe_provides};
