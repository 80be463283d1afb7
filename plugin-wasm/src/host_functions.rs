//! The `flowbot` host-function table: the imports a guest calls to reach
//! its [`HostApi`](plugin_core::HostApi). Signatures are in `docs/wasm-abi.md`.
//!
//! Every pointer and length from the guest is bounds-checked; results are
//! written into a buffer the guest allocates itself (through `alloc`), so
//! the host never writes where the guest did not ask. A failing request
//! returns a failure code to the guest and is logged under the plugin's
//! name; it never traps the guest. Two exceptions: host work still running
//! when the call's execution timeout expires traps the guest, and the call
//! fails "timed out"; and a host function called from the guest's `alloc`
//! while the host is writing a result traps, so calls between host and
//! guest nest one level at most.
//!
//! What a host function copies out of guest memory is bounded before it is
//! copied (the limits are in `docs/wasm-abi.md`): a `log` line past
//! [`MAX_LOG_LINE`] is cut (the rest is never read), and an event, a key,
//! a KV value or an HTTP request past its limit fails the import.

use std::collections::BTreeMap;

use plugin_core::host_functions::{MAX_FUNCTION_NAME, MAX_HOST_CALL_SIZE, call_text};
use plugin_core::identity::{MAX_EVENT_SIZE, MAX_LOG_LINE, TRUNCATED_FIELD, truncation_note};
use plugin_core::{HostHttpRequest, LogLevel};
use plugin_types::DataEvent;
use wasmtime::{Caller, Extern, Linker, Memory};

use crate::abi::{self, ABSENT, FAILED, MAX_HTTP_REQUEST, MAX_KEY, MAX_KV_VALUE};
use crate::component::MAX_HTTP_BODY;
use crate::core_state::InstanceState;

/// The import module name.
pub(crate) const MODULE: &str = "flowbot";

type Ctx<'a> = Caller<'a, InstanceState>;

/// Adds the `flowbot` imports to `linker`.
pub(crate) fn add_to_linker(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
    linker.func_wrap_async(
        MODULE,
        "get_config",
        |mut cx: Ctx<'_>, (ptr, len): (i32, i32)| {
            Box::new(async move {
                within(&mut cx, async |cx| {
                    let result = async {
                        at_most(len, MAX_KEY, "the key")?;
                        let key = read_string(cx, ptr, len)?;
                        let host = cx.data().watch.plugin.host.clone();
                        host.get_config(&key).await.map_err(|e| e.to_string())
                    }
                    .await;
                    Ok(match result {
                        Ok(Some(value)) => write_result(cx, "get_config", value.as_bytes()).await,
                        Ok(None) => ABSENT,
                        Err(e) => failed(cx, "get_config", &e),
                    })
                })
                .await
            })
        },
    )?;

    linker.func_wrap(
        MODULE,
        "log",
        |mut cx: Ctx<'_>, level: i32, ptr: i32, len: i32| {
            // Only what the host keeps is copied: the first MAX_LOG_LINE
            // bytes, cut at a character boundary, the rest noted.
            let len = len as u32;
            let kept = len.min(MAX_LOG_LINE as u32);
            let bytes = match read_prefix(&mut cx, ptr, len, kept) {
                Ok(bytes) => bytes,
                Err(e) => {
                    failed(&cx, "log", &e);
                    return;
                }
            };
            let message = match std::str::from_utf8(&bytes) {
                Ok(text) => text,
                // A cut inside a character: keep the whole ones.
                Err(e) if e.error_len().is_none() && kept < len => {
                    std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default()
                }
                Err(_) => {
                    failed(&cx, "log", "text is not UTF-8");
                    return;
                }
            };
            let level = LogLevel::from_code(level);
            let mut fields = BTreeMap::new();
            if kept < len {
                fields.insert(
                    TRUNCATED_FIELD.to_owned(),
                    truncation_note(message.len(), len as usize),
                );
            }
            cx.data().watch.plugin.host.log(level, message, &fields);
        },
    )?;

    linker.func_wrap_async(
        MODULE,
        "kv_get",
        |mut cx: Ctx<'_>, (ptr, len): (i32, i32)| {
            Box::new(async move {
                within(&mut cx, async |cx| {
                    let result = async {
                        at_most(len, MAX_KEY, "the key")?;
                        let key = read_string(cx, ptr, len)?;
                        let host = cx.data().watch.plugin.host.clone();
                        host.kv_get(&key).await.map_err(|e| e.to_string())
                    }
                    .await;
                    Ok(match result {
                        Ok(Some(value)) => write_result(cx, "kv_get", &value).await,
                        Ok(None) => ABSENT,
                        Err(e) => failed(cx, "kv_get", &e),
                    })
                })
                .await
            })
        },
    )?;

    linker.func_wrap_async(
        MODULE,
        "kv_set",
        |mut cx: Ctx<'_>, (key_ptr, key_len, value_ptr, value_len): (i32, i32, i32, i32)| {
            Box::new(async move {
                within(&mut cx, async |cx| {
                    let result = async {
                        at_most(key_len, MAX_KEY, "the key")?;
                        at_most(value_len, MAX_KV_VALUE, "the value")?;
                        let key = read_string(cx, key_ptr, key_len)?;
                        let value = read_bytes(cx, value_ptr, value_len)?;
                        let host = cx.data().watch.plugin.host.clone();
                        host.kv_set(&key, &value).await.map_err(|e| e.to_string())
                    }
                    .await;
                    Ok(status(cx, "kv_set", result))
                })
                .await
            })
        },
    )?;

    linker.func_wrap_async(
        MODULE,
        "kv_delete",
        |mut cx: Ctx<'_>, (ptr, len): (i32, i32)| {
            Box::new(async move {
                within(&mut cx, async |cx| {
                    let result = async {
                        at_most(len, MAX_KEY, "the key")?;
                        let key = read_string(cx, ptr, len)?;
                        let host = cx.data().watch.plugin.host.clone();
                        host.kv_delete(&key).await.map_err(|e| e.to_string())
                    }
                    .await;
                    Ok(status(cx, "kv_delete", result))
                })
                .await
            })
        },
    )?;

    linker.func_wrap_async(MODULE, "http_request", |mut cx: Ctx<'_>, (ptr, len): (i32, i32)| {
        Box::new(async move {
            within(&mut cx, async |cx| {
                let result = async {
                    at_most(len, MAX_HTTP_REQUEST, "the request")?;
                    let bytes = read_bytes(cx, ptr, len)?;
                    let request: HostHttpRequest = serde_json::from_slice(&bytes)
                        .map_err(|e| format!("request is not an HTTP request: {e}"))?;
                    if request.body.len() > MAX_HTTP_BODY {
                        return Err(format!(
                            "the request body is {} bytes, more than the {MAX_HTTP_BODY} a plugin may send",
                            request.body.len()
                        ));
                    }
                    let plugin = cx.data().watch.plugin.clone();
                    plugin.http.check(&request).map_err(|e| format!("permission denied: {e}"))?;
                    plugin.host.http_request(request).await.map_err(|e| e.to_string())
                }
                .await;
                // The guest always gets an envelope, so it can read why a request failed.
                let envelope = match result {
                    Ok(response) => serde_json::json!({ "data": response }),
                    Err(error) => {
                        tracing::debug!(plugin = %cx.data().watch.plugin.name, "http_request refused: {error}");
                        serde_json::json!({ "error": error })
                    }
                };
                Ok(write_result(cx, "http_request", envelope.to_string().as_bytes()).await)
            })
            .await
        })
    })?;

    linker.func_wrap_async(
        MODULE,
        "emit_event",
        |mut cx: Ctx<'_>, (ptr, len): (i32, i32)| {
            Box::new(async move {
                within(&mut cx, async |cx| {
                    let result = async {
                        at_most(len, MAX_EVENT_SIZE, "the event")?;
                        let bytes = read_bytes(cx, ptr, len)?;
                        let event: DataEvent = serde_json::from_slice(&bytes)
                            .map_err(|e| format!("event is not a DataEvent: {e}"))?;
                        let host = cx.data().watch.plugin.host.clone();
                        host.emit_event(event).await.map_err(|e| e.to_string())
                    }
                    .await;
                    Ok(status(cx, "emit_event", result))
                })
                .await
            })
        },
    )?;

    linker.func_wrap_async(
        MODULE,
        "host_call",
        |mut cx: Ctx<'_>, (name_ptr, name_len, ptr, len): (i32, i32, i32, i32)| {
            Box::new(async move {
                within(&mut cx, async |cx| {
                    let result = async {
                        at_most(name_len, MAX_FUNCTION_NAME, "the function name")?;
                        at_most(len, MAX_HOST_CALL_SIZE, "the input")?;
                        let name = read_string(cx, name_ptr, name_len)?;
                        let input = read_string(cx, ptr, len)?;
                        let host = cx.data().watch.plugin.host.clone();
                        call_text(&*host, &name, &input)
                            .await
                            .map_err(|e| e.to_string())
                    }
                    .await;
                    // The guest always gets an envelope, so it can read why a call failed.
                    let envelope = match result {
                        Ok(output) => format!(r#"{{"data":{output}}}"#),
                        Err(error) => {
                            tracing::debug!(plugin = %cx.data().watch.plugin.name, "host_call refused: {error}");
                            serde_json::json!({ "error": error }).to_string()
                        }
                    };
                    Ok(write_result(cx, "host_call", envelope.as_bytes()).await)
                })
                .await
            })
        },
    )?;
    Ok(())
}

/// Runs a host function's `work` within the time the call has left. When
/// the time runs out first, the deadline expires and the guest is trapped:
/// the call fails "timed out" and its instance is discarded.
async fn within<T>(
    cx: &mut Ctx<'_>,
    work: impl AsyncFnOnce(&mut Ctx<'_>) -> wasmtime::Result<T>,
) -> wasmtime::Result<T> {
    if cx.data().in_alloc {
        return Err(wasmtime::Error::msg(
            "a host function was called from `alloc` while the host wrote a result into the guest",
        ));
    }
    let left = cx.data().watch.deadline.remaining();
    let outcome = tokio::time::timeout(left, work(&mut *cx)).await;
    outcome.unwrap_or_else(|_| {
        cx.data_mut().watch.deadline.expire();
        Err(wasmtime::Error::msg("the call's execution timeout expired"))
    })
}

/// Refuses a guest length past `max` before anything is copied.
fn at_most(len: i32, max: usize, what: &str) -> Result<(), String> {
    let len = len as u32 as usize;
    if len > max {
        return Err(format!(
            "{what} is {len} bytes, more than the {max} this import accepts"
        ));
    }
    Ok(())
}

fn memory(cx: &mut Ctx<'_>) -> Result<Memory, String> {
    cx.get_export(abi::MEMORY)
        .and_then(Extern::into_memory)
        .ok_or_else(|| "the guest exports no memory".to_owned())
}

fn read_bytes(cx: &mut Ctx<'_>, ptr: i32, len: i32) -> Result<Vec<u8>, String> {
    let memory = memory(cx)?;
    abi::guest_slice(memory.data(&*cx), ptr as u32, len as u32).map(<[u8]>::to_vec)
}

/// The first `kept` bytes of the guest range `ptr..ptr+len`, which must
/// lie in memory whole.
fn read_prefix(cx: &mut Ctx<'_>, ptr: i32, len: u32, kept: u32) -> Result<Vec<u8>, String> {
    let memory = memory(cx)?;
    let whole = abi::guest_slice(memory.data(&*cx), ptr as u32, len)?;
    Ok(whole[..kept.min(len) as usize].to_vec())
}

fn read_string(cx: &mut Ctx<'_>, ptr: i32, len: i32) -> Result<String, String> {
    String::from_utf8(read_bytes(cx, ptr, len)?).map_err(|_| "text is not UTF-8".to_owned())
}

/// Copies `bytes` into a buffer from the guest's `alloc` and returns its
/// packed pointer and length, or [`FAILED`].
async fn write_result(cx: &mut Ctx<'_>, import: &str, bytes: &[u8]) -> i64 {
    match write_guest(cx, bytes).await {
        Ok(packed) => packed,
        Err(e) => failed(cx, import, &e),
    }
}

async fn write_guest(cx: &mut Ctx<'_>, bytes: &[u8]) -> Result<i64, String> {
    let len = u32::try_from(bytes.len()).map_err(|_| "result larger than 4 GiB".to_owned())?;
    if len == 0 {
        return Ok(abi::pack(0, 0));
    }
    let alloc = cx
        .get_export(abi::ALLOC)
        .and_then(Extern::into_func)
        .ok_or_else(|| "the guest exports no alloc".to_owned())?
        .typed::<i32, i32>(&*cx)
        .map_err(|e| format!("alloc: {e}"))?;
    cx.data_mut().in_alloc = true;
    let ptr = alloc.call_async(&mut *cx, len as i32).await;
    cx.data_mut().in_alloc = false;
    let ptr = ptr.map_err(|e| format!("alloc trapped: {e}"))? as u32;
    let memory = memory(cx)?;
    memory
        .write(&mut *cx, ptr as usize, bytes)
        .map_err(|_| format!("alloc returned {ptr}, outside guest memory for {len} bytes"))?;
    Ok(abi::pack(ptr, len))
}

fn status(cx: &Ctx<'_>, import: &str, result: Result<(), String>) -> i32 {
    match result {
        Ok(()) => 1,
        Err(e) => {
            failed(cx, import, &e);
            0
        }
    }
}

fn failed(cx: &Ctx<'_>, import: &str, error: &str) -> i64 {
    tracing::warn!(plugin = %cx.data().watch.plugin.name, import, "host call failed: {error}");
    FAILED
}
