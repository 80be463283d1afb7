//! The guest side of a wasm plugin: configuration, readiness and typed
//! wrappers for the `flowbot` host imports.
//!
//! Use [`wasm_plugin!`](crate::wasm_plugin) once and
//! [`export!`](crate::export) per function; call the functions here from
//! your handlers.

pub mod abi;
mod imports;

use serde::Serialize;

use crate::types::DataEvent;

pub use crate::guest::{config, config_as, set_ready};
pub use crate::types::{HostHttpRequest as HttpRequest, HostHttpResponse as HttpResponse};

/// A configuration value by dotted key, as the host resolves it.
pub fn get_config(key: &str) -> Result<Option<String>, String> {
    imports::get_config(key)
}

pub use crate::Level;

/// Writes a log line through the host, tagged with the plugin's name.
pub fn log(level: Level, message: &str) {
    imports::log(level as i32, message);
}

/// The plugin's key-value store on the host (namespaced per plugin).
pub mod kv {
    use super::imports;

    /// The value of `key`, if set.
    pub fn get(key: &str) -> Result<Option<Vec<u8>>, String> {
        imports::kv_get(key)
    }

    /// Sets `key` to `value`.
    pub fn set(key: &str, value: &[u8]) -> Result<(), String> {
        imports::kv_set(key, value)
    }

    /// Removes `key` (absent keys are fine).
    pub fn delete(key: &str) -> Result<(), String> {
        imports::kv_delete(key)
    }
}

/// Makes an HTTP request through the host, within the manifest's allowlist.
pub fn http_request(request: &HttpRequest) -> Result<HttpResponse, String> {
    imports::http_request(request)
}

/// Publishes an event on the host's event bus (the host sets its `source`
/// to the plugin's name; at most 1 MiB of JSON).
pub fn emit_event(event: &DataEvent) -> Result<(), String> {
    imports::emit_event(event)
}

/// Calls the host function `name` (one the host registered, or a built-in
/// such as `kv.get`) with `input` as JSON, and reads its answer as `Out`.
/// Input and answer are at most 1 MiB of JSON each; the host tells the
/// function which plugin calls.
pub fn call_host<In, Out>(name: &str, input: &In) -> Result<Out, String>
where
    In: Serialize + ?Sized,
    Out: serde::de::DeserializeOwned,
{
    let answer = imports::host_call(name, &to_json(input)?)?;
    serde_json::from_slice(&answer).map_err(|e| format!("the answer of {name}: {e}"))
}

/// Encodes `value` as JSON for a host call.
fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, String> {
    serde_json::to_vec(value).map_err(|e| format!("encoding: {e}"))
}
