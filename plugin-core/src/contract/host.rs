//! The services a host offers its plugins.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use plugin_types::DataEvent;
pub use plugin_types::{HostHttpRequest, HostHttpResponse};
use serde_json::value::RawValue;

/// The longest host function name: 128 bytes.
pub const MAX_FUNCTION_NAME: usize = 128;

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

    /// Calls the host function registered as `name` with JSON `input`
    /// (see [`crate::host_functions`]). A host without a table knows no
    /// function: the default fails [`HostError::UnknownFunction`].
    async fn call_function(
        &self,
        name: &str,
        input: &RawValue,
    ) -> Result<Box<RawValue>, HostError> {
        let _ = input;
        Err(HostError::UnknownFunction {
            name: crate::bounded::cut(name, MAX_FUNCTION_NAME).to_owned(),
            registered: "none".to_owned(),
        })
    }
}

/// Sends a plugin's log line to `tracing` at its level, tagged
/// `plugin=<name>` with its fields: what a host's [`HostApi::log`] does
/// unless it has somewhere better to put it.
pub fn log_to_tracing(
    plugin: &str,
    level: LogLevel,
    message: &str,
    fields: &BTreeMap<String, String>,
) {
    crate::trace_at!(level, plugin, ?fields, "{message}");
}

#[doc(hidden)]
pub use tracing as __tracing;

/// A `tracing` event at a plugin's [`LogLevel`] (a runtime value; tracing's
/// macros want a constant): the one mapping of plugin levels onto
/// tracing's. The arguments after the level are `tracing::event!`'s.
#[macro_export]
macro_rules! trace_at {
    ($level:expr, $($arg:tt)+) => {
        match $level {
            $crate::LogLevel::Trace => $crate::host::__tracing::trace!($($arg)+),
            $crate::LogLevel::Debug => $crate::host::__tracing::debug!($($arg)+),
            $crate::LogLevel::Info => $crate::host::__tracing::info!($($arg)+),
            $crate::LogLevel::Warn => $crate::host::__tracing::warn!($($arg)+),
            $crate::LogLevel::Error => $crate::host::__tracing::error!($($arg)+),
        }
    };
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

impl LogLevel {
    /// The level of a numeric code, as the core ABI's `log` import and the
    /// component world's `level` enum (in its declared order) number
    /// them: 0 debug, 1 info, 2 warn, 3 error; any other code is info.
    pub fn from_code(code: i32) -> Self {
        match code {
            0 => Self::Debug,
            2 => Self::Warn,
            3 => Self::Error,
            _ => Self::Info,
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
    /// No host function has this name; `registered` lists (some of) the
    /// names that exist.
    #[error("no host function {name:?} (this host offers: {registered})")]
    UnknownFunction {
        /// The name asked for (cut to 128 bytes).
        name: String,
        /// The registered names, comma-separated (at most 32, then "and N more").
        registered: String,
    },
    /// The service exists but could not serve the request.
    #[error("{0}")]
    Failed(#[source] Box<dyn std::error::Error + Send + Sync>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_levels_parse_leniently() {
        assert_eq!("WARNING".parse::<LogLevel>().unwrap(), LogLevel::Warn);
        assert_eq!("err".parse::<LogLevel>().unwrap(), LogLevel::Error);
        assert_eq!("Debug".parse::<LogLevel>().unwrap(), LogLevel::Debug);
        assert!("loud".parse::<LogLevel>().is_err());
        assert_eq!(LogLevel::Trace.to_string(), "trace");
    }
}
