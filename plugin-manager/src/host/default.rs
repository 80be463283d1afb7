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
use super::kv::{KvBackend, KvLimits, KvOpenError, KvStore};
use plugin_types::{KvBackendKind, KvSettings};

/// The default host services:
/// - `get_config`: the plugin's own configuration, by dotted key;
/// - `log`: `tracing`, tagged with the plugin's name;
/// - `kv_*`: a [`KvBackend`], by default a durable [`KvStore`] in the data
///   folder (or Redis, shared by several hosts: `kv: {backend: redis}`, the
///   `redis` feature), one namespace per plugin name (so a value survives a
///   reload or a restart of the host), each held to [`KvLimits`] (key and
///   value sizes, a total per plugin);
/// - `http_request`: an [`HttpClient`] bound to the plugin's granted
///   allowlist (`wasm.permissions.http`; a plugin without one makes no
///   requests) and to public addresses, plus the non-public networks the
///   host granted it;
/// - `emit_event`: the [`EventBus`].
#[derive(Debug, Clone)]
pub struct DefaultHost {
    kv: Arc<dyn KvBackend>,
    kv_limits: KvLimits,
    events: EventBus,
    http: HttpOptions,
}

impl DefaultHost {
    /// Default services keeping their data in `data_dir` (created if
    /// missing).
    pub fn open(data_dir: &Path) -> Result<Self, KvOpenError> {
        Ok(Self::with_kv(Arc::new(KvStore::open(data_dir)?)))
    }

    /// Default services with the KV backend `settings` choose (the
    /// configuration's `kv:` section): redb in `data_dir`, or Redis.
    pub async fn open_with(data_dir: &Path, settings: &KvSettings) -> Result<Self, KvOpenError> {
        match settings.backend {
            KvBackendKind::Redb => Self::open(data_dir),
            #[cfg(feature = "redis")]
            KvBackendKind::Redis => Ok(Self::with_kv(Arc::new(
                super::RedisKv::connect(settings).await?,
            ))),
            #[cfg(not(feature = "redis"))]
            KvBackendKind::Redis => Err(KvOpenError::new(
                "redis",
                "kv.backend: redis needs plugin-manager built with its `redis` feature",
            )),
        }
    }

    /// Default services keeping plugins' KV values in `kv`.
    pub fn with_kv(kv: Arc<dyn KvBackend>) -> Self {
        Self {
            kv,
            kv_limits: KvLimits::default(),
            events: EventBus::default(),
            http: HttpOptions::default(),
        }
    }

    /// Holds every plugin's KV writes to `limits` (see [`KvLimits`] for the
    /// defaults).
    pub fn with_kv_limits(mut self, limits: KvLimits) -> Self {
        self.kv_limits = limits;
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

    /// The KV backend.
    pub fn kv(&self) -> &Arc<dyn KvBackend> {
        &self.kv
    }

    /// The limits every plugin's KV writes are held to.
    pub fn kv_limits(&self) -> KvLimits {
        self.kv_limits
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
            kv_limits: self.kv_limits,
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
    kv: Arc<dyn KvBackend>,
    kv_limits: KvLimits,
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
        self.kv.set(&self.plugin, key, value, self.kv_limits).await
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
