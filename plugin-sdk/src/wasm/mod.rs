//! The guest side of a wasm plugin: configuration, readiness and typed
//! wrappers for the `flowbot` host imports.
//!
//! Use [`wasm_plugin!`](crate::wasm_plugin) once and
//! [`export!`](crate::export) per function; call the functions here from
//! your handlers.

pub mod abi;
mod imports;

use std::cell::RefCell;

use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;

use crate::types::DataEvent;

pub use crate::types::{HostHttpRequest as HttpRequest, HostHttpResponse as HttpResponse};

thread_local! {
    static CONFIG: RefCell<Value> = const { RefCell::new(Value::Null) };
    static READY: RefCell<bool> = const { RefCell::new(true) };
}

/// The configuration the host started this plugin with (`null` before `init`).
pub fn config() -> Value {
    CONFIG.with(|c| c.borrow().clone())
}

/// The configuration, decoded into `T`.
pub fn config_as<T: DeserializeOwned>() -> Result<T, String> {
    serde_json::from_value(config()).map_err(|e| format!("config: {e}"))
}

/// Sets what `is_ready` reports to the host (ready by default).
pub fn set_ready(ready: bool) {
    READY.with(|r| *r.borrow_mut() = ready);
}

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

/// Publishes an event on the host's event bus (an empty `source` becomes the
/// plugin's name).
pub fn emit_event(event: &DataEvent) -> Result<(), String> {
    imports::emit_event(event)
}

/// Encodes `value` as JSON for a host call.
fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>, String> {
    serde_json::to_vec(value).map_err(|e| format!("encoding: {e}"))
}

fn set_config(config: Value) {
    CONFIG.with(|c| *c.borrow_mut() = config);
}

fn ready() -> bool {
    READY.with(|r| *r.borrow())
}
