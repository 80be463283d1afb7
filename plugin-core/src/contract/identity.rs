//! What the host says, not the plugin, about what a plugin sends it: the
//! identity fields the host knows, and the size of what it accepts. One
//! place for every runtime: each runner serves its plugin's host calls
//! (core ABI imports, the component world's `host`, gRPC `HostService`)
//! through [`Identified`], so no path can skip it.
//!
//! - An event's `source` is the plugin's name, whatever the plugin wrote
//!   ([`stamp_event`]), so subscribers that read it are never fooled.
//! - An event is at most [`MAX_EVENT_SIZE`] bytes of JSON; a larger one is
//!   refused.
//! - A log line is at most [`MAX_LOG_LINE`] bytes (cut at a character
//!   boundary, with a `truncated` field saying how much was dropped), with
//!   at most [`MAX_LOG_FIELDS`] fields of at most [`MAX_LOG_FIELD`] bytes
//!   each. The plugin's name in a log record is the host's (the `plugin`
//!   field), never one of the plugin's fields.
//!
//! The KV namespace and the configuration are the host's per plugin
//! already: a [`HostApi`] is bound to one plugin and no method takes a
//! plugin name.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use plugin_types::DataEvent;
use serde_json::value::RawValue;

use crate::host::{HostApi, HostError, HostHttpRequest, HostHttpResponse, LogLevel};
use crate::policy::http_request_rule::HttpRequestRule;

/// The largest event a plugin may emit, as JSON text: 1 MiB.
pub const MAX_EVENT_SIZE: usize = 1024 * 1024;
/// The longest log message kept whole: 64 KiB.
pub const MAX_LOG_LINE: usize = 64 * 1024;
/// The most fields a log line keeps.
pub const MAX_LOG_FIELDS: usize = 32;
/// The longest log field name or value kept whole: 1 KiB.
pub const MAX_LOG_FIELD: usize = 1024;
/// The field a cut log line carries, saying how much was dropped.
pub const TRUNCATED_FIELD: &str = "truncated";

/// Sets the fields of `event` that say who produced it to what the host
/// knows: `source` becomes `producer`, whatever the plugin wrote.
pub fn stamp_event(producer: &str, event: &mut DataEvent) {
    producer.clone_into(&mut event.source);
}

pub use crate::bounded::cut;

/// The note a log line cut from `original` bytes to `kept` carries.
pub fn truncation_note(kept: usize, original: usize) -> String {
    format!("{} of {original} bytes dropped", original - kept)
}

/// The [`HostApi`] a runner serves one plugin's host calls with: the
/// host's own, behind the identity and the bounds described in the
/// [module docs](self).
pub struct Identified {
    plugin: Arc<str>,
    host: Arc<dyn HostApi>,
    /// Where the plugin's HTTP requests may go, when this layer checks it.
    http: Option<HttpRequestRule>,
}

impl Identified {
    /// `host`'s services for `plugin`, with what the host knows of it set
    /// by the host.
    pub fn wrap(plugin: &str, host: Arc<dyn HostApi>) -> Arc<dyn HostApi> {
        Arc::new(Self {
            plugin: plugin.into(),
            host,
            http: None,
        })
    }

    /// As [`wrap`](Self::wrap), and every HTTP request is held to `http`
    /// (the plugin's granted allowlist, the headers no plugin sets) before
    /// `host` sees it, whichever way the plugin asked: what a host-function
    /// table's calls by name go through, so `http.request` by name is held
    /// as the typed imports are.
    pub fn wrap_with_http(
        plugin: &str,
        host: Arc<dyn HostApi>,
        http: HttpRequestRule,
    ) -> Arc<dyn HostApi> {
        Arc::new(Self {
            plugin: plugin.into(),
            host,
            http: Some(http),
        })
    }
}

/// The serialized length of `event`, counted without keeping the text.
fn json_len(event: &DataEvent) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing into a counter cannot fail; a map key that is not a string
    // cannot occur in a `DataEvent`.
    let _ = serde_json::to_writer(&mut count, event);
    count.0
}

#[async_trait]
impl HostApi for Identified {
    async fn get_config(&self, key: &str) -> Result<Option<String>, HostError> {
        self.host.get_config(key).await
    }

    fn log(&self, level: LogLevel, message: &str, fields: &BTreeMap<String, String>) {
        let kept = cut(message, MAX_LOG_LINE);
        let bounded = fields.len() > MAX_LOG_FIELDS
            || fields
                .iter()
                .any(|(k, v)| k.len() > MAX_LOG_FIELD || v.len() > MAX_LOG_FIELD);
        if kept.len() == message.len() && !bounded {
            return self.host.log(level, message, fields);
        }
        let mut fields: BTreeMap<String, String> = fields
            .iter()
            .take(MAX_LOG_FIELDS)
            .map(|(k, v)| {
                (
                    cut(k, MAX_LOG_FIELD).to_owned(),
                    cut(v, MAX_LOG_FIELD).to_owned(),
                )
            })
            .collect();
        if kept.len() < message.len() {
            fields.insert(
                TRUNCATED_FIELD.to_owned(),
                truncation_note(kept.len(), message.len()),
            );
        }
        self.host.log(level, kept, &fields);
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
        if let Some(rule) = &self.http {
            rule.check(&request)
                .map_err(|e| HostError::PermissionDenied(e.to_string()))?;
        }
        self.host.http_request(request).await
    }

    async fn emit_event(&self, mut event: DataEvent) -> Result<(), HostError> {
        let size = json_len(&event);
        if size > MAX_EVENT_SIZE {
            return Err(HostError::InvalidRequest(format!(
                "the event is {size} bytes of JSON, more than the {MAX_EVENT_SIZE} a plugin may emit"
            )));
        }
        stamp_event(&self.plugin, &mut event);
        self.host.emit_event(event).await
    }

    /// The host's table: it names the caller itself (see
    /// [`crate::host_functions`]).
    async fn call_function(
        &self,
        name: &str,
        input: &RawValue,
    ) -> Result<Box<RawValue>, HostError> {
        self.host.call_function(name, input).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::MemoryHost;

    #[tokio::test]
    async fn the_source_is_the_plugins_name_whatever_it_wrote() {
        let memory = Arc::new(MemoryHost::new("real", serde_json::json!({})));
        let host = Identified::wrap("real", memory.clone());
        for source in ["victim", ""] {
            let event = DataEvent {
                source: source.into(),
                event_type: "t".into(),
                ..DataEvent::default()
            };
            host.emit_event(event).await.unwrap();
        }
        let sources: Vec<String> = memory.events().into_iter().map(|e| e.source).collect();
        assert_eq!(sources, ["real", "real"]);
    }

    #[tokio::test]
    async fn an_event_past_the_cap_is_refused() {
        let memory = Arc::new(MemoryHost::new("p", serde_json::json!({})));
        let host = Identified::wrap("p", memory.clone());
        let mut event = DataEvent::default();
        event.data.insert(
            "blob".into(),
            serde_json::Value::String("x".repeat(MAX_EVENT_SIZE)),
        );
        let error = host.emit_event(event).await.unwrap_err().to_string();
        assert!(error.contains("more than the 1048576"), "{error}");
        assert!(memory.events().is_empty());
    }

    #[test]
    fn cuts_fall_on_character_boundaries() {
        assert_eq!(cut("héllo", 2), "h");
        assert_eq!(cut("héllo", 3), "hé");
        assert_eq!(cut("abc", 10), "abc");
    }

    /// Keeps the log lines it is given.
    #[derive(Default)]
    struct Logs(std::sync::Mutex<Vec<(String, BTreeMap<String, String>)>>);

    #[async_trait]
    impl HostApi for Logs {
        async fn get_config(&self, _: &str) -> Result<Option<String>, HostError> {
            Ok(None)
        }
        fn log(&self, _: LogLevel, message: &str, fields: &BTreeMap<String, String>) {
            self.0
                .lock()
                .unwrap()
                .push((message.to_owned(), fields.clone()));
        }
        async fn kv_get(&self, _: &str) -> Result<Option<Vec<u8>>, HostError> {
            Ok(None)
        }
        async fn kv_set(&self, _: &str, _: &[u8]) -> Result<(), HostError> {
            Ok(())
        }
        async fn kv_delete(&self, _: &str) -> Result<(), HostError> {
            Ok(())
        }
        async fn http_request(&self, _: HostHttpRequest) -> Result<HostHttpResponse, HostError> {
            Err(HostError::PermissionDenied("no".into()))
        }
        async fn emit_event(&self, _: DataEvent) -> Result<(), HostError> {
            Ok(())
        }
    }

    #[test]
    fn long_log_lines_and_many_fields_are_cut_and_say_so() {
        let logs = Arc::new(Logs::default());
        let host = Identified::wrap("p", logs.clone());
        host.log(LogLevel::Info, "short", &BTreeMap::new());
        let long = "é".repeat(MAX_LOG_LINE);
        let fields: BTreeMap<String, String> = (0..100)
            .map(|i| (format!("k{i:03}"), "v".repeat(5000)))
            .collect();
        host.log(LogLevel::Info, &long, &fields);
        let kept = logs.0.lock().unwrap().clone();
        assert_eq!(kept[0].0, "short");
        let (message, fields) = &kept[1];
        assert_eq!(message.len(), MAX_LOG_LINE);
        assert_eq!(
            fields[TRUNCATED_FIELD],
            format!(
                "{} of {} bytes dropped",
                long.len() - MAX_LOG_LINE,
                long.len()
            )
        );
        assert_eq!(fields.len(), MAX_LOG_FIELDS + 1);
        assert!(fields.values().all(|v| v.len() <= MAX_LOG_FIELD));
    }
}
