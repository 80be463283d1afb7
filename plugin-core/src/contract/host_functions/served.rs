//! [`Served`]: a plugin's host services answering calls by name from a
//! [`HostFunctions`] table.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use plugin_types::DataEvent;
use serde_json::value::RawValue;

use super::{HostCallContext, HostFunctions};
use crate::host::{HostApi, HostError, HostHttpRequest, HostHttpResponse, LogLevel};
use crate::identity::Identified;
use crate::policy::http_request_rule::HttpRequestRule;

/// The host's services for one plugin, plus its host functions by name.
pub(super) struct Served {
    functions: HostFunctions,
    host: Arc<dyn HostApi>,
    cx: HostCallContext,
}

impl Served {
    /// `host` for `plugin`, calling `functions` by name, its HTTP requests
    /// by name held to `http`.
    pub(super) fn wrap(
        functions: HostFunctions,
        plugin: &str,
        host: Arc<dyn HostApi>,
        http: HttpRequestRule,
    ) -> Arc<dyn HostApi> {
        let cx = HostCallContext {
            plugin: plugin.into(),
            host: Identified::wrap_with_http(plugin, host.clone(), http),
        };
        Arc::new(Self {
            functions,
            host,
            cx,
        })
    }
}

#[async_trait]
impl HostApi for Served {
    async fn get_config(&self, key: &str) -> Result<Option<String>, HostError> {
        self.host.get_config(key).await
    }

    fn log(&self, level: LogLevel, message: &str, fields: &BTreeMap<String, String>) {
        self.host.log(level, message, fields);
    }

    async fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, HostError> {
        self.host.kv_get(key).await
    }

    async fn kv_set(&self, key: &str, value: &[u8]) -> Result<(), HostError> {
        self.host.kv_set(key, value).await
    }

    async fn kv_delete(&self, key: &str) -> Result<(), HostError> {
        self.host.kv_delete(key).await
    }

    async fn http_request(&self, request: HostHttpRequest) -> Result<HostHttpResponse, HostError> {
        self.host.http_request(request).await
    }

    async fn emit_event(&self, event: DataEvent) -> Result<(), HostError> {
        self.host.emit_event(event).await
    }

    async fn call_function(
        &self,
        name: &str,
        input: &RawValue,
    ) -> Result<Box<RawValue>, HostError> {
        self.functions.call(&self.cx, name, input).await
    }
}
