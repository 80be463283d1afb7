//! Host services: what plugins may ask of the host, and the default
//! implementation (`DefaultHost`, with the `default-host` feature).
//!
//! The manager asks a [`HostServices`] for one [`HostApi`] per plugin (per
//! load: a reload gets a fresh one, bound to the new manifest's
//! permissions). A host application replaces any part by implementing
//! [`HostServices`] itself, typically wrapping a `DefaultHost`.

#[cfg(feature = "default-host")]
mod default;
#[cfg(feature = "default-host")]
mod events;
mod functions;
#[cfg(feature = "default-host")]
mod http;
#[cfg(feature = "default-host")]
mod kv;
#[cfg(feature = "redis")]
mod kv_redis;

use std::sync::Arc;

use plugin_core::{Granted, HostApi, HostError, Manifest};
use serde_json::Value;

#[cfg(feature = "default-host")]
pub use default::DefaultHost;
#[cfg(feature = "default-host")]
pub use events::{EmittedEvent, EventBus};
pub use functions::with_functions;
#[cfg(feature = "default-host")]
pub use http::{HttpClient, HttpOptions};
#[cfg(feature = "default-host")]
pub use kv::{KV_FILE_NAME, KvBackend, KvLimits, KvOpenError, KvStore};
#[cfg(feature = "redis")]
pub use kv_redis::RedisKv;

/// Builds the [`HostApi`] each plugin gets.
pub trait HostServices: Send + Sync {
    /// The host services of the plugin `manifest` describes, started with
    /// `config`, holding it to what the host `granted` it (its HTTP
    /// allowlist and the non-public networks it may reach).
    fn host_for(
        &self,
        manifest: &Manifest,
        config: &Value,
        granted: &Granted,
    ) -> Result<Arc<dyn HostApi>, HostError>;
}
