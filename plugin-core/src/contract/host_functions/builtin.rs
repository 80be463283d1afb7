//! The typed host services as registrations in the [`HostFunctions`]
//! table, each written once on top of [`HostApi`](crate::HostApi), so a plugin can call
//! them by name through the generic import too:
//!
//! | name | input | output |
//! |---|---|---|
//! | `config.get` | `{"key": "db.host"}` | the value as text, or `null` |
//! | `log` | `{"level": "info", "message": "…", "fields": {"k": "v"}}` | `null` |
//! | `kv.get` | `{"key": "k"}` | the value as base64, or `null` |
//! | `kv.set` | `{"key": "k", "value": "<base64>"}` | `null` |
//! | `kv.delete` | `{"key": "k"}` | `null` |
//! | `http.request` | a `HostHttpRequest` (`body` base64) | a `HostHttpResponse` |
//! | `event.emit` | a `DataEvent` | `null` |
//!
//! Each reaches the calling plugin's own services
//! ([`HostCallContext::host`]), so the identity policy and the HTTP
//! allowlist hold as they do for the typed imports.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use plugin_types::DataEvent;
use serde::Deserialize;

use super::{HostCallContext, HostFunctions, Typed};
use crate::host::{HostError, HostHttpRequest, HostHttpResponse, LogLevel};
use crate::http_request_rule::check_headers;

/// The built-in names, in the order of the table above.
pub const NAMES: [&str; 7] = [
    "config.get",
    "log",
    "kv.get",
    "kv.set",
    "kv.delete",
    "http.request",
    "event.emit",
];

/// A key, the input of `config.get`, `kv.get` and `kv.delete`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Key {
    key: String,
}

/// The input of `log`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Log {
    #[serde(default)]
    level: Option<String>,
    message: String,
    #[serde(default)]
    fields: BTreeMap<String, String>,
}

/// The input of `kv.set`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KvSet {
    key: String,
    #[serde(with = "plugin_types::http::base64_bytes")]
    value: Vec<u8>,
}

/// Adds the built-in functions to `functions`.
pub(super) fn register(functions: &mut HostFunctions) {
    fn add<In, Out, F, Fut>(functions: &mut HostFunctions, name: &str, f: F)
    where
        In: serde::de::DeserializeOwned + Send + 'static,
        Out: serde::Serialize + Send + 'static,
        F: Fn(HostCallContext, In) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Out, HostError>> + Send + 'static,
    {
        functions.register(name, Arc::new(Typed::new(f)));
    }
    add(functions, "config.get", async |cx, input: Key| {
        cx.host().get_config(&input.key).await
    });
    add(functions, "log", async |cx, input: Log| {
        let level = match input.level.as_deref() {
            None => LogLevel::Info,
            Some(level) => level
                .parse::<LogLevel>()
                .map_err(|e| HostError::InvalidRequest(e.to_string()))?,
        };
        cx.host().log(level, &input.message, &input.fields);
        Ok(())
    });
    add(functions, "kv.get", async |cx, input: Key| {
        let value = cx.host().kv_get(&input.key).await?;
        if let Some(bytes) = &value {
            fits_as_base64("kv.get", "the value", bytes.len())?;
        }
        Ok(value.map(|bytes| STANDARD.encode(bytes)))
    });
    add(functions, "kv.set", async |cx, input: KvSet| {
        cx.host().kv_set(&input.key, &input.value).await
    });
    add(functions, "kv.delete", async |cx, input: Key| {
        cx.host().kv_delete(&input.key).await
    });
    add(
        functions,
        "http.request",
        async |cx, request: HostHttpRequest| -> Result<HostHttpResponse, HostError> {
            // The rule of every HTTP path; the URL's is the host's service's.
            check_headers(cx.plugin(), &request)
                .map_err(|e| HostError::PermissionDenied(e.to_string()))?;
            let response = cx.host().http_request(request).await?;
            fits_as_base64("http.request", "the response body", response.body.len())?;
            Ok(response)
        },
    );
    add(functions, "event.emit", async |cx, event: DataEvent| {
        cx.host().emit_event(event).await
    });
}

/// `Ok` when `len` bytes, base64-encoded, fit in an answer by name
/// ([`MAX_HOST_CALL_SIZE`](super::MAX_HOST_CALL_SIZE), with room for the
/// rest of it); checked before encoding. The typed imports carry more.
fn fits_as_base64(function: &str, what: &str, len: usize) -> Result<(), HostError> {
    const ROOM: usize = 16 * 1024;
    let encoded = len.div_ceil(3) * 4;
    if encoded + ROOM > super::MAX_HOST_CALL_SIZE {
        return Err(HostError::InvalidRequest(format!(
            "{what} is {len} bytes, more than {function} by name answers ({} bytes); \
             use the typed import for it",
            (super::MAX_HOST_CALL_SIZE - ROOM) / 4 * 3
        )));
    }
    Ok(())
}
