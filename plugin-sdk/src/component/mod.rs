//! The guest side of a component plugin (WASI 0.2, `wasm32-wasip2`), against
//! the `flowbot:plugin` world in `wit/plugin.wit`: typed wrappers for the
//! `host` imports, and [`component_plugin!`](crate::component_plugin), which
//! exports the `guest` interface from plain typed functions.
//!
//! The functions here have the same names and types as those of the core
//! module side (`plugin_sdk::wasm`), so handlers compile for either.

pub mod bindings;

use serde::Serialize;
use serde::de::DeserializeOwned;

use bindings::flowbot::plugin::host;

pub use crate::Level;
pub use crate::guest::{config, config_as, set_ready};
use crate::types::DataEvent;
pub use crate::types::{HostHttpRequest as HttpRequest, HostHttpResponse as HttpResponse};

/// Why a call failed, as the world says it.
pub use bindings::exports::flowbot::plugin::guest::CallError;

/// A configuration value by dotted key, as the host resolves it.
pub fn get_config(key: &str) -> Result<Option<String>, String> {
    host::get_config(key)
}

/// Calls the host function `name` (one the host registered, or a built-in
/// such as `kv.get`) with `input` as JSON, and reads its answer as `Out`.
/// Input and answer are at most 1 MiB of JSON each; the host tells the
/// function which plugin calls.
pub fn call_host<In, Out>(name: &str, input: &In) -> Result<Out, String>
where
    In: Serialize + ?Sized,
    Out: DeserializeOwned,
{
    let input = serde_json::to_string(input).map_err(|e| format!("encoding: {e}"))?;
    let answer = host::call_function(name, &input)?;
    serde_json::from_str(&answer).map_err(|e| format!("the answer of {name}: {e}"))
}

/// Writes a log line through the host, tagged with the plugin's name.
pub fn log(level: Level, message: &str) {
    let level = match level {
        Level::Debug => host::Level::Debug,
        Level::Info => host::Level::Info,
        Level::Warn => host::Level::Warn,
        Level::Error => host::Level::Error,
    };
    host::log(level, message, &[]);
}

/// The plugin's key-value store on the host (namespaced per plugin).
pub mod kv {
    use super::host;

    /// The value of `key`, if set.
    pub fn get(key: &str) -> Result<Option<Vec<u8>>, String> {
        host::kv_get(key)
    }

    /// Sets `key` to `value`.
    pub fn set(key: &str, value: &[u8]) -> Result<(), String> {
        host::kv_set(key, value)
    }

    /// Removes `key` (absent keys are fine).
    pub fn delete(key: &str) -> Result<(), String> {
        host::kv_delete(key)
    }
}

/// Makes an HTTP request through the host, within the manifest's allowlist.
pub fn http_request(request: &HttpRequest) -> Result<HttpResponse, String> {
    let answer = host::fetch(&host::HttpRequest {
        method: request.method.clone(),
        url: request.url.clone(),
        headers: request
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        body: request.body.clone(),
    })?;
    Ok(HttpResponse {
        status: answer.status,
        headers: answer.headers.into_iter().collect(),
        body: answer.body,
    })
}

/// Publishes an event on the host's event bus (the host sets its `source`
/// to the plugin's name; at most 1 MiB of JSON).
pub fn emit_event(event: &DataEvent) -> Result<(), String> {
    let json = serde_json::to_string(event).map_err(|e| format!("encoding: {e}"))?;
    host::emit_event(&json)
}

/// `init`: keeps the configuration for [`config`].
#[doc(hidden)]
pub fn init(config: &str) -> Result<(), String> {
    let config = serde_json::from_str(config).map_err(|e| format!("config is not JSON: {e}"))?;
    crate::guest::set_config(config);
    Ok(())
}

/// `is-ready`.
#[doc(hidden)]
pub fn is_ready() -> bool {
    crate::guest::ready()
}

/// Body of every function [`component_plugin!`](crate::component_plugin)
/// exports: decode the params, run, encode the result.
#[doc(hidden)]
pub fn call<P, R, E>(params: &str, handler: fn(P) -> Result<R, E>) -> Result<String, CallError>
where
    P: DeserializeOwned,
    R: Serialize,
    E: std::fmt::Display,
{
    let params: P = serde_json::from_str(params)
        .map_err(|e| CallError::Failed(format!("invalid params: {e}")))?;
    let result = handler(params).map_err(|e| CallError::Failed(e.to_string()))?;
    serde_json::to_string(&result)
        .map_err(|e| CallError::Failed(format!("result is not JSON: {e}")))
}

/// Exports the `guest` interface of the `flowbot:plugin` world from typed
/// functions `fn name(P) -> Result<R, E>` (`P: Deserialize`, `R:
/// Serialize`, `E: Display`), each under its own name (or `handler as
/// "name"`): `init` keeps the configuration, `is-ready` reports
/// [`set_ready`], and `call` dispatches by name (an unknown name is
/// `unsupported`). Call it once, at the crate root.
///
/// ```ignore
/// fn greet(params: Greet) -> Result<String, String> { ... }
/// plugin_sdk::component_plugin!(greet, help as "help");
/// ```
#[macro_export]
macro_rules! component_plugin {
    ($($handler:path $(as $name:literal)?),* $(,)?) => {
        struct __FlowbotPlugin;

        impl $crate::component::bindings::exports::flowbot::plugin::guest::Guest for __FlowbotPlugin {
            fn init(config: ::std::string::String) -> ::std::result::Result<(), ::std::string::String> {
                $crate::component::init(&config)
            }

            fn is_ready() -> bool {
                $crate::component::is_ready()
            }

            fn call(
                function: ::std::string::String,
                params: ::std::string::String,
            ) -> ::std::result::Result<::std::string::String, $crate::component::CallError> {
                $(
                    if function == $crate::component_plugin!(@name $handler $(as $name)?) {
                        return $crate::component::call(&params, $handler);
                    }
                )*
                Err($crate::component::CallError::Unsupported)
            }
        }

        $crate::component::bindings::export_component!(__FlowbotPlugin with_types_in $crate::component::bindings);
    };
    (@name $handler:path as $name:literal) => { $name };
    (@name $handler:path) => { stringify!($handler) };
}
