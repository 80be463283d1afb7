//! [`MemoryHost`]: a complete [`HostApi`] kept in memory, for tests, tools
//! and hosts that need nothing durable.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use plugin_types::DataEvent;
use serde_json::Value;

use crate::host::{
    HostApi, HostError, HostHttpRequest, HostHttpResponse, LogLevel, log_to_tracing,
};

/// A [`HostApi`] for one plugin with everything in memory: configuration
/// from a JSON value, a KV map, events collected in order, logs sent to
/// `tracing` under the plugin's name. It makes no HTTP requests: every
/// `http_request` is refused.
#[derive(Debug)]
pub struct MemoryHost {
    plugin: String,
    config: Value,
    kv: Mutex<BTreeMap<String, Vec<u8>>>,
    events: Mutex<Vec<DataEvent>>,
}

impl MemoryHost {
    /// A host for `plugin` whose configuration is `config`.
    pub fn new(plugin: impl Into<String>, config: Value) -> Self {
        Self {
            plugin: plugin.into(),
            config,
            kv: Mutex::new(BTreeMap::new()),
            events: Mutex::new(Vec::new()),
        }
    }

    /// The events emitted so far, oldest first.
    pub fn events(&self) -> Vec<DataEvent> {
        lock(&self.events).clone()
    }

    /// A snapshot of the KV map.
    pub fn kv(&self) -> BTreeMap<String, Vec<u8>> {
        lock(&self.kv).clone()
    }
}

/// Looks up a dotted key (`db.host`, `hosts.0`) in a JSON value. Strings come
/// back as they are, other values as JSON text.
pub fn config_lookup(config: &Value, key: &str) -> Option<String> {
    let mut value = config;
    for part in key.split('.') {
        value = match value {
            Value::Object(map) => map.get(part)?,
            Value::Array(items) => items.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding these locks cannot leave the data half-updated.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[async_trait]
impl HostApi for MemoryHost {
    async fn get_config(&self, key: &str) -> Result<Option<String>, HostError> {
        Ok(config_lookup(&self.config, key))
    }

    fn log(&self, level: LogLevel, message: &str, fields: &BTreeMap<String, String>) {
        log_to_tracing(&self.plugin, level, message, fields);
    }

    async fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, HostError> {
        Ok(lock(&self.kv).get(key).cloned())
    }

    async fn kv_set(&self, key: &str, value: &[u8]) -> Result<(), HostError> {
        lock(&self.kv).insert(key.to_owned(), value.to_vec());
        Ok(())
    }

    async fn kv_delete(&self, key: &str) -> Result<(), HostError> {
        lock(&self.kv).remove(key);
        Ok(())
    }

    async fn http_request(&self, request: HostHttpRequest) -> Result<HostHttpResponse, HostError> {
        Err(HostError::PermissionDenied(format!(
            "{} {}: this host makes no HTTP requests",
            request.method, request.url
        )))
    }

    async fn emit_event(&self, event: DataEvent) -> Result<(), HostError> {
        lock(&self.events).push(event);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dotted_keys_reach_nested_values() {
        let config = json!({"db": {"host": "h", "port": 5}, "tags": ["a", "b"], "none": null});
        assert_eq!(config_lookup(&config, "db.host").as_deref(), Some("h"));
        assert_eq!(config_lookup(&config, "db.port").as_deref(), Some("5"));
        assert_eq!(
            config_lookup(&config, "db").as_deref(),
            Some(r#"{"host":"h","port":5}"#)
        );
        assert_eq!(config_lookup(&config, "tags.1").as_deref(), Some("b"));
        for absent in ["db.user", "tags.9", "tags.x", "none", "db.host.deeper", ""] {
            assert_eq!(config_lookup(&config, absent), None, "{absent}");
        }
    }

    #[tokio::test]
    async fn kv_events_and_http() {
        let host = MemoryHost::new("p", json!({}));
        host.kv_set("k", b"v").await.unwrap();
        assert_eq!(host.kv_get("k").await.unwrap().as_deref(), Some(&b"v"[..]));
        host.kv_delete("k").await.unwrap();
        host.kv_delete("k").await.unwrap();
        assert_eq!(host.kv_get("k").await.unwrap(), None);
        host.emit_event(DataEvent {
            event_type: "a".into(),
            ..DataEvent::default()
        })
        .await
        .unwrap();
        assert_eq!(host.events()[0].event_type, "a");
        assert!(host.http_request(HostHttpRequest::default()).await.is_err());
    }
}
