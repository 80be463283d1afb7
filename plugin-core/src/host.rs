//! The services a host offers its plugins.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use plugin_types::DataEvent;
use serde::{Deserialize, Serialize};

/// What a plugin may ask of its host: configuration, logging, a key-value
/// store, outbound HTTP and event emission.
///
/// A `HostApi` value serves one plugin: the host builds one per plugin, bound
/// to that plugin's name, config, KV namespace and permissions, so no method
/// takes a plugin name. Methods may be called concurrently from any number of
/// calls of that plugin.
#[async_trait]
pub trait HostApi: Send + Sync {
    /// A value of the plugin's configuration, by dotted key (`db.host`);
    /// `None` when the key is absent. Non-string values come back as JSON.
    async fn get_config(&self, key: &str) -> Result<Option<String>, HostError>;

    /// Records a log line from the plugin.
    fn log(&self, level: LogLevel, message: &str, fields: &BTreeMap<String, String>);

    /// Reads a value from the plugin's KV namespace; `None` when absent.
    async fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, HostError>;

    /// Writes a value into the plugin's KV namespace.
    async fn kv_set(&self, key: &str, value: &[u8]) -> Result<(), HostError>;

    /// Removes a key from the plugin's KV namespace (absent keys are fine).
    async fn kv_delete(&self, key: &str) -> Result<(), HostError>;

    /// Performs an outbound HTTP request, within the plugin's allowlist.
    async fn http_request(&self, request: HostHttpRequest) -> Result<HostHttpResponse, HostError>;

    /// Publishes an event on the host's event bus.
    async fn emit_event(&self, event: DataEvent) -> Result<(), HostError>;
}

/// An HTTP request a plugin asks the host to make.
///
/// Its JSON form (the wasm ABI's) matches flowbot's: `body` is base64, as Go
/// encodes `[]byte`; `headers` and `body` may be omitted.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct HostHttpRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The absolute URL.
    pub url: String,
    /// Request headers.
    pub headers: BTreeMap<String, String>,
    /// Request body.
    #[serde(with = "base64_bytes")]
    pub body: Vec<u8>,
}

/// The host's answer to a [`HostHttpRequest`] (JSON as flowbot's: `body` is base64).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct HostHttpResponse {
    /// HTTP status code.
    pub status: u16,
    /// Response headers.
    pub headers: BTreeMap<String, String>,
    /// Response body.
    #[serde(with = "base64_bytes")]
    pub body: Vec<u8>,
}

/// Bytes as standard base64 text, as Go's `encoding/json` writes `[]byte`.
mod base64_bytes {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<u8>, D::Error> {
        match Option::<String>::deserialize(deserializer)? {
            None => Ok(Vec::new()),
            Some(text) => STANDARD
                .decode(text)
                .map_err(|e| D::Error::custom(format!("body is not base64: {e}"))),
        }
    }
}

/// Severity of a plugin's log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum LogLevel {
    /// Very detailed tracing.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal operation.
    #[default]
    Info,
    /// Something unexpected, handled.
    Warn,
    /// A failure.
    Error,
}

impl LogLevel {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trace => "trace",
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A log level name that is not one of trace/debug/info/warn/error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown log level {0:?}")]
pub struct ParseLogLevelError(String);

impl FromStr for LogLevel {
    type Err = ParseLogLevelError;

    /// Case-insensitive; accepts `warning` and `err` as hclog and Go do.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().as_str() {
            "trace" => Ok(Self::Trace),
            "debug" => Ok(Self::Debug),
            "info" => Ok(Self::Info),
            "warn" | "warning" => Ok(Self::Warn),
            "error" | "err" => Ok(Self::Error),
            _ => Err(ParseLogLevelError(text.to_owned())),
        }
    }
}

/// Why a host service refused or failed a plugin's request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// The plugin lacks the permission (e.g. a host not on its allowlist).
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// The request itself is malformed (bad URL, key too long...).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The service exists but could not serve the request.
    #[error("{0}")]
    Failed(#[source] Box<dyn std::error::Error + Send + Sync>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_messages_use_flowbot_json() {
        let request: HostHttpRequest = serde_json::from_str(
            r#"{"method":"POST","url":"https://x","headers":{"a":"b"},"body":"aGk="}"#,
        )
        .unwrap();
        assert_eq!(request.body, b"hi");
        let minimal: HostHttpRequest =
            serde_json::from_str(r#"{"method":"GET","url":"https://x"}"#).unwrap();
        assert!(minimal.body.is_empty() && minimal.headers.is_empty());
        assert!(serde_json::from_str::<HostHttpRequest>(r#"{"body":"!!"}"#).is_err());
        let response = HostHttpResponse {
            status: 200,
            body: b"ok".to_vec(),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&response).unwrap(),
            r#"{"status":200,"headers":{},"body":"b2s="}"#
        );
    }

    #[test]
    fn log_levels_parse_leniently() {
        assert_eq!("WARNING".parse::<LogLevel>().unwrap(), LogLevel::Warn);
        assert_eq!("err".parse::<LogLevel>().unwrap(), LogLevel::Error);
        assert_eq!("Debug".parse::<LogLevel>().unwrap(), LogLevel::Debug);
        assert!("loud".parse::<LogLevel>().is_err());
        assert_eq!(LogLevel::Trace.to_string(), "trace");
    }
}
