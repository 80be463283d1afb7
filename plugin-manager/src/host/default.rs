//! [`DefaultHost`]: the host services a host gets unless it brings its own.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use plugin_core::{
    Granted, HostApi, HostError, HostHttpRequest, HostHttpResponse, HttpAllowlist, LogLevel,
    Manifest, config_lookup, log_to_tracing,
};
use plugin_types::DataEvent;
use serde_json::Value;

use super::HostServices;
use super::events::EventBus;
use super::http::{HttpClient, HttpOptions};
use super::kv::{KvLimits, KvOpenError, KvStore};

/// The default host services:
/// - `get_config`: the plugin's own configuration, by dotted key;
/// - `log`: `tracing`, tagged with the plugin's name;
/// - `kv_*`: a durable [`KvStore`] in the data folder, one namespace per
///   plugin name (so a value survives a reload or a restart of the host),
///   each held to [`KvLimits`] (key and value sizes, a total per plugin);
/// - `http_request`: an [`HttpClient`] bound to the plugin's granted
///   allowlist (`wasm.permissions.http`; a plugin without one makes no
///   requests) and to public addresses, plus the non-public networks the
///   host granted it;
/// - `emit_event`: the [`EventBus`].
#[derive(Debug, Clone)]
pub struct DefaultHost {
    kv: KvStore,
    events: EventBus,
    http: HttpOptions,
}

impl DefaultHost {
    /// Default services keeping their data in `data_dir` (created if
    /// missing).
    pub fn open(data_dir: &Path) -> Result<Self, KvOpenError> {
        Ok(Self {
            kv: KvStore::open(data_dir)?,
            events: EventBus::default(),
            http: HttpOptions::default(),
        })
    }

    /// Holds every plugin's KV writes to `limits` (see [`KvLimits`] for the
    /// defaults).
    pub fn with_kv_limits(mut self, limits: KvLimits) -> Self {
        self.kv = self.kv.with_limits(limits);
        self
    }

    /// Uses these HTTP limits for plugins loaded from now on.
    pub fn with_http_options(mut self, options: HttpOptions) -> Self {
        self.http = options;
        self
    }

    /// The bus plugins' events are published on.
    pub fn events(&self) -> &EventBus {
        &self.events
    }

    /// The KV store.
    pub fn kv(&self) -> &KvStore {
        &self.kv
    }
}

impl HostServices for DefaultHost {
    fn host_for(
        &self,
        manifest: &Manifest,
        config: &Value,
        granted: &Granted,
    ) -> Result<Arc<dyn HostApi>, HostError> {
        let allowlist = HttpAllowlist::new(&granted.http);
        let http = HttpClient::new(
            &manifest.name,
            allowlist,
            granted.private_networks.clone(),
            self.http,
        )?;
        Ok(Arc::new(PluginHost {
            plugin: manifest.name.clone(),
            config: config.clone(),
            kv: self.kv.clone(),
            events: self.events.clone(),
            http,
        }))
    }
}

/// [`DefaultHost`]'s services for one plugin.
#[derive(Debug)]
struct PluginHost {
    plugin: String,
    config: Value,
    kv: KvStore,
    events: EventBus,
    http: HttpClient,
}

#[async_trait]
impl HostApi for PluginHost {
    async fn get_config(&self, key: &str) -> Result<Option<String>, HostError> {
        Ok(config_lookup(&self.config, key))
    }

    fn log(&self, level: LogLevel, message: &str, fields: &BTreeMap<String, String>) {
        log_to_tracing(&self.plugin, level, message, fields);
    }

    async fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, HostError> {
        self.kv.get(&self.plugin, key).await
    }

    async fn kv_set(&self, key: &str, value: &[u8]) -> Result<(), HostError> {
        self.kv.set(&self.plugin, key, value).await
    }

    async fn kv_delete(&self, key: &str) -> Result<(), HostError> {
        self.kv.delete(&self.plugin, key).await
    }

    async fn http_request(&self, request: HostHttpRequest) -> Result<HostHttpResponse, HostError> {
        self.http.send(request).await
    }

    async fn emit_event(&self, event: DataEvent) -> Result<(), HostError> {
        self.events.publish(&self.plugin, event);
        Ok(())
    }
}
